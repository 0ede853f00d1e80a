"""The report's tables: statement verbs and classes, decision outcomes, exception events.

Everything the evidence report classifies is decided here, by lookup, so that a record
type or outcome word added later (masking, approvals) is one row, not a new code path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache


class StatementClass(StrEnum):
    """pgAudit-like classes (docs/report.md, "Statements")."""

    READ = "read"
    WRITE = "write"
    DDL = "ddl"
    ROLE = "role"
    TRANSACTION = "transaction"
    OTHER = "other"


# The first keyword of a statement's recorded (literal-free) text: its class.
VERB_CLASS: dict[str, StatementClass] = {
    **dict.fromkeys(
        ("SELECT", "WITH", "TABLE", "VALUES", "SHOW", "EXPLAIN", "FETCH", "DECLARE"),
        StatementClass.READ,
    ),
    **dict.fromkeys(("INSERT", "UPDATE", "DELETE", "MERGE", "COPY"), StatementClass.WRITE),
    **dict.fromkeys(
        ("CREATE", "ALTER", "DROP", "TRUNCATE", "COMMENT", "REINDEX", "CLUSTER", "SECURITY"),
        StatementClass.DDL,
    ),
    **dict.fromkeys(("GRANT", "REVOKE", "REASSIGN"), StatementClass.ROLE),
    **dict.fromkeys(
        ("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"),
        StatementClass.TRANSACTION,
    ),
}
# Statements whose second keyword makes them a role change (CREATE ROLE, SET ROLE, …).
ROLE_OBJECTS = frozenset({"ROLE", "USER", "GROUP"})
ROLE_SETTINGS = re.compile(r"(?:SET|RESET)\s+(?:LOCAL\s+|SESSION\s+)?(?:ROLE|SESSION\s+AUTH)", re.I)
PRIVILEGED = frozenset({StatementClass.DDL, StatementClass.ROLE, StatementClass.WRITE})

_WORDS = re.compile(r"[A-Za-z_]+")
_TARGET = re.compile(
    r"\b(?:INSERT\s+INTO|UPDATE(?:\s+ONLY)?|DELETE\s+FROM(?:\s+ONLY)?|MERGE\s+INTO|COPY|"
    r"TRUNCATE(?:\s+TABLE)?(?:\s+ONLY)?|(?:CREATE|ALTER|DROP)\s+(?:[A-Z]+\s+){0,3}?"
    r"(?:TABLE|VIEW|INDEX|SCHEMA|FUNCTION|ROLE|USER|SEQUENCE|TYPE|POLICY)"
    r"(?:\s+IF\s+(?:NOT\s+)?EXISTS)?)\s+"
    r'((?:"[^"]+"|[A-Za-z_][A-Za-z0-9_$]*)(?:\.(?:"[^"]+"|[A-Za-z_][A-Za-z0-9_$]*))?)',
    re.I,
)


@dataclass(frozen=True)
class Verb:
    word: str  # SELECT, INSERT, …, or "" when the text has none
    cls: StatementClass
    target: str | None  # the table (or object) a write or DDL names


@lru_cache(maxsize=8192)  # texts repeat: the same statements, literals replaced
def classify(text: str) -> Verb:
    """The verb, class and target of a statement from its recorded, literal-free text."""
    words = _WORDS.findall(text[:256])
    if not words:
        return Verb("", StatementClass.OTHER, None)
    first = words[0].upper()
    cls = VERB_CLASS.get(first, StatementClass.OTHER)
    second = words[1].upper() if len(words) > 1 else ""
    if (first in {"CREATE", "ALTER", "DROP"} and second in ROLE_OBJECTS) or (
        first in {"SET", "RESET"} and ROLE_SETTINGS.match(text.lstrip(" (\t\n"))
    ):
        cls = StatementClass.ROLE
    elif first == "WITH":
        body = {w.upper() for w in words[1:]}
        writes = body & {"INSERT", "UPDATE", "DELETE", "MERGE"}
        cls = StatementClass.WRITE if writes else StatementClass.READ
    elif first == "COPY" and "FROM" not in {w.upper() for w in words[1:]}:
        cls = StatementClass.READ  # COPY … TO: data leaves
    found = _TARGET.search(text[:512]) if cls in PRIVILEGED else None
    return Verb(first, cls, found.group(1) if found else None)


class Event(StrEnum):
    """What an exceptions register row records."""

    DENIAL = "denial"
    GATE_REFUSAL = "gate refusal"  # no policy decision: the gate refused (its SQLSTATE)
    APPROVAL_REQUIRED = "approval required"
    APPROVAL = "approval"
    APPROVED = "approved statement"
    BREAK_GLASS = "break-glass"
    EXPIRY = "expiry"
    WITHDRAWAL = "withdrawal"


@dataclass(frozen=True)
class Outcome:
    """How the report counts a decision's ``outcome`` word."""

    allowed: bool
    masked: bool = False
    event: Event | None = None  # its exceptions-register row, if any


OUTCOMES: dict[str, Outcome] = {
    "allow": Outcome(allowed=True),
    "allow_masked": Outcome(allowed=True, masked=True),
    "deny": Outcome(allowed=False, event=Event.DENIAL),
    "needs_approval": Outcome(allowed=False, event=Event.APPROVAL_REQUIRED),
    "approved": Outcome(allowed=True, event=Event.APPROVED),
    "break_glass": Outcome(allowed=True, event=Event.BREAK_GLASS),
}
# A word no row names: refused, as `sessions list` counts it (recording-format.md §2).
UNKNOWN_OUTCOME = Outcome(allowed=False, event=Event.DENIAL)


def outcome(word: str | None, sqlstate: object) -> Outcome:
    if sqlstate is not None and (word is None or word not in OUTCOMES or word == "deny"):
        return Outcome(allowed=False, event=Event.GATE_REFUSAL if word is None else Event.DENIAL)
    return OUTCOMES.get(word or "", UNKNOWN_OUTCOME)


# Session-scoped record types that are exceptions-register rows by themselves (the
# approvals workflow's records; the set is open, so families match by prefix too).
RECORD_EVENTS: dict[str, Event | None] = {
    # The request itself is no row: the statement's decision (needs_approval) is.
    "approval.request": None,
    "approval.denied": Event.DENIAL,
    "approval": Event.APPROVAL,
    "approval.granted": Event.APPROVAL,
    "approval.expired": Event.EXPIRY,
    "approval.expire": Event.EXPIRY,
    "approval.withdrawn": Event.WITHDRAWAL,
    "approval.withdraw": Event.WITHDRAWAL,
    "approval.revoked": Event.WITHDRAWAL,
    "break_glass": Event.BREAK_GLASS,
    "break-glass": Event.BREAK_GLASS,
}


def record_event(record_type: str) -> Event | None:
    if record_type in RECORD_EVENTS:
        return RECORD_EVENTS[record_type]
    return Event.APPROVAL if record_type.startswith("approval") else None
