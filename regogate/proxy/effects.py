"""Each statement's effect on the session (settings, transaction, prepared statements,
code the gate cannot see), from its facts; pure. The gate hands them to the response
tracker, which applies them when PostgreSQL reports the statement complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pglast import ast
from pglast.enums import TransactionStmtKind as K
from pglast.parser import ParseError, parse_sql, scan

from regogate.policy.catalog import CatalogSnapshot
from regogate.policy.facts import Analysis, StatementFacts
from regogate.proxy.session_state import NO_EFFECT, StatementEffect, TxnOp
from regogate.wire.text import replace_raw_bytes

# Verbs (command tags) whose effect needs the statement's own syntax tree.
_NEEDS_TREE = frozenset(
    {
        "BEGIN",
        "START TRANSACTION",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "PREPARE",
        "PREPARE TRANSACTION",
        "DEALLOCATE",
        "DEALLOCATE ALL",
        "DISCARD ALL",
    }
)
_TXN: dict[int, TxnOp] = {
    K.TRANS_STMT_BEGIN: "begin",
    K.TRANS_STMT_START: "begin",
    K.TRANS_STMT_COMMIT: "commit",
    K.TRANS_STMT_ROLLBACK: "rollback",
    K.TRANS_STMT_SAVEPOINT: "savepoint",
    K.TRANS_STMT_RELEASE: "release",
    K.TRANS_STMT_ROLLBACK_TO: "rollback_to",
    K.TRANS_STMT_PREPARE: "prepare_transaction",
}
_USER_CODE_VERBS = frozenset({"DO", "CALL"})


def runs_user_code(facts: StatementFacts, catalog: CatalogSnapshot) -> bool:
    """Whether the statement calls code the gate cannot see: a DO block, a procedure, or
    a function that is not part of PostgreSQL (unknown functions count)."""
    if _USER_CODE_VERBS.intersection(facts.verbs) or facts.verb in _USER_CODE_VERBS:
        return True
    details = catalog.function_details
    for name in facts.functions:
        info = details.get(name)
        if info is not None:
            if not info.builtin:
                return True
        elif details or not name.startswith("pg_catalog."):
            return True
    return False


def statement_effects(
    sql: str, analysis: Analysis, catalog: CatalogSnapshot
) -> tuple[StatementEffect, ...]:
    """One effect per statement of ``analysis`` (the analysis of ``sql``)."""
    statements = analysis.statements
    trees: Sequence[Any] | None = None
    if any(f.verb in _NEEDS_TREE for f in statements):
        try:
            raws = parse_sql(sql)
            trees = raws if len(raws) == len(statements) else None
        except Exception:
            trees = None
    out: list[StatementEffect] = []
    for index, facts in enumerate(statements):
        raw = trees[index] if trees is not None else None
        out.append(_effect(facts, raw, sql, catalog))
    return tuple(out)


def _effect(facts: StatementFacts, raw: Any, sql: str, catalog: CatalogSnapshot) -> StatementEffect:
    changes = tuple(getattr(facts, "setting_changes", ()))
    user_code = runs_user_code(facts, catalog)
    node = raw.stmt if raw is not None else None
    if node is None:
        if not changes and not user_code and facts.verb not in _NEEDS_TREE:
            return NO_EFFECT
        if facts.verb in _NEEDS_TREE:
            # Its syntax tree could not be had: the gate cannot follow this statement.
            return StatementEffect(changes=changes, user_code=True, deallocate_all=True)
        return StatementEffect(changes=changes, user_code=user_code)
    txn: TxnOp | None = None
    savepoint: str | None = None
    prepare: tuple[str, str] | None = None
    deallocate: str | None = None
    deallocate_all = False
    if isinstance(node, ast.TransactionStmt):
        txn = _TXN.get(int(node.kind)) if node.kind is not None else None
        savepoint = node.savepoint_name
    elif isinstance(node, ast.PrepareStmt):
        start = raw.stmt_location or 0
        text = sql[start : start + raw.stmt_len] if raw.stmt_len else sql[start:]
        prepare = (str(node.name), text)
    elif isinstance(node, ast.DeallocateStmt):
        if node.name and not node.isall:
            deallocate = str(node.name)
        else:
            deallocate_all = True
    elif isinstance(node, ast.DiscardStmt) and int(node.target or 0) == 0:
        deallocate_all = True
    return StatementEffect(
        changes=changes,
        txn=txn,
        savepoint=savepoint,
        prepare=prepare,
        deallocate=deallocate,
        deallocate_all=deallocate_all,
        user_code=user_code,
    )


def lexically_invariant(sql: str) -> bool:
    """Whether PostgreSQL reads ``sql`` the same under every standard_conforming_strings,
    backslash_quote and (ASCII-compatible) client_encoding: no backslash, only ASCII."""
    return sql.isascii() and "\\" not in sql


def bound_text(sql: str, params: Sequence[bytes | None], formats: Sequence[int]) -> str | None:
    """``sql`` with each ``$n`` replaced by the text-format value bound to it, as a
    string constant (standard_conforming_strings is on: only quotes are doubled), or
    NULL. None when a value it refers to is missing, binary or not UTF-8: then what the
    statement would do with it cannot be read."""
    try:
        tokens = scan(replace_raw_bytes(sql))
    except ParseError:
        return None
    out: list[str] = []
    pos = 0
    for tok in tokens:
        if tok.name != "PARAM":
            continue
        digits = sql[tok.start + 1 : tok.end + 1]
        index = int(digits) - 1 if digits.isdigit() else -1
        if not 0 <= index < len(params):
            return None
        fmt = formats[0] if len(formats) == 1 else (formats[index] if formats else 0)
        value = params[index]
        if value is None:
            literal = "NULL"
        else:
            if fmt != 0:
                return None
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                return None
            if "\x00" in text:
                return None
            literal = "'" + text.replace("'", "''") + "'"
        out.append(sql[pos : tok.start])
        out.append(literal)
        pos = tok.end + 1
    out.append(sql[pos:])
    return "".join(out)
