"""Who may decide a request, and what a vote does to it: pure rules, no I/O, no clock.

Separation of duties: nobody decides their own request, whatever their groups; an
approver must be named by the decision (``group:NAME``, ``user:SUB``); each person
counts once towards ``min_approvals``; one deny denies.
"""

from __future__ import annotations

from dataclasses import replace

from regogate.approvals.errors import ApprovalConflict, ApprovalError, ApprovalForbidden
from regogate.approvals.model import ApprovalRequest, Person, Status, Verdict, Vote
from regogate.identity import Identity

MAX_COMMENT = 2000


def person_of(identity: Identity) -> Person:
    return Person(identity.sub, identity.issuer, identity.groups, identity.email)


def may_approve(person: Person, approvers: tuple[str, ...]) -> bool:
    """Whether ``approvers`` (``group:NAME`` / ``user:SUB``) name this person."""
    for entry in approvers:
        kind, _, name = entry.partition(":")
        if (kind == "group" and name in person.groups) or (kind == "user" and name == person.sub):
            return True
    return False


def may_see(person: Person, request: ApprovalRequest) -> bool:
    """Requests are shown to their approvers and to the person who asked."""
    return person.same_person(request.requester) or may_approve(person, request.approvers)


def check_decider(person: Person, request: ApprovalRequest) -> None:
    """Raise unless ``person`` may cast a vote on ``request`` now (status aside)."""
    if person.same_person(request.requester):
        raise ApprovalForbidden(
            f"you cannot decide request {request.id}: it is your own",
            hint="another approver must decide it (separation of duties)",
        )
    if not request.approvers:
        raise ApprovalForbidden(
            f"request {request.id} names no approvers, so nobody may approve it",
            hint="the policy's approval must list approvers (group:NAME or user:SUB)",
        )
    if not may_approve(person, request.approvers):
        raise ApprovalForbidden(
            f"you may not decide request {request.id}: approvers are {', '.join(request.approvers)}"
        )
    if any(v.approver.same_person(person) for v in request.votes):
        raise ApprovalConflict(f"you have already decided request {request.id}")


def check_pending(request: ApprovalRequest) -> None:
    if request.status is not Status.PENDING:
        raise ApprovalConflict(
            f"request {request.id} is already {request.status.value}",
            detail=request.outcome_note or None,
        )


def cast_vote(
    request: ApprovalRequest, person: Person, verdict: Verdict, comment: str, now: float
) -> ApprovalRequest:
    """The request after ``person``'s vote (checked: pending, allowed, not theirs)."""
    check_pending(request)
    check_decider(person, request)
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise ApprovalError(f"the comment is longer than {MAX_COMMENT} characters")
    votes = (*request.votes, Vote(person, verdict, comment, now))
    voted = replace(request, votes=votes)
    if verdict is Verdict.DENY:
        return voted.with_status(Status.DENIED, now)
    if len(distinct_approvers(voted)) >= request.min_approvals:
        return voted.with_status(Status.APPROVED, now)
    return voted


def distinct_approvers(request: ApprovalRequest) -> list[Person]:
    people: list[Person] = []
    for vote in request.approvals:
        if not any(p.same_person(vote.approver) for p in people):
            people.append(vote.approver)
    return people
