"""Data-modifying statements for the facts analyser: INSERT (ON CONFLICT), UPDATE, DELETE
and MERGE, with the columns they write, the values they read and what RETURNING shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pglast import ast
from pglast.enums import CmdType, OnConflictAction, ReturningOptionKind

from regogate.policy.catalog import Lineage, Relation
from regogate.policy.facts_scope import EMPTY, OPEN, Entry, Output, Scope
from regogate.policy.facts_walk import SelectWalker
from regogate.policy.setting_change import SettingChange


class QueryWalker(SelectWalker):
    """Walks any statement that returns or changes rows."""

    # -- statements returning rows --------------------------------------------------------

    def query(self, node: Any, parent: Scope | None) -> list[Output]:
        """Any statement that can sit in a CTE, subquery, COPY or EXPLAIN: its outputs."""
        if isinstance(node, ast.SelectStmt):
            return self.select(node, parent)
        if isinstance(node, ast.InsertStmt):
            return self.insert(node, parent)
        if isinstance(node, ast.UpdateStmt):
            return self.update(node, parent)
        if isinstance(node, ast.DeleteStmt):
            return self.delete(node, parent)
        if isinstance(node, ast.MergeStmt):
            return self.merge(node, parent)
        self.state.make_opaque(f"unexpected {type(node).__name__} in a query")
        return []

    # -- data-modifying statements ---------------------------------------------------------

    def target(self, rv: Any) -> tuple[Entry, Relation | None]:
        """The table an INSERT/UPDATE/DELETE/MERGE writes (never a CTE)."""
        schema, rel = self.relation(rv)
        self.touch(schema, rv.relname, rel, "write")
        if (schema, rv.relname) == ("pg_catalog", "pg_settings"):
            self.settings_view_write()
        return self.relation_entry(schema, rv.relname, rel, rv.alias), rel

    def settings_view_write(self) -> None:
        """pg_settings' UPDATE rule calls set_config(name, setting, false) for each row."""
        state = self.state
        state.functions.add("pg_catalog.set_config")
        state.make_opaque("a write to pg_settings runs set_config() for the rows it matches")
        if self.runs:
            state.setting_changes.append(SettingChange(None, None, "set", certain=False))

    def write_columns(self, entry: Entry, names: Sequence[str]) -> None:
        for name in names:
            found = entry.column(name)
            if found is None:
                found = entry.guess(name)
            self.state.written |= found or EMPTY

    def assign(self, targets: Sequence[Any], scope: Scope, entry: Entry) -> dict[str, Lineage]:
        """SET col = expr lists: columns written, values read; the lineage per column."""
        assigned: dict[str, Lineage] = {}
        for target in targets:
            acc: set[str] = set()
            self.expr(target.val, scope, acc)
            self.state.read |= acc
            self.state.stored |= acc
            self.write_columns(entry, [target.name])
            assigned[target.name] = assigned.get(target.name, EMPTY) | acc
        return assigned

    def returning(
        self,
        clause: Any,
        scope: Scope,
        entry: Entry,
        assigned: dict[str, Lineage],
    ) -> list[Output]:
        """RETURNING sees the target with its new values, plus ``old``/``new`` (PG 18)."""
        if clause is None or not clause.exprs:
            return []
        cols = {n: lin | assigned.get(n, EMPTY) for n, lin in entry.cols.items()}
        opened = entry.open
        if opened is not None and assigned:
            opened = opened.union(*assigned.values())
        new = Entry(
            entry.alias, cols, opened, exact=entry.exact, qual=entry.qual, relprefix=entry.relprefix
        )
        names = {"old": "old", "new": "new"}
        for option in clause.options or ():
            old = option.option == ReturningOptionKind.RETURNING_OPTION_OLD
            names["old" if old else "new"] = option.value
        extra = [
            Entry(names["old"], entry.cols, entry.open, exact=entry.exact),
            Entry(names["new"], cols, opened, exact=entry.exact),
        ]
        # ``*`` is the target's columns and the FROM / USING / source items' (as
        # PostgreSQL expands it), never ``old`` and ``new``, which only qualify names.
        own = [new, *(e for e in scope.entries if e is not entry)]
        return self.targets(clause.exprs, Scope(Scope(scope, extra), own))

    def insert(self, node: Any, parent: Scope | None) -> list[Output]:
        scope = Scope(parent)
        if node.withClause is not None:
            self.with_clause(node.withClause, scope)
        self.state.verbs.add("INSERT")
        entry, _ = self.target(node.relation)
        source: list[Output] = []
        if node.selectStmt is not None:
            source = self.query(node.selectStmt, Scope(scope))
            for out in source:
                self.state.read |= out.lineage
                self.state.stored |= out.lineage
        names = [t.name for t in node.cols or ()]
        if not names and node.selectStmt is not None:
            known = list(entry.cols)
            if not known:
                names = [OPEN]
            elif source and all(o.name != OPEN for o in source):
                names = known[: len(source)]
            else:
                names = known
        self.write_columns(entry, names)
        assigned: dict[str, Lineage] = {}
        for i, name in enumerate(names):
            if i < len(source):
                assigned[name] = assigned.get(name, EMPTY) | source[i].lineage
        clause = node.onConflictClause
        if clause is not None:
            self.on_conflict(clause, scope, entry, assigned)
        return self.returning(node.returningClause, scope, entry, assigned)

    def on_conflict(
        self, clause: Any, scope: Scope, entry: Entry, assigned: dict[str, Lineage]
    ) -> None:
        target_scope = Scope(scope, [entry])
        infer = clause.infer
        if infer is not None:
            for elem in infer.indexElems or ():
                if elem.name:
                    self.state.filtered |= entry.column(elem.name) or EMPTY
                else:
                    self.filter(elem.expr, target_scope)
            if infer.whereClause is not None:
                self.filter(infer.whereClause, target_scope)
        if clause.action == OnConflictAction.ONCONFLICT_UPDATE:
            self.state.verbs.add("UPDATE")
            excluded_cols = {n: assigned.get(n, EMPTY) for n in entry.cols}
            excluded_open = frozenset().union(*assigned.values()) if entry.open else None
            excluded = Entry("excluded", excluded_cols, excluded_open)
            update_scope = Scope(scope, [entry, excluded])
            self.assign(clause.targetList or (), update_scope, entry)
            if clause.whereClause is not None:
                self.filter(clause.whereClause, update_scope)

    def update(self, node: Any, parent: Scope | None) -> list[Output]:
        scope = Scope(parent)
        if node.withClause is not None:
            self.with_clause(node.withClause, scope)
        self.state.verbs.add("UPDATE")
        entry, _ = self.target(node.relation)
        self.from_clause(node.fromClause, scope)
        scope.entries.insert(0, entry)
        assigned = self.assign(node.targetList or (), scope, entry)
        if node.whereClause is not None:
            self.filter(node.whereClause, scope)
        self.state.modification(node.whereClause is not None)
        return self.returning(node.returningClause, scope, entry, assigned)

    def delete(self, node: Any, parent: Scope | None) -> list[Output]:
        scope = Scope(parent)
        if node.withClause is not None:
            self.with_clause(node.withClause, scope)
        self.state.verbs.add("DELETE")
        entry, _ = self.target(node.relation)
        self.from_clause(node.usingClause, scope)
        scope.entries.insert(0, entry)
        if node.whereClause is not None:
            self.filter(node.whereClause, scope)
        self.state.modification(node.whereClause is not None)
        return self.returning(node.returningClause, scope, entry, {})

    def merge(self, node: Any, parent: Scope | None) -> list[Output]:
        scope = Scope(parent)
        if node.withClause is not None:
            self.with_clause(node.withClause, scope)
        self.state.verbs.add("MERGE")
        entry, _ = self.target(node.relation)
        scope.entries = [entry, *self.from_item(node.sourceRelation, scope, [])]
        if node.joinCondition is not None:
            self.filter(node.joinCondition, scope)
        constant_join = isinstance(node.joinCondition, ast.A_Const)
        assigned: dict[str, Lineage] = {}
        for when in node.mergeWhenClauses or ():
            if when.condition is not None:
                self.filter(when.condition, scope)
            guarded = when.condition is not None or not constant_join
            if when.commandType == CmdType.CMD_UPDATE:
                self.state.verbs.add("UPDATE")
                self.state.modification(guarded)
                for name, lin in self.assign(when.targetList or (), scope, entry).items():
                    assigned[name] = assigned.get(name, EMPTY) | lin
            elif when.commandType == CmdType.CMD_DELETE:
                self.state.verbs.add("DELETE")
                self.state.modification(guarded)
            elif when.commandType == CmdType.CMD_INSERT:
                self.state.verbs.add("INSERT")
                names = [t.name for t in when.targetList or ()] or list(entry.cols) or [OPEN]
                self.write_columns(entry, names)
                for i, value in enumerate(when.values or ()):
                    acc: set[str] = set()
                    self.expr(value, scope, acc)
                    self.state.read |= acc
                    self.state.stored |= acc
                    if i < len(names):
                        assigned[names[i]] = assigned.get(names[i], EMPTY) | acc
        return self.returning(node.returningClause, scope, entry, assigned)
