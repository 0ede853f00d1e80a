"""psql (queries, \\copy, cancel) and pgbench in every -M mode through the gateway."""

from __future__ import annotations

import os
import signal
import socket
import struct
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


def test_copy_both_logical_replication(gateway: GatewayFixture, pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """pg_recvlogical streams a logical replication slot (COPY BOTH) through the gateway."""
    env = {**os.environ, **gateway.env()}
    conn_args = ["-d", "bank", "-S", "rg_slot", "-P", "test_decoding"]
    subprocess.run(
        ["pg_recvlogical", *conn_args, "--create-slot"],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    out = tmp_path / "changes.txt"
    proc = subprocess.Popen(
        ["pg_recvlogical", *conn_args, "--start", "-f", str(out), "-F", "1"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1)
        p = psql(
            gateway,
            "-c",
            "create table if not exists repl_t (id int);insert into repl_t values (4242)",
        )
        assert p.returncode == 0, p.stderr
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if out.exists() and "4242" in out.read_text():
                break
            time.sleep(0.2)
        assert "table public.repl_t: INSERT: id[integer]:4242" in out.read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        subprocess.run(
            ["pg_recvlogical", *conn_args, "--drop-slot"],
            env=env,
            check=False,
            capture_output=True,
            timeout=60,
        )


def test_physical_replication_is_refused(gateway: GatewayFixture) -> None:
    s = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
    body = struct.pack("!I", 196608) + b"user\0dba\0database\0bank\0replication\0true\0\0"
    s.sendall(struct.pack("!I", len(body) + 4) + body)
    data = s.recv(65536)
    assert data[:1] == b"E"
    assert b"C28000\0" in data
    assert b"physical replication" in data
