"""Statement facts as policy input: ``function_info`` from the catalog's function details
(an unknown function gets the most dangerous reading) and flags.search_path_uncertain."""

from __future__ import annotations

from regogate.policy.catalog import CatalogSnapshot, FunctionDetails, Relation
from regogate.policy.facts import UNKNOWN_FUNCTION, analyze, synthetic_statement, to_input

DETAILS = {
    "pg_catalog.lower": FunctionDetails("immutable", False, ("internal",), True),
    "public.mask_ssn": FunctionDetails(
        "stable", True, ("plpgsql", "sql"), False, ("function", "procedure")
    ),
}
CATALOG = CatalogSnapshot(
    relations={("public", "customers"): Relation("public", "customers", "table", ("id", "ssn"))},
    functions=frozenset({("pg_catalog", "lower"), ("public", "mask_ssn")}),
    function_details=DETAILS,
)


def _input(sql: str, *, search_path_known: bool = True) -> dict[str, object]:
    (facts,) = analyze(sql, CATALOG, search_path_known=search_path_known).statements
    return to_input(facts, CATALOG)


def test_function_info_from_the_catalog() -> None:
    got = _input("SELECT lower(c.ssn), mask_ssn(c.ssn), public.nope() FROM customers c")
    assert got["functions"] == ["pg_catalog.lower", "public.mask_ssn", "public.nope"]
    assert got["function_info"] == {
        "pg_catalog.lower": {
            "known": True,
            "volatility": "immutable",
            "security_definer": False,
            "languages": ["internal"],
            "builtin": True,
            "kinds": ["function"],
        },
        "public.mask_ssn": {
            "known": True,
            "volatility": "stable",
            "security_definer": True,
            "languages": ["plpgsql", "sql"],
            "builtin": False,
            "kinds": ["function", "procedure"],
        },
        "public.nope": {
            "known": False,
            "volatility": "volatile",
            "security_definer": True,
            "languages": ["unknown"],
            "builtin": False,
            "kinds": ["unknown"],
        },
    }


def test_functional_notation_has_function_info() -> None:
    got = _input("SELECT c.mask_ssn FROM customers c")
    assert got["function_info"] == {"public.mask_ssn": to_input_info("public.mask_ssn")}


def to_input_info(name: str) -> dict[str, object]:
    details = DETAILS[name]
    return {
        "known": True,
        "volatility": details.volatility,
        "security_definer": details.security_definer,
        "languages": list(details.languages),
        "builtin": details.builtin,
        "kinds": list(details.kinds),
    }


def test_unknown_function_entries_are_not_shared() -> None:
    first = _input("SELECT public.a(), public.b()")
    info = first["function_info"]
    assert isinstance(info, dict)
    info["public.a"]["known"] = True
    info["public.a"]["languages"].append("c")
    assert UNKNOWN_FUNCTION["known"] is False
    assert UNKNOWN_FUNCTION["languages"] == ["unknown"]
    assert info["public.b"]["known"] is False


def test_search_path_uncertain_flag() -> None:
    flags = _input("SELECT ssn FROM customers", search_path_known=False)["flags"]
    assert flags == {
        "has_where": False,
        "ddl": False,
        "opaque": False,
        "multi_statement": False,
        "search_path_uncertain": True,
    }
    flags = _input("SELECT ssn FROM public.customers", search_path_known=False)["flags"]
    assert isinstance(flags, dict) and flags["search_path_uncertain"] is False


def test_synthetic_statement_has_the_same_shape() -> None:
    (facts,) = analyze("SELECT 1", CATALOG).statements
    real = to_input(facts, CATALOG)
    synthetic = synthetic_statement("FUNCTION CALL", functions=["unknown"], opaque=True)
    assert list(synthetic) == list(real)
    assert synthetic["function_info"] == {"unknown": UNKNOWN_FUNCTION}
    flags = synthetic["flags"]
    assert isinstance(flags, dict) and flags["search_path_uncertain"] is False
    known = synthetic_statement("FUNCTION CALL", functions=["pg_catalog.lower"], catalog=CATALOG)
    info = known["function_info"]
    assert isinstance(info, dict) and info["pg_catalog.lower"]["known"] is True
