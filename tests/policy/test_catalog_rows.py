"""The catalog snapshot builder (pure): function details, inheritance, view definitions
kept by version, lineage reused only when its inputs did not change, and the statements'
shapes (what they read, what they never inline)."""

from __future__ import annotations

import pytest

from regogate.policy.catalog import CatalogSnapshot, FunctionDetails, same_catalog
from regogate.policy.catalog_rows import (
    catalog_base,
    definitions_needed,
    known_view_versions,
    snapshot_from_rows,
)
from regogate.policy.catalog_sql import (
    CATALOG_QUERY,
    FIRST_NORMAL_OID,
    Row,
    catalog_query,
    definition_query,
    version_query,
)
from regogate.policy.facts import analyze
from tests.policy.corpus import CATALOG_ROWS

V1 = "a" * 64
V2 = "b" * 64
BASE: list[Row] = [
    ("setting", "search_path", '"$user", public'),
    ("setting", "current_user", "agent"),
    ("schema", "public"),
    ("relation", "public", "people", "r", None, '["id", "name", "ssn"]', None, "16400"),
    (
        "relation",
        "public",
        "names",
        "v",
        "SELECT id, name FROM people",
        '["id", "name"]',
        V1,
        "16410",
    ),
    ("depends", "public", "names", "public", "people"),
]


def _view_rows(definition: str | None, version: str | None) -> list[Row]:
    names = ("relation", "public", "names", "v", definition, '["id", "name"]', version, "16410")
    return [*BASE[:4], names, BASE[5]]


# -- function details ----------------------------------------------------------------------

FUNCTION_CASES = [
    # id, rows (vols, secdef, langs, kinds, builtin), expected details
    (
        "one builtin",
        [("i", "false", '["internal"]', "f", "true")],
        ("immutable", False, ("internal",), True, ("function",)),
    ),
    (
        "overloads merge to the most volatile",
        [
            ("i", "false", '["internal"]', "f", "true"),
            ("sv", "false", '["sql","sql"]', "ff", "true"),
        ],
        ("volatile", False, ("internal", "sql"), True, ("function",)),
    ),
    (
        "any security definer, builtin only if all",
        [("s", "true", '["plpgsql"]', "p", "false"), ("i", "false", '["c"]', "a", "true")],
        ("stable", True, ("c", "plpgsql"), False, ("procedure", "aggregate")),
    ),
    (
        "window",
        [("i", "false", '["internal"]', "w", "true")],
        ("immutable", False, ("internal",), True, ("window",)),
    ),
]


@pytest.mark.parametrize(
    ("rows", "want"), [c[1:] for c in FUNCTION_CASES], ids=[c[0] for c in FUNCTION_CASES]
)
def test_function_details(rows: list[tuple[str, ...]], want: tuple[object, ...]) -> None:
    snapshot = snapshot_from_rows([("function", "pg_catalog", "f", *r) for r in rows])
    assert snapshot.functions == frozenset({("pg_catalog", "f")})
    got = snapshot.function_details["pg_catalog.f"]
    assert (got.volatility, got.security_definer, got.languages, got.builtin, got.kinds) == want


def test_function_details_keys_are_qident_and_legacy_rows_have_none() -> None:
    snapshot = snapshot_from_rows(
        [
            ("function", "odd.schema", "f", "v", "false", '["sql"]', "f", "false"),
            ("function", "public", "legacy", None, None),
        ]
    )
    assert set(snapshot.function_details) == {'"odd.schema".f'}
    assert ("public", "legacy") in snapshot.functions


def test_builtin_and_user_overloads_of_one_name_merge() -> None:
    base = catalog_base(
        [("function", "pg_catalog", "f", "i", "false", '["internal"]', "f", "true")]
    )
    snapshot = snapshot_from_rows(
        [("function", "pg_catalog", "f", "v", "true", '["plpgsql"]', "p", "false")], base=base
    )
    assert snapshot.function_details["pg_catalog.f"] == FunctionDetails(
        "volatile", True, ("internal", "plpgsql"), False, ("function", "procedure")
    )


# -- inheritance ---------------------------------------------------------------------------


def test_parents_are_every_ancestor_nearest_first() -> None:
    rows: list[Row] = [
        ("relation", "public", name, kind, None, '["id"]', None, "1")
        for name, kind in [
            ("m", "p"),
            ("y2024", "p"),
            ("q1", "r"),
            ("a", "r"),
            ("b", "r"),
            ("c", "r"),
        ]
    ]
    rows += [
        ("inherits", "public", "y2024", "public", "m", "1"),
        ("inherits", "public", "q1", "public", "y2024", "1"),
        # multiple inheritance: c inherits b (2nd) and a (1st); b inherits a
        ("inherits", "public", "c", "public", "b", "2"),
        ("inherits", "public", "c", "public", "a", "1"),
        ("inherits", "public", "b", "public", "a", "1"),
    ]
    rels = snapshot_from_rows(rows).relations
    assert rels[("public", "q1")].parents == (("public", "y2024"), ("public", "m"))
    assert rels[("public", "c")].parents == (("public", "a"), ("public", "b"))
    assert rels[("public", "m")].parents == ()


def test_inheritance_cycle_does_not_loop() -> None:
    rows: list[Row] = [
        ("relation", "public", "a", "r", None, "[]", None, "1"),
        ("relation", "public", "b", "r", None, "[]", None, "2"),
        ("inherits", "public", "a", "public", "b", "1"),
        ("inherits", "public", "b", "public", "a", "1"),
    ]
    assert snapshot_from_rows(rows).relations[("public", "a")].parents == (("public", "b"),)


# -- definitions kept by version -----------------------------------------------------------


def test_a_locked_view_keeps_its_definition_when_its_version_is_unchanged() -> None:
    first = snapshot_from_rows(_view_rows("SELECT id, name FROM people", V1))
    assert known_view_versions(first) == [V1]
    # Read again while locked: no definition in the rows, same version.
    again = snapshot_from_rows(_view_rows(None, V1), first)
    names = again.relations[("public", "names")]
    assert names.definition == "SELECT id, name FROM people"
    assert names.view_columns["name"] == ("public.people.name",)


def test_a_locked_view_whose_version_changed_has_unknown_lineage() -> None:
    first = snapshot_from_rows(_view_rows("SELECT id, name FROM people", V1))
    again = snapshot_from_rows(_view_rows(None, V2), first)
    names = again.relations[("public", "names")]
    assert names.definition is None and names.definition_version is None
    assert not names.view_columns
    # Conservative: each column reads the whole base table.
    assert again.column_lineage(names)["name"] == frozenset(
        {"public.names.name", "public.people.*"}
    )
    # ... and it is not a known version: the next read asks for it again.
    assert known_view_versions(again) == []


def test_definitions_read_apart_are_matched_by_oid() -> None:
    rows = [*_view_rows(None, V2), ("definition", "16410", "SELECT id, ssn AS name FROM people")]
    snapshot = snapshot_from_rows(rows)
    names = snapshot.relations[("public", "names")]
    assert names.view_columns["name"] == ("public.people.ssn",)
    assert names.definition_version == V2


def test_definitions_needed() -> None:
    rows = [
        *_view_rows(None, V2),
        ("relation", "public", "w", "v", None, "[]", V1, "16420"),
        ("relation", "public", "x", "v", "SELECT 1", "[]", "c" * 64, "16430"),
        ("relation", "pg_catalog", "pg_views", "v", None, "[]", None, "12000"),
    ]
    assert definitions_needed(rows, [V1]) == [16410]


# -- lineage reuse -------------------------------------------------------------------------


def _count_derivations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from regogate.policy import facts

    seen: list[str] = []
    real = facts.view_outputs

    def counting(definition: str, catalog: CatalogSnapshot) -> list[frozenset[str]] | None:
        seen.append(definition)
        return real(definition, catalog)

    monkeypatch.setattr(facts, "view_outputs", counting)
    return seen


def test_lineage_is_reused_only_when_its_inputs_are_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _count_derivations(monkeypatch)
    first = snapshot_from_rows(_view_rows("SELECT id, name FROM people", V1))
    assert len(seen) == 1
    same = snapshot_from_rows(_view_rows("SELECT id, name FROM people", V1), first)
    assert len(seen) == 1 and same_catalog(first, same)
    # A base column renamed (ssn -> name, name -> ssn): the lineage is derived again.
    swapped = [*_view_rows("SELECT id, name FROM people", V2)]
    swapped[3] = ("relation", "public", "people", "r", None, '["id", "ssn", "name"]', None, "16400")
    after = snapshot_from_rows(swapped, first)
    assert len(seen) == 2
    assert not same_catalog(first, after)
    # A table shadowing the base table in an earlier schema: derived again too.
    shadow = [
        *_view_rows("SELECT id, name FROM people", V1),
        ("schema", "agent"),
        ("relation", "agent", "people", "r", None, '["id", "name"]', None, "16500"),
    ]
    snapshot_from_rows(shadow, first)
    assert len(seen) == 3
    # A function whose name the definition mentions appeared: derived again.
    fn = [*_view_rows("SELECT id, name FROM people", V1), ("function", "public", "name")]
    snapshot_from_rows(fn, first)
    assert len(seen) == 4


def test_inner_view_change_rederives_outer_views(monkeypatch: pytest.MonkeyPatch) -> None:
    outer: list[Row] = [
        (
            "relation",
            "public",
            "outer_v",
            "v",
            "SELECT name FROM names",
            '["name"]',
            "d" * 64,
            "16420",
        ),
        ("depends", "public", "outer_v", "public", "names"),
    ]
    first = snapshot_from_rows([*_view_rows("SELECT id, name FROM people", V1), *outer])
    seen = _count_derivations(monkeypatch)
    changed = snapshot_from_rows(
        [*_view_rows("SELECT id, ssn AS name FROM people", V2), *outer], first
    )
    assert sorted(seen) == ["SELECT id, ssn AS name FROM people", "SELECT name FROM names"]
    assert changed.relations[("public", "outer_v")].view_columns["name"] == (
        "public.names.name",
        "public.people.ssn",
    )


def test_corpus_catalog_builds_as_before() -> None:
    catalog = snapshot_from_rows(CATALOG_ROWS)
    (facts,) = analyze("select * from customer_contacts", catalog).statements
    assert "public.customers.email" in facts.read
    assert catalog.function_details == {}


# -- the statements ------------------------------------------------------------------------


def test_known_versions_are_inlined_only_when_they_are_versions() -> None:
    sql = catalog_query("user", [V1, "x'); DROP TABLE t; --", V2])
    assert f"'{{{V1},{V2}}}'::text[]" in sql
    assert "DROP TABLE" not in sql


def test_parts_split_by_oid_and_only_the_guarded_call_locks() -> None:
    user, builtin = catalog_query("user"), catalog_query("builtin")
    assert f"c.oid >= {FIRST_NORMAL_OID}" in user and f"c.oid < {FIRST_NORMAL_OID}" in builtin
    assert "pg_get_viewdef" not in builtin
    assert "pg_get_viewdef" not in catalog_query("user", definitions=False)
    # The one pg_get_viewdef call sits behind the lock check.
    assert user.count("pg_get_viewdef") == 1
    assert "t.locked" in user.split("pg_get_viewdef")[0].rsplit("CASE", 1)[1]
    assert "pg_locks" in definition_query(16410)
    assert catalog_query() == CATALOG_QUERY


def test_version_query_inlines_only_a_txid_snapshot() -> None:
    assert "CASE WHEN" in version_query("100:105:101,103")
    assert "CASE WHEN" not in version_query("100:105:' OR true --")
    assert "CASE WHEN" not in version_query(None)
