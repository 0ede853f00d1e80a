"""The policy contract: every corpus statement, shaped as the gateway sends it, validates
against docs/policy-input.schema.json, and literal-bearing or misshapen inputs do not."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from regogate.policy.catalog import snapshot_from_rows
from regogate.policy.facts import analyze, to_input
from tests.policy.corpus import CASES, CATALOG_ROWS, Case

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "policy-input.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text())
VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)
CATALOG = snapshot_from_rows(CATALOG_ROWS)

IDENTITIES: list[dict[str, Any]] = [
    {
        "sub": "agent",
        "email": None,
        "groups": ["mcp-agents"],
        "issuer": "regogate:static",
        "auth": "token",
        "expires_at": None,
        "client": {"addr": "127.0.0.1", "application_name": None},
    },
    {
        "sub": "0b6c1f2e-analyst",
        "email": "analyst@example.com",
        "groups": ["analysts"],
        "issuer": "https://idp.example",
        "auth": "oidc",
        "expires_at": 1767225600,
        "client": {"addr": "10.0.0.7", "application_name": "psql"},
    },
]
CONNECTION = {"name": "bank", "database": "bank"}

# The statement the gateway sends for a FunctionCall protocol message.
FUNCTION_CALL = {
    "verb": "FUNCTION CALL",
    "verbs": ["FUNCTION CALL"],
    "tables": [],
    "columns": {"read": [], "written": [], "filtered": []},
    "functions": ["unknown"],
    "settings": [],
    "flags": {"has_where": False, "ddl": False, "opaque": True, "multi_statement": False},
    "fingerprint": "",
}


def _input(statement: dict[str, object], identity: int = 0) -> dict[str, Any]:
    return {"identity": IDENTITIES[identity], "connection": CONNECTION, "statement": statement}


def _statement(case: Case) -> dict[str, object]:
    analysis = analyze(case.sql, CATALOG, case.prepared)
    assert len(analysis.statements) == case.count
    return to_input(analysis.statements[case.index])


def _errors(doc: object) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(doc)]


def test_schema_is_valid_draft_2020_12() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_corpus_input_matches_the_schema(case: Case) -> None:
    doc = _input(_statement(case), identity=len(case.id) % 2)
    assert _errors(doc) == []


@pytest.mark.parametrize(
    "sql",
    [
        "SELEC * FORM customers",  # unparsable: verb UNKNOWN, no fingerprint
        "SET ROLE postgres",
        "SELECT set_config('role', 'x', false)",
        "DISCARD ALL",
        "BEGIN TRANSACTION READ ONLY",
        'SELECT * FROM "odd.schema"."t.x"',
    ],
)
def test_edge_statements_match_the_schema(sql: str) -> None:
    for facts in analyze(sql, CATALOG).statements:
        assert _errors(_input(to_input(facts))) == []


def test_function_call_matches_the_schema() -> None:
    assert _errors(_input(FUNCTION_CALL, identity=1)) == []
    named = {**FUNCTION_CALL, "functions": ["pg_catalog.lo_open"]}
    assert _errors(_input(named)) == []


def _valid() -> dict[str, Any]:
    sql = "SELECT ssn FROM customers WHERE id = 42 AND email = 'ada@example.com'"
    return _input(to_input(analyze(sql, CATALOG).statements[0]))


def _with(path: str, value: object) -> dict[str, Any]:
    doc = copy.deepcopy(_valid())
    *parents, last = path.split("/")
    node = doc
    for key in parents:
        node = node[key]
    node[last] = value
    return doc


def test_the_base_of_the_negative_cases_is_valid() -> None:
    assert _errors(_valid()) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        # Literals have no place to go: extra keys carrying text or parameters...
        ("statement/text", "SELECT ssn FROM customers WHERE id = 42"),
        ("statement/params", ["42", "ada@example.com"]),
        ("statement/literals", {"$1": "42"}),
        ("statement/flags/literal", "42"),
        ("statement/columns/values", ["ada@example.com"]),
        ("identity/token", "s3cret"),
        ("connection/password", "s3cret"),
        # ...and the fields there are hold names, not values.
        ("statement/verb", "SELECT 'ada@example.com'"),
        ("statement/verbs", ["SELECT", "DELETE WHERE id = 42"]),
        ("statement/settings", ["role = postgres"]),
        ("statement/settings", ["search_path='public'"]),
        ("statement/functions", ["lower('ADA')"]),
        ("statement/columns/read", ["public.customers.ssn", "'123-45-6789'"]),
        ("statement/fingerprint", "SELECT ssn FROM customers"),
    ],
)
def test_literal_bearing_input_fails(path: str, value: object) -> None:
    assert _errors(_with(path, value)) != []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("statement/verb", "select"),
        ("statement/verbs", []),
        ("statement/verbs", "SELECT"),
        ("statement/tables", [{"schema": "public", "name": "customers"}]),
        (
            "statement/tables",
            [{"schema": "public", "name": "customers", "access": ["delete"], "kind": "table"}],
        ),
        (
            "statement/tables",
            [{"schema": "public", "name": "customers", "access": ["read"], "kind": "index"}],
        ),
        ("statement/columns", {"read": [], "written": []}),
        ("statement/columns/read", ["customers.ssn"]),
        ("statement/flags", {"has_where": "yes", "ddl": False, "opaque": False}),
        ("statement/flags/opaque", 1),
        ("statement/fingerprint", 42),
        ("statement/functions", ["lower"]),
        ("identity/auth", "password"),
        ("identity/groups", "analysts"),
        ("identity/expires_at", "tomorrow"),
        ("identity/client", {"addr": "127.0.0.1"}),
        ("connection/name", ""),
    ],
)
def test_misshapen_input_fails(path: str, value: object) -> None:
    assert _errors(_with(path, value)) != []


@pytest.mark.parametrize("missing", ["identity", "connection", "statement"])
def test_every_top_level_part_is_required(missing: str) -> None:
    doc = _valid()
    del doc[missing]
    assert _errors(doc) != []


def test_no_extra_top_level_keys() -> None:
    assert _errors({**_valid(), "sql": "SELECT 1"}) != []
