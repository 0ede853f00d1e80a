"""Decision requests grouped when OPA is busy (group commit): a request made while
``max_inflight`` are already on their way waits in a queue; when one comes back, the
oldest waiter takes everything queued (up to ``max_batch``) to OPA in one request.

A lone request goes at once, as before; under load many decisions share one HTTP
exchange, which is much of OPA's cost for a small input (docs/decisions/
0005-opa-decision-client.md). Each decision is still evaluated on its own input
(``BATCH_MODULE``: ``with input as``), so a batch decides exactly what single requests
would. A batch OPA refuses as a whole (an error in one item's evaluation) is retried one
request per item, so one statement's error never decides another's.
"""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import anyio

T = TypeVar("T")

BATCH_PACKAGE = "regogate_gateway.batch"
BATCH_PATH = "/v1/data/regogate_gateway/batch/decisions"
BATCH_POLICY_ID = "regogate-gateway/batch.rego"
# Pushed next to the user's modules by the sidecar's loader (never part of a bundle).
BATCH_MODULE = f"""package {BATCH_PACKAGE}

# The gateway's batched decision requests: each item is decided on its own input, exactly
# as data.regogate.decision is for a single request. An item whose decision is undefined
# has no key here (the gateway fails it closed).
decisions := {{i: d |
	some i, item in input.items
	d := data.regogate.decision with input as item
}}
"""


class BatchRefused(Exception):
    """OPA refused a batch as a whole: each item goes again on its own."""


class _Again:
    """A waiter's outcome when it must ask again (its batch was abandoned or refused)."""

    def __init__(self, single: bool):
        self.single = single


class _Slot(Generic[T]):
    __slots__ = ("body", "done", "error", "leader", "outcome", "ready")

    def __init__(self, body: bytes):
        self.body = body
        self.ready = anyio.Event()
        self.leader = False
        self.done = False
        self.outcome: T | _Again | None = None
        self.error: BaseException | None = None

    def finish(self, outcome: T | _Again | None, error: BaseException | None = None) -> None:
        self.done, self.outcome, self.error = True, outcome, error
        self.ready.set()


class DecisionBatcher(Generic[T]):
    """Group commit for decision requests. ``single(body)`` sends one input's JSON,
    ``many(bodies)`` several (returning one outcome per body, in order, or raising
    BatchRefused); both raise what the caller should see on a transport failure."""

    def __init__(
        self,
        single: Callable[[bytes], Awaitable[T]],
        many: Callable[[list[bytes]], Awaitable[list[T]]],
        *,
        max_inflight: int = 2,
        max_batch: int = 32,
        budget: float = 0.125,
        max_item: int = 8192,
    ):
        """``budget``: seconds a batch should take at most, by the recent time per
        decision (a quarter of the request timeout: a slow policy batches less, so that
        a batch never runs into the timeout that many single requests would not).
        ``max_item``: an input larger than this many bytes always goes alone, so that one
        statement that is slow to decide (thousands of columns) never holds up a batch of
        other sessions' decisions."""
        if max_inflight < 1 or max_batch < 1:
            raise ValueError("max_inflight and max_batch must be at least 1")
        self._single = single
        self._many = many
        self.max_inflight = max_inflight
        self.max_batch = max_batch
        self.budget = budget
        self.max_item = max_item
        self.per_decision = 0.0  # seconds, smoothed over recent requests
        self._inflight = 0
        self._leading = 0  # waiters woken to lead, not yet sending
        self._queue: deque[_Slot[T]] = deque()
        self.requests = 0  # statistics: HTTP requests, and batches among them
        self.batches = 0
        self.batched = 0  # decisions that went in a batch

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def batch_limit(self) -> int:
        """How many decisions the next batch may take."""
        if self.per_decision <= 0:
            return self.max_batch
        return max(1, min(self.max_batch, int(self.budget / self.per_decision)))

    def _took(self, seconds: float, decisions: int) -> None:
        each = seconds / decisions
        self.per_decision = each if self.per_decision <= 0 else 0.8 * self.per_decision + 0.2 * each

    async def submit(self, body: bytes) -> T:
        if len(body) > self.max_item:
            return await self._alone(body, force=True)
        while True:
            if self._inflight + self._leading < self.max_inflight and not self._queue:
                return await self._alone(body)
            slot: _Slot[T] = _Slot(body)
            self._queue.append(slot)
            try:
                await slot.ready.wait()
            except BaseException:
                self._abandon(slot)
                raise
            if slot.done:
                if slot.error is not None:
                    raise copy.copy(slot.error)  # each waiter its own traceback
                outcome = slot.outcome
                if isinstance(outcome, _Again):
                    if outcome.single:
                        return await self._alone(body, force=True)
                    continue
                return outcome  # type: ignore[return-value]
            return await self._lead(slot)

    async def _alone(self, body: bytes, *, force: bool = False) -> T:
        """One request of its own (``force``: even past ``max_inflight``, a retry)."""
        self._inflight += 1
        self.requests += 1
        began = time.perf_counter()
        try:
            outcome = await self._single(body)
            self._took(time.perf_counter() - began, 1)
            return outcome
        finally:
            self._inflight -= 1
            self._wake_next()

    async def _lead(self, slot: _Slot[T]) -> T:
        """``slot`` was woken to take the queue to OPA: its own body first."""
        self._leading -= 1
        batch = [slot]
        limit = self.batch_limit()
        while self._queue and len(batch) < limit:
            batch.append(self._queue.popleft())
        if len(batch) == 1:
            return await self._alone(slot.body)
        self._inflight += 1
        self.requests += 1
        self.batches += 1
        self.batched += len(batch)
        outcomes: list[T] | None = None
        refused = False
        began = time.perf_counter()
        try:
            outcomes = await self._many([s.body for s in batch])
            self._took(time.perf_counter() - began, len(batch))
            if len(outcomes) != len(batch):
                raise BatchRefused(f"{len(outcomes)} outcomes for {len(batch)} decisions")
        except BatchRefused:
            outcomes, refused = None, True
        except Exception as exc:  # a transport failure: every decision in it fails closed
            for other in batch[1:]:
                other.finish(None, exc)
            raise
        finally:
            self._inflight -= 1
            if outcomes is None:
                # Refused as a whole: each goes alone. Or the leader was cancelled (its
                # session ended): the others ask again.
                for other in batch[1:]:
                    if not other.done:
                        other.finish(_Again(single=refused))
            self._wake_next()
        if outcomes is None:
            return await self._alone(slot.body, force=True)
        for other, outcome in zip(batch[1:], outcomes[1:], strict=True):
            other.finish(outcome)
        return outcomes[0]

    def _abandon(self, slot: _Slot[T]) -> None:
        """A waiter cancelled: out of the queue, or, woken to lead, the next one leads."""
        if slot in self._queue:
            self._queue.remove(slot)
        elif slot.leader and not slot.done:
            slot.done = True
            self._leading -= 1
            self._wake_next()

    def _wake_next(self) -> None:
        if self._queue and self._inflight + self._leading < self.max_inflight:
            head = self._queue.popleft()
            head.leader = True
            self._leading += 1
            head.ready.set()
