"""DDL and settings statements for the facts analyser: relations named by DDL, queries and
expressions embedded in it (and whether they run now), maintenance commands, and the SET
clauses of SET/RESET, ALTER ROLE/DATABASE/SYSTEM and functions.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pglast import ast
from pglast.enums import GrantTargetType, ObjectType, VariableSetKind
from pglast.visitors import Continue, Skip, Visitor

from regogate.policy.facts_dml import QueryWalker
from regogate.policy.facts_scope import Output, Scope
from regogate.policy.facts_settings import guc_name, set_statement_changes
from regogate.policy.facts_tags import is_ddl_kind
from regogate.policy.setting_change import SettingAction, SettingChange

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
_ACCESS_SHARE_LOCK = 1
# DDL whose expressions and queries do not run now (view, rule, trigger, policy, function
# bodies); other DDL may evaluate an expression while it runs (ALTER TABLE ... USING,
# DEFAULT on a rewrite, CHECK validation, partition bounds).
_DEFERRED_DDL = (
    ast.ViewStmt,
    ast.RuleStmt,
    ast.CreateFunctionStmt,
    ast.CreateTrigStmt,
    ast.CreatePolicyStmt,
    ast.AlterPolicyStmt,
)


def names_of(nodes: Any) -> list[str]:
    if isinstance(nodes, ast.String):
        return [str(nodes.sval)]
    return [str(n.sval) for n in nodes or () if isinstance(n, ast.String)]


class DdlWalker(QueryWalker):
    """DDL, maintenance and SET clauses; the statement kinds are in facts_stmt."""

    @abstractmethod
    def execute(self, node: Any, *, once: bool) -> bool:
        """EXECUTE of a prepared statement (also under CREATE TABLE AS)."""

    @contextmanager
    def deferred(self, runs: bool = False) -> Iterator[None]:
        """Walk what does not run now (``runs`` False): no setting changes are recorded."""
        before = self.runs
        self.runs = before and runs
        try:
            yield
        finally:
            self.runs = before

    def read_outputs(self, outputs: Sequence[Output]) -> None:
        for out in outputs:
            self.state.read |= out.lineage

    def changed(self, changes: Sequence[SettingChange]) -> None:
        if self.runs:
            self.state.setting_changes.extend(changes)

    # -- SET ------------------------------------------------------------------------------

    def set_statement(self, node: Any, scope: SettingAction | None = None) -> None:
        """SET/RESET (``scope`` None: this session) or the SET clause of ALTER SYSTEM,
        ROLE, DATABASE or a function: the names set, and the changes."""
        settings = self.state.settings
        kind = node.kind
        if kind == VariableSetKind.VAR_RESET_ALL:
            settings.add("all")
        elif kind == VariableSetKind.VAR_SET_MULTI:
            name = (node.name or "").upper()
            if name == "TRANSACTION SNAPSHOT":
                settings.add("transaction_snapshot")
            else:
                prefix = "default_" if name == "SESSION CHARACTERISTICS" else ""
                settings.update(prefix + d.defname for d in node.args or () if d.defname)
        else:
            raw = (node.name or "").lower()
            settings.update((raw, guc_name(raw)))
        self.changed(set_statement_changes(node, scope))

    def function_settings(self, node: Any) -> None:
        """CREATE FUNCTION ... SET x = v, ALTER FUNCTION ... SET/RESET: while it runs."""
        items = node.options if isinstance(node, ast.CreateFunctionStmt) else node.actions
        for item in items or ():
            arg = item.arg if isinstance(item, ast.DefElem) and item.defname == "set" else None
            if isinstance(arg, ast.VariableSetStmt):
                self.set_statement(arg, "function")

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
        resolved, rel = self.qualify(names[-1], schema)
        self.state.table(resolved, names[-1], "ddl", rel.kind if rel is not None else kind)

    def embedded(self, node: Any) -> None:
        """A query inside DDL (view body, rule action, policy subquery): as if it ran."""
        self.read_outputs(self.query(node, Scope(None, lenient=True)))

    def ddl(self, node: Any) -> bool:
        state = self.state
        if isinstance(node, ast.CreateTableAsStmt):
            into: Any = node.into
            with self.deferred(runs=not into.skipData):
                if isinstance(node.query, ast.ExecuteStmt):  # CREATE TABLE ... AS EXECUTE
                    self.execute(node.query, once=False)
                else:
                    self.read_outputs(self.query(node.query, None))
            matview = node.objtype == ObjectType.OBJECT_MATVIEW
            self.created(into.rel, "matview" if matview else "table")
            return True
        if isinstance(node, ast.ViewStmt):
            with self.deferred():
                self.read_outputs(self.query(node.query, None))
            self.created(node.view, "view")
            return True
        if isinstance(node, ast.DropStmt):
            kind = _OBJECT_KINDS.get(node.removeType) if node.removeType is not None else None
            for obj in node.objects or ():
                if kind is not None:
                    self.named_relation(names_of(obj), kind)
                elif node.removeType == ObjectType.OBJECT_SCHEMA:
                    for schema in names_of(obj):
                        state.table(schema, "*", "ddl", "schema")
            return True
        if isinstance(node, (ast.CommentStmt, ast.SecLabelStmt)):
            names = names_of(node.object)
            if node.objtype == ObjectType.OBJECT_COLUMN:
                self.named_relation(names[:-1], "unknown")
            elif node.objtype in _RELATION_OBJECTS:
                self.named_relation(names, _OBJECT_KINDS[node.objtype])
            return True
        all_in_schema = GrantTargetType.ACL_TARGET_ALL_IN_SCHEMA
        if isinstance(node, ast.GrantStmt) and node.targtype == all_in_schema:
            for schema in names_of(node.objects):
                state.table(schema, "*", "ddl", "schema")
            return True
        if isinstance(node, ast.CreateTrigStmt) and node.funcname:
            state.functions.add(self.function_name(node.funcname))
        if not is_ddl_kind(node):
            state.make_opaque(f"{type(node).__name__} statements are not analysed")
            return False
        if isinstance(node, (ast.CreateFunctionStmt, ast.AlterFunctionStmt)):
            self.function_settings(node)
        with self.deferred(runs=not isinstance(node, _DEFERRED_DDL)):
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

    def __init__(self, analyser: DdlWalker) -> None:
        self.analyser = analyser

    def __call__(self, node: Any) -> Any:
        """pglast's ``Visitor.__call__``, but its ``visit_*`` methods are found once per
        class (_SCAN_METHODS), not with ``inspect.getmembers`` at every call (measured:
        most of a short DDL statement's analysis, docs/benchmarks.md)."""
        self.root = node
        by_ast_class = {cls: getattr(self, name) for cls, name in _SCAN_METHODS.items()}
        default_method = self.visit
        generator = self.iterate(node)
        try:
            ancestors, node = generator.send(None)
        except StopIteration:
            return None
        result = None
        while True:
            method = by_ast_class.get(node.__class__, default_method)
            if method is not None:
                result = method(ancestors, node)
            try:
                ancestors, node = generator.send(Continue if result is None else result)
            except StopIteration:
                break
        return self.root

    def visit_RangeVar(self, ancestors: Any, node: Any) -> None:  # noqa: N802
        a = self.analyser
        schema, rel = a.relation(node)
        a.state.table(schema, node.relname, "ddl", rel.kind if rel is not None else "unknown")

    def visit_FuncCall(self, ancestors: Any, node: Any) -> None:  # noqa: N802
        a = self.analyser
        qname = a.function_name(node.funcname)
        a.state.functions.add(qname)
        if qname == "pg_catalog.set_config":
            a.set_config(node)

    def _query(self, ancestors: Any, node: Any) -> Any:
        self.analyser.embedded(node)
        return Skip

    visit_SelectStmt = _query  # noqa: N815
    visit_InsertStmt = _query  # noqa: N815
    visit_UpdateStmt = _query  # noqa: N815
    visit_DeleteStmt = _query  # noqa: N815
    visit_MergeStmt = _query  # noqa: N815


# _DdlScan's visit_* methods by the pglast node class each visits.
_SCAN_METHODS: dict[type, str] = {
    cls: name
    for name in dir(_DdlScan)
    if name.startswith("visit_") and (cls := getattr(ast, name[6:], None)) is not None
}
