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
