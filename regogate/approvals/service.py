"""The approval service: create a request for a held statement, let approvers decide it,
wake the holder, and let the holder use an approval once, for exactly that statement.

The proxy calls ``create_request``, ``wait`` and ``consume`` (or ``withdraw``); the HTTP
API, the page and the CLI call ``decide``. Every change is a compare-and-set on the
store (store.py), retried on a lost race, so replicas sharing a store agree.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal, Protocol

import anyio

from regogate.approvals.binding import digests_match
from regogate.approvals.errors import (
    ApprovalConflict,
    ApprovalError,
    ApprovalMismatch,
    ApprovalNotFound,
)
from regogate.approvals.model import ApprovalRequest, Person, RequestDraft, Status, Verdict
from regogate.approvals.rules import cast_vote, may_see
from regogate.approvals.store import ApprovalStore, StaleWrite
from regogate.policy.sqltext import redact

log = logging.getLogger("regogate.approvals")

DEFAULT_TIMEOUT = 300.0
# An approval must be used by this long after the request's expiry at the latest (the
# holder consumes it the moment it wakes; this only covers an approval cast at the end).
CONSUME_GRACE = 10.0
MAX_DISPLAY = 4000
_RETRIES = 8


@dataclass(frozen=True)
class ApprovalEvent:
    """A new request, or one whose status changed: what notifications are made of."""

    kind: Literal["created", "decided"]
    request: ApprovalRequest


class Notifier(Protocol):
    def submit(self, event: ApprovalEvent) -> None:
        """Queue ``event`` for delivery; never blocks, never raises."""
        ...


class NoNotifier:
    def submit(self, event: ApprovalEvent) -> None:
        return None


def new_request_id() -> str:
    return secrets.token_hex(6)


def display_text(sql: str) -> str:
    """The statement as people see it: literals replaced by $n, comments dropped."""
    text = redact(sql).text.strip()
    return text if len(text) <= MAX_DISPLAY else text[:MAX_DISPLAY] + " …"


class ApprovalService:
    def __init__(
        self,
        store: ApprovalStore,
        *,
        instance: str,
        timeout: float = DEFAULT_TIMEOUT,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = new_request_id,
    ):
        self.store = store
        self.instance = instance
        self.timeout = timeout
        self._notifier = notifier or NoNotifier()
        self._clock = clock
        self._new_id = new_id

    # -- the holder's side (the proxy) ------------------------------------------------

    async def recover(self) -> list[ApprovalRequest]:
        """At startup: the pending requests this instance held before it stopped are
        withdrawn (their statements are gone); decided ones stay as they are."""
        withdrawn = []
        for request in await self.store.select(
            [Status.PENDING], instance=self.instance, limit=10_000
        ):
            done = await self._settle(
                request.id, Status.WITHDRAWN, "the gateway holding the statement restarted"
            )
            if done is not None:
                withdrawn.append(done)
        return withdrawn

    async def create_request(self, draft: RequestDraft) -> ApprovalRequest:
        if draft.min_approvals < 1:
            raise ApprovalError("min_approvals must be at least 1")
        now = self._clock()
        request = ApprovalRequest(
            id=self._new_id(),
            requester=draft.requester,
            session_id=draft.session_id,
            connection=draft.connection,
            display_text=display_text(draft.sql),
            bound_digest=draft.bound_digest,
            reason=draft.reason,
            approvers=draft.approvers,
            min_approvals=draft.min_approvals,
            created_at=now,
            expires_at=now + (draft.timeout if draft.timeout is not None else self.timeout),
            instance=self.instance,
        )
        await self.store.insert(request)
        log.info(
            "approval request %s created for %s on %s",
            request.id,
            request.requester.sub,
            request.connection,
        )
        self._notifier.submit(ApprovalEvent("created", request))
        return request

    async def wait(self, request_id: str, timeout: float | None = None) -> ApprovalRequest:
        """Until the request is decided, or expired (then marked so), or ``timeout``.

        With ``timeout`` (the holder waits in short slices) the store is read once per
        call, not once more to learn the expiry first: an expiry inside the slice is
        marked at its end, or sooner by the expiry sweep, whose change wakes the wait."""
        if timeout is not None:
            request = await self.store.wait(request_id, max(timeout, 0.0))
        else:
            request = await self.store.get(request_id)
            left = request.expires_at - self._clock()
            if left > 0 and not request.settled():
                request = await self.store.wait(request_id, left)
        if request.status is Status.PENDING and self._clock() >= request.expires_at:
            expired = await self._settle(request_id, Status.EXPIRED, "nobody decided it in time")
            request = expired or await self.store.get(request_id)
        return request

    async def consume(self, request_id: str, digest: str) -> ApprovalRequest:
        """Use an approval once, for the statement whose bound digest is ``digest``:
        raise unless it is approved, unused, in time, and bound to exactly this."""

        def change(request: ApprovalRequest) -> ApprovalRequest:
            if request.status is not Status.APPROVED:
                raise ApprovalConflict(
                    f"request {request_id} is {request.status.value}, not approved"
                    + (" (an approval is used once)" if request.status is Status.CONSUMED else "")
                )
            now = self._clock()
            if not digests_match(request.bound_digest, digest):
                return request.with_status(
                    Status.WITHDRAWN,
                    now,
                    "the statement or its parameters changed after approval",
                )
            if now > request.expires_at + CONSUME_GRACE:
                return request.with_status(Status.EXPIRED, now, "approved, but used too late")
            return request.with_status(Status.CONSUMED, now)

        done = await self._change(request_id, change)
        if done.status is Status.WITHDRAWN:
            raise ApprovalMismatch(
                f"request {request_id} was approved for another statement or other "
                "parameter values; this one is refused and the approval withdrawn"
            )
        if done.status is Status.EXPIRED:
            raise ApprovalConflict(f"request {request_id} was approved but used too late")
        return done

    async def withdraw(self, request_id: str, note: str) -> ApprovalRequest | None:
        """The holder gave up (session closed, client cancelled): pending or approved
        requests become withdrawn; a settled one is left as it is (None)."""
        return await self._settle(
            request_id, Status.WITHDRAWN, note, from_statuses=(Status.PENDING, Status.APPROVED)
        )

    async def expire_due(self) -> list[ApprovalRequest]:
        """Mark every pending request past its expiry expired (any instance's)."""
        expired = []
        for request in await self.store.select(
            [Status.PENDING], limit=10_000, expires_before=self._clock()
        ):
            done = await self._settle(request.id, Status.EXPIRED, "nobody decided it in time")
            if done is not None:
                expired.append(done)
        return expired

    async def run_expiry(self, interval: float = 5.0) -> None:
        """Forever: expire requests past their time (those whose holder is gone too)."""
        while True:
            try:
                await self.expire_due()
            except ApprovalError as exc:
                log.warning("approvals: expiry sweep failed: %s", exc.message)
            await anyio.sleep(interval)

    # -- the approvers' side (API, page, CLI) -----------------------------------------

    async def decide(
        self, approver: Person, request_id: str, verdict: Verdict, comment: str = ""
    ) -> ApprovalRequest:
        if verdict is Verdict.DENY and not comment.strip():
            raise ApprovalError("a denial needs a reason (comment)")
        now = self._clock()

        def change(request: ApprovalRequest) -> ApprovalRequest:
            if request.status is Status.PENDING and now >= request.expires_at:
                return request.with_status(Status.EXPIRED, now, "nobody decided it in time")
            return cast_vote(request, approver, verdict, comment, now)

        done = await self._change(request_id, change)
        if done.status is Status.EXPIRED:
            raise ApprovalConflict(f"request {request_id} has expired")
        log.info(
            "approval request %s: %s by %s (now %s)",
            request_id,
            verdict.value,
            approver.sub,
            done.status.value,
        )
        return done

    async def get(self, request_id: str) -> ApprovalRequest:
        return await self.store.get(request_id)

    async def visible(self, person: Person, request_id: str) -> ApprovalRequest:
        """The request, if ``person`` may see it (an approver, or the requester)."""
        request = await self.store.get(request_id)
        if not may_see(person, request):
            # the same answer as for no such request: ids are not an oracle
            raise ApprovalNotFound(f"no approval request {request_id!r}")
        return request

    async def listing(
        self, person: Person, statuses: Collection[Status] = (), limit: int = 100
    ) -> list[ApprovalRequest]:
        """Requests ``person`` may see, newest first."""
        await self.expire_due()
        found = await self.store.select(statuses, limit=max(limit * 4, 200))
        return [r for r in found if may_see(person, r)][:limit]

    # -- compare-and-set ---------------------------------------------------------------

    async def _change(
        self,
        request_id: str,
        change: Callable[[ApprovalRequest], ApprovalRequest],
    ) -> ApprovalRequest:
        """Apply ``change`` to the stored request, again on a lost race; raise what it
        raises. Returns the request as stored (unchanged if ``change`` changed nothing)."""
        for _ in range(_RETRIES):
            request = await self.store.get(request_id)
            updated = change(request)
            if updated == request:
                return request
            try:
                stored = await self.store.replace(updated)
            except StaleWrite:
                continue
            if stored.status is not request.status:
                self._notifier.submit(ApprovalEvent("decided", stored))
            return stored
        raise ApprovalConflict(f"request {request_id} is changing too often; try again")

    async def _settle(
        self,
        request_id: str,
        status: Status,
        note: str,
        from_statuses: tuple[Status, ...] = (Status.PENDING,),
    ) -> ApprovalRequest | None:
        now = self._clock()

        def change(request: ApprovalRequest) -> ApprovalRequest:
            if request.status not in from_statuses:
                return request
            return request.with_status(status, now, note)

        before = await self.store.get(request_id)
        done = await self._change(request_id, change)
        return done if done.status is status and before.status is not status else None
