"""Inheritance and partitions for the facts analyser: what a statement does to a child
table (an inheritance child or a partition) is reported on each of its ancestors too, so
that their classification holds for the child's rows. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from weakref import WeakKeyDictionary

from regogate.policy.catalog import CatalogSnapshot, Lineage, Relation, column_key
from regogate.policy.facts_scope import SYSTEM_COLUMNS, Output, StatementState

_INHERITS: WeakKeyDictionary[CatalogSnapshot, bool] = WeakKeyDictionary()


def has_ancestors(catalog: CatalogSnapshot) -> bool:
    """Whether any relation of the catalog has a parent (cached per snapshot)."""
    found = _INHERITS.get(catalog)
    if found is None:
        found = _INHERITS[catalog] = any(r.parents for r in catalog.relations.values())
    return found


def split_column_key(key: str) -> tuple[str, str, str] | None:
    """``schema.table.column`` (catalog.column_key form, quoted parts) back into parts."""
    parts: list[str] = []
    i, n = 0, len(key)
    while i <= n:
        if i < n and key[i] == '"':
            buf: list[str] = []
            i += 1
            while i < n:
                if key[i] == '"':
                    if i + 1 < n and key[i + 1] == '"':
                        buf.append('"')
                        i += 2
                        continue
                    break
                buf.append(key[i])
                i += 1
            parts.append("".join(buf))
            i += 1  # past the closing quote
            if i < n and key[i] != ".":
                return None
        else:
            j = key.find(".", i)
            j = n if j < 0 else j
            parts.append(key[i:j])
            i = j
        i += 1  # past the dot
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def _has_column(ancestor: Relation | None, column: str) -> bool:
    if ancestor is None or not ancestor.columns or column == "*":
        return True  # unknown columns: fail closed
    return column in ancestor.columns or column in SYSTEM_COLUMNS


def with_ancestors(keys: Iterable[str], catalog: CatalogSnapshot) -> Lineage:
    """``keys`` plus the same column of every ancestor that has it."""
    out = set(keys)
    for key in list(out):
        parts = split_column_key(key)
        rel = catalog.relations.get(parts[:2]) if parts is not None else None
        if parts is None or rel is None or not rel.parents:
            continue
        for schema, name in rel.parents:
            if _has_column(catalog.relations.get((schema, name)), parts[2]):
                out.add(column_key(schema, name, parts[2]))
    return frozenset(out)


def add_ancestors(state: StatementState, catalog: CatalogSnapshot) -> None:
    """Report every ancestor of the relations and columns in ``state`` (in place)."""
    if not has_ancestors(catalog):
        return
    for (schema, name), (access, _) in list(state.tables.items()):
        rel = catalog.relations.get((schema, name))
        for parent in rel.parents if rel is not None else ():
            known = catalog.relations.get(parent)
            for how in sorted(access):
                state.table(*parent, how, known.kind if known is not None else "unknown")
    state.read = set(with_ancestors(state.read, catalog))
    state.written = set(with_ancestors(state.written, catalog))
    state.filtered = set(with_ancestors(state.filtered, catalog))
    state.equality = set(with_ancestors(state.equality, catalog))
    state.stored = set(with_ancestors(state.stored, catalog))
    state.outputs = [
        Output(o.name, with_ancestors(o.lineage, catalog), o.exact) for o in state.outputs
    ]
