"""Run `regogate serve` as a real child process (for CLI, memory and crash tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.fix_pg import PgFixture


class GatewayProcess:
    def __init__(
        self,
        config: Path,
        pg: PgFixture,
        port: int,
        log: Path,
        env: dict[str, str] | None = None,
        preexec: Callable[[], None] | None = None,
    ):
        self.port = port
        self.log = log
        self.config = config
        env = {**os.environ, "RG_TEST_UPSTREAM_PASSWORD": pg.password, **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "regogate", "serve", "-c", str(config)],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            preexec_fn=preexec,  # noqa: PLW1509 (the test process starts no threads here)
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gateway did not start")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def start_gateway_process(tmp: Path, pg: PgFixture, extra: str = "") -> GatewayProcess:
    from tests.fix_gateway import start_gateway

    gw = start_gateway(pg, tmp, extra=extra)
    assert gw.process is not None
    return gw.process
