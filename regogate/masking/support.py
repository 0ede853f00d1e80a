"""Whether a statement that involves masked columns can be masked at all; if not, why it
is denied (docs/masking.md, "What is denied"). Masks apply to the rows a client
receives: a masked value must not go anywhere else (another table, a setting, a
notification, code the gateway cannot see), nor come back in a form the gateway cannot
rewrite."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from regogate.masking.copy import copy_options
from regogate.masking.plan import split_key
from regogate.policy.catalog import FunctionDetails, column_key
from regogate.policy.facts import StatementFacts

# Verbs whose masked values reach the client only as result rows the gateway rewrites.
ROW_VERBS = frozenset(
    {
        "SELECT",
        "SELECT FOR UPDATE",
        "SELECT FOR NO KEY UPDATE",
        "SELECT FOR SHARE",
        "SELECT FOR KEY SHARE",
        "EXECUTE",
        "DECLARE CURSOR",
        "PREPARE",
        "FETCH",
        "MOVE",
    }
)
# Data-modifying verbs whose RETURNING rows are masked (the values they store are not).
DML_VERBS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE"})
# Volatile built-ins that store or send nothing.
HARMLESS_VOLATILE = frozenset(
    {
        "pg_catalog.random",
        "pg_catalog.clock_timestamp",
        "pg_catalog.timeofday",
        "pg_catalog.gen_random_uuid",
        "pg_catalog.random_normal",
        "pg_catalog.setseed",
    }
)


def refusal(
    facts: StatementFacts,
    masked: Iterable[str],
    functions: Mapping[str, FunctionDetails],
) -> str | None:
    """Why ``facts`` cannot run with its masks, or None if it can."""
    keys = sorted(masked)
    cols = ", ".join(keys)
    if facts.opaque:
        why = "; ".join(facts.opaque_reasons) or "part of it cannot be analysed"
        return (
            f"this statement involves the masked columns {cols}, and {why}: regogate "
            f"cannot know where their values go, so it denies it rather than risk "
            f"showing them"
        )
    read = set(facts.read)
    if any(k in read for k in keys):
        verbs = set(facts.verbs)
        if facts.verb == "COPY" and facts.copy_options is not None:
            # COPY ... TO STDOUT: its rows are rewritten like a query's (masking/copy.py)
            options = copy_options(facts.copy_options)
            if isinstance(options, str):
                return (
                    f"this statement reads the masked columns {cols} in a COPY whose rows "
                    f"regogate cannot rewrite: {options}"
                )
            verbs.discard("COPY")
        if verbs & DML_VERBS and facts.outputs and facts.verb in DML_VERBS:
            # RETURNING: its rows are masked like a query's, if no masked value is
            # stored into a column on the way (SET x = ssn, INSERT ... SELECT ssn).
            stored = set(facts.stored)
            if not any(k in stored or _table_star(k) in stored for k in keys):
                verbs -= DML_VERBS
        other = sorted(verbs - ROW_VERBS)
        if other:
            return (
                f"this statement reads the masked columns {cols} in a {', '.join(other)}: "
                f"masks apply only to result rows of queries (SELECT, cursors, "
                f"EXECUTE), and the values would go where they are not masked"
            )
    for name in facts.functions:
        risk = _function_risk(name, functions)
        if risk is not None:
            return (
                f"this statement involves the masked columns {cols} and calls {name}, "
                f"which {risk}; regogate denies it rather than risk a masked value "
                f"leaving unmasked"
            )
    return None


def _function_risk(name: str, functions: Mapping[str, FunctionDetails]) -> str | None:
    info = functions.get(name)
    if info is None:
        if functions or not name.startswith("pg_catalog."):
            return "regogate does not know (not a built-in function it can see)"
        return None
    if not info.builtin:
        return (
            "is not part of PostgreSQL: it may read masked tables or store the values "
            "it is given, which regogate cannot see"
        )
    if info.volatility == "volatile" and name not in HARMLESS_VOLATILE:
        return "is volatile: it may store or send the values it is given"
    return None


def _table_star(key: str) -> str:
    """``schema.table.*`` of a ``schema.table.column`` key: the marker of that table's
    columns that cannot be named."""
    parts = split_key(key)
    if parts is None:
        return key
    return column_key(parts[0], parts[1], "") + "*"
