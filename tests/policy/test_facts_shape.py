"""One analysis shared by texts that differ only in constants: which statements qualify,
and that for every statement of the analyser's corpus that qualifies, other constants
give the very same facts (the property the sharing rests on)."""

from __future__ import annotations

import anyio
import pytest
from pglast import parser

from regogate.policy.catalog_rows import snapshot_from_rows
from regogate.policy.facts import analyze
from regogate.policy.facts_shape import constants_inert, shape
from tests.policy.corpus import CASES, CATALOG_ROWS, Case
from tests.policy.test_catalog_cache import CONN, FakeSource
from tests.policy.test_engine_catalog import engine

CATALOG = snapshot_from_rows(CATALOG_ROWS)


@pytest.mark.parametrize(
    ("sql", "inert"),
    [
        ("SELECT abalance FROM pgbench_accounts WHERE aid = 42", True),
        ("select count(*) from t where a in (1, 2) and b like 'x%' limit 10", True),
        ("insert into t values (1, 'a') returning *", True),
        ("update t set a = 1 where id = -5", True),
        ("with x as (delete from t where id = 1 returning *) select * from x", True),
        ("select lower(email) from t where id = 3", True),
        ("select set_config('search_path', 'shadow', false)", False),  # read by value
        ("select nextval('seq')", False),
        ("select pg_sleep(60)", False),
        ("select 'customers'::regclass", False),
        ("select id from t order by 1", False),  # an output position
        ("select a, count(*) from t group by 1", False),
        ("select distinct on (1) a from t", False),
        ("select * from t where a = $1", False),  # parameters: per text
        ("set search_path = shadow", False),
        ("select (c).ssn from customers c where id = 1", False),  # indirection
        ("select * from t where a = 1; set role x", False),
        ("select * from", False),  # not parsable
    ],
)
def test_which_statements_qualify(sql: str, inert: bool) -> None:
    assert constants_inert(sql) is inert


def test_shape_tells_a_constant_from_an_operator_over_one() -> None:
    # Both normalize to "... a = $1"; the fingerprint keeps them apart.
    assert shape("select * from t where a = -5") != shape("select * from t where a = -'5'")
    assert shape("select * from t where a = 1") == shape("select * from t where a = 99")
    assert shape("select * from t") is None  # no constant: nothing to share


_OTHER = {
    "ICONST": ("0", "7", "123456789"),
    "FCONST": ("0.5", "1e9"),
    "SCONST": ("''", "'x''y'", "E'\\\\'"),
}


def _variants(sql: str) -> list[str]:
    """``sql`` with every constant token replaced by other values of its kind."""
    tokens = [t for t in parser.scan(sql) if t.name in _OTHER]
    out = []
    for i in range(3):
        text, shift = sql, 0
        for t in tokens:
            values = _OTHER[t.name]
            new = values[i % len(values)]
            text = text[: t.start + shift] + new + text[t.end + 1 + shift :]
            shift += len(new) - (t.end + 1 - t.start)
        out.append(text)
    return out


INERT_CASES = [c for c in CASES if constants_inert(c.sql) and shape(c.sql) is not None]


def test_the_corpus_has_statements_that_qualify() -> None:
    assert len(INERT_CASES) >= 15


@pytest.mark.parametrize("case", INERT_CASES, ids=[c.id for c in INERT_CASES])
def test_other_constants_give_the_same_facts(case: Case) -> None:
    sql = case.sql
    base = analyze(sql, CATALOG, {})
    for variant in _variants(sql):
        assert shape(variant) == shape(sql), variant
        assert constants_inert(variant)
        assert analyze(variant, CATALOG, {}) == base, variant


def test_the_engine_shares_an_analysis_from_the_second_sighting() -> None:
    eng = engine(FakeSource())

    async def main() -> None:
        catalog, generation = await eng.catalog(CONN)
        path = catalog.search_path
        texts = [f"select * from t1 where id = {i}" for i in range(4)]
        results = [eng.analyze(t, catalog, generation, path, {}) for t in texts]
        assert eng.stats.analyses == 2 and eng.stats.shape_hits == 2
        assert all(r == analyze(t, catalog, {}) for r, t in zip(results, texts, strict=True))
        # A function call over a constant is analysed per text, every time.
        for i in range(3):
            eng.analyze(
                f"select set_config('search_path', 's{i}', false)", catalog, generation, path, {}
            )
        assert eng.stats.analyses == 5 and eng.stats.shape_hits == 2

    anyio.run(main)
