"""Agents cannot hold the database, end to end: a real `regogate serve` with the default
library (agent_limits), PostgreSQL with the bank data, psycopg. The session's timeouts
come from the CONNECT decision; agents cannot change them, nor sleep long."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.fix_gateway import GatewayFixture, start_gateway
from tests.fix_pg import PgFixture
from tests.policy.test_default_policy_e2e import POLICIES, refused

TIMEOUTS = ("statement_timeout", "idle_in_transaction_session_timeout", "lock_timeout")
# config limits.agent_session_settings as PostgreSQL shows them (60s is 1min).
AGENT_VALUES = {
    "statement_timeout": "30s",
    "idle_in_transaction_session_timeout": "1min",
    "lock_timeout": "5s",
}


@pytest.fixture(scope="module")
def gw(pg: PgFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayFixture]:
    """The default library, one gateway for the module."""
    yield from _gateway(pg, tmp_path_factory.mktemp("gw"), POLICIES)


@pytest.fixture(scope="module")
def tight(pg: PgFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayFixture]:
    """The default library with small agent limits in its data."""
    directory = tmp_path_factory.mktemp("tight")
    rego = directory / "rego"
    shutil.copytree(POLICIES, rego)
    limits = {
        "agent_session_settings": {
            "statement_timeout": "200ms",
            "idle_in_transaction_session_timeout": "300ms",
            "lock_timeout": "100ms",
        },
        "agent_max_sleep_seconds": 0.15,
    }
    (rego / "regogate" / "config" / "limits" / "data.json").write_text(json.dumps(limits))
    yield from _gateway(pg, directory / "gateway", rego)


def _gateway(pg: PgFixture, directory: Path, policies: Path) -> Iterator[GatewayFixture]:
    gw = start_gateway(pg, directory, extra=f'[policy]\ndir = "{policies}"\n')
    yield gw
    assert gw.process is not None
    gw.process.stop()


def shown(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, object]:
    return {name: conn.execute(f"show {name}").fetchone()[0] for name in TIMEOUTS}  # type: ignore[index]


def test_agent_sessions_start_with_the_timeouts(gw: GatewayFixture) -> None:
    with psycopg.connect(gw.dsn("agent"), autocommit=True) as conn:
        assert shown(conn) == AGENT_VALUES
    # Startup parameters that ask for no timeout are overridden.
    dsn = gw.dsn("agent", options="-c statement_timeout=0 -c lock_timeout=0")
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert shown(conn) == AGENT_VALUES


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("set statement_timeout = 0", "agents may not change statement_timeout (SET)"),
        ("set session lock_timeout to default", "agents may not change lock_timeout (SET)"),
        (
            "set idle_in_transaction_session_timeout = '1h'",
            "agents may not change idle_in_transaction_session_timeout (SET)",
        ),
        ("reset statement_timeout", "agents may not change statement_timeout (RESET)"),
        ("reset all", "agents may not run RESET: it would reset"),
        ("discard all", "agents may not run DISCARD ALL: it would reset"),
        (
            "select set_config('statement_timeout', '0', false)",
            "agents may not change statement_timeout (SELECT)",
        ),
    ],
)
def test_agents_may_not_change_them(gw: GatewayFixture, sql: str, reason: str) -> None:
    with psycopg.connect(gw.dsn("agent"), autocommit=True) as conn:
        assert reason in refused(conn, sql)
        assert shown(conn) == AGENT_VALUES


def test_agents_may_not_change_them_in_a_transaction(gw: GatewayFixture) -> None:
    with psycopg.connect(gw.dsn("agent")) as conn:
        conn.execute("select 1")
        assert "agents may not change statement_timeout (SET)" in refused(
            conn, "set local statement_timeout = 0"
        )
        conn.rollback()
        assert shown(conn) == AGENT_VALUES


@pytest.mark.parametrize("who", ["analyst", "dba"])
def test_others_are_not_limited(gw: GatewayFixture, who: str) -> None:
    with psycopg.connect(gw.dsn(who), autocommit=True) as conn:
        assert conn.execute("show statement_timeout").fetchone() == ("0",)
        conn.execute("set statement_timeout = '1min'")
        conn.execute("reset statement_timeout")
        conn.execute("select pg_sleep(0.01), pg_sleep_for('10 ms')")


def test_agents_sleep_only_briefly(gw: GatewayFixture) -> None:
    with psycopg.connect(gw.dsn("agent"), autocommit=True) as conn:
        conn.execute("select pg_sleep(1)")
        conn.execute("select pg_sleep_for('10 milliseconds')")
        too_long = "agents may not sleep for more than 5 s"
        unknown = "agents may sleep only for a constant time of at most 5 s"
        for sql, reason in (
            ("select pg_sleep(60)", too_long),
            ("select pg_sleep_for('1 hour')", too_long),
            ("select pg_sleep(id) from transactions limit 1", unknown),
            ("select pg_sleep_until('2100-01-01')", unknown),
        ):
            assert reason in refused(conn, sql), sql


def test_a_long_agent_query_is_cancelled(tight: GatewayFixture) -> None:
    slow = "select pg_sleep(0.1) from generate_series(1, 10)"
    with psycopg.connect(tight.dsn("agent"), autocommit=True) as conn:
        assert conn.execute("show statement_timeout").fetchone() == ("200ms",)
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled) as info:
            conn.execute(slow)
        assert info.value.sqlstate == "57014"
        assert time.monotonic() - started < 0.9
        assert conn.execute("select 1").fetchone() == (1,)  # the session goes on
    with psycopg.connect(tight.dsn("analyst"), autocommit=True) as conn:
        assert len(conn.execute(slow).fetchall()) == 10


def test_an_idle_agent_transaction_is_ended(tight: GatewayFixture) -> None:
    with psycopg.connect(tight.dsn("agent")) as conn:
        conn.execute("select 1")  # opens a transaction, then sits idle in it
        time.sleep(1.0)
        with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout):
            conn.execute("select 1")
