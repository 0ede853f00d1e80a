"""Agents cannot hold the database: the CONNECT decision's ``session_settings``, the SET
statements that apply them, and the ``sleep_seconds`` fact of pg_sleep calls."""

from __future__ import annotations

import anyio
import pytest
from pglast import parse_sql

from regogate.errors import PolicyUnavailable
from regogate.policy.catalog import EMPTY_CATALOG
from regogate.policy.decision import parse_decision
from regogate.policy.facts import analyze, to_input
from regogate.policy.facts_sleep import interval_seconds, sleep_seconds
from regogate.proxy.startup import settings_sql
from tests.policy.test_catalog_cache import CONN, FakeSource
from tests.policy.test_engine_catalog import engine

# -- the CONNECT decision ------------------------------------------------------------------


def test_session_settings_are_parsed() -> None:
    settings = {"statement_timeout": "30s", "lock_timeout": "500ms", "idle_session_timeout": "0"}
    d = parse_decision({"allow": True, "session_settings": settings})
    assert d.session_settings == settings
    assert parse_decision({"allow": True}).session_settings == {}
    assert parse_decision({"allow": True, "session_settings": None}).session_settings == {}
    assert parse_decision({"allow": True, "session_settings": {}}).session_settings == {}
    fractional = {"idle_in_transaction_session_timeout": "1.5 min"}
    assert parse_decision({"allow": True, "session_settings": fractional}).session_settings


@pytest.mark.parametrize(
    "settings",
    [
        "statement_timeout=30s",
        ["statement_timeout"],
        {"work_mem": "64MB"},  # not a timeout
        {"role": "postgres"},
        {"Statement_Timeout": "30s"},
        {"statement_timeout": 30},
        {"statement_timeout": "30 seconds"},
        {"statement_timeout": "-1"},
        {"statement_timeout": "30s'; RESET ROLE; --"},
        {"statement_timeout": ""},
    ],
)
def test_malformed_session_settings_fail_closed(settings: object) -> None:
    with pytest.raises(PolicyUnavailable, match="session_settings"):
        parse_decision({"allow": True, "session_settings": settings})


def test_settings_become_quoted_set_statements() -> None:
    assert settings_sql({}) == ()
    assert settings_sql({"statement_timeout": "30s", "lock_timeout": "5s"}) == (
        "SET \"lock_timeout\" = '5s'",
        "SET \"statement_timeout\" = '30s'",
    )
    # Values are checked by parse_decision; quoting does not rely on it.
    assert settings_sql({"lock_timeout": "5'"}) == ("SET \"lock_timeout\" = '5'''",)


# -- sleep_seconds -------------------------------------------------------------------------


def _sleep(sql: str) -> object:
    (facts,) = analyze(sql, EMPTY_CATALOG).statements
    return to_input(facts, EMPTY_CATALOG).get("sleep_seconds", "absent")


@pytest.mark.parametrize(
    ("sql", "seconds"),
    [
        ("select 1", "absent"),
        ("select now()", "absent"),
        ("select pg_sleep(1)", 1),
        ("select pg_sleep(0.1) from generate_series(1, 10)", 0.1),
        ("select pg_sleep('2')", 2),
        ("select pg_sleep(2.5::float8)", 2.5),
        ("select pg_sleep(-3)", 0),
        ("select pg_sleep(1e3)", 1000),
        ("select pg_catalog.pg_sleep(60)", 60),
        ("select public.pg_sleep(60)", 60),  # a look-alike is bounded like the real one
        ("select pg_sleep(1), pg_sleep(7), pg_sleep(2)", 7),
        ("select * from (select pg_sleep(9)) s", 9),
        ("with w as (select pg_sleep(4)) select * from w", 4),
        ("explain select pg_sleep(8)", 8),
        ("select pg_sleep_for('1 hour')", 3600),
        ("select pg_sleep_for(interval '90 s')", 90),
        ("select pg_sleep_for('00:00:05'::interval)", 5),
        ("select pg_sleep_for('@ 1 min 30 secs')", 90),
        ("select pg_sleep_for('1 day ago')", 0),
        # unknown: null
        ("select pg_sleep(x) from t", None),
        ("select pg_sleep($1)", None),
        ("select pg_sleep(1 + 1)", None),
        ("select pg_sleep(5::int)", None),
        ("select pg_sleep(null)", None),
        ("select pg_sleep('infinity')", None),
        ("select pg_sleep('NaN')", None),
        ("select pg_sleep(1), pg_sleep(x) from t", None),
        ("select pg_sleep_for(interval '1' hour)", None),
        ("select pg_sleep_for('PT5S')", None),
        ("select pg_sleep_for('1 fortnight')", None),
        ("select pg_sleep_for(5)", None),
        ("select pg_sleep_until('2030-01-01')", None),
        ("select pg_sleep_until(now() + interval '1 s')", None),
    ],
)
def test_sleep_seconds(sql: str, seconds: object) -> None:
    assert _sleep(sql) == seconds


def test_prepared_sleeps_are_seen_at_execute() -> None:
    execute = analyze("prepare p as select pg_sleep(100); execute p", EMPTY_CATALOG).statements
    assert [to_input(f, EMPTY_CATALOG)["sleep_seconds"] for f in execute] == [100, 100]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5", 5.0),
        ("1.5 minutes", 90.0),
        ("1 h 2 m 3 s", 3723.0),
        ("2 weeks", 14 * 86400.0),
        ("1 mon", 30 * 86400.0),
        ("1 day 02:00", 93600.0),
        ("-00:00:05", -5.0),
        ("250 ms", 0.25),
        ("", None),
        ("@", None),
        ("soon", None),
        ("1 hour and a bit", None),
    ],
)
def test_interval_seconds(text: str, seconds: float | None) -> None:
    assert interval_seconds(text) == seconds


def test_sleep_seconds_needs_one_argument() -> None:
    call = parse_sql("select pg_sleep(1, 2)")[0].stmt.targetList[0].val
    assert sleep_seconds("pg_sleep", call.args) is None
    assert sleep_seconds("pg_sleep", None) is None


def test_the_engine_analyses_sleeps_per_text() -> None:
    """facts_shape shares analyses between texts that differ only in constants, but never
    over a constant under a function call: pg_sleep(1) and pg_sleep(100) keep their own
    facts, however often they are seen."""
    eng = engine(FakeSource())

    async def main() -> None:
        catalog, generation = await eng.catalog(CONN)
        path = catalog.search_path
        seen = []
        for sql in ("select pg_sleep(1)", "select pg_sleep(100)") * 2:
            (facts,) = eng.analyze(sql, catalog, generation, path, {}).statements
            seen.append(to_input(facts, catalog)["sleep_seconds"])
        assert seen == [1, 100, 1, 100]

    anyio.run(main)
