"""Statement facts: SQL text -> the ``statement`` object of the policy input (verb, tables,
columns read/written/filtered, functions, settings, flags). Pure; never raises.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pglast import ast
from pglast.parser import fingerprint, parse_sql, split

from regogate.policy.catalog import CatalogSnapshot, column_key
from regogate.policy.facts_dml import QueryWalker
from regogate.policy.facts_scope import OPEN, StatementState
from regogate.policy.facts_stmt import StatementAnalyser
from regogate.policy.facts_tags import command_tag

# Decisions worth knowing (for policy authors; the policy-input docs should carry them):
#
# - ``verb`` is PostgreSQL's command tag (``TRUNCATE TABLE``, ``SELECT INTO``, ``CREATE TABLE
#   AS``, ``DECLARE CURSOR``...). ``verbs`` adds every operation inside: DML in CTEs, the
#   statement under EXPLAIN/PREPARE/EXECUTE/DECLARE/COPY, ``SELECT`` for any query with a
#   select list, MERGE's INSERT/UPDATE/DELETE actions, ``UPDATE`` for ON CONFLICT DO UPDATE,
#   ``CREATE TABLE AS`` for SELECT INTO, ``SELECT FOR UPDATE`` (etc.) for locking reads.
# - EXPLAIN without ANALYZE executes nothing, but its inner statement's facts are reported
#   as if it ran (verbs, tables, columns); only ``ddl`` follows PostgreSQL and is set for
#   EXPLAIN ANALYZE of DDL alone. Policies see EXPLAIN DELETE as a DELETE.
# - Columns are ``schema.table.column``. ``read``: values that reach the client or another
#   table (select lists, RETURNING, INSERT/UPDATE values, COPY TO); ``filtered``: WHERE, JOIN
#   ON/USING, GROUP BY, HAVING, ORDER BY, DISTINCT ON, window clauses, LIMIT. Subquery and
#   CTE columns count where they are used. A view column is reported as itself and as the
#   base columns behind it; ``schema.table.*`` stands for columns that cannot be named
#   (``*`` over an unknown relation, or a view whose lineage is unknown).
# - A table has access ``read`` when it is in a FROM list or any of its columns is read or
#   filtered (as PostgreSQL's SELECT privilege), ``write`` when rows are inserted, updated,
#   deleted, copied in or truncated, ``ddl`` when it is created, altered, dropped, granted.
#   CTE names are never tables; a CTE shadows a table of the same (unqualified) name.
#   In DDL every relation named gets ``ddl`` (a foreign key's or LIKE's table too; GRANT ON
#   ALL TABLES IN SCHEMA s and DROP SCHEMA s give ``s.*`` of kind ``schema``); queries inside
#   DDL (view bodies, CREATE TABLE AS, rule actions) are reported as if they ran. VACUUM,
#   ANALYZE, CLUSTER, REINDEX, REFRESH and LOCK (beyond ACCESS SHARE) count as ``write``.
# - Functions are ``schema.name``, resolved by name along the search_path (see
#   CatalogSnapshot.resolve_function); CALL and trigger functions count too.
# - ``has_where``: when the statement updates or deletes (anywhere, CTEs and MERGE actions
#   included), whether every such operation has a WHERE (MERGE: a non-constant join
#   condition or a WHEN condition); otherwise whether the top query has a WHERE.
# - ``opaque``: something runs that cannot be seen (DO, COPY PROGRAM or a server file,
#   dynamic-SQL functions, set_config with a computed name, EXECUTE of an unknown statement,
#   unparsable text, unknown statement kinds); the reasons are in ``opaque_reasons``.
# - Session effects are returned, not kept: the search_path a SET (or set_config, RESET,
#   DISCARD ALL) leaves behind (it also applies to later statements of the same query), and
#   SQL-level PREPARE/DEALLOCATE. Callers caching per text must key on the search_path and,
#   for EXECUTE, on the prepared statements too.
# - An empty query (only blanks, comments or semicolons) has no statements at all.
# - ``settings`` (names of run-time parameters set) is a key of the statement object beyond
#   the v1 draft in the design brief.

_NEAR = re.compile(r' at or near ".*"(?=, at index)| at or near ".*"$', re.DOTALL)


@dataclass(frozen=True)
class TableAccess:
    schema: str
    name: str
    access: tuple[str, ...]  # sorted subset of read, write, ddl
    kind: str  # table, view, matview, partitioned, foreign, sequence, schema, unknown


@dataclass(frozen=True)
class StatementFacts:
    """The facts of one statement; every collection is a sorted tuple.

    ``outputs`` (not part of the policy input) names each result column with the columns
    its values come from, for the masking layer; for DECLARE it is the cursor's rows.
    """

    verb: str
    verbs: tuple[str, ...] = ()
    tables: tuple[TableAccess, ...] = ()
    read: tuple[str, ...] = ()
    written: tuple[str, ...] = ()
    filtered: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()
    has_where: bool = False
    ddl: bool = False
    opaque: bool = False
    multi_statement: bool = False
    fingerprint: str = ""
    outputs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    opaque_reasons: tuple[str, ...] = ()
    parse_error: str | None = None


@dataclass(frozen=True)
class Analysis:
    """All statements of one query text, and what they leave in the session.

    ``search_path``: the raw search_path after the query when it changed one, else None.
    ``prepared``: SQL-level PREPAREs (name -> statement text); ``deallocated`` names and
    ``deallocate_all`` (DEALLOCATE ALL, DISCARD ALL) apply before ``prepared``.
    """

    statements: tuple[StatementFacts, ...]
    search_path: tuple[str, ...] | None = None
    prepared: Mapping[str, str] = field(default_factory=dict)
    deallocated: tuple[str, ...] = ()
    deallocate_all: bool = False


def analyze(
    sql: str, catalog: CatalogSnapshot, prepared: Mapping[str, str] | None = None
) -> Analysis:
    """The facts of every statement in ``sql``. ``prepared``: the session's SQL-level
    prepared statements (name -> text of the PREPARE or of the inner statement)."""
    try:
        raws = parse_sql(sql)
    except Exception as exc:
        return Analysis((_unparsable(sql, exc),))
    known = dict(prepared or {})
    defs: dict[str, str] = {}
    deallocated: list[str] = []
    dealloc_all = False
    path = catalog.search_path
    changed: tuple[str, ...] | None = None
    multi = len(raws) > 1
    out: list[StatementFacts] = []
    for raw in raws:
        start = raw.stmt_location or 0
        text = sql[start : start + raw.stmt_len] if raw.stmt_len else sql[start:]
        analyser = StatementAnalyser(catalog, path, _Lookup(defs, known), text)
        out.append(_run(analyser, raw.stmt, text, multi))
        if analyser.new_search_path is not None:
            path = changed = analyser.new_search_path
        if analyser.deallocate_all:
            dealloc_all, known, defs, deallocated = True, {}, {}, []
        for name in analyser.deallocated:
            known.pop(name, None)
            defs.pop(name, None)
            deallocated.append(name)
        defs.update(analyser.prepared_defs)
    return Analysis(tuple(out), changed, defs, tuple(deallocated), dealloc_all)


class _Lookup:
    """Prepared statement text by name: this query's PREPAREs, then the session's."""

    __slots__ = ("defs", "known")

    def __init__(self, defs: dict[str, str], known: dict[str, str]) -> None:
        self.defs, self.known = defs, known

    def __call__(self, name: str) -> str | None:
        return self.defs.get(name, self.known.get(name))


def _run(analyser: StatementAnalyser, node: Any, text: str, multi: bool) -> StatementFacts:
    try:
        ddl = analyser.statement(node)
    except Exception as exc:  # a walker bug must never let a statement through unseen
        tag = _safe_tag(node)
        return StatementFacts(
            verb=tag,
            verbs=(tag,),
            opaque=True,
            multi_statement=multi,
            fingerprint=_fingerprint(text),
            opaque_reasons=(f"internal error while analysing ({type(exc).__name__})",),
        )
    return _facts(analyser.state, command_tag(node), ddl, analyser.top_where, text, multi)


def _safe_tag(node: Any) -> str:
    try:
        return command_tag(node)
    except Exception:
        return "UNKNOWN"


def _fingerprint(text: str) -> str:
    try:
        return fingerprint(text)
    except Exception:
        return ""


def _facts(
    state: StatementState, verb: str, ddl: bool, top_where: bool, text: str, multi: bool
) -> StatementFacts:
    seen = state.read | state.filtered
    tables: list[TableAccess] = []
    for (schema, name), (access, kind) in sorted(state.tables.items()):
        prefix = column_key(schema, name, "")
        if "read" not in access and any(c.startswith(prefix) for c in seen):
            access.add("read")
        tables.append(TableAccess(schema, name, tuple(sorted(access)), kind))
    has_where = state.dml_without_where == 0 if state.dml else top_where
    outputs = tuple((o.name, tuple(sorted(o.lineage))) for o in state.outputs)
    return StatementFacts(
        verb=verb,
        verbs=tuple(sorted(state.verbs)),
        tables=tuple(tables),
        read=tuple(sorted(state.read)),
        written=tuple(sorted(state.written)),
        filtered=tuple(sorted(state.filtered)),
        functions=tuple(sorted(state.functions)),
        settings=tuple(sorted(state.settings)),
        has_where=has_where,
        ddl=ddl,
        opaque=bool(state.opaque),
        multi_statement=multi,
        fingerprint=_fingerprint(text),
        outputs=outputs,
        opaque_reasons=tuple(state.opaque),
    )


def _unparsable(sql: str, exc: Exception) -> StatementFacts:
    """Unparsable text: one opaque statement; the error keeps its position but not the
    text it quotes (which may be a literal)."""
    message = _NEAR.sub("", str(exc)) or type(exc).__name__
    try:
        multi = len(split(sql, with_parser=False)) > 1
    except Exception:
        multi = False
    return StatementFacts(
        verb="UNKNOWN",
        verbs=("UNKNOWN",),
        opaque=True,
        multi_statement=multi,
        opaque_reasons=("the statement could not be parsed",),
        parse_error=message,
    )


def to_input(facts: StatementFacts) -> dict[str, object]:
    """The ``statement`` object of the policy input (JSON-ready, deterministic)."""
    return {
        "verb": facts.verb,
        "verbs": list(facts.verbs),
        "tables": [
            {"schema": t.schema, "name": t.name, "access": list(t.access), "kind": t.kind}
            for t in facts.tables
        ],
        "columns": {
            "read": list(facts.read),
            "written": list(facts.written),
            "filtered": list(facts.filtered),
        },
        "functions": list(facts.functions),
        "settings": list(facts.settings),
        "flags": {
            "has_where": facts.has_where,
            "ddl": facts.ddl,
            "opaque": facts.opaque,
            "multi_statement": facts.multi_statement,
        },
        "fingerprint": facts.fingerprint,
    }


def synthetic_statement(
    verb: str, *, functions: Sequence[str] = (), opaque: bool = False
) -> dict[str, object]:
    """The ``statement`` object for what is not SQL text: the FunctionCall protocol
    message (``FUNCTION CALL``) and the session-start decision (``CONNECT``)."""
    return {
        "verb": verb,
        "verbs": [verb],
        "tables": [],
        "columns": {"read": [], "written": [], "filtered": []},
        "functions": list(functions),
        "settings": [],
        "flags": {"has_where": False, "ddl": False, "opaque": opaque, "multi_statement": False},
        "fingerprint": "",
    }


def view_outputs(definition: str, catalog: CatalogSnapshot) -> list[frozenset[str]] | None:
    """Lineage of each output column of a view definition, or None when it cannot be
    derived exactly (unparsable, opaque, or ``*`` over an unknown relation)."""
    try:
        raws = parse_sql(definition)
        if len(raws) != 1 or not isinstance(raws[0].stmt, ast.SelectStmt):
            return None
        state = StatementState()
        outputs = QueryWalker(catalog, state, catalog.search_path).query(raws[0].stmt, None)
    except Exception:
        return None
    if state.opaque or any(o.name == OPEN for o in outputs):
        return None
    return [o.lineage for o in outputs]
