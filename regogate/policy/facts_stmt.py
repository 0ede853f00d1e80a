"""Statement kinds for the facts analyser: what each top-level statement does (queries,
EXPLAIN, COPY, PREPARE/EXECUTE, cursors, SET, DO, CALL; DDL via facts_ddl) on top of the
query walker, and which of it runs now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pglast import ast
from pglast.parser import parse_sql

from regogate.policy.catalog import CatalogSnapshot
from regogate.policy.facts_ddl import DdlWalker, names_of
from regogate.policy.facts_scope import EMPTY, OPEN, Output, Scope, StatementState
from regogate.policy.facts_settings import once_calls, transaction_changes
from regogate.policy.facts_tags import command_tag
from regogate.policy.setting_change import SettingAction, SettingChange

# Statements that touch no relation and need nothing but their tag.
_TAG_ONLY = (
    ast.VariableShowStmt,
    ast.FetchStmt,
    ast.ClosePortalStmt,
    ast.ListenStmt,
    ast.NotifyStmt,
    ast.UnlistenStmt,
    ast.CheckPointStmt,
    ast.LoadStmt,
    ast.ConstraintsSetStmt,
)
# Statements that run code not seen here, which may change any setting.
_USER_CODE = (
    ast.DoStmt,
    ast.CallStmt,
    ast.LoadStmt,
    ast.CreateExtensionStmt,
    ast.AlterExtensionStmt,
)
_SET_SCOPES: dict[type[Any], SettingAction] = {
    ast.AlterSystemStmt: "system",
    ast.AlterRoleSetStmt: "role_default",
    ast.AlterDatabaseSetStmt: "database_default",
}
MAX_EXECUTE_DEPTH = 2


def _option_true(arg: Any) -> bool:
    """A boolean option's value as defGetBoolean reads it (no value means true)."""
    if arg is None:
        return True
    if isinstance(arg, ast.Integer):
        return bool(arg.ival)
    if isinstance(arg, ast.Boolean):
        return bool(arg.boolval)
    if isinstance(arg, ast.String):
        return str(arg.sval).lower() not in ("false", "off", "0", "no", "of", "f", "n")
    return True


class StatementAnalyser(DdlWalker):
    """Analyses one top-level statement into its StatementState."""

    def __init__(
        self,
        catalog: CatalogSnapshot,
        search_path: tuple[str, ...],
        prepared: Callable[[str], str | None],
        text: str,
        *,
        path_known: bool = True,
    ) -> None:
        super().__init__(catalog, StatementState(), search_path, path_known=path_known)
        self.prepared = prepared
        self.text = text
        self.top_where = False
        self.prepared_defs: dict[str, str] = {}
        self.deallocated: list[str] = []
        self.deallocate_all = False
        self.depth = 0

    def statement(self, node: Any, *, once: bool = True) -> bool:
        """Record ``node``'s facts; return whether it is DDL (log_statement sense).
        ``once``: the statement runs exactly once, now (not under EXPLAIN or DECLARE)."""
        state = self.state
        state.verbs.add(command_tag(node))
        if isinstance(node, ast.SelectStmt):
            if once and self.runs:
                self.once = once_calls(node, self.calls_set_config)
            outputs = self.select(node, None)
            self.once = frozenset()
            self.top_where = node.whereClause is not None
            self.read_outputs(outputs)
            if node.intoClause is not None:
                state.verbs.add("CREATE TABLE AS")
                self.created(node.intoClause.rel, "table")
                return True
            state.outputs = outputs
            return False
        if isinstance(node, (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)):
            state.outputs = self.query(node, None)
            self.read_outputs(state.outputs)
            return False
        if isinstance(node, ast.ExplainStmt):
            analyze = any(
                o.defname == "analyze" and _option_true(o.arg) for o in node.options or ()
            )
            with self.deferred(runs=analyze):
                inner_ddl = self.statement(node.query, once=False)
            state.outputs = []
            return analyze and inner_ddl
        if isinstance(node, ast.DeclareCursorStmt):
            self.statement(node.query, once=False)  # runs at FETCH (or COMMIT WITH HOLD)
            return False
        if isinstance(node, ast.PrepareStmt):
            self.prepared_defs[str(node.name or "")] = self.text
            with self.deferred():
                inner_ddl = self.statement(node.query, once=False)
            state.outputs = []
            return inner_ddl
        if isinstance(node, ast.ExecuteStmt):
            return self.execute(node, once=once)
        if isinstance(node, ast.CopyStmt):
            self.copy(node)
            return False
        if isinstance(node, ast.VariableSetStmt):
            self.set_statement(node)
            return False
        scope = _SET_SCOPES.get(type(node))
        if scope is not None:
            if node.setstmt is not None:
                self.set_statement(node.setstmt, scope)
            return True
        if isinstance(node, ast.TransactionStmt):
            state.settings.update(o.defname for o in node.options or () if o.defname)
            self.changed(transaction_changes(node.options, "local"))
            return False
        if isinstance(node, ast.DiscardStmt):
            if int(node.target or 0) == 0:  # DISCARD ALL: RESET ALL, DEALLOCATE ALL, ...
                state.settings.add("all")
                # ... and first SET SESSION AUTHORIZATION DEFAULT (discard.c DiscardAll)
                self.changed(
                    [
                        SettingChange("session_authorization", None, "reset"),
                        SettingChange(None, None, "reset_all"),
                    ]
                )
                self.deallocate_all = True
            return False
        if isinstance(node, ast.DeallocateStmt):
            if node.name and not node.isall:
                self.deallocated.append(node.name)
            else:
                self.deallocate_all = True
            return False
        if isinstance(node, _USER_CODE):
            state.user_code = self.runs
        if isinstance(node, ast.DoStmt):
            state.make_opaque("DO block: its procedural code is not analysed")
            return False
        if isinstance(node, ast.CallStmt):
            acc: set[str] = set()
            self.expr(node.funccall, Scope(None, lenient=True), acc)
            state.read |= acc
            return False
        if isinstance(node, _TAG_ONLY):
            return False
        handled = self.maintenance(node)
        return self.ddl(node) if handled is None else handled

    def calls_set_config(self, node: Any) -> bool:
        return self.function_name(node.funcname) == "pg_catalog.set_config"

    # -- PREPARE / EXECUTE ----------------------------------------------------------------

    def unseen(self, reason: str) -> bool:
        """Something runs that is not seen: opaque, and it may change any setting."""
        self.state.make_opaque(reason)
        self.changed([SettingChange(None, None, "unknown", certain=False)])
        return False

    def execute(self, node: Any, *, once: bool) -> bool:
        acc: set[str] = set()
        self.expr(node.params, Scope(None, lenient=True), acc)
        self.state.read |= acc
        text = self.prepared(node.name)
        if text is None:
            return self.unseen("EXECUTE of a prepared statement whose text is unknown")
        try:
            raws = parse_sql(text)
        except Exception:
            return self.unseen("EXECUTE of a prepared statement that cannot be parsed")
        inner = raws[0].stmt if len(raws) == 1 else None
        if isinstance(inner, ast.PrepareStmt):
            inner = inner.query
        if inner is None or self.depth >= MAX_EXECUTE_DEPTH:
            return self.unseen("EXECUTE of a prepared statement that cannot be analysed")
        self.depth += 1
        try:
            return self.statement(inner, once=once)
        finally:
            self.depth -= 1

    # -- COPY -----------------------------------------------------------------------------

    def copy(self, node: Any) -> None:
        state = self.state
        if node.query is not None:
            state.outputs = self.query(node.query, None)
            self.read_outputs(state.outputs)
            if isinstance(node.query, ast.SelectStmt):
                self.top_where = node.query.whereClause is not None
        elif node.relation is not None:
            schema, rel = self.relation(node.relation)
            entry = self.relation_entry(schema, node.relation.relname, rel, None)
            names = names_of(node.attlist)
            if node.is_from:
                self.touch(schema, node.relation.relname, rel, "write")
                self.write_columns(entry, names or list(entry.cols) or [OPEN])
                if node.whereClause is not None:
                    self.filter(node.whereClause, Scope(None, [entry]))
            else:
                self.touch(schema, node.relation.relname, rel, "read")
                found = [(n, entry.column(n)) for n in names]
                outputs = [
                    Output(n, lin if lin is not None else entry.guess(n) or EMPTY)
                    for n, lin in found
                ] or entry.outputs()
                state.outputs = outputs
                self.read_outputs(outputs)
        if node.is_program:
            state.make_opaque("COPY ... PROGRAM runs a program on the database server")
        elif node.filename is not None:
            state.make_opaque("COPY with a file on the database server")
