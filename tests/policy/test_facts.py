"""Statement facts: the corpus against the bank catalog, the policy-input shape, literal
hygiene, session effects, the catalog snapshot (also from a real PostgreSQL), speed."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from pglast.parser import split

from regogate.policy.catalog import EMPTY_CATALOG, CatalogSnapshot, Relation, parse_search_path
from regogate.policy.catalog_rows import snapshot_from_rows
from regogate.policy.catalog_sql import CATALOG_QUERY
from regogate.policy.facts import UNKNOWN_FUNCTION, StatementFacts, analyze, to_input
from regogate.policy.sqltext import literals
from tests.policy.corpus import CASES, CATALOG_ROWS, KINDS, Case

CATALOG = snapshot_from_rows(CATALOG_ROWS)
ACCESS = {"r": "read", "w": "write", "d": "ddl"}
# Corpus statements whose unqualified names follow a COMMIT in the same text (what it
# reverts depends on when the transaction began): flags.search_path_uncertain.
UNCERTAIN_NAMES = frozenset({"mcp-readonly-escape"})


def _expected_tables(case: Case) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for key, spec in case.tables.items():
        letters, _, kind = spec.partition("@")
        schema, _, name = key.rpartition(".")
        full = f"{schema or 'public'}.{name}"
        out.append(
            {
                "schema": schema or "public",
                "name": name,
                "access": sorted(ACCESS[c] for c in letters),
                "kind": kind or KINDS.get(full, "unknown"),
            }
        )
    return sorted(out, key=lambda t: (str(t["schema"]), str(t["name"])))


def _facts(case: Case) -> StatementFacts:
    analysis = analyze(case.sql, CATALOG, case.prepared)
    assert len(analysis.statements) == case.count
    return analysis.statements[case.index]


def test_corpus_is_large_and_ids_unique() -> None:
    assert len(CASES) >= 160
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_corpus(case: Case) -> None:
    facts = _facts(case)
    got = to_input(facts, CATALOG)
    # checked on its own (test_filtered_equality): a subset of filtered, never read-only
    equality = got["columns"].pop("filtered_equality", [])
    assert set(equality) <= set(case.filtered)
    expected = {
        "verb": case.verb,
        "verbs": sorted(case.verbs or (case.verb,)),
        "tables": _expected_tables(case),
        "columns": {
            "read": sorted(set(case.read)),
            "written": sorted(set(case.written)),
            "filtered": sorted(set(case.filtered)),
        },
        "functions": sorted(set(case.functions)),
        "function_info": dict.fromkeys(sorted(set(case.functions)), UNKNOWN_FUNCTION),
        "settings": sorted(case.settings),
        "flags": {
            "has_where": case.where,
            "ddl": case.ddl,
            "opaque": case.opaque,
            "multi_statement": case.count > 1,
            "search_path_uncertain": case.id in UNCERTAIN_NAMES,
        },
        "fingerprint": got["fingerprint"],
    }
    if case.sleeps:
        expected["sleep_seconds"] = case.sleep
    assert got == expected, json.dumps(got, indent=1)
    assert bool(facts.opaque_reasons) == case.opaque


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() if k != "fingerprint" for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _value(literal: str) -> str:
    """The text inside a literal token (enough for a containment check)."""
    text = re.sub(r"^(?:[EeNnBbXx]|[Uu]&)", "", literal)
    text = re.sub(r"\s+UESCAPE\s+'.'$", "", text)
    dollar = re.match(r"^(\$[^$]*\$)(.*)\1$", text, re.DOTALL)
    if dollar:
        return dollar.group(2)
    return text.strip("'")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_no_literal_reaches_the_policy_input(case: Case) -> None:
    try:
        texts = list(split(case.sql))
    except Exception:
        texts = [case.sql]
    for text in texts:
        analysis = analyze(text, CATALOG, case.prepared)
        strings = [s for f in analysis.statements for s in _strings(to_input(f, CATALOG))]
        strings += [f.parse_error or "" for f in analysis.statements]
        strings += [r for f in analysis.statements for r in f.opaque_reasons]
        settings = {s for f in analysis.statements for s in f.settings}
        for lit in literals(text):
            value = _value(lit)
            if len(value) < 3 or value.isdigit() or value.lower() in settings:
                continue
            leaks = [s for s in strings if value in s]
            assert not leaks, f"literal {value!r} leaked into {leaks}"


def test_parse_error_keeps_no_quoted_text() -> None:
    (facts,) = analyze("select 'a' 'secret-value'", CATALOG).statements
    assert facts.verb == "UNKNOWN" and facts.opaque
    assert facts.parse_error is not None and "secret" not in facts.parse_error
    assert "index" in facts.parse_error


@pytest.mark.parametrize(
    "sql", ["", "   ", "-- only a comment", "/* nothing */", ";;", " ; -- x\n"]
)
def test_empty_query_has_no_statements(sql: str) -> None:
    assert analyze(sql, CATALOG).statements == ()


@pytest.mark.parametrize(
    "sql",
    [
        "\x00",
        "select " + "(" * 5000 + "1" + ")" * 5000,
        "select " + " + ".join(["1"] * 3000),
        "select * from " + ", ".join(f"t{i}" for i in range(500)),
        "with " + ", ".join(f"c{i} as (select {i})" for i in range(200)) + " select 1",
        "\ufeffselect 1",
        "select $1, $2, $99999999999",
        "CREATE RULE r AS ON INSERT TO customers DO INSTEAD SELECT new.ssn",
        "create function g() returns int begin atomic select ssn from customers; end",
        "alter table customers alter column ssn type text using ssn::text",
        "security label on table customers is 'secret'",
        "import foreign schema s from server x into public",
        "select * from json_table('[]', '$' columns (a int path '$.a')) jt",
        "select xmlelement(name x, ssn) from customers",
        "select * from customers c join lateral (select * from accounts a where a.customer_id = c.id) x on true",
    ],
)
def test_analyze_never_raises(sql: str) -> None:
    analysis = analyze(sql, CATALOG)
    for facts in analysis.statements:
        json.dumps(to_input(facts, CATALOG))


def test_to_input_shape() -> None:
    (facts,) = analyze("SELECT ssn FROM customers WHERE id = $1", CATALOG).statements
    got = to_input(facts, CATALOG)
    assert list(got) == [
        "verb",
        "verbs",
        "tables",
        "columns",
        "functions",
        "function_info",
        "settings",
        "flags",
        "fingerprint",
    ]
    assert got["flags"] == {
        "has_where": True,
        "ddl": False,
        "opaque": False,
        "multi_statement": False,
        "search_path_uncertain": False,
    }
    assert re.fullmatch(r"[0-9a-f]{16}", str(got["fingerprint"]))
    again = analyze("select  SSN from CUSTOMERS where ID = $1", CATALOG).statements[0]
    assert again.fingerprint == facts.fingerprint


def test_outputs_carry_lineage_for_masking() -> None:
    (facts,) = analyze(
        "select upper(c.ssn) as s, v.email from customers c join customer_contacts v using (id)",
        CATALOG,
    ).statements
    assert facts.outputs == (
        ("s", ("public.customers.ssn",)),
        ("email", ("public.customer_contacts.email", "public.customers.email")),
    )
    (cursor,) = analyze("declare c cursor for select ssn from customers", CATALOG).statements
    assert cursor.outputs == (("ssn", ("public.customers.ssn",)),)


# -- session effects -----------------------------------------------------------------------


def test_search_path_change_is_returned() -> None:
    analysis = analyze("set search_path = audit, public; select 1", CATALOG)
    assert analysis.search_path == ("audit", "public")
    assert analyze("select 1", CATALOG).search_path is None
    reset = analyze("reset search_path", CATALOG.with_search_path(("audit",)))
    assert reset.search_path == ("$user", "public")
    moved = CATALOG.with_search_path(("audit",))
    (facts,) = analyze("select * from customers", moved).statements
    assert facts.tables[0].schema == "audit"


def test_prepare_and_deallocate_are_returned() -> None:
    analysis = analyze("prepare a as select 1; prepare b as select 2; deallocate a", CATALOG)
    assert analysis.prepared == {"b": "prepare b as select 2"}
    assert analysis.deallocated == ("a",)
    assert analyze("deallocate all", CATALOG).deallocate_all


def test_execute_resolves_against_session_prepared() -> None:
    prepared = {"p": "PREPARE p (bigint) AS DELETE FROM accounts WHERE id = $1"}
    (facts,) = analyze("EXECUTE p(1)", CATALOG, prepared).statements
    assert facts.verb == "EXECUTE" and "DELETE" in facts.verbs and facts.has_where


# -- catalog -------------------------------------------------------------------------------


def test_catalog_rows_build_the_bank() -> None:
    customers = CATALOG.resolve("customers")
    assert customers is not None and customers.columns[3] == "ssn"
    view = CATALOG.resolve("customer_contacts")
    assert view is not None and view.kind == "view"
    assert view.base_tables == (("public", "customers"),)
    assert view.view_columns == {
        "id": ("public.customers.id",),
        "full_name": ("public.customers.full_name",),
        "email": ("public.customers.email",),
    }
    assert CATALOG.current_user == "agent"
    assert CATALOG.connect_schemas == ("pg_catalog", "public")


def test_nested_view_lineage_and_unknown_lineage() -> None:
    rows = [
        *CATALOG_ROWS,
        ("relation", "public", "emails", "v", "SELECT upper(email) AS e FROM customer_contacts"),
        ("column", "public", "emails", "e", "1"),
        ("depends", "public", "emails", "public", "customer_contacts"),
        ("relation", "public", "opaque_view", "v", "this is not sql"),
        ("column", "public", "opaque_view", "x", "1"),
        ("depends", "public", "opaque_view", "public", "customers"),
    ]
    catalog = snapshot_from_rows(rows)
    emails = catalog.resolve("emails")
    assert emails is not None
    assert emails.base_tables == (("public", "customer_contacts"), ("public", "customers"))
    assert emails.view_columns["e"] == (
        "public.customer_contacts.email",
        "public.customers.email",
    )
    (facts,) = analyze("select x from opaque_view", catalog).statements
    assert facts.read == ("public.customers.*", "public.opaque_view.x")


def test_search_path_rules() -> None:
    assert parse_search_path('"$user", public') == ("$user", "public")
    assert parse_search_path(' Audit , "Mixed Case","a""b" ') == ("audit", "Mixed Case", 'a"b')
    assert parse_search_path("") == ()
    catalog = CatalogSnapshot(current_user="agent", schemas=frozenset({"agent", "public"}))
    assert catalog.effective_path() == ("pg_catalog", "agent", "public")
    assert catalog.effective_path(("public", "pg_catalog")) == ("public", "pg_catalog")
    assert EMPTY_CATALOG.effective_path() == ("pg_catalog", "public")
    assert catalog.creation_schema() == "agent"
    assert EMPTY_CATALOG.creation_schema(()) == "public"


def test_user_schema_shadows_public() -> None:
    rows = [
        *CATALOG_ROWS,
        ("schema", "agent", None, None, None),
        ("relation", "agent", "customers", "r", None),
        ("column", "agent", "customers", "decoy", "1"),
    ]
    catalog = snapshot_from_rows(rows)
    (facts,) = analyze("select * from customers", catalog).statements
    assert facts.read == ("agent.customers.decoy",)


def test_function_resolution() -> None:
    assert CATALOG.resolve_function("lower") == "pg_catalog.lower"
    assert CATALOG.resolve_function("mask_ssn") == "public.mask_ssn"
    assert CATALOG.resolve_function("nonexistent") == "public.nonexistent"
    assert EMPTY_CATALOG.resolve_function("nonexistent") == "pg_catalog.nonexistent"
    assert CATALOG.resolve_function("lower", search_path=("public", "pg_catalog")) == "public.lower"


def test_empty_catalog_still_yields_facts() -> None:
    (facts,) = analyze(
        "select c.*, a.balance from customers c join accounts a on a.customer_id = c.id "
        "where lower(c.email) = $1",
        EMPTY_CATALOG,
    ).statements
    # Without column or function lists, ``a.balance`` may be the function balance(a):
    # the whole row counts too (fail closed).
    assert to_input(facts, EMPTY_CATALOG)["columns"] == {
        "read": ["public.accounts.*", "public.accounts.balance", "public.customers.*"],
        "written": [],
        "filtered": [
            "public.accounts.*",
            "public.accounts.customer_id",
            "public.customers.*",
            "public.customers.email",
            "public.customers.id",
        ],
    }
    assert [t.kind for t in facts.tables] == ["unknown", "unknown"]
    assert facts.functions == ("pg_catalog.lower",)
    (system,) = analyze("select * from pg_authid", EMPTY_CATALOG).statements
    assert system.tables[0].schema == "pg_catalog"


def test_relation_lineage_names_are_quoted_when_dotted() -> None:
    rel = Relation("public", "odd.name", "table", ("a",))
    catalog = CatalogSnapshot(relations={("public", "odd.name"): rel})
    (facts,) = analyze('select a from "odd.name"', catalog).statements
    assert facts.read == ('public."odd.name".a',)


def test_catalog_query_against_postgresql(pg: Any) -> None:
    """CATALOG_QUERY runs on a real server and its rows build a usable snapshot."""
    import psycopg

    pg.sql("DROP DATABASE IF EXISTS policy_catalog")
    pg.sql("CREATE DATABASE policy_catalog TEMPLATE bank")
    pg.sql(
        "CREATE VIEW customer_contacts AS SELECT id, full_name, email FROM customers;"
        "CREATE VIEW rich AS SELECT c.full_name AS who, a.balance FROM customer_contacts c "
        "JOIN accounts a ON a.customer_id = c.id;"
        "CREATE SCHEMA audit; CREATE TABLE audit.customers (id bigint, note text);"
        "ALTER TABLE customers DROP COLUMN phone;",
        dbname="policy_catalog",
    )
    with psycopg.connect(pg.admin_dsn("policy_catalog")) as conn:
        rows = conn.execute(CATALOG_QUERY).fetchall()
    catalog = snapshot_from_rows(rows)
    customers = catalog.resolve("customers")
    assert customers is not None
    assert customers.columns == ("id", "full_name", "email", "ssn", "date_of_birth", "created_at")
    rich = catalog.resolve("rich")
    assert rich is not None
    assert set(rich.base_tables) == {
        ("public", "customer_contacts"),
        ("public", "customers"),
        ("public", "accounts"),
    }
    assert rich.view_columns["who"] == (
        "public.customer_contacts.full_name",
        "public.customers.full_name",
    )
    assert catalog.search_path == ("$user", "public")
    assert "pg_catalog" in catalog.connect_schemas
    assert catalog.resolve_function("lower") == "pg_catalog.lower"
    pg_class = catalog.resolve("pg_class")
    assert pg_class is not None and pg_class.schema == "pg_catalog"
    (facts,) = analyze("select * from rich where balance > $1", catalog).statements
    assert "public.customers.full_name" in facts.read
    assert {t.name for t in facts.tables} == {"rich", "customer_contacts", "customers", "accounts"}


# -- speed ---------------------------------------------------------------------------------


def test_pgbench_select_is_fast() -> None:
    sql = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"
    for _ in range(50):
        analyze(sql, CATALOG)
    runs = 500
    start = time.perf_counter()
    for _ in range(runs):
        analyze(sql, CATALOG)
    per_call = (time.perf_counter() - start) / runs
    assert per_call < 0.001, f"{per_call * 1e6:.0f} us per analyze"


@pytest.mark.parametrize(
    ("sql", "equality"),
    [
        ("SELECT id FROM customers WHERE ssn = $1", ["public.customers.ssn"]),
        ("SELECT id FROM customers WHERE $1 = ssn", ["public.customers.ssn"]),
        ("SELECT id FROM customers WHERE ssn = '1'::text", ["public.customers.ssn"]),
        (
            "SELECT id FROM customers c WHERE c.ssn IN ('a', 'b') AND (email = 'x' OR email = $2)",
            ["public.customers.email", "public.customers.ssn"],
        ),
        (
            "SELECT id FROM public.customers WHERE public.customers.ssn = 'a'",
            ["public.customers.ssn"],
        ),
        (
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM customers WHERE ssn = 'a')",
            ["public.customers.ssn"],
        ),
        # anything else is not equality
        ("SELECT id FROM customers WHERE ssn LIKE '1%'", []),
        ("SELECT id FROM customers WHERE ssn < '5'", []),
        ("SELECT id FROM customers WHERE ssn <> 'x'", []),
        ("SELECT id FROM customers WHERE NOT ssn = 'x'", []),
        ("SELECT id FROM customers WHERE lower(ssn) = 'x'", []),
        ("SELECT id FROM customers WHERE ssn::int = 1", []),
        ("SELECT id FROM customers WHERE ssn = email", []),
        ("SELECT id FROM customers WHERE ssn IN (SELECT ssn FROM customers)", []),
        ("SELECT id FROM customers WHERE ssn = 'a' OR substr(ssn, 1, 1) = '1'", []),
        ("SELECT id FROM customers WHERE ssn = 'x' ORDER BY ssn", []),
        ("SELECT id FROM customers WHERE ssn = 'x' GROUP BY id, ssn", []),
        ("SELECT c.id FROM customers c JOIN accounts a ON a.account_number = c.ssn", []),
        (
            "WITH t AS (SELECT substr(ssn, 1, 3) AS ssn FROM customers) "
            "SELECT 1 FROM t WHERE ssn = '123'",
            [],
        ),
        ("SELECT 1 FROM (SELECT reverse(ssn) AS ssn FROM customers) s WHERE ssn = 'x'", []),
        ("SELECT 1 FROM customers AS c(ssn, x) WHERE ssn = 'x'", []),
    ],
)
def test_filtered_equality(sql: str, equality: list[str]) -> None:
    """columns.filtered_equality: a plain table column compared only with = or IN to
    constants or parameters; present only when not empty."""
    (facts,) = analyze(sql, CATALOG).statements
    got = to_input(facts, CATALOG)["columns"]
    assert isinstance(got, dict)
    assert got.get("filtered_equality", []) == equality
    assert set(equality) <= set(got["filtered"])
    if not equality:
        assert "filtered_equality" not in got
