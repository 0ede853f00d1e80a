"""The `regogate` command: serve as a real process, readable config errors, the demo."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from regogate.pgserver import free_port
from tests.fix_gateway import TOKENS
from tests.fix_pg import UPSTREAM_PASSWORD, PgFixture
from tests.gateway_process import start_gateway_process

REGOGATE = [sys.executable, "-m", "regogate"]


def test_serve_process_and_clean_stop(tmp_path: Path, pg: PgFixture) -> None:
    gw = start_gateway_process(tmp_path, pg)
    dsn = (
        f"host=127.0.0.1 port={gw.port} dbname=bank user=analyst "
        f"password={TOKENS['analyst'][0]} sslmode=disable"
    )
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select count(*) from accounts").fetchone() == (1500,)
    assert gw.stop() == 0
    log = gw.log.read_text()
    assert "Traceback" not in log
    assert UPSTREAM_PASSWORD not in log
    assert TOKENS["analyst"][0] not in log


def test_bad_config_is_readable(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[server]\nlisten_port = 'nope'\n[connections.x]\nhost = 'h'\nuser = 'u'\n")
    p = subprocess.run(
        [*REGOGATE, "serve", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert p.returncode == 2
    assert f"{cfg}: server.listen_port: must be int" in p.stderr
    assert "Traceback" not in p.stderr


def test_token_generate_prints_hash() -> None:
    p = subprocess.run(
        [*REGOGATE, "token", "generate"], capture_output=True, text=True, timeout=60, check=True
    )
    token = p.stdout.splitlines()[0].split()[-1]
    import hashlib

    assert f'token_sha256 = "{hashlib.sha256(token.encode()).hexdigest()}"' in p.stdout


def _read_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k] = v
    return out


def _run_demo(state: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*REGOGATE, "demo", "--dir", str(state), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_port(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("demo gateway did not come up")


def _regogate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regogate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_demo_end_to_end(tmp_path: Path) -> None:
    state = tmp_path / ".regogate"
    port = free_port()
    proc = _run_demo(state, port)
    try:
        _wait_port(port, proc)
        env = _read_env(state / "demo.env")
        assert set(env) >= {
            f"{p}_{k}"
            for p in ("ANALYST", "AGENT", "DBA")
            for k in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD")
        }
        assert "UPSTREAM_DSN" in env
        for who in ("ANALYST", "AGENT", "DBA"):
            sub = {k.split("_", 1)[1]: v for k, v in env.items() if k.startswith(who + "_")}
            p = subprocess.run(
                ["psql", "-X", "-At", "-c", "select count(*) from customers"],
                env={**os.environ, **sub, "PGSSLMODE": "disable"},
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert p.returncode == 0, p.stderr
            assert p.stdout.strip() == "1000"
        agent = {k.split("_", 1)[1]: v for k, v in env.items() if k.startswith("AGENT_")}
        p = subprocess.run(
            ["psql", "-X", "-At", "-c", "delete from customers where id = 1"],
            env={**os.environ, **agent, "PGSSLMODE": "disable"},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert p.returncode != 0 and "ERROR:" in p.stderr, p.stderr
        # The dba's write to accounts waits for the demo approver (group "approvers",
        # named by the library's config approval.approvers), who approves it by the API.
        dba = {k.split("_", 1)[1]: v for k, v in env.items() if k.startswith("DBA_")}
        held = subprocess.Popen(
            ["psql", "-X", "-At", "-c", "update accounts set balance = balance where id = 1"],
            env={**os.environ, **dba, "PGSSLMODE": "disable"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        api = env["REGOGATE_APPROVALS_URL"] + "/api/v1/requests"
        bearer = {"Authorization": f"Bearer {env['APPROVER_PGPASSWORD']}"}
        deadline = time.monotonic() + 30
        pending: list[dict[str, object]] = []
        while not pending and time.monotonic() < deadline:
            pending = httpx.get(api + "?status=pending", headers=bearer).json()["requests"]
            time.sleep(0.1)
        assert len(pending) == 1 and pending[0]["approvers"] == ["group:approvers"], pending
        refused = httpx.post(
            f"{api}/{pending[0]['id']}/approve",
            json={"comment": "mine"},
            headers={"Authorization": f"Bearer {env['DBA_PGPASSWORD']}"},
        )
        assert refused.status_code in (403, 404)  # the dba neither approves nor is named
        approved = httpx.post(
            f"{api}/{pending[0]['id']}/approve", json={"comment": "demo"}, headers=bearer
        )
        assert approved.status_code == 200, approved.text
        out, err = held.communicate(timeout=30)
        assert held.returncode == 0 and out.strip() == "UPDATE 1", err
        with psycopg.connect(env["UPSTREAM_DSN"]) as conn:
            assert conn.execute("select count(*) from transactions").fetchone() == (10000,)
            assert conn.execute("select count(*) from customers").fetchone() == (1000,)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert 'psql "host=127.0.0.1' in out
    assert f"Approvals page: {env['REGOGATE_APPROVALS_URL']}" in out
    assert "Traceback" not in out
    # The README's one command verifies the demo's signed recordings.
    cfg = str(state / "regogate.toml")
    verify = _regogate("verify", "-c", cfg, cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "OK: the log is intact and sealed" in verify.stdout
    listed = _regogate("sessions", "list", "-c", cfg, "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    sessions = json.loads(listed.stdout)["sessions"]
    subs = sorted(s["identity"]["sub"] for s in sessions)
    assert subs == ["agent", "agent", "analyst", "dba", "dba"], subs
    assert sorted(s["counts"]["approvals"] for s in sessions) == [0, 0, 0, 0, 1]  # the held update
    first_tokens = _read_env(state / "demo.env")["ANALYST_PGPASSWORD"]
    # A second run reuses the state: same tokens, same data.
    proc = _run_demo(state, port)
    try:
        _wait_port(port, proc)
        assert _read_env(state / "demo.env")["ANALYST_PGPASSWORD"] == first_tokens
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_sigterm_drains_sessions_with_57p01(tmp_path: Path, pg: PgFixture) -> None:
    gw = start_gateway_process(tmp_path, pg)
    dsn = (
        f"host=127.0.0.1 port={gw.port} dbname=bank user=dba "
        f"password={TOKENS['dba'][0]} sslmode=disable"
    )
    conn = psycopg.connect(dsn, autocommit=True)
    pid = conn.info.backend_pid
    t0 = time.monotonic()
    gw.proc.send_signal(signal.SIGTERM)
    assert gw.proc.wait(timeout=20) == 0
    assert time.monotonic() - t0 < 10
    with conn, pytest.raises(psycopg.OperationalError, match="regogate is shutting down"):
        conn.execute("select 1")
    # The upstream backend was told to terminate, not left behind.
    deadline = time.monotonic() + 10
    while pg.sql(f"select count(*) from pg_stat_activity where pid = {pid}").strip() != "0":
        assert time.monotonic() < deadline, "upstream backend still alive"
        time.sleep(0.1)
