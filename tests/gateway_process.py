"""Run `regogate serve` as a real child process (for CLI, memory and crash tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from regogate.pgserver import free_port
from tests.fix_gateway import TOKENS
from tests.fix_pg import PgFixture
from regogate.identity import token_sha256


def write_config(path: Path, pg: PgFixture, port: int, extra: str = "") -> Path:
    tokens = "".join(
        f'[[tokens]]\nsub = "{sub}"\ngroups = ["{groups[0]}"]\ntoken_sha256 = "{token_sha256(tok)}"\n'
        for sub, (tok, groups) in TOKENS.items()
    )
    path.write_text(f"""
[server]
listen_host = "127.0.0.1"
listen_port = {port}

[connections.bank]
host = "127.0.0.1"
port = {pg.port}
database = "bank"
user = "rg_scram"
password_env = "RG_TEST_UPSTREAM_PASSWORD"
{extra}
{tokens}""")
    return path


class GatewayProcess:
    def __init__(self, config: Path, pg: PgFixture, port: int, log: Path):
        self.port = port
        self.log = log
        env = {**os.environ, "RG_TEST_UPSTREAM_PASSWORD": pg.password}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "regogate", "serve", "-c", str(config)],
            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
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
    port = free_port()
    cfg = write_config(tmp / "regogate.toml", pg, port, extra)
    return GatewayProcess(cfg, pg, port, tmp / "gateway.log")
