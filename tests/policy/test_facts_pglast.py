"""facts_pglast's ``Node.__setattr__`` against pglast's own: the same trees from the same
text, the same coercions and the same errors (a twin test: both run on every input)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pglast import ast, enums
from pglast.parser import parse_sql

from regogate.policy import facts_pglast
from tests.policy.corpus import CASES

ROOT = Path(__file__).resolve().parents[2]

# Beyond the facts corpus: every kind of node and value the analyser reads.
EXTRA = [
    "select 1.5e10, -2, 'x'::text, b'101', x'ff', true, null, $1, array[1,2][1:2]",
    "with recursive t(n) as (select 1 union all select n + 1 from t where n < 5) "
    "select * from t order by n desc nulls last limit 3 offset 1 for update skip locked",
    "insert into t (a, b) values (1, default) on conflict (a) do update set b = excluded.b "
    "returning *",
    "merge into t using s on t.id = s.id when matched and s.x > 0 then update set x = s.x "
    "when not matched then insert values (s.id, s.x)",
    "create table p (id int generated always as identity primary key, v jsonb not null "
    "default '{}', check (id > 0)) partition by range (id)",
    'alter table p add column w numeric(10, 2) collate "C", drop constraint c cascade',
    "create function f(a int, out b int) returns setof record language sql stable "
    "security definer set search_path = pg_catalog as $$ select a $$",
    "grant select (a, b) on all tables in schema s to r with grant option",
    "lock table t in access exclusive mode nowait",
    "copy (select * from t) to stdout with (format csv, header)",
    "create view v with (security_barrier) as select x.a from t x join u using (id) "
    "where exists (select 1 from w where w.id = x.id) group by rollup (a) having count(*) > 1",
    "select xmlelement(name a, xmlattributes(1 as b)), json_object('a': 1), "
    "interval '1 day' hour to second, current_timestamp(3), coalesce(a, b) is distinct from c",
    "do $$ begin perform 1; end $$; set local work_mem = '1MB'; reset all; discard all",
    "select * from t tablesample bernoulli (10) repeatable (1), lateral f(t.a) with ordinality",
    "prepare q (int) as select $1; execute q(1); deallocate q",
    "explain (analyze, buffers) delete from t where ctid = '(0,1)'",
    "select 'unterminated",  # an error: the same from both
]


def _suites_sql() -> list[str]:
    """The regression suite's files, when installed (scripts/suites/setup-pg-suites.sh)."""
    files = sorted(ROOT.glob(".cache/pg-suites/*/regress/sql/*.sql"))
    texts = [f.read_text(errors="replace") for f in files[::7]]
    # psql's own commands (\set, \gset...) are no SQL: left out, the rest parses.
    return ["\n".join(x for x in t.splitlines() if not x.startswith("\\")) for t in texts]


@contextmanager
def pglast_own() -> Iterator[None]:
    ast.Node.__setattr__ = facts_pglast.PGLAST_SETATTR  # type: ignore[method-assign]
    try:
        yield
    finally:
        facts_pglast.install()


def outcome(make: Callable[[], Any]) -> object:
    try:
        made = make()
    except Exception as exc:  # the same error, raised the same way
        return ("error", type(exc).__name__, str(exc))
    if isinstance(made, tuple):
        return tuple(_dump(n) for n in made)
    return _dump(made)


def _dump(node: Any) -> object:
    """Everything of a tree: node() leaves out nothing but renders enums by name."""
    return (type(node).__name__, repr(node(skip_none=False)))


def both(make: Callable[[], Any]) -> tuple[object, object]:
    facts_pglast.install()
    fast = outcome(make)
    with pglast_own():
        own = outcome(make)
    return fast, own


def test_the_fast_setattr_is_installed_by_the_analyser() -> None:
    import regogate.policy.facts  # noqa: F401

    assert ast.Node.__setattr__ is facts_pglast.fast_setattr


@pytest.mark.parametrize("sql", [c.sql for c in CASES] + EXTRA)
def test_the_same_trees_from_the_corpus(sql: str) -> None:
    fast, own = both(lambda: parse_sql(sql))
    assert fast == own


def test_the_same_trees_from_the_regression_suite() -> None:
    texts = _suites_sql()
    for text in texts:
        fast, own = both(lambda: parse_sql(text))  # noqa: B023 (called at once)
        assert fast == own


CONSTRUCTED: list[Callable[[], Any]] = [
    lambda: ast.RangeVar(relname="t", inh=1),  # bool adaptor
    lambda: ast.RangeVar(relname=5),  # wrong type: pglast's ValueError
    lambda: ast.A_Expr(kind=0, name=(ast.String("="),)),  # enum from an int
    lambda: ast.A_Expr(kind="AEXPR_IN"),  # enum from its name
    lambda: ast.A_Expr(kind=enums.A_Expr_Kind.AEXPR_OP),  # an enum already
    lambda: ast.A_Expr(kind={"#": "A_Expr_Kind", "name": "AEXPR_LIKE"}),  # serialized enum
    lambda: ast.A_Expr(kind={"#": "Wrong", "name": "AEXPR_LIKE"}),  # wrong serialized enum
    lambda: ast.A_Expr(kind=999),  # no such value
    lambda: ast.SelectStmt(targetList=[{"@": "ResTarget", "name": "x"}]),  # list of dicts
    lambda: ast.InsertStmt(relation={"@": "RangeVar", "relname": "t"}),  # serialized child
    lambda: ast.InsertStmt(relation={"@": "Alias", "aliasname": "t"}),  # the wrong one
    lambda: ast.ColumnRef(fields=(ast.String("a"), ast.A_Star())),
    lambda: ast.A_Const(val=ast.Integer(1)),
    lambda: ast.Float("1.5"),
    lambda: ast.Float(1.5),
    lambda: ast.RangeVar({"@": "RangeVar", "relname": "t", "schemaname": "s"}),
]


@pytest.mark.parametrize("index", range(len(CONSTRUCTED)))
def test_the_same_coercions_and_errors(index: int) -> None:
    fast, own = both(CONSTRUCTED[index])
    assert fast == own
