"""Statement facts: a partition or inheritance child is reported with its ancestors (tables,
columns read/written/filtered, masking lineage), with hand-built catalog snapshots."""

from __future__ import annotations

import pytest

from regogate.policy.catalog import CatalogSnapshot, Relation
from regogate.policy.facts import StatementFacts, analyze
from regogate.policy.facts_inherit import split_column_key, with_ancestors

P = ("public", "customers")
Y = ("public", "customers_2024")
COLS = ("id", "full_name", "ssn")
RELATIONS = [
    Relation("public", "customers", "partitioned", COLS),
    Relation("public", "customers_2024", "table", COLS, parents=(P,)),
    Relation("public", "customers_2024_q1", "table", COLS, parents=(Y, P)),
    Relation("public", "vip_customers", "table", (*COLS, "tier"), parents=(P,)),
    Relation("public", "archive_part", "table", (), parents=(P,)),
    Relation("public", "orphan_part", "table", COLS, parents=(("public", "ghost"),)),
    Relation("public", "odd.part", "table", COLS, parents=(("public", "odd.parent"),)),
    Relation("public", "odd.parent", "partitioned", COLS),
    Relation(
        "public",
        "v2024",
        "view",
        ("who", "s"),
        base_tables=(Y,),
        view_columns={
            "who": ("public.customers_2024.full_name",),
            "s": ("public.customers_2024.ssn",),
        },
    ),
]
CATALOG = CatalogSnapshot(
    relations={(r.schema, r.name): r for r in RELATIONS},
    functions=frozenset({("pg_catalog", "row_to_json")}),
)


def _facts(sql: str) -> StatementFacts:
    (facts,) = analyze(sql, CATALOG).statements
    return facts


def _tables(facts: StatementFacts) -> dict[str, tuple[tuple[str, ...], str]]:
    return {f"{t.schema}.{t.name}": (t.access, t.kind) for t in facts.tables}


def test_partition_read_is_reported_on_the_parent() -> None:
    facts = _facts("SELECT ssn FROM customers_2024 WHERE id = 1")
    assert _tables(facts) == {
        "public.customers": (("read",), "partitioned"),
        "public.customers_2024": (("read",), "table"),
    }
    assert facts.read == ("public.customers.ssn", "public.customers_2024.ssn")
    assert facts.filtered == ("public.customers.id", "public.customers_2024.id")
    assert facts.outputs == (("ssn", ("public.customers.ssn", "public.customers_2024.ssn")),)


def test_every_ancestor_of_a_sub_partition() -> None:
    facts = _facts("SELECT c.row_to_json FROM customers_2024_q1 c")
    assert set(_tables(facts)) == {
        "public.customers",
        "public.customers_2024",
        "public.customers_2024_q1",
    }
    for table in ("customers", "customers_2024", "customers_2024_q1"):
        assert f"public.{table}.ssn" in facts.read


@pytest.mark.parametrize(
    ("sql", "field", "access"),
    [
        ("UPDATE customers_2024 SET ssn = '' WHERE id = 1", "written", "write"),
        ("INSERT INTO customers_2024 (ssn) VALUES ('x')", "written", "write"),
        ("DELETE FROM customers_2024 WHERE ssn = 'x'", "filtered", "write"),
        ("COPY customers_2024 TO STDOUT", "read", "read"),
        ("COPY customers_2024 (ssn) FROM STDIN", "written", "write"),
        ("SELECT 1 FROM customers_2024 c ORDER BY c", "filtered", "read"),
        ("SELECT s FROM v2024", "read", "read"),
        ("UPDATE v2024 SET s = '' WHERE who = 'x'", "written", "write"),
        (
            "MERGE INTO customers_2024 t USING (SELECT 1 AS id) s ON t.id = s.id "
            "WHEN MATCHED THEN UPDATE SET ssn = ''",
            "written",
            "write",
        ),
    ],
)
def test_columns_and_access_reach_the_parent(sql: str, field: str, access: str) -> None:
    facts = _facts(sql)
    assert "public.customers.ssn" in getattr(facts, field)
    assert access in _tables(facts)["public.customers"][0]


@pytest.mark.parametrize(
    ("sql", "access"),
    [
        ("TRUNCATE customers_2024", ("write",)),
        ("DROP TABLE customers_2024", ("ddl",)),
        ("ALTER TABLE customers_2024 ADD COLUMN x int", ("ddl",)),
        ("LOCK TABLE customers_2024", ("write",)),
    ],
)
def test_statements_on_a_partition_reach_the_parent(sql: str, access: tuple[str, ...]) -> None:
    assert _tables(_facts(sql))["public.customers"] == (access, "partitioned")


def test_a_child_only_column_stays_with_the_child() -> None:
    facts = _facts("SELECT * FROM vip_customers")
    assert "public.vip_customers.tier" in facts.read
    assert "public.customers.tier" not in facts.read
    assert "public.customers.ssn" in facts.read


def test_unknown_columns_and_unknown_parents_fail_closed() -> None:
    facts = _facts("SELECT * FROM archive_part")
    assert facts.read == ("public.archive_part.*", "public.customers.*")
    facts = _facts("SELECT ssn FROM orphan_part")
    assert _tables(facts)["public.ghost"] == (("read",), "unknown")
    assert "public.ghost.ssn" in facts.read


def test_quoted_names() -> None:
    facts = _facts('SELECT ssn FROM "odd.part"')
    assert facts.read == ('public."odd.parent".ssn', 'public."odd.part".ssn')


def test_parents_are_not_expanded_downwards() -> None:
    facts = _facts("SELECT ssn FROM customers")
    assert set(_tables(facts)) == {"public.customers"}


@pytest.mark.parametrize(
    ("key", "parts"),
    [
        ("public.customers.ssn", ("public", "customers", "ssn")),
        ('public."odd.part".ssn', ("public", "odd.part", "ssn")),
        ('"a""b"."c.d"."*"', ('a"b', "c.d", "*")),
        ("public.customers.*", ("public", "customers", "*")),
        ("public.customers", None),
        ('"unterminated', None),
        ('"a"x.b.c', None),
    ],
)
def test_split_column_key(key: str, parts: tuple[str, str, str] | None) -> None:
    assert split_column_key(key) == parts


def test_with_ancestors_leaves_other_keys() -> None:
    keys = frozenset({"public.accounts.id", "garbage", "public.customers_2024.id"})
    assert with_ancestors(keys, CATALOG) == keys | {"public.customers.id"}
