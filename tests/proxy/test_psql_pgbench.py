"""psql (queries, \\copy, cancel) and pgbench in every -M mode through the gateway."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.fix_gateway import GatewayFixture


def psql(
    gw: GatewayFixture, *args: str, who: str = "dba", db: str = "bank", input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", "-X", "-v", "ON_ERROR_STOP=1", *args],
        env={**os.environ, **gw.env(who, db)},
        capture_output=True,
        text=True,
        input=input,
        timeout=60,
        check=False,
    )


def test_psql_query(gateway: GatewayFixture) -> None:
    p = psql(gateway, "-At", "-c", "select count(*) from accounts")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "1500"


def test_psql_describe(gateway: GatewayFixture) -> None:
    p = psql(gateway, "-c", r"\d customers")
    assert p.returncode == 0, p.stderr
    assert "date_of_birth" in p.stdout


def test_psql_copy_roundtrip(gateway: GatewayFixture, tmp_path: Path) -> None:
    out = tmp_path / "tx.csv"
    p = psql(gateway, "-c", rf"\copy (select * from transactions order by id) to '{out}' csv")
    assert p.returncode == 0, p.stderr
    assert len(out.read_text().splitlines()) == 10000
    script = (
        "create temp table tx_copy (like transactions);\n"
        rf"\copy tx_copy from '{out}' csv"
        "\n"
        "select count(*), sum(amount) = (select sum(amount) from transactions) from tx_copy;\n"
    )
    p = psql(gateway, "-At", input=script)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "10000|t"


def test_psql_cancel_with_sigint(gateway: GatewayFixture) -> None:
    proc = subprocess.Popen(
        ["psql", "-X", "-c", "select pg_sleep(30)"],
        env={**os.environ, **gateway.env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=15)
    assert time.monotonic() - t0 < 10
    assert "canceling statement due to user request" in err


def _pgbench(gw: GatewayFixture, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pgbench", *args],
        env={**os.environ, **gw.env("dba", "bench")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_pgbench_all_modes(gateway: GatewayFixture) -> None:
    init = _pgbench(gateway, "-i", "-s", "1", "-q")
    assert init.returncode == 0, init.stderr
    for mode in ("simple", "extended", "prepared"):
        for script in (["-S"], []):
            p = _pgbench(gateway, "-M", mode, *script, "-c", "4", "-j", "2", "-t", "50")
            assert p.returncode == 0, p.stderr
            assert "number of failed transactions: 0" in p.stdout, p.stdout
            assert "number of transactions actually processed: 200/200" in p.stdout, p.stdout
