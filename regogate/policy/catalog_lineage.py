"""View column lineage: each view's definition analysed by the facts analyser, inner
views first, and kept from the previous snapshot when what it depends on did not change. Pure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace

from regogate.policy.catalog import VIEW_KINDS, CatalogSnapshot, Relation, RelationKey


def derive_view_lineage(
    snapshot: CatalogSnapshot,
    previous: CatalogSnapshot | None = None,
    only: Collection[RelationKey] | None = None,
) -> CatalogSnapshot:
    """Fill ``view_columns`` of every view that has a definition, inner views first
    (``only``: of these views only; the others keep what they have).

    A view whose definition and lineage inputs (see _lineage_inputs) are those it had in
    ``previous`` keeps the lineage derived then: only changed views are parsed again.
    """
    from regogate.policy.facts import view_outputs  # at call time: pglast loads only if needed

    candidates = (
        snapshot.relations
        if only is None
        else {k: snapshot.relations[k] for k in only if k in snapshot.relations}
    )
    pending = {k for k, r in candidates.items() if r.definition and r.kind in VIEW_KINDS}
    if not pending:  # a lookup of tables only (most): nothing to derive, nothing to copy
        return snapshot
    relations = dict(snapshot.relations)
    path = _definitions_path(snapshot)
    reuse = _ReusableLineage(previous, snapshot)
    done: set[RelationKey] = set()

    def visit(key: RelationKey, trail: frozenset[RelationKey]) -> None:
        if key in done or key in trail:
            return
        rel = relations[key]
        for base in rel.base_tables:
            if base in pending:
                visit(base, trail | {key})
        kept = reuse.lineage(rel, relations)
        if kept is not None:
            relations[key] = replace(rel, view_columns=kept)
        else:
            current = replace(snapshot, relations=relations, search_path=path)
            outputs = view_outputs(rel.definition or "", current)
            if outputs is not None and len(outputs) >= len(rel.columns):
                lineage = {col: tuple(sorted(outputs[i])) for i, col in enumerate(rel.columns)}
                relations[key] = replace(rel, view_columns=lineage)
        done.add(key)

    for key in sorted(pending):
        visit(key, frozenset())
    return replace(snapshot, relations=relations)


def _definitions_path(snapshot: CatalogSnapshot) -> tuple[str, ...]:
    if snapshot.definitions_search_path is None:
        return snapshot.search_path
    return snapshot.definitions_search_path


class _ReusableLineage:
    """Which views of a new snapshot may keep the lineage derived in the previous one."""

    def __init__(self, previous: CatalogSnapshot | None, snapshot: CatalogSnapshot):
        self.previous = previous
        self.snapshot = snapshot
        self.usable = previous is not None and (
            _definitions_path(previous) == _definitions_path(snapshot)
            and previous.search_path == snapshot.search_path
            and previous.current_user == snapshot.current_user
            and previous.effective_path() == snapshot.effective_path()
            and previous.creation_schema() == snapshot.creation_schema()
        )
        # A function name that appeared or went may change how ``x.name`` reads
        # (facts_walk_expr.member): views whose text mentions one are derived again.
        changed: frozenset[tuple[str, str]] = frozenset()
        if previous is not None and previous.functions is not snapshot.functions:
            changed = previous.functions ^ snapshot.functions  # thousands: only if replaced
        self.changed_functions = {name for _, name in changed}

    def lineage(
        self, rel: Relation, relations: Mapping[RelationKey, Relation]
    ) -> Mapping[str, tuple[str, ...]] | None:
        if not self.usable or self.previous is None:
            return None
        old = self.previous.relations.get((rel.schema, rel.name))
        if old is None or old.definition != rel.definition or rel.definition is None:
            return None
        if any(name in rel.definition for name in self.changed_functions):
            return None
        before = _lineage_inputs(old, self.previous.relations, self.previous)
        if before != _lineage_inputs(rel, relations, self.snapshot):
            return None
        return old.view_columns


def _lineage_inputs(
    rel: Relation, relations: Mapping[RelationKey, Relation], catalog: CatalogSnapshot
) -> tuple[object, ...]:
    """What a view's derived lineage depends on besides its text: its columns, and the
    kind, columns, lineage and visibility (first of its name along the path) of each
    relation it reads."""
    out: list[object] = [rel.kind, rel.columns]
    for key in rel.base_tables:
        base = relations.get(key)
        if base is None:
            out.append(key)
            continue
        found = catalog.resolve(key[1], search_path=_definitions_path(catalog))
        visible = found is not None and (found.schema, found.name) == key
        lineage = tuple(sorted(base.view_columns.items()))
        out.append((key, base.kind, base.columns, lineage, visible))
    return tuple(out)
