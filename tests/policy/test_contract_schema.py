"""The policy contract: every corpus statement, shaped as the gateway sends it, validates
against docs/policy-input.schema.json, and literal-bearing or misshapen inputs do not.
The session-start (CONNECT) and FunctionCall forms are checked too."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from regogate.policy.catalog_rows import snapshot_from_rows
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

# What statement.function_info says of a function the catalog does not know.
UNKNOWN_FUNCTION: dict[str, object] = {
    "known": False,
    "volatility": "volatile",
    "security_definer": True,
    "languages": ["unknown"],
    "builtin": False,
    "kinds": ["unknown"],
}
LOWER: dict[str, object] = {
    "known": True,
    "volatility": "immutable",
    "security_definer": False,
    "languages": ["internal"],
    "builtin": True,
    "kinds": ["function"],
}
FLAGS: dict[str, object] = {
    "has_where": False,
    "ddl": False,
    "opaque": False,
    "multi_statement": False,
    "search_path_uncertain": False,
}

# The statement the gateway sends for a FunctionCall protocol message.
FUNCTION_CALL: dict[str, object] = {
    "verb": "FUNCTION CALL",
    "verbs": ["FUNCTION CALL"],
    "tables": [],
    "columns": {"read": [], "written": [], "filtered": []},
    "functions": ["unknown"],
    "function_info": {"unknown": UNKNOWN_FUNCTION},
    "settings": [],
    "flags": {**FLAGS, "opaque": True},
    "fingerprint": "",
}

# The statement of the session-start decision.
CONNECT: dict[str, object] = {
    "verb": "CONNECT",
    "verbs": ["CONNECT"],
    "tables": [],
    "columns": {"read": [], "written": [], "filtered": []},
    "functions": [],
    "function_info": {},
    "settings": [],
    "flags": FLAGS,
    "fingerprint": "",
}


def _input(statement: dict[str, object], identity: int = 0) -> dict[str, Any]:
    return {"identity": IDENTITIES[identity], "connection": CONNECTION, "statement": statement}


def _statement(case: Case) -> dict[str, object]:
    analysis = analyze(case.sql, CATALOG, case.prepared)
    assert len(analysis.statements) == case.count
    return to_input(analysis.statements[case.index], CATALOG)


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
        assert _errors(_input(to_input(facts, CATALOG))) == []


def test_fetch_of_an_unknown_cursor_matches_the_schema() -> None:
    """The gate marks a FETCH of a cursor it did not see opened: opaque, unknown_cursor."""
    from regogate.proxy.gate_masks import opaque_cursor

    (facts,) = analyze('FETCH 10 FROM "<unnamed portal 1>"', CATALOG).statements
    statement = to_input(opaque_cursor(facts), CATALOG)
    assert statement["flags"] == {**FLAGS, "opaque": True, "unknown_cursor": True}
    assert _errors(_input(statement)) == []
    assert "unknown_cursor" not in to_input(facts, CATALOG)["flags"]  # type: ignore[operator]
    for wrong in (False, "yes"):
        doc = _input(statement)
        doc["statement"]["flags"]["unknown_cursor"] = wrong
        assert _errors(doc) != []


def test_function_call_matches_the_schema() -> None:
    assert _errors(_input(FUNCTION_CALL, identity=1)) == []
    lo_open = {**LOWER, "volatility": "volatile"}
    named = {
        **FUNCTION_CALL,
        "functions": ["pg_catalog.lo_open"],
        "function_info": {"pg_catalog.lo_open": lo_open},
    }
    assert _errors(_input(named)) == []


def _connect(startup_settings: object) -> dict[str, Any]:
    doc = _input(CONNECT)
    doc["connection"] = {**CONNECTION, "startup_settings": startup_settings}
    return doc


def test_session_start_matches_the_schema() -> None:
    assert _errors(_connect([])) == []
    jdbc = ["application_name", "client_encoding", "datestyle", "extra_float_digits", "timezone"]
    assert _errors(_connect(jdbc)) == []
    assert _errors(_connect(["search_path", "myapp.tenant"])) == []


@pytest.mark.parametrize(
    "startup_settings",
    [
        None,  # the session start must list them, even when there are none
        "application_name",
        ["role=postgres"],  # names, never values
        ["-c role=postgres"],
        ["application_name", "application_name"],
        ["DateStyle"],  # lower case, as PostgreSQL looks them up
    ],
)
def test_session_start_with_misshapen_startup_settings_fails(startup_settings: object) -> None:
    doc = _connect(startup_settings)
    if startup_settings is None:
        del doc["connection"]["startup_settings"]
    assert _errors(doc) != []


def test_function_info_forms() -> None:
    doc = _valid()
    doc["statement"]["functions"] = ["pg_catalog.lower", "pg_temp.f", 'public."x.y"']
    doc["statement"]["function_info"] = {
        "pg_catalog.lower": LOWER,
        "pg_temp.f": UNKNOWN_FUNCTION,
        'public."x.y"': {**LOWER, "builtin": False, "languages": ["plpgsql", "sql"]},
    }
    assert _errors(doc) == []


def _valid() -> dict[str, Any]:
    sql = "SELECT lower(ssn) FROM customers WHERE id = 42 AND email = 'ada@example.com'"
    doc = _input(to_input(analyze(sql, CATALOG).statements[0], CATALOG))
    # the corpus catalog has a user overload public.lower too: both are reported
    assert doc["statement"]["functions"] == ["pg_catalog.lower", "public.lower"]
    doc["statement"]["functions"] = ["pg_catalog.lower"]
    doc["statement"]["function_info"] = {"pg_catalog.lower": LOWER}
    return doc


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
        ("statement/function_info/pg_catalog.lower", {**LOWER, "source": "select lower($1)"}),
        ("statement/function_info/lower('ADA')", LOWER),
        ("statement/function_info/pg_catalog.lower", {**LOWER, "languages": ["sql 'x'"]}),
        ("connection/startup_settings", ["application_name=psql"]),
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
        ("statement/function_info", ["pg_catalog.lower"]),
        ("statement/function_info/pg_catalog.lower", {**LOWER, "volatility": "sometimes"}),
        ("statement/function_info/pg_catalog.lower", {**LOWER, "known": "yes"}),
        ("statement/function_info/pg_catalog.lower", {**LOWER, "kinds": ["trigger"]}),
        ("statement/function_info/pg_catalog.lower", {**LOWER, "languages": []}),
        ("statement/function_info/pg_catalog.lower", {"known": True}),
        ("statement/flags/search_path_uncertain", "no"),
        (
            "statement/tables",
            [{"schema": "public", "name": "t", "access": ["read"], "kind": "mystery"}],
        ),
        ("identity/auth", "password"),
        ("identity/groups", "analysts"),
        ("identity/expires_at", "tomorrow"),
        ("identity/client", {"addr": "127.0.0.1"}),
        ("connection/name", ""),
    ],
)
def test_misshapen_input_fails(path: str, value: object) -> None:
    assert _errors(_with(path, value)) != []


@pytest.mark.parametrize(
    "missing", ["statement/function_info", "statement/flags/search_path_uncertain"]
)
def test_the_new_statement_fields_are_required(missing: str) -> None:
    doc = _valid()
    *parents, last = missing.split("/")
    node = doc
    for key in parents:
        node = node[key]
    del node[last]
    assert _errors(doc) != []


@pytest.mark.parametrize("missing", ["identity", "connection", "statement"])
def test_every_top_level_part_is_required(missing: str) -> None:
    doc = _valid()
    del doc[missing]
    assert _errors(doc) != []


def test_no_extra_top_level_keys() -> None:
    assert _errors({**_valid(), "sql": "SELECT 1"}) != []
