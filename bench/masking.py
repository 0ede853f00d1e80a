"""Masking benchmark: a SELECT of 10,000 rows with three masked columns through regogate
(analyst: masked) against the same SELECT unmasked through regogate (dba), on the demo
setup (docs/benchmarks.md, "Masking"). A command, not a test:

    .venv/bin/python bench/masking.py [--runs 15]

The rows are masked natively (regogate._native.RowMasker) when the module is built;
``REGOGATE_HOTPATH=python`` measures the Python reference (masking/rows.mask_row).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from regogate.demo.setup import prepare  # noqa: E402

SQL = (
    "SELECT c.id, c.full_name, c.email, c.ssn, c.created_at "
    "FROM customers c CROSS JOIN generate_series(1, 10) g"
)


def _dsn(port: int, who: str, token: str, binary: bool) -> str:
    return f"host=127.0.0.1 port={port} dbname=bank user={who} password={token} sslmode=disable"


def _time(plain_dsn: str, masked_dsn: str, runs: int, binary: bool) -> tuple[float, float]:
    """Median seconds of the SELECT unmasked and masked. The two alternate, run by run
    (and which goes first alternates too), so that a shared machine's changing load
    falls on both alike rather than on whichever was measured second."""
    times: dict[str, list[float]] = {"plain": [], "masked": []}
    with (
        psycopg.connect(plain_dsn, autocommit=True) as plain,
        psycopg.connect(masked_dsn, autocommit=True) as masked,
    ):
        cursors = {"plain": plain.cursor(binary=binary), "masked": masked.cursor(binary=binary)}
        for i in range(runs + 2):
            for who in ("plain", "masked") if i % 2 else ("masked", "plain"):
                start = time.perf_counter()
                rows = cursors[who].execute(SQL).fetchall()
                times[who].append(time.perf_counter() - start)
                assert len(rows) == 10000
    # the first two of each: warm-up
    return statistics.median(times["plain"][2:]), statistics.median(times["masked"][2:])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup = prepare(Path(tmp) / "state")
        proc = subprocess.Popen(
            [sys.executable, "-m", "regogate", "serve", "-c", str(setup.config_path)],
            cwd=setup.state_dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.time() + 60
            while True:
                try:
                    psycopg.connect(
                        _dsn(setup.gateway_port, "dba", setup.tokens["dba"], False)
                    ).close()
                    break
                except psycopg.OperationalError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.5)
            port = setup.gateway_port
            print(f"load average {os.getloadavg()[0]:.2f} (1 min)")
            for binary in (False, True):
                plain, masked = _time(
                    _dsn(port, "dba", setup.tokens["dba"], binary),
                    _dsn(port, "analyst", setup.tokens["analyst"], binary),
                    args.runs,
                    binary,
                )
                fmt = "binary" if binary else "text"
                print(
                    f"{fmt:6}  unmasked (dba) {plain * 1000:7.1f} ms   masked (analyst) "
                    f"{masked * 1000:7.1f} ms   ratio {masked / plain:4.2f}"
                )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            setup.pg.stop()


if __name__ == "__main__":
    main()
