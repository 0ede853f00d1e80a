"""Statement kinds for the facts analyser: what each top-level statement does (queries,
EXPLAIN, COPY, PREPARE/EXECUTE, cursors, SET, DO, CALL, DDL) on top of the query walker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pglast import ast
from pglast.enums import GrantTargetType, ObjectType, VariableSetKind
from pglast.parser import parse_sql
from pglast.visitors import Skip, Visitor

from regogate.policy.catalog import CatalogSnapshot
from regogate.policy.facts_dml import QueryWalker
from regogate.policy.facts_scope import EMPTY, OPEN, Output, Scope, StatementState
from regogate.policy.facts_tags import command_tag, is_ddl_kind
from regogate.policy.facts_walk_expr import literal_string

_RELATION_OBJECTS = frozenset(
    {
        ObjectType.OBJECT_TABLE,
        ObjectType.OBJECT_VIEW,
        ObjectType.OBJECT_MATVIEW,
        ObjectType.OBJECT_SEQUENCE,
        ObjectType.OBJECT_FOREIGN_TABLE,
    }
)
_OBJECT_KINDS = {
    ObjectType.OBJECT_TABLE: "table",
    ObjectType.OBJECT_VIEW: "view",
    ObjectType.OBJECT_MATVIEW: "matview",
    ObjectType.OBJECT_SEQUENCE: "sequence",
    ObjectType.OBJECT_FOREIGN_TABLE: "foreign",
}
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
_ACCESS_SHARE_LOCK = 1
MAX_EXECUTE_DEPTH = 2


def _names(nodes: Any) -> list[str]:
    if isinstance(nodes, ast.String):
        return [str(nodes.sval)]
    return [str(n.sval) for n in nodes or () if isinstance(n, ast.String)]


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


class StatementAnalyser(QueryWalker):
    """Analyses one top-level statement into its StatementState."""

    def __init__(
        self,
        catalog: CatalogSnapshot,
        search_path: tuple[str, ...],
        prepared: Callable[[str], str | None],
        text: str,
    ) -> None:
        super().__init__(catalog, StatementState(), search_path)
        self.prepared = prepared
        self.text = text
        self.top_where = False
        self.prepared_defs: dict[str, str] = {}
        self.deallocated: list[str] = []
        self.deallocate_all = False
        self.depth = 0

    def statement(self, node: Any) -> bool:
        """Record ``node``'s facts; return whether it is DDL (log_statement sense)."""
        state = self.state
        state.verbs.add(command_tag(node))
        if isinstance(node, ast.SelectStmt):
            outputs = self.select(node, None)
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
            inner_ddl = self.statement(node.query)
            state.outputs = []
            return analyze and inner_ddl
        if isinstance(node, ast.DeclareCursorStmt):
            self.statement(node.query)
            return False
        if isinstance(node, ast.PrepareStmt):
            self.prepared_defs[str(node.name or "")] = self.text
            inner_ddl = self.statement(node.query)
            state.outputs = []
            return inner_ddl
        if isinstance(node, ast.ExecuteStmt):
            return self.execute(node)
        if isinstance(node, ast.CopyStmt):
            self.copy(node)
            return False
        if isinstance(node, ast.VariableSetStmt):
            self.set_statement(node, session=True)
            return False
        if isinstance(node, (ast.AlterSystemStmt, ast.AlterRoleSetStmt, ast.AlterDatabaseSetStmt)):
            if node.setstmt is not None:
                self.set_statement(node.setstmt, session=False)
            return True
        if isinstance(node, ast.TransactionStmt):
            state.settings.update(o.defname for o in node.options or () if o.defname)
            return False
        if isinstance(node, ast.DiscardStmt):
            if int(node.target or 0) == 0:  # DISCARD ALL: RESET ALL, DEALLOCATE ALL, ...
                state.settings.add("all")
                self.new_search_path = self.catalog.reset_search_path
                self.deallocate_all = True
            return False
        if isinstance(node, ast.DeallocateStmt):
            if node.name and not node.isall:
                self.deallocated.append(node.name)
            else:
                self.deallocate_all = True
            return False
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

    def read_outputs(self, outputs: Sequence[Output]) -> None:
        for out in outputs:
            self.state.read |= out.lineage

    # -- PREPARE / EXECUTE ----------------------------------------------------------------

    def execute(self, node: Any) -> bool:
        acc: set[str] = set()
        self.expr(node.params, Scope(None, lenient=True), acc)
        self.state.read |= acc
        text = self.prepared(node.name)
        if text is None:
            self.state.make_opaque("EXECUTE of a prepared statement whose text is unknown")
            return False
        try:
            raws = parse_sql(text)
        except Exception:
            self.state.make_opaque("EXECUTE of a prepared statement that cannot be parsed")
            return False
        inner = raws[0].stmt if len(raws) == 1 else None
        if isinstance(inner, ast.PrepareStmt):
            inner = inner.query
        if inner is None or self.depth >= MAX_EXECUTE_DEPTH:
            self.state.make_opaque("EXECUTE of a prepared statement that cannot be analysed")
            return False
        self.depth += 1
        try:
            return self.statement(inner)
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
            names = _names(node.attlist)
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

    # -- SET ------------------------------------------------------------------------------

    def set_statement(self, node: Any, *, session: bool) -> None:
        """Names of the parameters set. ``session``: the statement changes this session
        (SET/RESET), so a new search_path applies to the statements after it."""
        settings = self.state.settings
        kind = node.kind
        if kind == VariableSetKind.VAR_RESET_ALL:
            settings.add("all")
            if session:
                self.new_search_path = self.catalog.reset_search_path
            return
        if kind == VariableSetKind.VAR_SET_MULTI:
            name = (node.name or "").upper()
            if name == "TRANSACTION SNAPSHOT":
                settings.add("transaction_snapshot")
                return
            prefix = "default_" if name == "SESSION CHARACTERISTICS" else ""
            settings.update(prefix + d.defname for d in node.args or () if d.defname)
            return
        name = (node.name or "").lower()
        settings.add(name)
        if name != "search_path" or not session:
            return
        if kind == VariableSetKind.VAR_SET_VALUE:
            values = [literal_string(a) for a in node.args or ()]
            self.new_search_path = tuple(v for v in values if v is not None)
        elif kind in (VariableSetKind.VAR_SET_DEFAULT, VariableSetKind.VAR_RESET):
            self.new_search_path = self.catalog.reset_search_path

    # -- maintenance and DDL --------------------------------------------------------------

    def maintenance(self, node: Any) -> bool | None:
        """TRUNCATE, LOCK, VACUUM, ANALYZE, CLUSTER, REINDEX, REFRESH: access to relations.
        Returns whether it is DDL (only REFRESH is), None for other statement kinds."""
        relations: list[Any] = []
        access = "write"
        if isinstance(node, ast.TruncateStmt):
            relations = list(node.relations or ())
        elif isinstance(node, ast.LockStmt):
            relations = list(node.relations or ())
            access = "read" if node.mode == _ACCESS_SHARE_LOCK else "write"
        elif isinstance(node, ast.VacuumStmt):
            relations = [r.relation for r in node.rels or () if r.relation is not None]
        elif isinstance(node, (ast.ClusterStmt, ast.ReindexStmt)):
            relations = [node.relation] if node.relation is not None else []
        elif isinstance(node, ast.RefreshMatViewStmt):
            rv: Any = node.relation
            schema, rel = self.relation(rv)
            self.state.table(schema, rv.relname, "write", "matview")
            for base_schema, base_name in rel.base_tables if rel is not None else ():
                kind = self.kind_of(base_schema, base_name)
                self.state.table(base_schema, base_name, "read", kind)
            return True
        else:
            return None
        for rv in relations:
            schema, rel = self.relation(rv)
            self.state.table(schema, rv.relname, access, rel.kind if rel else "unknown")
        return False

    def created(self, rv: Any, kind: str) -> None:
        schema, rel = self.relation(rv)
        self.state.table(schema, rv.relname, "ddl", rel.kind if rel is not None else kind)

    def named_relation(self, names: list[str], kind: str) -> None:
        if not names:
            return
        schema = names[-2] if len(names) >= 2 else None
        resolved, rel = self.catalog.qualify(names[-1], schema, self.search_path)
        self.state.table(resolved, names[-1], "ddl", rel.kind if rel is not None else kind)

    def embedded(self, node: Any) -> None:
        """A query inside DDL (view body, rule action, policy subquery): as if it ran."""
        self.read_outputs(self.query(node, Scope(None, lenient=True)))

    def ddl(self, node: Any) -> bool:
        state = self.state
        if isinstance(node, ast.CreateTableAsStmt):
            self.read_outputs(self.query(node.query, None))
            matview = node.objtype == ObjectType.OBJECT_MATVIEW
            into: Any = node.into
            self.created(into.rel, "matview" if matview else "table")
            return True
        if isinstance(node, ast.ViewStmt):
            self.read_outputs(self.query(node.query, None))
            self.created(node.view, "view")
            return True
        if isinstance(node, ast.DropStmt):
            kind = _OBJECT_KINDS.get(node.removeType) if node.removeType is not None else None
            for obj in node.objects or ():
                if kind is not None:
                    self.named_relation(_names(obj), kind)
                elif node.removeType == ObjectType.OBJECT_SCHEMA:
                    for schema in _names(obj):
                        state.table(schema, "*", "ddl", "schema")
            return True
        if isinstance(node, (ast.CommentStmt, ast.SecLabelStmt)):
            names = _names(node.object)
            if node.objtype == ObjectType.OBJECT_COLUMN:
                self.named_relation(names[:-1], "unknown")
            elif node.objtype in _RELATION_OBJECTS:
                self.named_relation(names, _OBJECT_KINDS[node.objtype])
            return True
        all_in_schema = GrantTargetType.ACL_TARGET_ALL_IN_SCHEMA
        if isinstance(node, ast.GrantStmt) and node.targtype == all_in_schema:
            for schema in _names(node.objects):
                state.table(schema, "*", "ddl", "schema")
            return True
        if isinstance(node, ast.CreateTrigStmt) and node.funcname:
            state.functions.add(self.function_name(node.funcname))
        if not is_ddl_kind(node):
            state.make_opaque(f"{type(node).__name__} statements are not analysed")
            return False
        _DdlScan(self)(node)
        primary = getattr(node, "relation", None)
        if isinstance(node, ast.CreateStmt) and isinstance(primary, ast.RangeVar):
            kind = "partitioned" if node.partspec is not None else "table"
            if isinstance(node, ast.CreateForeignTableStmt):
                kind = "foreign"
            self.created(primary, kind)
        return True


class _DdlScan(Visitor):
    """Relations named anywhere in a DDL statement (access "ddl"), functions it calls,
    and queries it embeds; column references are ignored (no scope to resolve them)."""

    def __init__(self, analyser: StatementAnalyser) -> None:
        self.analyser = analyser

    def visit_RangeVar(self, ancestors: Any, node: Any) -> None:  # noqa: N802
        a = self.analyser
        schema, rel = a.relation(node)
        a.state.table(schema, node.relname, "ddl", rel.kind if rel is not None else "unknown")

    def visit_FuncCall(self, ancestors: Any, node: Any) -> None:  # noqa: N802
        self.analyser.state.functions.add(self.analyser.function_name(node.funcname))

    def _query(self, ancestors: Any, node: Any) -> Any:
        self.analyser.embedded(node)
        return Skip

    visit_SelectStmt = _query  # noqa: N815
    visit_InsertStmt = _query  # noqa: N815
    visit_UpdateStmt = _query  # noqa: N815
    visit_DeleteStmt = _query  # noqa: N815
    visit_MergeStmt = _query  # noqa: N815
