"""Statement facts: SQL text -> the ``statement`` object of the policy input (verb, tables,
columns read/written/filtered, functions, settings, flags). Pure; never raises.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pglast import ast
from pglast.enums import TransactionStmtKind
from pglast.parser import fingerprint, parse_sql, split

from regogate.policy.catalog import SNAPSHOT_UNCHANGED, CatalogSnapshot, column_key
from regogate.policy.facts_dml import QueryWalker
from regogate.policy.facts_inherit import add_ancestors
from regogate.policy.facts_input import (
    UNKNOWN_FUNCTION,
    function_info,
    synthetic_statement,
    to_input,
)
from regogate.policy.facts_pglast import install as _install_fast_setattr
from regogate.policy.facts_scope import OPEN, StatementState
from regogate.policy.facts_settings import SearchPath
from regogate.policy.facts_stmt import StatementAnalyser
from regogate.policy.facts_tags import command_tag
from regogate.policy.setting_change import SettingChange

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
#   SQL-level PREPARE/DEALLOCATE. Callers caching per text must key on the search_path (and
#   whether it is known) and, for EXECUTE, on the prepared statements too.
# - ``setting_changes`` (not part of the policy input) lists every run-time parameter change
#   in the order PostgreSQL makes them, where the statement runs them now: not under PREPARE
#   or EXPLAIN without ANALYZE, not in view, rule, trigger, policy or function bodies; a
#   cursor's query counts (uncertain: it runs at FETCH). A search_path change that is
#   uncertain or unknown, a computed set_config name, a role change while the path holds
#   ``$user``, and code the gate cannot see (DO, LOAD, extension scripts, functions that are
#   not built in) leave the path unknown for the later statements of the text; names they
#   resolve set ``search_path_uncertain`` (flags.search_path_uncertain).
# - ``x.name`` where ``name`` is not a column of FROM item x is the function (or cast)
#   ``name(x)`` over the whole row (PostgreSQL's ParseFuncOrColumn): it reads every column
#   of x and the function is listed. Whole-row values (``x``, ``x.*``, ``(x).*``) carry every
#   column of x wherever they are used.
# - A relation with ancestors (inheritance parents, partitioned tables) is reported with
#   each of them too, and each of its columns under every ancestor that has it.
# - ``function_info`` gives what the catalog knows of each function; an unknown function
#   gets the most dangerous reading (volatile, security definer, unknown language and kind).
# - An empty query (only blanks, comments or semicolons) has no statements at all.
# - ``settings`` (names of run-time parameters set) is a key of the statement object beyond
#   the v1 draft in the design brief.
# - ``sleep_seconds`` (only when pg_sleep, pg_sleep_for or pg_sleep_until is called) is
#   the one number derived from constants: the longest sleep, or null when unknown
#   (facts_sleep.py), so that a policy can bound how long a statement may sleep.

__all__ = [
    "UNKNOWN_FUNCTION",
    "Analysis",
    "StatementFacts",
    "TableAccess",
    "analyze",
    "function_info",
    "synthetic_statement",
    "to_input",
    "view_outputs",
]

_install_fast_setattr()

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
    setting_changes: tuple[SettingChange, ...] = ()
    search_path_uncertain: bool = False
    # Whether it calls pg_sleep, pg_sleep_for or pg_sleep_until, and then the longest
    # sleep in seconds: None when some call's duration is not a readable constant.
    sleeps: bool = False
    sleep_seconds: float | None = None
    # DECLARE, FETCH, MOVE, CLOSE: the cursor (portal) named; "" for CLOSE ALL. The
    # masking layer follows a cursor's masks from its DECLARE to each FETCH.
    cursor: str | None = None
    # A FETCH or MOVE of a cursor the gate did not see opened (set by the gate, never by
    # the analysis; flags.unknown_cursor, with ``opaque``).
    unknown_cursor: bool = False
    # COPY ... TO STDOUT: its options as written (name, value; "" for one without a
    # value), for the masking layer's COPY data rewriter; None for any other statement.
    copy_options: tuple[tuple[str, str], ...] | None = None
    # Columns whose values are stored into written columns (not part of the policy
    # input): the masking layer lets RETURNING of masked columns through only when none
    # of them is stored.
    stored: tuple[str, ...] = ()
    # The filtered columns compared only with = or IN to constants or parameters, as a
    # plain column of a table (columns.filtered_equality, present when not empty).
    filtered_equality: tuple[str, ...] = ()


@dataclass(frozen=True)
class Analysis:
    """All statements of one query text, and what they leave in the session.

    ``search_path``: the raw search_path after the query when a statement set it to a
    known value, else None. ``search_path_known``: False when the search_path after the
    query cannot be known (it was unknown and nothing set it, or a change of it could not
    be determined). ``prepared``: SQL-level PREPAREs (name -> statement text);
    ``deallocated`` names and ``deallocate_all`` (DEALLOCATE ALL, DISCARD ALL) apply before
    ``prepared``.
    """

    statements: tuple[StatementFacts, ...]
    search_path: tuple[str, ...] | None = None
    prepared: Mapping[str, str] = field(default_factory=dict)
    deallocated: tuple[str, ...] = ()
    deallocate_all: bool = False
    search_path_known: bool = True


def analyze(
    sql: str,
    catalog: CatalogSnapshot,
    prepared: Mapping[str, str] | None = None,
    *,
    search_path_known: bool = True,
) -> Analysis:
    """The facts of every statement in ``sql``. ``prepared``: the session's SQL-level
    prepared statements (name -> text of the PREPARE or of the inner statement).
    ``search_path_known``: False when the session's search_path is not known; names then
    still resolve along ``catalog.search_path`` but are flagged as uncertain."""
    try:
        raws = parse_sql(sql)
    except Exception as exc:
        return Analysis((_unparsable(sql, exc),), search_path_known=search_path_known)
    known = dict(prepared or {})
    defs: dict[str, str] = {}
    deallocated: list[str] = []
    dealloc_all = False
    session = SearchPath(
        catalog.search_path, catalog.reset_search_path, search_path_known, catalog.current_user
    )
    current = catalog
    # Relations DDL earlier in this text changes: later statements must not be decided on
    # their definitions from before it (catalog.without: analysed as unknown).
    changed: set[tuple[str, str]] = set()
    cursors: dict[str, tuple[SettingChange, ...]] = {}  # declared in this text
    multi = len(raws) > 1
    out: list[StatementFacts] = []
    for raw in raws:
        start = raw.stmt_location or 0
        text = sql[start : start + raw.stmt_len] if raw.stmt_len else sql[start:]
        if current.current_user != session.user:
            current = replace(catalog.without(changed), current_user=session.user)
        analyser = StatementAnalyser(
            current, session.path, _Lookup(defs, known), text, path_known=session.names_known
        )
        facts = _cursor_changes(_run(analyser, raw.stmt, text, multi), raw.stmt, cursors)
        out.append(facts)
        if facts.ddl and multi and facts.verb not in SNAPSHOT_UNCHANGED:
            made = {(t.schema, t.name) for t in facts.tables if "ddl" in t.access}
            if made - changed:
                changed |= made
                current = current.without(changed)
        session.apply(facts.setting_changes)
        if analyser.state.user_code or _user_functions(facts.functions, catalog):
            session.unknown()
        if _ends_transaction(raw.stmt):
            session.unknown()
        if analyser.deallocate_all:
            dealloc_all, known, defs, deallocated = True, {}, {}, []
        for name in analyser.deallocated:
            known.pop(name, None)
            defs.pop(name, None)
            deallocated.append(name)
        defs.update(analyser.prepared_defs)
    path = session.path if session.changed and session.known else None
    return Analysis(tuple(out), path, defs, tuple(deallocated), dealloc_all, session.known)


def _cursor_changes(
    facts: StatementFacts, node: Any, cursors: dict[str, tuple[SettingChange, ...]]
) -> StatementFacts:
    """A cursor's query runs at FETCH/MOVE (again, for each): the changes of the cursors
    declared earlier in the text are the FETCH's too."""
    if isinstance(node, ast.DeclareCursorStmt) and node.portalname:
        cursors[node.portalname] = facts.setting_changes
    elif isinstance(node, ast.FetchStmt) and cursors.get(str(node.portalname or "")):
        return replace(facts, setting_changes=cursors[str(node.portalname)])
    elif isinstance(node, ast.ClosePortalStmt) and node.portalname:
        cursors.pop(node.portalname, None)
    elif isinstance(node, ast.ClosePortalStmt) or (
        isinstance(node, ast.DiscardStmt) and int(node.target or 0) == 0
    ):
        cursors.clear()  # CLOSE ALL, DISCARD ALL
    return facts


_ENDS = frozenset(
    {
        TransactionStmtKind.TRANS_STMT_COMMIT,
        TransactionStmtKind.TRANS_STMT_ROLLBACK,
        TransactionStmtKind.TRANS_STMT_ROLLBACK_TO,
        TransactionStmtKind.TRANS_STMT_PREPARE,
    }
)


def _ends_transaction(node: Any) -> bool:
    """COMMIT, ROLLBACK [TO SAVEPOINT], PREPARE TRANSACTION: what the (sub)transaction set
    reverts in part (SET LOCAL; SET too on rollback), and it may have begun before this
    text: the search_path after it is not known here (the session model knows)."""
    return isinstance(node, ast.TransactionStmt) and node.kind in _ENDS


def _user_functions(functions: Sequence[str], catalog: CatalogSnapshot) -> bool:
    """Whether a function may be user code (which can change any setting): not known as
    built in. Without function details, pg_catalog's are taken as built in."""
    details = catalog.function_details
    for name in functions:
        info = details.get(name)
        if info is not None:
            if not info.builtin:
                return True
        elif details or not name.startswith("pg_catalog."):
            return True
    return False


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
            setting_changes=(SettingChange(None, None, "unknown", certain=False),),
            search_path_uncertain=not analyser.path_known,
        )
    add_ancestors(analyser.state, analyser.catalog)
    facts = _facts(analyser.state, command_tag(node), ddl, analyser.top_where, text, multi)
    cursor = _cursor_name(node)
    if cursor is not None:
        return replace(facts, cursor=cursor)
    copy_to = isinstance(node, ast.CopyStmt) and not node.is_from and not node.is_program
    if copy_to and node.filename is None:  # TO STDOUT
        return replace(facts, copy_options=_copy_options(node))
    return facts


def _copy_options(node: Any) -> tuple[tuple[str, str], ...]:
    """A COPY's options as (name, value): a string's value, a boolean or number as
    PostgreSQL spells it, "" for none, "*" for a column list or ``*`` (FORCE_QUOTE)."""
    out: list[tuple[str, str]] = []
    for opt in node.options or ():
        arg = opt.arg
        if arg is None:
            value = ""
        elif isinstance(arg, ast.String):
            value = str(arg.sval)
        elif isinstance(arg, ast.Boolean):
            value = "true" if arg.boolval else "false"
        elif isinstance(arg, ast.Integer):
            value = str(arg.ival)
        else:
            value = "*"
        out.append((str(opt.defname), value))
    return tuple(out)


_CURSOR_NODES = (ast.DeclareCursorStmt, ast.FetchStmt, ast.ClosePortalStmt)


def _cursor_name(node: Any) -> str | None:
    if isinstance(node, _CURSOR_NODES):
        return str(node.portalname or "")
    return None


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
    filtered = state.filtered | state.equality
    seen = state.read | filtered
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
        filtered=tuple(sorted(filtered)),
        filtered_equality=tuple(sorted(state.equality - state.filtered)),
        stored=tuple(sorted(state.stored)),
        functions=tuple(sorted(state.functions)),
        settings=tuple(sorted(state.settings)),
        has_where=has_where,
        ddl=ddl,
        opaque=bool(state.opaque),
        multi_statement=multi,
        fingerprint=_fingerprint(text),
        outputs=outputs,
        opaque_reasons=tuple(state.opaque),
        setting_changes=tuple(state.setting_changes),
        search_path_uncertain=state.search_path_uncertain,
        sleeps=bool(state.sleeps),
        sleep_seconds=_longest(state.sleeps),
    )


def _longest(sleeps: list[float | None]) -> float | None:
    if not sleeps or any(s is None for s in sleeps):
        return None
    return max(s for s in sleeps if s is not None)


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
