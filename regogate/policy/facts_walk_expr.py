"""Expressions for the facts analyser: column references and their lineage, function
calls (with set_config and dynamic-SQL functions), sublinks and window clauses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from pglast import ast

from regogate.policy.catalog import CatalogSnapshot, parse_search_path
from regogate.policy.facts_scope import Output, Scope, StatementState

# Functions that run SQL handed to them as text: what they read cannot be seen here.
DYNAMIC_SQL_FUNCTIONS = frozenset(
    f"pg_catalog.{name}"
    for name in (
        "query_to_xml",
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "table_to_xml",
        "table_to_xmlschema",
        "table_to_xml_and_xmlschema",
        "schema_to_xml",
        "schema_to_xmlschema",
        "schema_to_xml_and_xmlschema",
        "database_to_xml",
        "database_to_xmlschema",
        "database_to_xml_and_xmlschema",
        "ts_stat",
        "ts_rewrite",
    )
)
_LEAVES: tuple[type[Any], ...] = (
    ast.A_Const,
    ast.ParamRef,
    ast.SQLValueFunction,
    ast.String,
    ast.Integer,
    ast.Float,
    ast.Boolean,
    ast.BitString,
    ast.A_Star,
    ast.TypeName,
    ast.SetToDefault,
    ast.CurrentOfExpr,
)
_QUERIES: tuple[type[Any], ...] = (
    ast.SelectStmt,
    ast.InsertStmt,
    ast.UpdateStmt,
    ast.DeleteStmt,
    ast.MergeStmt,
)


def literal_string(node: Any) -> str | None:
    """The value of a string constant (possibly cast), else None."""
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.String):
        return str(node.val.sval)
    return None


class ExpressionWalker(ABC):
    """Expression half of the walker; ``query`` (subqueries) comes from the subclass."""

    def __init__(
        self, catalog: CatalogSnapshot, state: StatementState, search_path: tuple[str, ...]
    ) -> None:
        self.catalog = catalog
        self.state = state
        self.search_path = search_path
        self.new_search_path: tuple[str, ...] | None = None
        self._dispatch: dict[type[Any], Callable[[Any, Scope, set[str]], None]] = {
            ast.ColumnRef: self._column_ref,
            ast.FuncCall: self.func,
            ast.SubLink: self._sublink,
            ast.TypeCast: self._type_cast,
            ast.A_Indirection: self._indirection,
            ast.WindowDef: self._window_expr,
        }

    @abstractmethod
    def query(self, node: Any, parent: Scope | None) -> list[Output]:
        """The outputs of a (sub)query node."""

    def filter(self, node: Any, scope: Scope) -> None:
        """An expression whose columns decide which rows (or which order) come back."""
        acc: set[str] = set()
        self.expr(node, scope, acc)
        self.state.filtered |= acc

    def expr(self, node: Any, scope: Scope, acc: set[str]) -> None:
        """Add the lineage of ``node``'s value to ``acc``; record functions on the way.

        Node kinds without a handler are walked field by field, so a column reference
        anywhere in an unfamiliar expression is still found.
        """
        if node is None:
            return
        kind = type(node)
        if kind is tuple:
            for item in node:
                self.expr(item, scope, acc)
            return
        handler = self._dispatch.get(kind)
        if handler is not None:
            handler(node, scope, acc)
            return
        if kind in _LEAVES:
            return
        if isinstance(node, _QUERIES):
            for out in self.query(node, scope):
                acc |= out.lineage
            return
        if isinstance(node, ast.Node):
            for attr in kind.__slots__:
                value = getattr(node, attr)
                if isinstance(value, (ast.Node, tuple)):
                    self.expr(value, scope, acc)

    def _column_ref(self, node: Any, scope: Scope, acc: set[str]) -> None:
        self.column(node.fields, scope, acc)

    def _type_cast(self, node: Any, scope: Scope, acc: set[str]) -> None:
        self.expr(node.arg, scope, acc)

    def _sublink(self, node: Any, scope: Scope, acc: set[str]) -> None:
        if node.testexpr is not None:
            self.expr(node.testexpr, scope, acc)
        for out in self.query(node.subselect, scope):
            acc |= out.lineage

    def _window_expr(self, node: Any, scope: Scope, acc: set[str]) -> None:
        self.window(node, scope)

    def window(self, node: Any, scope: Scope) -> None:
        for part in (node.partitionClause, node.orderClause, node.startOffset, node.endOffset):
            if part is not None:
                self.filter(part, scope)

    def _indirection(self, node: Any, scope: Scope, acc: set[str]) -> None:
        """``(c).ssn``: a field of a whole-row reference is that column only."""
        arg, path = node.arg, node.indirection or ()
        if isinstance(arg, ast.ColumnRef) and path and isinstance(path[0], ast.String):
            fields = tuple(f for f in arg.fields or () if not isinstance(f, ast.A_Star))
            quals = [str(f.sval) for f in fields if isinstance(f, ast.String)]
            entry = scope.find_entry(quals) if len(quals) == len(fields) and quals else None
            if entry is not None:
                found = entry.column(str(path[0].sval))
                acc |= found if found is not None else entry.whole()
                self.expr(path[1:], scope, acc)
                return
        self.expr(arg, scope, acc)
        self.expr(path, scope, acc)

    def column(self, fields: Sequence[Any], scope: Scope, acc: set[str]) -> None:
        found = self.resolve(fields, scope)
        if found is None:
            found = self.unresolved(fields, scope)
        acc |= found

    def resolve(self, fields: Sequence[Any], scope: Scope) -> frozenset[str] | None:
        """Lineage of a column reference, or None when nothing in scope matches."""
        star = isinstance(fields[-1], ast.A_Star)
        names = [str(f.sval) for f in fields if isinstance(f, ast.String)]
        if not star and len(names) == 1:
            return scope.resolve_name(names[0])
        quals = names if star else names[:-1]
        if not quals:
            return frozenset().union(*(e.whole() for e in scope.innermost_entries()))
        entry = scope.find_entry(quals[-2:] if len(quals) >= 2 else quals)
        col = None if star else names[-1]
        if entry is None and len(quals) >= 2:
            # alias.column.field: a field of a composite column
            entry, col = scope.find_entry(quals[:1]), quals[1]
            if entry is None:
                return None
        elif entry is None:
            # column.field: a field of a composite column
            return scope.resolve_name(quals[0])
        if col is None:
            return entry.whole()
        found = entry.column(col)
        if found is None:
            found = entry.guess(col)
        return entry.whole() if found is None else found

    def unresolved(self, fields: Sequence[Any], scope: Scope) -> frozenset[str]:
        """A name nothing matches (PostgreSQL would reject it, or the catalog is stale):
        attribute it to every relation of the innermost level, whole rows otherwise."""
        name = str(fields[-1].sval) if isinstance(fields[-1], ast.String) else "*"
        out: set[str] = set()
        for entry in scope.innermost_entries():
            out |= entry.guess(name) or entry.whole()
        if not out and not scope.lenient:
            self.state.make_opaque("a column reference could not be resolved")
        return frozenset(out)

    # -- functions ------------------------------------------------------------------------

    def function_name(self, funcname: Sequence[Any]) -> str:
        names = [str(n.sval) for n in funcname]
        schema = names[-2] if len(names) >= 2 else None
        return self.catalog.resolve_function(names[-1], schema, self.search_path)

    def func(self, node: Any, scope: Scope, acc: set[str]) -> None:
        qname = self.function_name(node.funcname)
        self.state.functions.add(qname)
        if qname == "pg_catalog.set_config":
            self.set_config(node.args or ())
        elif qname in DYNAMIC_SQL_FUNCTIONS or qname.rsplit(".", 1)[-1].startswith("dblink"):
            self.state.make_opaque(f"{qname}() runs SQL text that cannot be analysed")
        if node.args:
            self.expr(node.args, scope, acc)
        if node.agg_order:
            self.filter(node.agg_order, scope)
        if node.agg_filter is not None:
            self.filter(node.agg_filter, scope)
        if node.over is not None:
            self.window(node.over, scope)

    def set_config(self, args: Sequence[Any]) -> None:
        name = literal_string(args[0]) if args else None
        if name is None:
            self.state.make_opaque("set_config() with a parameter name that is not a literal")
            return
        name = name.strip().lower()
        self.state.settings.add(name)
        if name == "search_path" and len(args) > 1:
            value = literal_string(args[1])
            if value is not None:
                self.new_search_path = parse_search_path(value)
