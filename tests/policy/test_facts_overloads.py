"""Unqualified function calls report every function of that name on the search_path:
PostgreSQL chooses among all of them by argument types, so a user's overload in public
can run instead of pg_catalog's."""

from __future__ import annotations

from regogate.policy.catalog import CatalogSnapshot
from regogate.policy.facts import analyze

CATALOG = CatalogSnapshot(
    functions=frozenset({("pg_catalog", "lower"), ("public", "lower"), ("pg_catalog", "upper")}),
    schemas=frozenset({"pg_catalog", "public"}),
)


def test_overload_in_public_is_reported() -> None:
    facts = analyze("select lower('A', 1)", CATALOG).statements[0]
    assert facts.functions == ("pg_catalog.lower", "public.lower")


def test_only_the_schemas_that_have_it() -> None:
    facts = analyze("select upper('a')", CATALOG).statements[0]
    assert facts.functions == ("pg_catalog.upper",)


def test_qualified_call_is_exact() -> None:
    facts = analyze("select pg_catalog.lower('A')", CATALOG).statements[0]
    assert facts.functions == ("pg_catalog.lower",)


def test_schema_off_the_path_is_not_reported() -> None:
    path = CATALOG.with_search_path(("pg_catalog",))
    facts = analyze("select lower('A')", path).statements[0]
    assert facts.functions == ("pg_catalog.lower",)


# -- function arguments in FROM (found by the adversarial campaign) ------------------------

from regogate.policy.catalog import Relation  # noqa: E402

PEOPLE = CatalogSnapshot(
    relations={("public", "customers"): Relation("public", "customers", "table", ("id", "ssn"))},
    schemas=frozenset({"public", "pg_catalog"}),
)


def test_arguments_of_set_returning_functions_are_filtered() -> None:
    for sql in (
        "SELECT c.id FROM customers c, generate_series(1, c.ssn::int) g LIMIT 1",
        "SELECT c.id FROM customers c, regexp_matches(c.ssn, '^1') m",
        "SELECT c.id FROM customers c, unnest(ARRAY[c.ssn]) u",
        "SELECT c.id FROM customers c, ROWS FROM (generate_series(1, length(c.ssn))) r",
        "SELECT c.id FROM customers c, XMLTABLE('/a' PASSING xmlparse(document c.ssn) "
        "COLUMNS x text PATH '.') t",
        "SELECT (SELECT count(*) FROM generate_series(1, c.ssn::int)) FROM customers c",
    ):
        facts = analyze(sql, PEOPLE).statements[0]
        seen = facts.read + facts.filtered
        assert "public.customers.ssn" in seen, sql
