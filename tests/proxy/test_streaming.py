"""Results of 100 MB and more stream through with bounded gateway memory (measured)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psutil
import psycopg

from tests.fix_gateway import TOKENS
from tests.fix_pg import PgFixture
from tests.gateway_process import start_gateway_process

MB = 1024 * 1024


class PeakRss:
    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_large_results_bounded_memory(tmp_path: Path, pg: PgFixture) -> None:
    gw = start_gateway_process(tmp_path, pg)
    dsn = (
        f"host=127.0.0.1 port={gw.port} dbname=bank user=dba "
        f"password={TOKENS['dba'][0]} sslmode=disable"
    )
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("select 1")
            baseline = psutil.Process(gw.proc.pid).memory_info().rss
            with PeakRss(gw.proc.pid) as rss:
                total = 0
                with conn.cursor().copy(
                    "copy (select repeat('x', 1000) from generate_series(1, 130000)) to stdout"
                ) as cp:
                    for chunk in cp:
                        total += len(chunk)
                rows = 0
                for row in conn.cursor().stream(
                    "select repeat('y', 1000) from generate_series(1, 110000)"
                ):
                    rows += len(row[0])
            growth = (rss.peak - baseline) / MB
        assert total >= 130_000 * 1001
        assert rows == 110_000 * 1000
        print(
            f"\ngateway RSS baseline {baseline / MB:.1f} MiB, peak {rss.peak / MB:.1f} MiB, "
            f"growth {growth:.1f} MiB while streaming {(total + rows) / MB:.0f} MiB"
        )
        assert growth < 40, f"gateway grew {growth:.1f} MiB while streaming"
    finally:
        assert gw.stop() == 0
