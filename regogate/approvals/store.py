"""What the approval service needs of a store (``ApprovalStore``), and the in-process
waiter registry both stores wake held statements with.

A store keeps whole requests and changes one only by compare-and-set on its ``version``
(``replace``), so that two gateways deciding one request at once cannot both win; the
rules of who may change what live in service.py, not here.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Protocol

import anyio

from regogate.approvals.model import ApprovalRequest, Status

SCHEMA_VERSION = 1


class StaleWrite(Exception):
    """The request changed since it was read (``replace`` lost a compare-and-set)."""


class ApprovalStore(Protocol):
    async def insert(self, request: ApprovalRequest) -> None: ...

    async def get(self, request_id: str) -> ApprovalRequest:
        """The request; ApprovalNotFound if there is none."""
        ...

    async def replace(self, request: ApprovalRequest) -> ApprovalRequest:
        """Store ``request`` if the stored one still has ``request.version``, else raise
        StaleWrite; return it with the version bumped, and wake its waiters."""
        ...

    async def select(
        self,
        statuses: Collection[Status] = (),
        *,
        limit: int = 100,
        instance: str | None = None,
        expires_before: float | None = None,
    ) -> list[ApprovalRequest]:
        """Requests newest first, filtered by status (none: all), holding instance and
        expiry."""
        ...

    async def wait(self, request_id: str, timeout: float) -> ApprovalRequest:
        """The request once it is settled (not pending), or as it is after ``timeout``."""
        ...


class Waiters:
    """Events per request id, set when the request changes (by this process, or as
    another process announced: PostgreSQL NOTIFY)."""

    def __init__(self) -> None:
        self._events: dict[str, set[anyio.Event]] = {}

    def wake(self, request_id: str) -> None:
        for event in self._events.pop(request_id, set()):
            event.set()

    def wake_all(self) -> None:
        for request_id in list(self._events):
            self.wake(request_id)

    def register(self, request_id: str) -> anyio.Event:
        event = anyio.Event()
        self._events.setdefault(request_id, set()).add(event)
        return event

    def unregister(self, request_id: str, event: anyio.Event) -> None:
        events = self._events.get(request_id)
        if events is not None:
            events.discard(event)
            if not events:
                del self._events[request_id]


async def wait_settled(
    store: ApprovalStore, waiters: Waiters, request_id: str, timeout: float, poll: float
) -> ApprovalRequest:
    """Read, sleep until woken (or ``poll`` seconds, for changes nobody announced), read
    again, until the request is settled or ``timeout`` has passed. The event is there
    before each read, so a change between the read and the sleep still wakes it.

    Reaching ``timeout`` unwoken returns the last read rather than reading once more: a
    holder waits in short slices (proxy/approval_hold.py) and reads at the start of the
    next, and every read of a shared store is a query on its one connection."""
    deadline = anyio.current_time() + timeout
    while True:
        event = waiters.register(request_id)
        try:
            request = await store.get(request_id)
            left = deadline - anyio.current_time()
            if request.settled() or left <= 0:
                return request
            with anyio.move_on_after(min(left, poll) if math.isfinite(left) else poll):
                await event.wait()
            if not event.is_set() and anyio.current_time() >= deadline:
                return request
        finally:
            waiters.unregister(request_id, event)
