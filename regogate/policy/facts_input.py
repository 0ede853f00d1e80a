"""The policy input's ``statement`` object: StatementFacts as JSON-ready data, with what
the catalog knows of each function (``function_info``); and the object for what is not
SQL text (a FunctionCall message, the session start). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from regogate.policy.catalog import CatalogSnapshot, FunctionDetails

if TYPE_CHECKING:
    from regogate.policy.facts import StatementFacts

# What an unknown function may be: the most dangerous reading (fail closed).
UNKNOWN_FUNCTION: dict[str, object] = {
    "known": False,
    "volatility": "volatile",
    "security_definer": True,
    "languages": ["unknown"],
    "builtin": False,
    "kinds": ["unknown"],
}


def function_info(
    functions: Sequence[str], catalog: CatalogSnapshot | None
) -> dict[str, dict[str, object]]:
    """``function_info`` of the policy input: what the catalog says of each function."""
    details = catalog.function_details if catalog is not None else {}
    return {name: _function_info(details.get(name)) for name in functions}


def _function_info(details: FunctionDetails | None) -> dict[str, object]:
    if details is None:
        return {k: list(v) if isinstance(v, list) else v for k, v in UNKNOWN_FUNCTION.items()}
    return {
        "known": True,
        "volatility": details.volatility,
        "security_definer": details.security_definer,
        "languages": list(details.languages),
        "builtin": details.builtin,
        "kinds": list(details.kinds),
    }


def to_input(facts: StatementFacts, catalog: CatalogSnapshot) -> dict[str, object]:
    """The ``statement`` object of the policy input (JSON-ready, deterministic)."""
    statement = _statement(facts, catalog)
    if facts.filtered_equality:
        columns = statement["columns"]
        assert isinstance(columns, dict)
        columns["filtered_equality"] = list(facts.filtered_equality)
    if facts.unknown_cursor:
        flags = statement["flags"]
        assert isinstance(flags, dict)
        flags["unknown_cursor"] = True
    if facts.sleeps:
        seconds = facts.sleep_seconds
        statement["sleep_seconds"] = (
            int(seconds) if seconds is not None and seconds.is_integer() else seconds
        )
    return statement


def _statement(facts: StatementFacts, catalog: CatalogSnapshot) -> dict[str, object]:
    return {
        "verb": facts.verb,
        "verbs": list(facts.verbs),
        "tables": [
            {"schema": t.schema, "name": t.name, "access": list(t.access), "kind": t.kind}
            for t in facts.tables
        ],
        "columns": {
            "read": list(facts.read),
            "written": list(facts.written),
            "filtered": list(facts.filtered),
        },
        "functions": list(facts.functions),
        "function_info": function_info(facts.functions, catalog),
        "settings": list(facts.settings),
        "flags": {
            "has_where": facts.has_where,
            "ddl": facts.ddl,
            "opaque": facts.opaque,
            "multi_statement": facts.multi_statement,
            "search_path_uncertain": facts.search_path_uncertain,
        },
        "fingerprint": facts.fingerprint,
    }


def synthetic_statement(
    verb: str,
    *,
    functions: Sequence[str] = (),
    opaque: bool = False,
    catalog: CatalogSnapshot | None = None,
) -> dict[str, object]:
    """The ``statement`` object for what is not SQL text: the FunctionCall protocol
    message (``FUNCTION CALL``) and the session-start decision (``CONNECT``)."""
    return {
        "verb": verb,
        "verbs": [verb],
        "tables": [],
        "columns": {"read": [], "written": [], "filtered": []},
        "functions": list(functions),
        "function_info": function_info(functions, catalog),
        "settings": [],
        "flags": {
            "has_where": False,
            "ddl": False,
            "opaque": opaque,
            "multi_statement": False,
            "search_path_uncertain": False,
        },
        "fingerprint": "",
    }
