"""Statements whose facts cannot depend on their constants, so that one analysis serves
every text that differs from it only in constants (``SELECT … WHERE id = 1``, ``= 2``, …).

Pure. ``shape(sql)`` is pg_query's normalized text (each constant replaced by ``$n``,
libpg_query's normalize, in C) with the parse tree's fingerprint: two texts with the
same shape have the same tokens and the same tree but for their constants' values.
``constants_inert(sql)`` says whether the analyser reads no constant of ``sql`` by
value: only plain DML and queries built from the node types below qualify, with no
constant under a function call (``set_config('search_path', …)``, ``nextval('seq')``,
``pg_sleep(60)``, casts to ``regclass`` are all read by value, or could be) nor in
ORDER BY, GROUP BY or DISTINCT ON (an integer there is an output position). Anything
else — parameters (``$1``) included — is analysed per text.
"""

from __future__ import annotations

from typing import Any

import orjson
from pglast import parser

# Node types (pg_query's JSON names) whose facts do not depend on a constant's value.
_NODES = frozenset(
    {
        "SelectStmt",
        "InsertStmt",
        "UpdateStmt",
        "DeleteStmt",
        "ResTarget",
        "ColumnRef",
        "String",
        "A_Star",
        "A_Const",
        "A_Expr",
        "BoolExpr",
        "NullTest",
        "BooleanTest",
        "RangeVar",
        "Alias",
        "JoinExpr",
        "SortBy",
        "List",
        "SubLink",
        "WithClause",
        "CommonTableExpr",
        "RangeSubselect",
        "CaseExpr",
        "CaseWhen",
        "CoalesceExpr",
        "FuncCall",
        "SetToDefault",
    }
)
# Below these, a constant may be read by value.
_GUARDING_NODES = frozenset({"FuncCall", "SortBy"})
_GUARDING_FIELDS = frozenset({"groupClause", "distinctClause"})


def shape(sql: str) -> str | None:
    """The text with every constant replaced by ``$n``, and the parse tree's fingerprint
    (which leaves constants' values out but not their nodes: ``-5`` and ``-'5'``
    normalize alike, one is a constant, the other an operator over one); None if it
    does not parse or has no constant."""
    try:
        normal = str(parser.normalize(sql))
        if normal == sql:
            return None
        return f"{normal}\0{parser.fingerprint(sql)}"
    except Exception:  # pglast raises its own errors and C-level ones alike
        return None


def constants_inert(sql: str) -> bool:
    """Whether no constant of ``sql`` can change its facts (see the module docstring)."""
    try:
        tree = orjson.loads(parser.parse_sql_json(sql))
    except Exception:  # not parsable: analysed (and refused) per text
        return False
    stmts = tree.get("stmts") if isinstance(tree, dict) else None
    if not isinstance(stmts, list) or not stmts:
        return False
    return all(isinstance(s, dict) and _inert(s.get("stmt"), False) for s in stmts)


def _inert(value: Any, guarded: bool) -> bool:
    if isinstance(value, list):
        return all(_inert(v, guarded) for v in value)
    if not isinstance(value, dict):
        return True  # a scalar field: names, flags, enums, locations
    if len(value) == 1:
        ((key, fields),) = value.items()
        if key[:1].isupper() and isinstance(fields, dict):  # a node: {"Type": {fields}}
            if key not in _NODES:
                return False
            if key == "A_Const":
                return not guarded
            inner = guarded or key in _GUARDING_NODES
            return all(_inert(v, inner or k in _GUARDING_FIELDS) for k, v in fields.items())
    return all(_inert(v, guarded) for v in value.values())
