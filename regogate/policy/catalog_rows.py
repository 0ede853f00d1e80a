"""Building a CatalogSnapshot from the rows of the catalog statements (catalog_sql):
relations, inheritance, merged function details, view definitions kept by version. Pure;
each view's column lineage is then derived by catalog_lineage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import orjson

from regogate.policy.catalog import (
    DEFAULT_SEARCH_PATH,
    RELKINDS,
    VIEW_KINDS,
    CatalogSnapshot,
    FunctionDetails,
    Relation,
    RelationKey,
    RelationKind,
    parse_search_path,
    qident,
)
from regogate.policy.catalog_lineage import derive_view_lineage
from regogate.policy.catalog_sql import Row

_VOLATILITY: dict[str, Literal["immutable", "stable", "volatile"]] = {
    "i": "immutable",
    "s": "stable",
    "v": "volatile",
}
_PROKINDS = {"f": "function", "p": "procedure", "a": "aggregate", "w": "window"}

# Every read returns every user relation and function again, most of them unchanged since
# the last read (a refresh after DDL rebuilds the snapshot from all rows): what a row's
# text decodes to is kept, by that text, across reads (in the gateway process; bounded).
_MEMO_MAX = 200_000
_column_names: dict[str, tuple[str, ...]] = {}
_FunctionRow = tuple[str, str | None, str | None, str | None, str | None]
_function_details: dict[_FunctionRow, FunctionDetails] = {}


def _columns(text: str) -> tuple[str, ...]:
    """A relation row's column names (a JSON array, attnum order), decoded once per text."""
    names = _column_names.get(text)
    if names is None:
        if len(_column_names) >= _MEMO_MAX:
            _column_names.clear()
        names = _column_names[text] = tuple(str(n) for n in orjson.loads(text))
    return names


def _closure(
    start: RelationKey, edges: Mapping[RelationKey, list[RelationKey]]
) -> tuple[RelationKey, ...]:
    seen: list[RelationKey] = []
    stack = list(edges.get(start, ()))
    while stack:
        rel = stack.pop()
        if rel in seen or rel == start:
            continue
        seen.append(rel)
        stack.extend(edges.get(rel, ()))
    return tuple(sorted(seen))


def _ancestors(
    start: RelationKey, parents: Mapping[RelationKey, list[tuple[int, RelationKey]]]
) -> tuple[RelationKey, ...]:
    """Every ancestor, nearest first (breadth first; siblings in inhseqno order)."""
    out: list[RelationKey] = []
    level = [start]
    while level:
        following: list[RelationKey] = []
        for rel in level:
            for _, parent in sorted(parents.get(rel, ())):
                if parent != start and parent not in out:
                    out.append(parent)
                    following.append(parent)
        level = following
    return tuple(out)


@dataclass
class _Overloads:
    """The details of one function name's overloads, merged as rows come."""

    volatilities: set[str] = field(default_factory=set)
    security_definer: bool = False
    languages: set[str] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)
    builtin: bool = True

    def add(
        self,
        vols: str,
        secdef: str | None,
        langs: str | None,
        kinds: str | None,
        builtin: str | None,
    ) -> None:
        self.volatilities.update(vols)
        self.security_definer = self.security_definer or secdef == "true"
        if langs:
            self.languages.update(orjson.loads(langs))
        self.kinds.update(kinds or "f")
        self.builtin = self.builtin and builtin == "true"

    def details(self) -> FunctionDetails:
        # Merged the way a policy must read them: the most volatile overload, security
        # definer if any is, built-in only if all are.
        worst = max(self.volatilities, key="isv".find, default="v")
        return FunctionDetails(
            volatility=_VOLATILITY.get(worst, "volatile"),
            security_definer=self.security_definer,
            languages=tuple(sorted(self.languages)),
            builtin=self.builtin,
            kinds=tuple(_PROKINDS[k] for k in "fpaw" if k in self.kinds)
            or tuple(sorted(self.kinds)),
        )


@dataclass
class _Rows:
    """What the catalog rows say, gathered before the relations are built."""

    search_path: tuple[str, ...] = DEFAULT_SEARCH_PATH
    definitions_search_path: tuple[str, ...] | None = None
    current_user: str | None = None
    path: list[tuple[int, str]] = field(default_factory=list)
    schemas: set[str] = field(default_factory=set)
    kinds: dict[RelationKey, RelationKind] = field(default_factory=dict)
    oids: dict[RelationKey, str] = field(default_factory=dict)
    defs: dict[RelationKey, str] = field(default_factory=dict)
    view_versions: dict[RelationKey, str] = field(default_factory=dict)
    defs_by_oid: dict[str, str] = field(default_factory=dict)
    cols: dict[RelationKey, list[tuple[int, str]]] = field(default_factory=dict)
    columns_text: dict[RelationKey, str] = field(default_factory=dict)  # relation rows' JSON
    edges: dict[RelationKey, list[RelationKey]] = field(default_factory=dict)
    parents: dict[RelationKey, list[tuple[int, RelationKey]]] = field(default_factory=dict)
    functions: set[RelationKey] = field(default_factory=set)
    overloads: dict[str, _Overloads] = field(default_factory=dict)
    # A function name's one row (the usual case: the statement groups overloads by name).
    function_rows: dict[str, _FunctionRow] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        kind, a, b, c, d, e, f, g = (*row, *(None,) * 8)[:8]
        if a is None:
            return
        match kind:
            case "setting" if b is not None:
                if a == "search_path":
                    self.search_path = parse_search_path(b)
                elif a == "definitions_search_path":
                    self.definitions_search_path = parse_search_path(b)
                elif a == "current_user":
                    self.current_user = b
            case "path":
                self.path.append((int(b or 0), a))
            case "schema":
                self.schemas.add(a)
            case "relation" if b is not None and c in RELKINDS:
                self._relation((a, b), RELKINDS[c], d, e, f, g)
            case "column" if b is not None and c is not None:
                key = (a, b)
                text = self.columns_text.pop(key, None)
                if text is not None:
                    self.cols[key] = list(enumerate(_columns(text), start=1))
                self.cols.setdefault(key, []).append((int(d or 0), c))
            case "depends" if b is not None and c is not None and d is not None:
                self.edges.setdefault((a, b), []).append((c, d))
            case "inherits" if b is not None and c is not None and d is not None:
                self.parents.setdefault((a, b), []).append((int(e or 0), (c, d)))
            case "function" if b is not None:
                self.functions.add((a, b))
                if c is not None:
                    self._function(f"{qident(a)}.{qident(b)}", (c, d, e, f, g))
            case "definition" if b is not None:
                self.defs_by_oid[a] = b

    def _function(self, key: str, row: _FunctionRow) -> None:
        if key not in self.function_rows and key not in self.overloads:
            self.function_rows[key] = row
            return
        first = self.function_rows.pop(key, None)
        merged = self.overloads.setdefault(key, _Overloads())
        if first is not None:
            merged.add(*first)
        merged.add(*row)

    def function_details(self) -> dict[str, FunctionDetails]:
        """Each function name's details, its overloads merged."""
        details = {k: o.details() for k, o in self.overloads.items()}
        for key, row in self.function_rows.items():
            found = _function_details.get(row)
            if found is None:
                if len(_function_details) >= _MEMO_MAX:
                    _function_details.clear()
                one = _Overloads()
                one.add(*row)
                found = _function_details[row] = one.details()
            details[key] = found
        return details

    def _relation(
        self,
        key: RelationKey,
        kind: RelationKind,
        definition: str | None,
        columns: str | None,
        view_version: str | None,
        oid: str | None,
    ) -> None:
        self.kinds[key] = kind
        if definition:
            self.defs[key] = definition
        if columns is not None:
            self.cols.pop(key, None)
            self.columns_text[key] = columns
        if view_version is not None:
            self.view_versions[key] = view_version
        if oid is not None:
            self.oids[key] = oid

    def definition(
        self, key: RelationKey, previous: CatalogSnapshot | None
    ) -> tuple[str | None, str | None]:
        """A view's definition and its version: read now, or kept from ``previous`` when
        its version did not change; (None, None) when it could not be read (locked)."""
        version = self.view_versions.get(key)
        text = self.defs.get(key) or self.defs_by_oid.get(self.oids.get(key, ""))
        if text is not None:
            return text, version
        old = previous.relations.get(key) if previous is not None and version else None
        if old is not None and old.definition_version == version:
            return old.definition, version
        return None, None

    def relation(self, key: RelationKey, previous: CatalogSnapshot | None) -> Relation:
        kind = self.kinds[key]
        text = self.columns_text.get(key)
        if text is not None:
            columns = _columns(text)
        else:
            columns = tuple(name for _, name in sorted(self.cols.get(key, ())))
        parents = _ancestors(key, self.parents) if key in self.parents else ()
        oid_text = self.oids.get(key)
        oid = int(oid_text) if oid_text else None
        if kind not in VIEW_KINDS:
            # Most relations did not change since the previous read: the same object is
            # kept (no view lineage is ever derived for these; comparing snapshots then
            # costs an identity test per relation).
            old = previous.relations.get(key) if previous is not None else None
            if (
                old is not None
                and old.kind == kind
                and (old.columns is columns or old.columns == columns)
                and old.parents == parents
                and old.oid == oid
                and not old.base_tables
                and not old.view_columns
                and old.definition is None
                and old.definition_version is None
            ):
                return old
            return Relation(
                schema=key[0], name=key[1], kind=kind, columns=columns, parents=parents, oid=oid
            )
        definition, version = self.definition(key, previous)
        return Relation(
            schema=key[0],
            name=key[1],
            kind=kind,
            columns=columns,
            base_tables=_closure(key, self.edges),
            definition=definition,
            definition_version=version,
            parents=parents,
            oid=oid,
        )


@dataclass(frozen=True)
class CatalogBase:
    """The built-in part of a catalog (catalog_query("builtin")), built once: it never
    changes, and each read of the user part is built on top of it."""

    relations: Mapping[RelationKey, Relation]
    functions: frozenset[RelationKey]
    function_details: Mapping[str, FunctionDetails]


def catalog_base(rows: Iterable[Row]) -> CatalogBase:
    got = _Rows()
    for row in rows:
        got.add(row)
    return CatalogBase(
        relations={key: got.relation(key, None) for key in got.kinds},
        functions=frozenset(got.functions),
        function_details=got.function_details(),
    )


def snapshot_from_rows(
    rows: Iterable[Row],
    previous: CatalogSnapshot | None = None,
    *,
    version: str = "",
    base: CatalogBase | None = None,
) -> CatalogSnapshot:
    """Build a snapshot from the rows of catalog_query() (row shapes: catalog_sql).

    View lineage is derived by analysing each view's definition with the facts analyser,
    inner views first; a definition that cannot be analysed, or was not read (the view
    was locked), leaves that view's lineage unknown (its columns then map to ``base.*``).
    With ``previous`` (the snapshot this one replaces), definitions whose view version
    did not change and lineage whose inputs did not change are taken from it.
    ``version``: the catalog FINGERPRINT read just before the rows; ``base``: the
    built-in part, when ``rows`` are the user part only.
    """
    got = _Rows()
    for row in rows:
        got.add(row)
    relations = dict(base.relations) if base is not None else {}
    relations.update((key, got.relation(key, previous)) for key in got.kinds)
    details = got.function_details()
    if base is not None:
        for key, found in base.function_details.items():
            mine = details.get(key)
            details[key] = found if mine is None else _merged(found, mine)
    snapshot = CatalogSnapshot(
        search_path=got.search_path,
        relations=relations,
        functions=frozenset(got.functions) | base.functions if base else frozenset(got.functions),
        current_user=got.current_user,
        schemas=frozenset(got.schemas),
        connect_schemas=tuple(s for _, s in sorted(got.path)),
        definitions_search_path=got.definitions_search_path,
        function_details=details,
        version=version,
        unread_views=frozenset(k for k in got.view_versions if relations[k].definition is None),
    )
    if not got.path:
        path = snapshot.effective_path()
        exists = tuple(x for x in path if x == "pg_catalog" or x in snapshot.schemas)
        snapshot = replace(snapshot, connect_schemas=exists)
    return derive_view_lineage(snapshot, previous)


def merge_lookup(snapshot: CatalogSnapshot, rows: Iterable[Row]) -> CatalogSnapshot | None:
    """``snapshot`` with the relations of a lookup (catalog_sql.lookup_query rows: the
    relations named, what their views read and what they inherit from, transitively)
    read fresh and put in; None when the lookup found no relation. Everything else
    (settings, functions, the other relations) stays as ``snapshot`` has it, and so does
    its ``version``: the next version check still sees a change and reads everything."""
    got = _Rows()
    for row in rows:
        got.add(row)
    if not got.kinds:
        return None
    relations = dict(snapshot.relations)
    fresh = {key: got.relation(key, snapshot) for key in got.kinds}
    relations.update(fresh)
    unread = {k for k in got.view_versions if fresh[k].definition is None}
    merged = replace(
        snapshot,
        relations=relations,
        schemas=snapshot.schemas | got.schemas if snapshot.schemas else snapshot.schemas,
        unread_views=(snapshot.unread_views - fresh.keys()) | unread,
    )
    return derive_view_lineage(merged, snapshot, only=fresh.keys())


def _merged(a: FunctionDetails, b: FunctionDetails) -> FunctionDetails:
    """One name's details from two sets of overloads (built-in and user ones)."""
    order = ("immutable", "stable", "volatile")
    kinds = set(a.kinds) | set(b.kinds)
    return FunctionDetails(
        volatility=max(a.volatility, b.volatility, key=order.index),
        security_definer=a.security_definer or b.security_definer,
        languages=tuple(sorted(set(a.languages) | set(b.languages))),
        builtin=a.builtin and b.builtin,
        kinds=tuple(k for k in _PROKINDS.values() if k in kinds),
    )


def definitions_needed(rows: Iterable[Row], known: Iterable[str]) -> list[int]:
    """Oids of the user views in ``rows`` whose definition is neither in them nor among
    the ``known`` view versions (what to read on its own after the catalog statement
    could not read definitions)."""
    have = set(known)
    out: list[int] = []
    for row in rows:
        kind, _, _, _, d, _, f, g = (*row, *(None,) * 8)[:8]
        if kind == "relation" and f is not None and d is None and g and f not in have:
            out.append(int(g))
    return out


def known_view_versions(snapshot: CatalogSnapshot | None) -> list[str]:
    """Versions of the views whose definitions ``snapshot`` holds (not read again)."""
    if snapshot is None:
        return []
    return [
        r.definition_version
        for r in snapshot.relations.values()
        if r.definition_version is not None and r.definition is not None
    ]
