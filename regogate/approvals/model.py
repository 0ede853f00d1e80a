"""An approval request and the votes cast on it: plain data, JSON in and out, no I/O.

A request is one statement held for a person's approval (docs/approvals.md): who asked,
on which session and connection, the statement as shown (literals redacted), the digest
it is bound to, and its life from ``pending`` to one final status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"  # enough approvals; waiting to be consumed by the holder
    DENIED = "denied"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"  # the holding session or gateway went away
    CONSUMED = "consumed"  # approved and used once: the statement ran


FINAL = frozenset({Status.DENIED, Status.EXPIRED, Status.WITHDRAWN, Status.CONSUMED})
# A waiter wakes on any status but pending.
SETTLED = FINAL | {Status.APPROVED}


class Verdict(StrEnum):
    APPROVE = "approve"
    DENY = "deny"


@dataclass(frozen=True)
class Person:
    """Who asked or decided: the identity's subject, issuer, groups and email."""

    sub: str
    issuer: str
    groups: tuple[str, ...] = ()
    email: str | None = None

    def same_person(self, other: Person) -> bool:
        """One person, however they signed in: the same subject, or the same email."""
        if self.sub == other.sub:
            return True
        return bool(self.email and other.email and self.email.lower() == other.email.lower())

    def to_json(self) -> dict[str, object]:
        return {
            "sub": self.sub,
            "issuer": self.issuer,
            "groups": list(self.groups),
            "email": self.email,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, object]) -> Person:
        groups = obj.get("groups") or []
        email = obj.get("email")
        return cls(
            str(obj["sub"]),
            str(obj["issuer"]),
            tuple(str(g) for g in groups) if isinstance(groups, list) else (),
            email if isinstance(email, str) else None,
        )


@dataclass(frozen=True)
class Vote:
    """One approver's verdict on a request."""

    approver: Person
    verdict: Verdict
    comment: str
    at: float

    def to_json(self) -> dict[str, object]:
        return {
            "approver": self.approver.to_json(),
            "verdict": self.verdict.value,
            "comment": self.comment,
            "at": self.at,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, object]) -> Vote:
        approver = obj["approver"]
        assert isinstance(approver, dict)
        at = obj["at"]
        assert isinstance(at, int | float)
        return cls(
            Person.from_json(approver),
            Verdict(str(obj["verdict"])),
            str(obj.get("comment") or ""),
            float(at),
        )


@dataclass(frozen=True)
class ApprovalRequest:
    id: str
    requester: Person
    session_id: str
    connection: str
    display_text: str  # the statement, literals replaced by $n
    bound_digest: str  # binding.bound_digest of what will run; never shown
    reason: str
    approvers: tuple[str, ...]  # group:NAME / user:SUB, from the decision
    min_approvals: int
    created_at: float
    expires_at: float
    instance: str  # the gateway instance holding the statement
    status: Status = Status.PENDING
    decided_at: float | None = None
    votes: tuple[Vote, ...] = ()
    outcome_note: str = ""  # why it was withdrawn / expired, for people
    version: int = 0  # bumped by every stored change (compare-and-set)

    @property
    def approvals(self) -> tuple[Vote, ...]:
        return tuple(v for v in self.votes if v.verdict is Verdict.APPROVE)

    def settled(self) -> bool:
        return self.status in SETTLED

    def with_status(self, status: Status, at: float, note: str = "") -> ApprovalRequest:
        return replace(self, status=status, decided_at=at, outcome_note=note or self.outcome_note)

    def public_json(self) -> dict[str, object]:
        """What the API and the page show: everything but the bound digest and the
        gateway instance (the digest is keyed; it still says nothing worth showing)."""
        body = self.to_json()
        del body["bound_digest"], body["instance"], body["version"]
        return body

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "requester": self.requester.to_json(),
            "session_id": self.session_id,
            "connection": self.connection,
            "statement": self.display_text,
            "bound_digest": self.bound_digest,
            "reason": self.reason,
            "approvers": list(self.approvers),
            "min_approvals": self.min_approvals,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "decided_at": self.decided_at,
            "instance": self.instance,
            "status": self.status.value,
            "votes": [v.to_json() for v in self.votes],
            "outcome_note": self.outcome_note,
            "version": self.version,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, object]) -> ApprovalRequest:
        requester = obj["requester"]
        votes = obj.get("votes") or []
        approvers = obj.get("approvers") or []
        assert isinstance(requester, dict)
        assert isinstance(votes, list)
        assert isinstance(approvers, list)
        decided = obj.get("decided_at")
        return cls(
            id=str(obj["id"]),
            requester=Person.from_json(requester),
            session_id=str(obj["session_id"]),
            connection=str(obj["connection"]),
            display_text=str(obj["statement"]),
            bound_digest=str(obj["bound_digest"]),
            reason=str(obj.get("reason") or ""),
            approvers=tuple(str(a) for a in approvers),
            min_approvals=_int(obj.get("min_approvals", 1)),
            created_at=_float(obj["created_at"]),
            expires_at=_float(obj["expires_at"]),
            instance=str(obj["instance"]),
            status=Status(str(obj["status"])),
            decided_at=None if decided is None else _float(decided),
            votes=tuple(Vote.from_json(v) for v in votes if isinstance(v, dict)),
            outcome_note=str(obj.get("outcome_note") or ""),
            version=_int(obj.get("version", 0)),
        )


def _float(value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    return float(value)


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"not an integer: {value!r}")
    return value


@dataclass(frozen=True)
class RequestDraft:
    """What the proxy knows when a decision asks for approval (service.create_request)."""

    requester: Person
    session_id: str
    connection: str
    sql: str
    bound_digest: str
    reason: str
    approvers: tuple[str, ...]
    min_approvals: int = 1
    timeout: float | None = None  # None: [approvals] timeout
