"""The query walker: SELECT, VALUES, WITH and FROM items with the lineage of every output
column, recording tables, columns and functions into a StatementState.
"""

# Lineage flows: a subquery's or CTE's output columns count where they are used (read in
# a result or a written value, filtered in WHERE/JOIN/ORDER/GROUP/HAVING/window clauses).

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pglast import ast
from pglast.enums import LockClauseStrength, SetOperation

from regogate.policy.catalog import VIEW_KINDS, Relation, column_key
from regogate.policy.facts_scope import (
    EMPTY,
    OPEN,
    Entry,
    Output,
    Scope,
    entry_from_outputs,
    rename,
)
from regogate.policy.facts_walk_expr import ExpressionWalker

MAX_RECURSIVE_ROUNDS = 16
_LOCKS = {
    LockClauseStrength.LCS_FORUPDATE: "SELECT FOR UPDATE",
    LockClauseStrength.LCS_FORNOKEYUPDATE: "SELECT FOR NO KEY UPDATE",
    LockClauseStrength.LCS_FORSHARE: "SELECT FOR SHARE",
    LockClauseStrength.LCS_FORKEYSHARE: "SELECT FOR KEY SHARE",
}


def _names(nodes: Sequence[Any] | None) -> list[str]:
    return [str(n.sval) for n in nodes or () if isinstance(n, ast.String)]


def _alias(alias: Any) -> tuple[str | None, list[str]]:
    if alias is None:
        return None, []
    return alias.aliasname, _names(alias.colnames)


class SelectWalker(ExpressionWalker):
    """SELECT, VALUES, WITH and FROM; DML is added by facts_dml.QueryWalker."""

    def select(self, node: Any, parent: Scope | None) -> list[Output]:
        scope = Scope(parent)
        if node.withClause is not None:
            self.with_clause(node.withClause, scope)
        if node.op is not None and node.op != SetOperation.SETOP_NONE:
            left = self.select(node.larg, scope) if node.larg is not None else []
            right = self.select(node.rarg, scope) if node.rarg is not None else []
            outputs = _combine(left, right)
            self.sort_and_limit(node, Scope(scope, [entry_from_outputs(None, outputs)]), outputs)
            return outputs
        if node.valuesLists:
            columns: list[set[str]] = []
            for row in node.valuesLists:
                for i, value in enumerate(row):
                    if i >= len(columns):
                        columns.append(set())
                    self.expr(value, scope, columns[i])
            outputs = [Output(f"column{i + 1}", frozenset(c)) for i, c in enumerate(columns)]
            self.sort_and_limit(node, scope, outputs)
            return outputs
        self.state.verbs.add("SELECT")
        self.from_clause(node.fromClause, scope)
        if node.whereClause is not None:
            self.filter(node.whereClause, scope)
        outputs = self.targets(node.targetList, scope)
        for item in node.groupClause or ():
            self.output_or_input(item, scope, outputs, prefer_output=False)
        if node.havingClause is not None:
            self.filter(node.havingClause, scope)
        for item in node.distinctClause or ():
            if item is not None:
                self.output_or_input(item, scope, outputs, prefer_output=False)
        for window in node.windowClause or ():
            self.window(window, scope)
        self.sort_and_limit(node, scope, outputs)
        for lock in node.lockingClause or ():
            self.state.verbs.add(_LOCKS.get(lock.strength, "SELECT FOR UPDATE"))
        return outputs

    def sort_and_limit(self, node: Any, scope: Scope, outputs: list[Output]) -> None:
        for sort in node.sortClause or ():
            self.output_or_input(sort.node, scope, outputs, prefer_output=True)
        if node.limitCount is not None:
            self.filter(node.limitCount, scope)
        if node.limitOffset is not None:
            self.filter(node.limitOffset, scope)

    def output_or_input(
        self, item: Any, scope: Scope, outputs: list[Output], *, prefer_output: bool
    ) -> None:
        """ORDER BY / GROUP BY / DISTINCT ON item: an output name or position, or an
        expression over the input (ORDER BY prefers output names, GROUP BY input columns)."""
        if isinstance(item, ast.A_Const) and isinstance(item.val, ast.Integer):
            pos = int(item.val.ival or 0) - 1
            if 0 <= pos < len(outputs):
                self.state.filtered |= outputs[pos].lineage
            return
        fields = item.fields or () if isinstance(item, ast.ColumnRef) else ()
        if len(fields) == 1 and isinstance(fields[0], ast.String):
            name = str(fields[0].sval)
            if name:
                by_name = [o.lineage for o in outputs if o.name == name]
                found = None if prefer_output and by_name else scope.resolve_name(name)
                if found is None and by_name:
                    found = frozenset().union(*by_name)
                if found is not None:
                    self.state.filtered |= found
                    return
        self.filter(item, scope)

    def with_clause(self, node: Any, scope: Scope) -> None:
        for cte in node.ctes or ():
            colnames = _names(cte.aliascolnames)
            if node.recursive:
                self.recursive_cte(cte, colnames, scope)
            else:
                scope.ctes[cte.ctename] = rename(self.query(cte.ctequery, scope), colnames)

    def recursive_cte(self, cte: Any, colnames: list[str], scope: Scope) -> None:
        """A CTE that may refer to itself: walked until its lineage stops growing, since
        each round can move a column's values into another (``SELECT b, c, a FROM r``)."""
        outputs = [Output(n, EMPTY) for n in colnames] or [Output(OPEN, EMPTY)]
        for _ in range(MAX_RECURSIVE_ROUNDS):
            scope.ctes[cte.ctename] = outputs
            found = rename(self.query(cte.ctequery, scope), colnames)
            if found == outputs:
                return
            outputs = found
        everything = frozenset().union(*(o.lineage for o in outputs))
        scope.ctes[cte.ctename] = [Output(o.name, everything, o.exact) for o in outputs]

    def targets(self, target_list: Sequence[Any] | None, scope: Scope) -> list[Output]:
        outputs: list[Output] = []
        for target in target_list or ():
            val = target.val
            fields = val.fields or () if isinstance(val, ast.ColumnRef) else ()
            if fields and isinstance(fields[-1], ast.A_Star):
                outputs.extend(self.star(fields, scope))
                continue
            if isinstance(val, ast.A_Indirection) and isinstance(
                (val.indirection or (None,))[-1], ast.A_Star
            ):
                outputs.extend(self.expanded(val, scope))
                continue
            acc: set[str] = set()
            self.expr(val, scope, acc)
            outputs.append(Output(target.name or colname(val), frozenset(acc)))
        return outputs

    def star(self, fields: Sequence[Any], scope: Scope) -> list[Output]:
        if len(fields) == 1:
            outputs: list[Output] = []
            for entry in scope.entries:
                outputs.extend(entry.outputs())
            return outputs
        named = scope.find_entry(_names(fields[:-1]))
        if named is not None:
            return named.outputs()
        acc: set[str] = set()
        self.column(fields, scope, acc)
        return [Output(OPEN, frozenset(acc))]

    def expanded(self, node: Any, scope: Scope) -> list[Output]:
        """``(x).*`` in a select list: one output per column when x is the whole row of a
        FROM item, else one output standing for fields that cannot be named."""
        acc: set[str] = set()
        self.expr(node.arg, scope, acc)
        self.expr(node.indirection, scope, acc)
        arg = node.arg
        fields = arg.fields or () if isinstance(arg, ast.ColumnRef) else ()
        names = _names(tuple(f for f in fields if not isinstance(f, ast.A_Star)))
        entry = scope.find_entry(names) if len(node.indirection) == 1 and names else None
        if entry is not None and frozenset(acc) == entry.whole():
            return entry.outputs()
        return [Output(OPEN, frozenset(acc))]

    # -- FROM -----------------------------------------------------------------------------

    def from_clause(self, items: Sequence[Any] | None, scope: Scope) -> None:
        visible: list[Entry] = []
        for item in items or ():
            visible = visible + self.from_item(item, scope, visible)
        scope.entries = visible

    def from_item(self, node: Any, scope: Scope, visible: list[Entry]) -> list[Entry]:
        if isinstance(node, ast.RangeVar):
            return [self.range_var(node, scope)]
        if isinstance(node, ast.JoinExpr):
            return self.join(node, scope, visible)
        if isinstance(node, ast.RangeSubselect):
            inner = scope.barrier(visible if node.lateral else [])
            outputs = self.query(node.subquery, inner)
            alias, colnames = _alias(node.alias)
            return [entry_from_outputs(alias, outputs, colnames)]
        if isinstance(node, ast.RangeFunction):
            return [self.range_function(node, scope.barrier(visible))]
        if isinstance(node, ast.RangeTableSample):
            entries = self.from_item(node.relation, scope, visible)
            self.filter(node.args, scope.barrier(visible))
            return entries
        # XMLTABLE, JSON_TABLE and anything newer: columns come from its expressions,
        # which also decide which rows come back (filtered, as a function's arguments).
        acc: set[str] = set()
        self.expr(node, scope.barrier(visible), acc)
        self.state.filtered |= acc
        alias, _ = _alias(getattr(node, "alias", None))
        return [Entry(alias, {}, frozenset(acc))]

    def relation(self, rv: Any) -> tuple[str, Relation | None]:
        schema = rv.schemaname
        if schema is None and rv.relpersistence == "t":
            schema = "pg_temp"
        return self.qualify(rv.relname, schema)

    def kind_of(self, schema: str, name: str) -> str:
        rel = self.catalog.relations.get((schema, name))
        return rel.kind if rel is not None else "unknown"

    def range_var(self, rv: Any, scope: Scope) -> Entry:
        alias, colnames = _alias(rv.alias)
        if rv.schemaname is None:
            cte = scope.find_cte(rv.relname)
            if cte is not None:
                return entry_from_outputs(alias or rv.relname, cte, colnames)
        schema, rel = self.relation(rv)
        self.touch(schema, rv.relname, rel, "read")
        return self.relation_entry(schema, rv.relname, rel, rv.alias)

    def touch(self, schema: str, name: str, rel: Relation | None, access: str) -> None:
        """Record access to a relation, and to the relations behind a view."""
        self.state.table(schema, name, access, rel.kind if rel is not None else "unknown")
        if rel is not None and rel.kind in VIEW_KINDS:
            for base_schema, base_name in rel.base_tables:
                kind = self.kind_of(base_schema, base_name)
                self.state.table(base_schema, base_name, access, kind)

    def relation_entry(
        self, schema: str, name: str, rel: Relation | None, alias_node: Any
    ) -> Entry:
        alias, colnames = _alias(alias_node)
        prefix = column_key(schema, name, "")
        qual = None if alias else (schema, name)
        if rel is not None and rel.columns:
            cols = self.catalog.column_lineage(rel)
            if not colnames:
                return Entry(alias or name, cols, None, qual=qual, relprefix=prefix)
            # FROM t AS a(x, y): the first columns renamed, in place; a new name may
            # repeat a later column's (only ``*`` can tell them apart then)
            entry = entry_from_outputs(alias, [Output(n, lin) for n, lin in cols.items()], colnames)
            entry.relprefix = prefix
            return entry
        star = frozenset((prefix + "*",))
        # with alias column names, a name no longer says which column it is
        exact = not colnames
        return Entry(alias or name, {}, star, exact=exact, qual=qual, relprefix=prefix)

    def join(self, node: Any, scope: Scope, visible: list[Entry]) -> list[Entry]:
        left = self.from_item(node.larg, scope, visible)
        right = self.from_item(node.rarg, scope, visible + left)
        both = left + right
        quals = scope.barrier(both)
        if node.quals is not None:
            self.filter(node.quals, quals)
        using = _names(node.usingClause)
        if node.isNatural:
            names = {n for e in left for n in e.cols}
            using = [n for e in right for n in e.cols if n in names]
        merged: dict[str, frozenset[str]] = {}
        for name in using:
            lineage = frozenset().union(*(e.column(name) or EMPTY for e in both))
            merged[name] = lineage
            self.state.filtered |= lineage
        extra: list[Entry] = []
        if node.join_using_alias is not None:
            extra.append(Entry(node.join_using_alias.aliasname, merged))
        if node.alias is not None:
            alias, colnames = _alias(node.alias)
            outputs = [Output(n, lin) for n, lin in merged.items()]
            for e in both:
                outputs.extend(o for o in e.outputs() if o.name not in merged)
            return [entry_from_outputs(alias, outputs, colnames), *extra]
        return both + extra

    def range_function(self, node: Any, scope: Scope) -> Entry:
        acc: set[str] = set()
        names: list[str] = []
        first_name: str | None = None
        plain = node.coldeflist is None
        for item in node.functions or ():
            func, coldefs = item[0], item[1] if len(item) > 1 else None
            self.expr(func, scope, acc)
            if coldefs:
                names.extend(cd.colname for cd in coldefs)
                plain = False
            elif isinstance(func, ast.FuncCall) and func.funcname:
                fname = str(func.funcname[-1].sval)
                names.append(fname)
                first_name = first_name or fname
        if node.coldeflist:
            names = [cd.colname for cd in node.coldeflist]
        if node.ordinality:
            names.append("ordinality")
        # The arguments decide how many rows come back and what they hold, selected or
        # not (generate_series(1, c.ssn::int) fails on the value; regexp_matches(c.ssn,
        # '^1') answers for it): they are filtered, as a WHERE would be.
        self.state.filtered |= acc
        alias, colnames = _alias(node.alias)
        lineage = frozenset(acc)
        cols = dict.fromkeys(names, lineage)
        for i, new in enumerate(colnames):
            cols[new] = lineage
            if i < len(names):
                cols.pop(names[i], None)
        if alias and plain and not colnames:
            cols[alias] = lineage  # a scalar function's column takes the alias name
        return Entry(alias or first_name, cols, lineage if plain else None)


def _combine(left: list[Output], right: list[Output]) -> list[Output]:
    """Outputs of a set operation: names from the left, lineage from both sides."""
    if len(left) == len(right) and all(o.name != OPEN for o in (*left, *right)):
        return [Output(a.name, a.lineage | b.lineage) for a, b in zip(left, right, strict=True)]
    everything = frozenset().union(*(o.lineage for o in (*left, *right)))
    named = [Output(o.name, everything) for o in left if o.name != OPEN]
    return [*named, Output(OPEN, everything)]


def colname(node: Any) -> str:
    """The output name PostgreSQL gives an unnamed select-list item (FigureColname)."""
    if isinstance(node, ast.ColumnRef) and node.fields:
        last = node.fields[-1]
        return str(last.sval) if isinstance(last, ast.String) else "?column?"
    if isinstance(node, ast.FuncCall) and node.funcname:
        return str(node.funcname[-1].sval)
    if isinstance(node, ast.TypeCast):
        inner = colname(node.arg)
        if inner != "?column?":
            return inner
        names = node.typeName.names if node.typeName is not None else ()
        return str(names[-1].sval) if names else "?column?"
    if isinstance(node, ast.A_Indirection):
        for item in reversed(node.indirection or ()):
            if isinstance(item, ast.String):
                return str(item.sval)
        return colname(node.arg)
    if isinstance(node, ast.SubLink) and isinstance(node.subselect, ast.SelectStmt):
        kind = int(node.subLinkType or 0)
        if kind == 0:
            return "exists"
        if kind == 6:
            return "array"
        targets = node.subselect.targetList or ()
        if targets:
            return str(targets[0].name or colname(targets[0].val))
    simple = {
        ast.CaseExpr: "case",
        ast.CoalesceExpr: "coalesce",
        ast.A_ArrayExpr: "array",
        ast.RowExpr: "row",
    }
    return simple.get(type(node), "?column?")
