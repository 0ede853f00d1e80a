"""Policy enforcement end to end: `regogate serve` with its real OPA sidecar, real
PostgreSQL, real clients (psycopg 3, asyncpg, psql).

The policy here is written by the test (small and explicit) so each mechanism is shown on
its own: deny with reasons, whole-message denial, Parse-time denial, transaction abort,
fail closed when OPA dies and recovery, live policy edits, catalog refresh after DDL.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import asyncpg
import psutil
import psycopg
import pytest

from tests.fix_gateway import GatewayFixture

POLICY = """\
package regogate

reasons contains "reading SSN columns is not allowed" if {
\tsome c in input.statement.columns.read
\tendswith(c, ".ssn")
}

reasons contains sprintf("%s is not allowed", [v]) if {
\tsome v in input.statement.verbs
\tv in {"DELETE", "DROP TABLE", "TRUNCATE TABLE"}
}

reasons contains "opaque statements are not allowed" if input.statement.flags.opaque

reasons contains "FORBIDDEN_MARK" if {
\tsome c in input.statement.columns.read
\tendswith(c, ".forbidden_col")
}

masks[c] := {"method": "email"} if {
\tsome c in input.statement.columns.read
\tc == "public.customers.email"
}

decision := {"allow": false, "deny": sort(reasons), "ttl": 60} if {
\tcount(reasons) > 0
} else := {"allow": true, "deny": [], "mask": masks, "ttl": 60}
"""


def policy_dir(root: Path, text: str = POLICY) -> Path:
    d = root / "rego"
    (d / "regogate").mkdir(parents=True, exist_ok=True)
    (d / "regogate" / "policy.rego").write_text(text)
    return d


def policy_section(d: Path, **extra: object) -> str:
    lines = [f'dir = "{d}"', "watch_interval = 0.2"]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "[policy]\n" + "\n".join(lines) + "\n"


@pytest.fixture
def enforced(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> tuple[GatewayFixture, Path]:
    d = policy_dir(tmp_path)
    return make_gateway(extra=policy_section(d)), d


def _count(pg_dsn: str, sql: str) -> int:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


def test_allowed_and_denied_with_reasons_data_unchanged(
    enforced: tuple[GatewayFixture, Path],
) -> None:
    gw, _ = enforced
    direct = gw.pg.admin_dsn("bank")
    before = _count(direct, "select count(*) from transactions")
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
        row = conn.execute("select id, created_at from customers order by id limit 1").fetchone()
        assert row is not None and row[0] == 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
            conn.execute("delete from transactions where id < 100")
        assert "DELETE is not allowed" in str(info.value)
        assert info.value.diag.sqlstate == "42501"
        assert "policy revision sha256:" in (info.value.diag.message_detail or "")
        # The connection stays usable.
        row = conn.execute("select count(*) from transactions").fetchone()
        assert row is not None and row[0] == before
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="SSN"):
            conn.execute("select c.ssn from customers c join accounts a on a.customer_id = c.id")
        # `*` is expanded from the catalog: the SSN column is seen behind it.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="SSN"):
            conn.execute("select * from customers limit 1")
        # A mask instruction masks the result cells.
        (email,) = conn.execute("select email from customers limit 1").fetchone() or ("",)
        assert str(email).startswith("***@")
    assert _count(direct, "select count(*) from transactions") == before


def test_one_denied_statement_denies_the_whole_message(
    enforced: tuple[GatewayFixture, Path],
) -> None:
    gw, _ = enforced
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
        conn.execute("create temp table m (v int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
            conn.execute(
                "insert into m values (1); delete from m where v = 1; insert into m values (2)"
            )
        assert "statement 2 of 3 (DELETE)" in (info.value.diag.message_detail or "")
        row = conn.execute("select count(*) from m").fetchone()
        assert row == (0,)


def test_extended_protocol_and_transactions(enforced: tuple[GatewayFixture, Path]) -> None:
    gw, _ = enforced

    async def main() -> None:
        conn = await asyncpg.connect(
            host="127.0.0.1",
            port=gw.port,
            user="dba",
            password=gw.token("dba"),
            database="bank",
            ssl=False,
        )
        try:
            assert await conn.fetchval("select count(*) from customers where id = $1", 1) == 1
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="SSN"):
                await conn.fetchval("select ssn from customers where id = $1", 1)
            # Prepared (named) statements are decided at Parse.
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="DELETE"):
                await conn.prepare("delete from transactions where id = $1")
            # Inside a transaction block the denial aborts the transaction, as PostgreSQL would.
            tr = conn.transaction()
            await tr.start()
            await conn.execute("create temp table tx (v int)")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("delete from tx where v = 1")
            with pytest.raises(asyncpg.InFailedSQLTransactionError):
                await conn.execute("select 1")
            await tr.rollback()
            assert await conn.fetchval("select 41 + 1") == 42
        finally:
            await conn.close()

    anyio.run(main)


def test_sql_level_prepare_execute_and_cursors_are_decided(
    enforced: tuple[GatewayFixture, Path],
) -> None:
    gw, _ = enforced
    with psycopg.connect(gw.dsn("dba")) as conn:
        conn.execute("prepare ok_q as select id from customers where id = $1")
        assert conn.execute("execute ok_q(1)").fetchone() == (1,)
        conn.rollback()
        # PREPARE of a denied statement is itself denied (facts see the inner DELETE).
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="DELETE"):
            conn.execute("prepare bad_q as delete from transactions where id = $1")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="SSN"):
            conn.execute("declare c cursor for select ssn from customers")
        conn.rollback()
        conn.execute("declare c2 cursor for select id from customers order by id")
        assert conn.execute("fetch 2 from c2").fetchall() == [(1,), (2,)]


def test_search_path_before_an_unqualified_name(
    enforced: tuple[GatewayFixture, Path],
) -> None:
    gw, _ = enforced
    with psycopg.connect(gw.pg.admin_dsn("bank"), autocommit=True) as direct:
        direct.execute("create schema if not exists hr")
        direct.execute("create table if not exists hr.people (id int, ssn text)")
        direct.execute("grant usage on schema hr to public")
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
        # The catalog was read before hr.people existed: DDL through the gateway refreshes
        # it, and so does a new snapshot; here it is new to this gateway anyway.
        conn.execute("set search_path = hr, public")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="SSN"):
            conn.execute("select * from people")
        conn.execute("set search_path = public")
        conn.execute("select id from customers limit 1")


def test_catalog_is_refreshed_after_ddl(enforced: tuple[GatewayFixture, Path]) -> None:
    gw, _ = enforced
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
        conn.execute("select 1")  # the catalog is read now
        conn.execute("create table if not exists ddl_probe (id int, forbidden_col text)")
        try:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="FORBIDDEN_MARK"):
                conn.execute("select * from ddl_probe")
        finally:
            with psycopg.connect(gw.pg.admin_dsn("bank"), autocommit=True) as direct:
                direct.execute("drop table ddl_probe")


def test_unparsable_sql_is_denied_not_passed(enforced: tuple[GatewayFixture, Path]) -> None:
    gw, _ = enforced
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="opaque"):
            conn.execute("selec id frm customers")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="opaque"):
            conn.execute("do $$ begin perform 1; end $$")
        assert conn.execute("select 1").fetchone() == (1,)


def test_psql_sees_the_policy_error(enforced: tuple[GatewayFixture, Path]) -> None:
    gw, _ = enforced
    out = subprocess.run(
        ["psql", "-X", "-v", "ON_ERROR_STOP=0", "-c", "truncate transactions", "-c", "select 7"],
        env={**gw.env("dba"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "TRUNCATE TABLE is not allowed" in out.stderr
    assert "7" in out.stdout


def _opa_children(gw: GatewayFixture) -> list[psutil.Process]:
    assert gw.process is not None
    parent = psutil.Process(gw.process.proc.pid)
    return [p for p in parent.children(recursive=True) if "opa" in p.name()]


def test_opa_down_fails_closed_and_recovers(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> None:
    d = policy_dir(tmp_path)
    gw = make_gateway(extra=policy_section(d, cache_size=0))
    query = "select id from customers where id = 1"
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
        assert conn.execute(query).fetchone() == (1,)
        (opa,) = _opa_children(gw)
        # A hung OPA: every decision times out and is denied (fail closed).
        opa.send_signal(signal.SIGSTOP)
        try:
            for _ in range(3):
                with pytest.raises(psycopg.errors.InsufficientPrivilege, match="unavailable"):
                    conn.execute(query)
        finally:
            opa.send_signal(signal.SIGCONT)
        assert conn.execute(query).fetchone() == (1,)
        # A dead OPA: the sidecar restarts it; decisions come back without reconnecting.
        opa.send_signal(signal.SIGKILL)
        opa.wait(10)
        deadline = time.monotonic() + 20
        while True:
            try:
                assert conn.execute(query).fetchone() == (1,)
                break
            except psycopg.errors.InsufficientPrivilege as exc:
                if "unavailable" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        (restarted,) = _opa_children(gw)
        assert restarted.pid != opa.pid


def test_policy_edit_takes_effect_without_restart(
    enforced: tuple[GatewayFixture, Path],
) -> None:
    gw, d = enforced
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
        assert conn.execute("select created_at from customers where id = 1").fetchone() is not None
        edited = POLICY.replace('endswith(c, ".forbidden_col")', 'endswith(c, ".created_at")')
        (d / "regogate" / "policy.rego").write_text(edited)
        deadline = time.monotonic() + 15
        refused: psycopg.errors.InsufficientPrivilege | None = None
        while refused is None:
            try:
                conn.execute("select created_at from customers where id = 1")
            except psycopg.errors.InsufficientPrivilege as exc:
                refused = exc
            assert time.monotonic() < deadline, "the edit did not take effect"
            time.sleep(0.2)
        assert "FORBIDDEN_MARK" in str(refused)
        # A broken edit keeps the live revision (reads still decided by the last good one).
        (d / "regogate" / "policy.rego").write_text("package regogate\n\ndecision := {")
        time.sleep(1.0)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="FORBIDDEN_MARK"):
            conn.execute("select created_at from customers where id = 2")
        assert conn.execute("select id from customers where id = 2").fetchone() == (2,)


def _metrics(port: int) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def test_unavailable_decisions_are_counted_and_sighup_reloads(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> None:
    from regogate.pgserver import free_port

    mport = free_port()
    d = policy_dir(tmp_path)
    gw = make_gateway(
        extra_server=f'metrics_listen = "127.0.0.1:{mport}"',
        extra=policy_section(d, cache_size=0),
    )
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
        conn.execute("select id from customers where id = 1")
        (opa,) = _opa_children(gw)
        opa.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="unavailable"):
                conn.execute("select id from customers where id = 1")
        finally:
            opa.send_signal(signal.SIGCONT)
        text = _metrics(mport)
        assert 'regogate_policy_unavailable_total{reason="timed out"} 1' in text
        assert "regogate_sessions_active 1" in text and "regogate_opa_up 1" in text
        # SIGHUP reloads the policy directory (here: an edit the watcher has not seen yet
        # is not needed; the reload is forced and logged).
        assert gw.process is not None
        gw.process.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        log = Path(gw.process.log)
        while "SIGHUP: reloading policies" not in log.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert conn.execute("select id from customers where id = 1").fetchone() == (1,)
