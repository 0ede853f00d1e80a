"""Expressions for the facts analyser: column references and their lineage, function
calls (with set_config and dynamic-SQL functions), sublinks and window clauses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from pglast import ast
from pglast.enums import A_Expr_Kind, BoolExprType

from regogate.policy.catalog import CatalogSnapshot, Lineage, Relation, qident
from regogate.policy.facts_scope import EMPTY, Entry, Output, Scope, StatementState
from regogate.policy.facts_settings import literal_string, set_config_call
from regogate.policy.facts_sleep import SLEEP_FUNCTIONS, sleep_seconds

__all__ = ["DYNAMIC_SQL_FUNCTIONS", "ExpressionWalker", "literal_string"]

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


class ExpressionWalker(ABC):
    """Expression half of the walker; ``query`` (subqueries) comes from the subclass."""

    def __init__(
        self,
        catalog: CatalogSnapshot,
        state: StatementState,
        search_path: tuple[str, ...],
        *,
        path_known: bool = True,
    ) -> None:
        self.catalog = catalog
        self.state = state
        self.search_path = search_path
        self.path_known = path_known  # False: unqualified names may resolve elsewhere
        self.runs = True  # what is walked executes now (not PREPARE, a view body...)
        self.once: frozenset[int] = frozenset()  # ids of set_config calls run exactly once
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
        """An expression whose columns decide which rows (or which order) come back.
        AND and OR are looked through: a plain column compared with ``=`` or ``IN`` to
        constants or parameters only goes to ``state.equality`` (columns.filtered_equality
        unless the column is also filtered any other way)."""
        if isinstance(node, ast.BoolExpr) and node.boolop in _AND_OR:
            for arg in node.args or ():
                self.filter(arg, scope)
            return
        key = self._equality(node, scope)
        acc: set[str] = set()
        self.expr(node, scope, acc)  # functions and casts are recorded either way
        if key is not None and acc == {key}:
            self.state.equality.add(key)
        else:
            self.state.filtered |= acc

    def _equality(self, node: Any, scope: Scope) -> str | None:
        """The column of ``col = const``, ``const = col`` or ``col IN (consts)``, where
        col is a plain column of a table (not a view, subquery or CTE column, whose value
        may be derived); None for anything else."""
        if not isinstance(node, ast.A_Expr) or not node.name or len(node.name) != 1:
            return None
        if getattr(node.name[0], "sval", None) != "=":
            return None
        left, right = node.lexpr, node.rexpr
        if node.kind == A_Expr_Kind.AEXPR_OP:
            if _constant(right):
                return self._plain_column(left, scope)
            if _constant(left):
                return self._plain_column(right, scope)
            return None
        in_list = node.kind == A_Expr_Kind.AEXPR_IN and isinstance(right, tuple)
        if in_list and right and all(_constant(v) for v in right):
            return self._plain_column(left, scope)
        return None

    def _plain_column(self, node: Any, scope: Scope) -> str | None:
        if not isinstance(node, ast.ColumnRef) or not node.fields:
            return None
        if not all(isinstance(f, ast.String) for f in node.fields):
            return None
        names = [str(f.sval) for f in node.fields]
        if len(names) == 1:
            entry = _only_entry(scope, names[0])
        elif len(names) <= 3:
            entry = scope.find_entry(names[:-1])
        else:
            return None
        if entry is None or entry.relprefix is None or not entry.definite(names[-1]):
            return None
        lineage = entry.column(names[-1])
        key = entry.relprefix + qident(names[-1])
        if lineage != frozenset((key,)):
            return None
        found = self.resolve(node.fields, scope)  # what the walk would attribute
        return key if found == lineage else None

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
        """``(c).name``: a column of the row, or the function ``name(c)`` over all of it."""
        arg = node.arg
        path: Sequence[Any] = node.indirection or ()
        entry = self.row_entry(arg, scope) if path and isinstance(path[0], ast.String) else None
        if entry is not None:
            whole: set[str] = set()
            self.expr(arg, scope, whole)
            if whole != entry.whole():  # ``c`` may also be a column of an unlisted relation
                acc |= whole
            acc |= self.member(entry, str(path[0].sval))
            self.expr(path[1:], scope, acc)
            return
        self.expr(arg, scope, acc)
        self.expr(path, scope, acc)

    def row_entry(self, arg: Any, scope: Scope) -> Entry | None:
        """The FROM item whose whole row ``arg`` is (``c`` or ``c.*``), if it may be one:
        a lone name is a column first (colNameToVar), then a relation."""
        if not isinstance(arg, ast.ColumnRef) or not arg.fields:
            return None
        fields = arg.fields
        star = isinstance(fields[-1], ast.A_Star)
        names = [str(f.sval) for f in fields if isinstance(f, ast.String)]
        if not names or len(names) != len(fields) - star:
            return None
        if star:
            return scope.find_entry(names)
        entry = scope.find_entry(names) if len(names) == 1 else None
        found = scope.resolve_name(names[0]) if entry is not None else None
        if entry is None or found is None or not entry.whole() <= found:
            return None
        return entry

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
        return self.member(entry, col)

    def member(self, entry: Entry, name: str) -> Lineage:
        """``x.name`` for a FROM item x (ParseFuncOrColumn): its column, else the function
        or cast ``name(x)`` over the whole row. Where x's columns cannot be listed, ``name``
        may be either: the whole row counts too when it may be a function."""
        if entry.definite(name):
            return entry.column(name) or EMPTY
        qname, is_function = self.function_lookup(name)
        maybe = entry.find_open(name)
        if maybe is None:  # every column is known: name(x), or a column added since
            self.state.functions.add(qname)
            return entry.whole() if is_function else entry.whole() | (entry.guess(name) or EMPTY)
        if is_function:
            self.state.functions.add(qname)
            return entry.whole()
        return maybe | entry.whole() if not self.catalog.functions else maybe

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

    def qualify(self, name: str, schema: str | None = None) -> tuple[str, Relation | None]:
        """The schema of a relation name, and the relation when it is known."""
        if schema is None and not self.path_known:
            self.state.search_path_uncertain = True
        return self.catalog.qualify(name, schema, self.search_path)

    def function_name(self, funcname: Sequence[Any]) -> str:
        names = [str(n.sval) for n in funcname]
        schema = names[-2] if len(names) >= 2 else None
        if schema is None and not self.path_known:
            self.state.search_path_uncertain = True
        return self.catalog.resolve_function(names[-1], schema, self.search_path)

    def function_lookup(self, name: str) -> tuple[str, bool]:
        """An unqualified function name: ``schema.name`` and whether the catalog has it."""
        if not self.path_known:
            self.state.search_path_uncertain = True
        path = self.catalog.effective_path(self.search_path)
        found = any((schema, name) in self.catalog.functions for schema in path)
        return self.catalog.resolve_function(name, None, self.search_path), found

    def overloads(self, funcname: Sequence[Any], resolved: str) -> list[str]:
        """Every function an unqualified call may run: PostgreSQL picks among the
        functions of that name in every schema of the path by argument types (an
        overload in ``public`` can win over ``pg_catalog``'s), so all are reported."""
        if len(funcname) != 1:
            return [resolved]
        name = str(funcname[0].sval)
        functions = self.catalog.functions
        out = [resolved]
        for schema in self.catalog.effective_path(self.search_path):
            if (schema, name) in functions:
                qname = f"{qident(schema)}.{qident(name)}"
                if qname not in out:
                    out.append(qname)
        return out

    def func(self, node: Any, scope: Scope, acc: set[str]) -> None:
        qname = self.function_name(node.funcname)
        self.state.functions.update(self.overloads(node.funcname, qname))
        if qname == "pg_catalog.set_config":
            self.set_config(node)
        elif qname in DYNAMIC_SQL_FUNCTIONS or qname.rsplit(".", 1)[-1].startswith("dblink"):
            self.state.make_opaque(f"{qname}() runs SQL text that cannot be analysed")
        own = str(node.funcname[-1].sval)
        if own in SLEEP_FUNCTIONS:  # in any schema: a look-alike is bounded like the real one
            self.state.sleeps.append(sleep_seconds(own, node.args))
        if node.args:
            self.expr(node.args, scope, acc)
        if node.agg_order:
            self.filter(node.agg_order, scope)
        if node.agg_filter is not None:
            self.filter(node.agg_filter, scope)
        if node.over is not None:
            self.window(node.over, scope)

    def set_config(self, node: Any) -> None:
        """pg_catalog.set_config(name, value, is_local): a setting change where it runs."""
        call = set_config_call(node.args or ())
        if call.name is None:
            self.state.make_opaque("set_config() with a parameter name that is not a literal")
        else:
            self.state.settings.add(call.name)
        state = self.state
        if self.runs and id(node) not in state.changed_by:
            state.changed_by.add(id(node))
            state.setting_changes.append(call.change(certain=id(node) in self.once))


_AND_OR = (BoolExprType.AND_EXPR, BoolExprType.OR_EXPR)


def _constant(node: Any) -> bool:
    """A literal or a parameter, possibly cast (``'x'::text``, ``$1::text``)."""
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return isinstance(node, ast.A_Const | ast.ParamRef)


def _only_entry(scope: Scope, name: str) -> Entry | None:
    """The one FROM item an unqualified column name resolves to (the nearest level that
    has it); None when several could, or an item whose columns cannot be listed might."""
    level: Scope | None = scope
    while level is not None:
        known = [e for e in level.entries if e.definite(name)]
        if any(e.open is not None for e in level.entries):
            return None
        if known:
            return known[0] if len(known) == 1 else None
        level = level.parent
    return None
