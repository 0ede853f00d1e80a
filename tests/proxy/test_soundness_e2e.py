"""Gate soundness end to end: what the gate decides on is what PostgreSQL runs, whatever
the session's settings, transactions and pipelines do. Real `regogate serve` with its OPA
sidecar and the default policy library, real PostgreSQL, raw protocol and psycopg.

Every attack checks the data from PostgreSQL's side afterwards and that no classified
value reached the client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.fix_gateway import GatewayFixture
from tests.rawpg import RawClient, extended, query

POLICIES = Path(__file__).resolve().parents[2] / "policies" / "rego"
SMUGGLE = "SELECT 'a\\' || ' ; DELETE FROM transactions WHERE id < 5; --'"
# Sorted by the SSN: agents are denied sorting on a masked column (pii_mask), so a read
# resolved to public.customers is refused outright, not answered with masked values.
SSNS_SQL = "select ssn from customers order by ssn"


@pytest.fixture
def gw(make_gateway: Callable[..., GatewayFixture]) -> GatewayFixture:
    return make_gateway(extra=f'[policy]\ndir = "{POLICIES}"\n')


@pytest.fixture
def admin(gw: GatewayFixture) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(gw.pg.admin_dsn("bank"), autocommit=True) as conn:
        yield conn


@pytest.fixture
def ssns(admin: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    return [str(r[0]) for r in admin.execute(SSNS_SQL).fetchall()]


def raw(gw: GatewayFixture, who: str = "agent", **params: str) -> RawClient:
    client = RawClient(gw.port, who, gw.token(who), **params)
    assert client.startup_error is None, client.startup_error
    return client


def transactions(admin: psycopg.Connection[tuple[object, ...]]) -> object:
    return admin.execute("select count(*), sum(amount) from transactions").fetchone()


def no_ssn(data: list[object], ssns: list[str]) -> None:
    text = repr(data)
    assert not any(s in text for s in ssns[:50])


LEXING_CHANGES = [
    "SET standard_conforming_strings = off",
    "SET SESSION standard_conforming_strings TO false",
    "SET LOCAL standard_conforming_strings = off",
    "SELECT set_config('standard_conforming_strings', 'off', false)",
    "SELECT length(set_config('standard_conforming_strings', 'off', false))",
    "SELECT 1 WHERE set_config('standard_conforming_strings', 'off', false) IS NOT NULL",
    "SELECT set_config(n, 'off', false) FROM (VALUES ('standard_conforming_strings')) v(n)",
    "SET client_encoding = 'GBK'",
    "SET client_encoding TO 'SJIS'",
    "SET NAMES 'BIG5'",
    "SELECT set_config('client_encoding', 'GBK', false)",
    "BEGIN; SET standard_conforming_strings = off; COMMIT",
]


@pytest.mark.parametrize("change", LEXING_CHANGES)
def test_lexing_settings_stay_where_the_analyser_reads(
    gw: GatewayFixture, admin: psycopg.Connection[tuple[object, ...]], change: str
) -> None:
    before = transactions(admin)
    for who in ("agent", "dba"):
        client = raw(gw, who)
        first, second = client.run(query(change) + query(SMUGGLE), 2)
        assert first.errors and first.errors[0].sqlstate == "42501", first.frames
        assert "regogate" in first.errors[0].message or "policy" in first.errors[0].message
        assert not second.errors or second.errors[0].severity != "FATAL"
        status = client.run(query("show standard_conforming_strings"))[0]
        assert status.rows == [("on",)]
        client.close()
    assert transactions(admin) == before


def test_allowed_values_pass(gw: GatewayFixture) -> None:
    client = raw(gw, "dba")
    for sql in (
        "SET standard_conforming_strings = on",
        "SET client_encoding = 'UTF8'",
        "SET client_encoding TO 'utf-8'",
        "RESET client_encoding",
        "SET backslash_quote = off",
    ):
        result = client.run(query(sql))[0]
        assert not result.errors, (sql, result.errors)
    client.close()


def test_stored_defaults_of_lexing_settings_are_refused(
    gw: GatewayFixture, admin: psycopg.Connection[tuple[object, ...]]
) -> None:
    client = raw(gw, "dba")
    for sql in (
        "ALTER ROLE rg_scram SET standard_conforming_strings = off",
        "ALTER DATABASE bank SET client_encoding = 'GBK'",
        "ALTER ROLE rg_scram IN DATABASE bank SET standard_conforming_strings TO off",
        "ALTER SYSTEM SET standard_conforming_strings = off",
        "CREATE FUNCTION rg_f() RETURNS int LANGUAGE sql "
        "SET standard_conforming_strings = off AS 'select 1'",
    ):
        result = client.run(query(sql))[0]
        assert result.errors and result.errors[0].sqlstate == "42501", sql
    client.close()
    row = admin.execute(
        "select count(*) from pg_db_role_setting where array_to_string(setconfig, ',') "
        "like '%standard_conforming%' or array_to_string(setconfig, ',') like '%GBK%'"
    ).fetchone()
    assert row == (0,)


def test_a_session_starting_with_other_lexing_settings_is_refused(
    gw: GatewayFixture, admin: psycopg.Connection[tuple[object, ...]]
) -> None:
    admin.execute("ALTER ROLE rg_scram SET standard_conforming_strings = off")
    try:
        client = RawClient(gw.port, "dba", gw.token("dba"))
        errors = client.startup.errors if client.startup_error is None else [client.startup_error]
        assert errors and errors[0] is not None
        assert errors[0].severity == "FATAL" and errors[0].sqlstate == "42501"
        assert "standard_conforming_strings" in errors[0].message
    finally:
        admin.execute("ALTER ROLE rg_scram RESET standard_conforming_strings")


def test_user_code_that_changes_lexing_ends_the_session(
    gw: GatewayFixture, admin: psycopg.Connection[tuple[object, ...]]
) -> None:
    admin.execute(
        "CREATE OR REPLACE FUNCTION public.rg_flip() RETURNS text LANGUAGE sql AS "
        "$$ SELECT set_config('standard_conforming_strings', 'off', false) $$"
    )
    try:
        before = transactions(admin)
        client = raw(gw, "dba")
        # Pipelined in one write: the smuggling text must not run after the flip.
        client.send(query("SELECT public.rg_flip()") + query(SMUGGLE))
        errors = []
        for _ in range(2):
            try:
                errors += client.until_ready().errors
            except ConnectionError:
                break
            if any(e.severity == "FATAL" for e in errors):
                break
        fatal = [e for e in errors if e.severity == "FATAL"]
        assert fatal and "standard_conforming_strings" in fatal[0].message
        assert client.closed()
        assert transactions(admin) == before
    finally:
        admin.execute("DROP FUNCTION IF EXISTS public.rg_flip()")


# -- name resolution follows what PostgreSQL applies ----------------------------------------

PATH_ATTACKS = [
    ("set local outside a block", ["SET LOCAL search_path = information_schema"]),
    ("rolled back", ["BEGIN", "SET search_path = information_schema", "ROLLBACK"]),
    ("failed in one query", ["SET search_path = information_schema; SELECT 1/0"]),
    (
        "rolled back to savepoint",
        ["BEGIN", "SAVEPOINT a", "SET search_path = information_schema", "ROLLBACK TO a"],
    ),
    ("set_config local", ["SELECT set_config('search_path', 'information_schema', true)"]),
    (
        "error aborts block",
        ["BEGIN", "SET search_path = information_schema", "SELECT 1/0", "ROLLBACK"],
    ),
]


@pytest.mark.parametrize("steps", [a[1] for a in PATH_ATTACKS], ids=[a[0] for a in PATH_ATTACKS])
def test_search_path_as_postgresql_applies_it(
    gw: GatewayFixture, ssns: list[str], steps: list[str]
) -> None:
    client = raw(gw, "agent")
    for sql in steps:
        client.run(query(sql))
    result = client.run(query(SSNS_SQL))[0]
    assert result.errors and result.errors[0].sqlstate == "42501"
    no_ssn(result.rows, ssns)
    client.run(query("ROLLBACK"))  # the denial aborted any open block
    assert client.run(query("show search_path"))[0].rows == [('"$user", public',)]
    client.close()


def test_pipelined_set_that_is_rolled_back(gw: GatewayFixture, ssns: list[str]) -> None:
    client = raw(gw, "agent")
    pipeline = (
        extended("SET search_path = information_schema", sync=False)
        + extended("SELECT 1/0")
        + extended(SSNS_SQL)
    )
    first, second = client.run(pipeline, 2)
    assert first.errors and first.errors[0].sqlstate == "22012"
    assert second.errors and second.errors[0].sqlstate == "42501"
    no_ssn(second.rows, ssns)
    client.close()


def test_pipelined_set_that_holds(gw: GatewayFixture, ssns: list[str]) -> None:
    # The SET applies to the statement after it in the same pipeline: the gate decides
    # that statement only once PostgreSQL has reported the SET complete.
    client = raw(gw, "agent")
    pipeline = extended("SET search_path = pg_catalog", sync=False) + extended(
        "SELECT count(*) FROM pg_class"
    )
    (result,) = client.run(pipeline)
    assert not result.errors, result.errors
    assert client.run(query("show search_path"))[0].rows == [("pg_catalog",)]
    client.close()


def test_backslash_text_waits_for_statements_in_flight(gw: GatewayFixture) -> None:
    client = raw(gw, "dba")
    # A Bind/Execute still running, no Sync yet: PostgreSQL could read the text under
    # other settings if that statement changed them; the gate refuses to guess.
    pipeline = extended("SELECT 1", sync=False) + extended("SELECT 'a\\b'")
    (result,) = client.run(pipeline)
    assert result.errors and "backslash" in result.errors[0].message
    # After a Sync, the same text waits for the answer and runs.
    (ok,) = client.run(extended("SELECT 1") + extended("SELECT 'a\\b'"), 1)[:1]
    assert not ok.errors
    client.close()


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"options": "-c standard_conforming_strings=off"}, "standard_conforming_strings"),
        ({"options": "--client_encoding=GBK"}, "client_encoding"),
        ({"options": "-c search_path=public -cstandard-conforming-strings=off"}, "standard"),
        ({"client_encoding": "GBK"}, "client_encoding"),
        ({"standard_conforming_strings": "off"}, "standard_conforming_strings"),
        ({"options": "-c role=rg_trust"}, "role"),
    ],
)
def test_startup_settings_are_an_allowlist(
    gw: GatewayFixture, params: dict[str, str], named: str
) -> None:
    client = RawClient(gw.port, "agent", gw.token("agent"), **params)
    errors = client.startup.errors if client.startup_error is None else [client.startup_error]
    assert errors and errors[0] is not None
    assert errors[0].severity == "FATAL" and errors[0].sqlstate == "42501"
    assert named in errors[0].message


def test_allowed_startup_settings_reach_postgresql(gw: GatewayFixture) -> None:
    # An analyst: an agent's statement_timeout is the CONNECT decision's, whatever it asks
    # (tests/policy/test_agent_limits_e2e.py).
    client = raw(gw, "analyst", options="-c statement_timeout=1234", application_name="rg-t")
    result = client.run(query("show statement_timeout"))[0]
    assert result.rows == [("1234ms",)]
    client.close()


def test_set_config_with_bound_parameters(
    gw: GatewayFixture, admin: psycopg.Connection[tuple[object, ...]]
) -> None:
    # psycopg binds values server-side: the gate decides the change at Bind, on the
    # values, and follows it.
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
        conn.execute("select set_config(%s, %s, false)", ["application_name", "bound-x"])
        assert conn.execute("show application_name").fetchone() == ("bound-x",)
        conn.execute("select set_config(%s, %s, false)", ["client_encoding", "UTF8"])
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select set_config(%s, %s, false)", ["standard_conforming_strings", "off"])
        assert conn.execute("show standard_conforming_strings").fetchone() == ("on",)
