"""Holding a statement for approval (docs/approvals.md, "Holding a statement").

The gate asks ``ApprovalHold.hold`` when a decision requires approval: a request is
made, a NoticeResponse names it at once, and the statement waits (the gate's ``admit``
awaits, so nothing after it is forwarded) until it is approved (then consumed, bound to
exactly what runs), denied, expired, cancelled (CancelRequest) or its client goes away.
In async mode the statement fails at once with the request id; the same identity sending
the same statement and parameters once it is approved runs it, once. Every step is a
record in the session's chain (docs/recording-format.md, "Approval records").
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio

from regogate.approvals.binding import BoundStatement, digests_match
from regogate.approvals.errors import (
    ApprovalConflict,
    ApprovalDenied,
    ApprovalError,
    ApprovalExpired,
    ApprovalPending,
)
from regogate.approvals.model import ApprovalRequest, Person, RequestDraft, Status
from regogate.approvals.rules import person_of
from regogate.errors import QueryCanceled, RegogateError
from regogate.policy.decision import Approval
from regogate.proxy.hooks import RecordSink, SessionContext
from regogate.wire.backend import NoticeResponse

if TYPE_CHECKING:
    from regogate.approvals.running import RunningApprovals

log = logging.getLogger("regogate.approvals")

POLL_SECONDS = 0.25  # how often a hold looks whether its client went away
ASYNC_LOOKUP = 500  # approved requests looked through for an async re-run


class ClientEdge(Protocol):
    """The client's side of the session, as a hold needs it."""

    async def send(self, data: bytes) -> None:
        """Write whole messages to the client (a NOTICE while the statement waits)."""
        ...

    def gone(self) -> bool:
        """True once the client closed its connection."""
        ...


@dataclass
class StreamEdge:
    """A ClientEdge over the session's client link (``startup.ClientLink``): ``send``
    writes; ``gone`` looks at the transport without reading what the client sent."""

    send_bytes: Callable[[bytes], Awaitable[None]]
    closed: Callable[[], bool]

    async def send(self, data: bytes) -> None:
        await self.send_bytes(data)

    def gone(self) -> bool:
        return self.closed()


def merge(first: Approval | None, other: Approval) -> Approval:
    """Several statements of one message needing approval: one request for all."""
    if first is None:
        return other
    approvers = tuple(sorted(set(first.approvers) | set(other.approvers)))
    reasons = [r for r in (first.reason, other.reason) if r]
    return Approval(
        True,
        approvers,
        "; ".join(dict.fromkeys(reasons)) or None,
        max(first.min_approvals, other.min_approvals),
    )


class ApprovalHold:
    """Per session: holds its statements that need approval."""

    def __init__(
        self,
        approvals: RunningApprovals,
        ctx: SessionContext,
        record: RecordSink,
        *,
        async_mode: bool = False,
    ):
        self.approvals = approvals
        self.service = approvals.service
        self.ctx = ctx
        self.requester: Person = person_of(ctx.identity)
        self.record = record
        self.async_mode = async_mode
        self.edge: ClientEdge | None = None
        self._scope: anyio.CancelScope | None = None
        self._cancelled = False
        self.held = 0

    def attach(self, edge: ClientEdge) -> None:
        self.edge = edge

    def cancel(self) -> None:
        """A CancelRequest for this session: the statement held now (if any) ends."""
        if self._scope is not None:
            self._cancelled = True
            self._scope.cancel()

    async def hold(self, bound: BoundStatement, approval: Approval) -> RegogateError | None:
        """None once approved and consumed for exactly ``bound`` (the caller forwards it
        at once); else the error the client gets in its place."""
        digest = self.approvals.digest(bound)
        try:
            if self.async_mode:
                ready = await self._approved_before(digest)
                if ready is not None:
                    return await self._consume(ready, digest)
            request = await self.service.create_request(
                RequestDraft(
                    requester=self.requester,
                    session_id=self.ctx.session_id,
                    connection=self.ctx.connection.name,
                    sql=bound.sql,
                    bound_digest=digest,
                    reason=approval.reason or "",
                    approvers=approval.approvers,
                    min_approvals=approval.min_approvals,
                )
            )
        except ApprovalError as exc:
            return exc
        except RegogateError as exc:  # the store cannot be reached: fail closed
            return exc
        mode = "async" if self.async_mode else "hold"
        self._event("approval.request", _request_body(request, mode))
        url = self.approvals.request_url(request.id)
        if self.async_mode:
            return ApprovalPending(
                f"approval request {request.id}: this statement needs approval"
                + (f" ({request.reason})" if request.reason else ""),
                detail=f"approvers: {', '.join(request.approvers) or 'none'}; decide at {url}",
                hint="once it is approved, send the same statement with the same parameters "
                f"again before {_utc(request.expires_at)}; it runs once",
            )
        self.held += 1
        await self._notice(request, url)
        return await self._wait(request, digest)

    async def _notice(self, request: ApprovalRequest, url: str) -> None:
        if self.edge is None:
            return
        notice = NoticeResponse.make(
            "01000",
            f"approval request {request.id}: statement held until it is approved"
            + (f" ({request.reason})" if request.reason else ""),
            severity="NOTICE",
            detail=f"approvers: {', '.join(request.approvers) or 'none'}; "
            f"waits until {_utc(request.expires_at)}",
            hint=f"approve at {url} or: regogate approvals approve {request.id}",
        )
        with contextlib.suppress(RegogateError, OSError, anyio.BrokenResourceError):
            await self.edge.send(notice.encode())

    async def _wait(self, request: ApprovalRequest, digest: str) -> RegogateError | None:
        self._cancelled = False
        gone = False
        done = request
        try:
            while True:
                scope = self._scope = anyio.CancelScope()
                with scope:
                    done = await self.service.wait(request.id, timeout=POLL_SECONDS)
                if self._cancelled:
                    break
                if done.status is not Status.PENDING:
                    break
                if self.edge is not None and self.edge.gone():
                    gone = True
                    break
        except RegogateError as exc:
            await self._withdraw(request.id, "the approvals store failed while holding")
            return exc
        except BaseException:  # the session ends (shutdown): the request goes too
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await self._withdraw(request.id, "the session ended")
            raise
        finally:
            self._scope = None
        if self._cancelled or gone:
            note = "client cancelled" if self._cancelled else "client disconnected"
            await self._withdraw(request.id, note)
            return QueryCanceled(
                f"canceling statement due to user request (approval request {request.id} withdrawn)"
                if self._cancelled
                else f"client went away; approval request {request.id} withdrawn"
            )
        return await self._settled(done, digest)

    async def _settled(self, done: ApprovalRequest, digest: str) -> RegogateError | None:
        comment = "; ".join(f"{v.approver.sub}: {v.comment}" for v in done.votes if v.comment)
        match done.status:
            case Status.APPROVED:
                return await self._consume(done, digest)
            case Status.DENIED:
                self._event("approval.denied", _request_body(done))
                who = ", ".join(v.approver.sub for v in done.votes if v.verdict.value == "deny")
                return ApprovalDenied(
                    f"approval request {done.id} was denied by {who or 'an approver'}"
                    + (f": {comment}" if comment else ""),
                    detail=comment or None,
                )
            case Status.EXPIRED:
                self._event("approval.expired", _request_body(done))
                return ApprovalExpired(
                    f"approval request {done.id} expired: nobody decided it in time",
                    hint="ask an approver first, or raise [approvals] timeout",
                )
            case _:
                self._event("approval.withdrawn", _request_body(done))
                return ApprovalConflict(
                    f"approval request {done.id} is {done.status.value}"
                    + (f" ({done.outcome_note})" if done.outcome_note else "")
                )

    async def _consume(self, request: ApprovalRequest, digest: str) -> RegogateError | None:
        try:
            used = await self.service.consume(request.id, digest)
        except ApprovalError as exc:
            self._event(
                "approval.withdrawn",
                {**_request_body(request), "status": "refused", "note": exc.message},
            )
            return exc
        except RegogateError as exc:
            return exc
        self._event("approval", _request_body(used))
        return None

    async def _approved_before(self, digest: str) -> ApprovalRequest | None:
        """Async mode: an approved, unused request of this person for exactly this."""
        for request in await self.service.store.select([Status.APPROVED], limit=ASYNC_LOOKUP):
            if (
                request.requester.same_person(self.requester)
                and request.connection == self.ctx.connection.name
                and digests_match(request.bound_digest, digest)
            ):
                return request
        return None

    async def _withdraw(self, request_id: str, note: str) -> None:
        try:
            done = await self.service.withdraw(request_id, note)
        except RegogateError as exc:
            log.warning("approval request %s: could not withdraw: %s", request_id, exc.message)
            return
        if done is not None:
            self._event("approval.withdrawn", _request_body(done))

    def _event(self, kind: str, body: dict[str, object]) -> None:
        try:
            self.record.event(kind, body)
        except RegogateError as exc:  # the statement's own records fail closed already
            log.error("approval record %s not written: %s", kind, exc.message)


def _request_body(request: ApprovalRequest, mode: str | None = None) -> dict[str, object]:
    """An approval record's body (docs/recording-format.md, "Approval records"): the
    request as people decide it (redacted text, never the bound digest)."""
    body: dict[str, object] = {
        "request": request.id,
        "status": request.status.value,
        "requester": request.requester.sub,
        "reason": request.reason,
        "approvers": list(request.approvers),
        "min_approvals": request.min_approvals,
        "statement": request.display_text,
        "created_at": request.created_at,
        "expires_at": request.expires_at,
        "decided_at": request.decided_at,
        "votes": [
            {
                "approver": v.approver.sub,
                "issuer": v.approver.issuer,
                "verdict": v.verdict.value,
                "comment": v.comment,
                "at": v.at,
            }
            for v in request.votes
        ],
    }
    if request.outcome_note:
        body["note"] = request.outcome_note
    if mode is not None:
        body["mode"] = mode
    return body


def _utc(unix: float) -> str:
    """A time for a person reading a notice: ISO 8601, UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix))
