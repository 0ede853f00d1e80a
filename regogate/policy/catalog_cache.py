"""``CatalogCache``: each configured connection's catalog snapshot, served
stale-while-revalidate. Refreshes (after DDL, on request, when the periodic version check
sees a change) run in the background, one at a time per connection (docs/catalog.md).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import anyio
import anyio.abc

from regogate.config import ConnectionConfig
from regogate.errors import RegogateError
from regogate.policy.catalog import CatalogSnapshot, same_catalog
from regogate.policy.catalog_rows import merge_lookup
from regogate.policy.catalog_source import (
    CatalogLookup,
    CatalogSource,
    Fetcher,
    FetcherSource,
    catalog_unavailable,
)

log = logging.getLogger("regogate.catalog")


@dataclass(frozen=True)
class CatalogStatus:
    """What the cache knows of one connection's catalog (metrics, tests)."""

    generation: int
    version: str
    reads: int
    checks: int
    failures: int
    last_error: str | None
    verified_age: float
    refreshing: bool


@dataclass(eq=False)
class _State:
    """One connection's snapshot and its refreshes (numbered as they start)."""

    conn: ConnectionConfig
    snapshot: CatalogSnapshot | None = None
    generation: int = 0
    version: str = ""
    verified: float = -math.inf  # when the last successful check or read started
    fetched: float = -math.inf  # when the last read started
    used: float = -math.inf  # the last get, invalidate or refresh
    requested: bool = False  # a refresh was asked and has not started yet
    changed: bool = False  # ... by DDL through the gateway: it reads without a check first
    running: bool = False
    released: bool = False  # idle: the source let go of the side session
    started: int = 0
    completed: int = 0
    error: RegogateError | None = None  # outcome of the latest completed refresh
    failures: int = 0
    retry_at: float = 0.0
    check_seconds: float = 0.0
    reads: int = 0
    checks: int = 0
    # Full reads that replaced the served snapshot: one may predate a lookup merged
    # before it completed (what the lookup read is then gone from the snapshot).
    replaced: int = 0
    wake: anyio.Event = field(default_factory=anyio.Event)
    # Lookups (``CatalogCache.lookup``), batched: names asked while one runs go in the next.
    lookup_queue: set[tuple[str, str]] = field(default_factory=set)
    lookup_started: int = 0
    lookup_completed: int = 0
    lookup_running: bool = False
    lookup_done: anyio.Event = field(default_factory=anyio.Event)
    read_seconds: float = 0.0  # how long the last read took
    urgent: bool = False  # someone waits for the refresh asked for: no pacing
    done: anyio.Event = field(default_factory=anyio.Event)


class CatalogCache:
    """One snapshot per configured connection, served stale-while-revalidate.

    With ``run`` going (a long-lived task), each connection has a worker that refreshes
    in the background: when asked (``invalidate``, ``refresh``), and every
    ``check_interval`` seconds when a cheap version query says the catalog changed
    (spaced out further when that query is slow: at most ``check_budget`` of the time).
    ``get`` waits only for a connection's first snapshot, or after ``idle_after``
    seconds unused (the worker stops checking then). A read replaces the check every
    ``max_age`` seconds, and at every check while views are left unread (locked).
    Without ``run``, the caller of ``get`` does the due refresh itself and waits.
    """

    def __init__(
        self,
        source: CatalogSource | Fetcher,
        *,
        check_interval: float = 2.0,
        check_budget: float = 0.02,
        max_age: float = 300.0,
        idle_after: float = 60.0,
        backoff: tuple[float, float] = (0.5, 10.0),
        pace: float = 8.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._polls = isinstance(source, CatalogSource)
        self._source = source if isinstance(source, CatalogSource) else FetcherSource(source)
        # (a runtime Protocol's isinstance walks its members: once, not per lookup)
        self._lookup_source = self._source if isinstance(self._source, CatalogLookup) else None
        self.check_interval = check_interval
        self.check_budget = check_budget
        self.max_age = max_age
        self.idle_after = idle_after
        self._backoff = backoff
        self.pace = pace
        self._clock = clock
        self._states: dict[str, _State] = {}
        self._generation = 0
        self._tg: anyio.abc.TaskGroup | None = None
        self.fetches = 0
        self.read_seconds = 0.0  # the reads' time, statistics
        # ... and why they ran: someone "waited", "ddl" through the gateway, a "check"
        self.read_causes: dict[str, int] = {}
        self.lookups = 0
        self.lookup_seconds = 0.0  # statistics: the lookups' reads, and their merges
        self.merge_seconds = 0.0

    # -- the API --------------------------------------------------------------------------
    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Host the background workers until cancelled; then close the side sessions."""
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                for state in self._states.values():
                    tg.start_soon(self._worker, state)
                task_status.started()
                await anyio.sleep_forever()
        finally:
            self._tg = None
            with anyio.CancelScope(shield=True):
                await self._source.aclose()

    async def get(self, conn: ConnectionConfig) -> tuple[CatalogSnapshot, int]:
        """The snapshot for ``conn`` and its generation (part of every analysis cache
        key). Waits only for a connection's first snapshot (its failure raises
        PolicyUnavailable), or for one check after the connection was idle."""
        state = self._state(conn)
        state.used = self._clock()
        if state.snapshot is None:
            await self._await_refresh(state, state.started if state.running else state.started + 1)
            if state.snapshot is None:
                raise state.error or catalog_unavailable(conn, "no snapshot")
        elif self._due_inline(state):
            await self._settle(state)
        return state.snapshot, state.generation

    def generation(self, conn: ConnectionConfig) -> int | None:
        """The generation of the snapshot ``get`` would return now, without waiting;
        None when there is none yet or ``get`` would have to check first."""
        state = self._states.get(conn.name)
        if state is None or state.snapshot is None or self._due_inline(state):
            return None
        return state.generation

    def invalidate(self, conn: ConnectionConfig, *, changed: bool = True) -> int:
        """DDL ran: refresh in the background (queued behind a running refresh; many
        invalidations coalesce into one refresh), serving the snapshot meanwhile. Returns
        the number of the refresh that sees what was committed before the call (a
        running one may have read before it): ``settled(conn, after=...)`` waits for it.
        ``changed``: the catalog surely changed (the refresh reads without a version
        check first); False when the DDL may have changed nothing a snapshot holds."""
        state = self._state(conn)
        state.used = self._clock()
        state.requested = True
        state.changed = state.changed or changed
        state.wake.set()
        return state.started + 1

    async def settled(
        self, conn: ConnectionConfig, *, after: int | None = None, timeout: float
    ) -> bool:
        """Wait until refresh number ``after`` has completed, or by default every refresh
        running or asked for now (its side session then holds no lock: docs/catalog.md,
        *Lock safety*). False when ``timeout`` passed first; a failed refresh counts as
        completed. Without ``run``, the caller runs a refresh not yet running itself."""
        state = self._state(conn)
        need = state.started + (1 if state.requested else 0) if after is None else after
        if state.completed >= need:
            return True
        with anyio.move_on_after(timeout):
            await self._await_refresh(state, need)
            return True
        return False

    def completed(self, conn: ConnectionConfig) -> int:
        """How many refreshes of ``conn`` have completed (``invalidate`` returns the
        number of the one that sees a change: it has completed once this reaches it)."""
        state = self._states.get(conn.name)
        return 0 if state is None else state.completed

    def replaced(self, conn: ConnectionConfig) -> int:
        """How many full reads have replaced ``conn``'s served snapshot. While it stays the
        same, what a lookup put in the snapshot is still there: lookups run one at a time
        and each merges into the snapshot served, so a later one is fresher."""
        state = self._states.get(conn.name)
        return 0 if state is None else state.replaced

    async def refresh(
        self, conn: ConnectionConfig, *, timeout: float
    ) -> tuple[CatalogSnapshot, int]:
        """Wait for a refresh that starts after this call (a statement names something
        the snapshot does not know: look again before deciding). Its failure, or no
        result within ``timeout`` seconds, raises PolicyUnavailable."""
        state = self._state(conn)
        state.used = self._clock()
        need = state.started + 1
        state.requested = True
        state.wake.set()
        try:
            with anyio.fail_after(timeout):
                await self._await_refresh(state, need)
        except TimeoutError:
            last = f"; last error: {state.error.message}" if state.error is not None else ""
            raise catalog_unavailable(conn, f"no fresh catalog within {timeout:g}s{last}") from None
        if state.error is not None:
            raise state.error
        assert state.snapshot is not None
        return state.snapshot, state.generation

    async def lookup(
        self, conn: ConnectionConfig, names: Sequence[tuple[str, str]], *, timeout: float
    ) -> tuple[CatalogSnapshot, int]:
        """A statement names relations the snapshot does not know: read just those (and
        what their rows are built from) and serve the snapshot with them put in, as a
        new generation; the current snapshot when none of them exists. Milliseconds,
        never behind a full read; lookups asked while one runs are batched into the
        next. A source without lookups waits for a refresh (``refresh``). Failure or
        ``timeout`` raises PolicyUnavailable."""
        state = self._state(conn)
        if state.snapshot is None or self._lookup_source is None:
            return await self.refresh(conn, timeout=timeout)
        state.used = self._clock()
        state.lookup_queue.update(names)
        mine = state.lookup_started + 1  # the batch that takes these names
        try:
            with anyio.fail_after(timeout):
                while state.lookup_completed < mine:
                    if state.lookup_running:
                        await state.lookup_done.wait()
                    else:
                        await self._lookup_batch(state)
        except TimeoutError:
            raise catalog_unavailable(conn, f"no lookup within {timeout:g}s") from None
        if state.error is not None and state.snapshot is None:
            raise state.error
        assert state.snapshot is not None
        return state.snapshot, state.generation

    async def _lookup_batch(self, state: _State) -> None:
        """Look up every name queued, in one statement; put what it found in the
        served snapshot (unless a refresh that began after it has completed meanwhile:
        that snapshot is at least as fresh)."""
        source = self._lookup_source
        assert source is not None
        names = sorted(state.lookup_queue)
        state.lookup_queue = set()
        state.lookup_started += 1
        number = state.lookup_started
        state.lookup_running = True
        started = state.started
        try:
            began = self._clock()
            rows = await source.lookup(state.conn, names)
            self.lookups += 1
            self.lookup_seconds += self._clock() - began
            # Merged into the snapshot served when the merge ends (a refresh that began
            # before the lookup may complete meanwhile: its rows are older than these).
            while rows is not None and state.completed <= started and state.snapshot:
                base = state.snapshot
                began = self._clock()
                if any(r[0] == "relation" and r[3] in ("v", "m") for r in rows if len(r) > 3):
                    # Views: their definitions are parsed, off the event loop.
                    merged = await anyio.to_thread.run_sync(merge_lookup, base, rows)
                else:
                    merged = merge_lookup(base, rows)  # a fraction of a millisecond
                self.merge_seconds += self._clock() - began
                if merged is None:
                    break
                if state.snapshot is base and state.completed <= started:
                    self._generation += 1
                    state.snapshot, state.generation = merged, self._generation
                    break
        finally:
            state.lookup_running = False
            state.lookup_completed = number
            done, state.lookup_done = state.lookup_done, anyio.Event()
            done.set()

    def status(self, conn: ConnectionConfig) -> CatalogStatus | None:
        state = self._states.get(conn.name)
        if state is None:
            return None
        return CatalogStatus(
            generation=state.generation,
            version=state.version,
            reads=state.reads,
            checks=state.checks,
            failures=state.failures,
            last_error=state.error.message if state.error is not None else None,
            verified_age=self._clock() - state.verified,
            refreshing=state.running,
        )

    # -- waiting for refreshes ----------------------------------------------------------
    def _state(self, conn: ConnectionConfig) -> _State:
        state = self._states.get(conn.name)
        if state is None:
            state = self._states[conn.name] = _State(conn)
            if self._tg is not None:
                self._tg.start_soon(self._worker, state)
        return state

    async def _await_refresh(self, state: _State, need: int) -> None:
        """Until refresh number ``need`` (or a later one) completed: the worker runs it,
        or, without workers, this caller (unless another one already does)."""
        while state.completed < need:
            if state.started < need:
                state.requested = True
                state.urgent = True
            if self._tg is None and not state.running:
                await self._refresh(state)
                continue
            done = state.done
            state.wake.set()
            await done.wait()

    def _due_inline(self, state: _State) -> bool:
        """Whether ``get`` must wait for a refresh: with workers, only after an idle
        spell; without, whenever one is due."""
        if self._tg is not None:
            return state.released
        return state.requested or self._delay(state) <= 0

    async def _settle(self, state: _State) -> None:
        """Wait for one refresh; on failure keep serving the snapshot (logged)."""
        state.released = False
        await self._await_refresh(state, state.started + 1)

    # -- the worker ---------------------------------------------------------------------
    async def _worker(self, state: _State) -> None:
        while True:
            try:
                await self._step(state)
            except Exception:  # a bug here must not end the gateway
                log.exception("catalog worker of %s failed; continuing", state.conn.name)
                await anyio.sleep(1.0)

    async def _step(self, state: _State) -> None:
        delay = self._delay(state)
        if delay > 0:
            with anyio.move_on_after(delay):
                await state.wake.wait()
            state.wake = anyio.Event()
            return
        if self._idle(state) and not state.requested:
            state.released = True
            await self._source.release(state.conn)
            log.debug("catalog of %s: idle, checks stopped", state.conn.name)
            return
        await self._refresh(state)

    def _idle(self, state: _State) -> bool:
        return self._clock() - state.used > self.idle_after

    def _delay(self, state: _State) -> float:
        """Seconds until the next refresh or check is due (inf: none until woken)."""
        now = self._clock()
        if state.requested:
            if state.snapshot is None:
                return 0.0
            due = state.retry_at
            if state.changed and not state.urgent:
                # Asked for by DDL only (its statements look up what they name): paced,
                # reading at most 1 / (1 + pace) of the time, and never later than a
                # check would (docs/catalog.md).
                spacing = min(self.check_interval, (1.0 + self.pace) * state.read_seconds)
                due = max(due, state.fetched + spacing)
            return max(0.0, due - now)
        if state.snapshot is None or state.released:
            return math.inf
        if self._idle(state):
            return 0.0  # release the side session
        if state.failures:
            return max(0.0, state.retry_at - now)
        if not self._polls:
            return state.fetched + self.max_age - now
        interval = max(self.check_interval, state.check_seconds / self.check_budget)
        return state.verified + interval - now

    async def _refresh(self, state: _State) -> None:
        """One refresh: a version check, then a read when the version changed (only the
        read when DDL through the gateway asked for it)."""
        state.started += 1
        number = state.started
        urgent, reads = state.urgent, state.reads
        state.urgent = False
        changed, state.requested, state.changed = state.changed, False, False
        state.released = False  # in use again: checks resume
        state.running = True
        error: RegogateError | None = None
        try:
            await self._check_or_read(state, check=not changed)
            if state.reads > reads:  # statistics: why reads ran
                cause = "waited" if urgent else "ddl" if changed else "check"
                self.read_causes[cause] = self.read_causes.get(cause, 0) + 1
            if state.failures:
                log.info("catalog of %s readable again", state.conn.name)
            state.failures = 0
        except Exception as exc:
            error = self._failed(state, exc)
        except BaseException:
            error = catalog_unavailable(state.conn, "the read was interrupted")
            raise
        finally:
            state.running = False
            state.completed = number
            state.error = error
            done, state.done = state.done, anyio.Event()
            done.set()

    async def _check_or_read(self, state: _State, *, check: bool = True) -> None:
        """A version check, then a read when the version changed; only the read when
        ``check`` is False (DDL committed through the gateway: a check would only cost
        one more scan of the catalogs, as the read itself reads the version too)."""
        conn = state.conn
        started = self._clock()
        old = state.snapshot
        recent = started - state.fetched < self.max_age
        if check and old is not None and not old.unread_views and recent:
            version = await self._source.version(conn)
            state.checks += 1
            took = self._clock() - started  # smoothed: one slow check spaces out little
            state.check_seconds = (
                took if state.checks == 1 else 0.8 * state.check_seconds + 0.2 * took
            )
            if version is not None and version == state.version:
                state.verified = started
                return
            started = self._clock()
        snapshot = await self._source.read(conn, state.snapshot)
        state.reads += 1
        self.fetches += 1
        state.read_seconds = self._clock() - started
        self.read_seconds += state.read_seconds
        if old is None or not await anyio.to_thread.run_sync(same_catalog, old, snapshot):
            self._generation += 1
            state.generation = self._generation
        state.snapshot, state.version = snapshot, snapshot.version
        state.replaced += 1
        state.verified = state.fetched = started
        log.debug(
            "catalog of %s: %d relations, generation %d (%.0f ms)",
            conn.name,
            len(snapshot.relations),
            state.generation,
            (self._clock() - started) * 1000,
        )

    def _failed(self, state: _State, exc: Exception) -> RegogateError:
        state.failures += 1
        low, high = self._backoff
        state.retry_at = self._clock() + min(high, low * 2 ** (state.failures - 1))
        if isinstance(exc, RegogateError):
            error = exc
        else:  # a bug: logged with its traceback, reported as unavailable
            log.error("catalog of %s: read failed", state.conn.name, exc_info=exc)
            error = catalog_unavailable(state.conn, f"internal error: {type(exc).__name__}")
        if state.failures == 1 or state.failures % 10 == 0:
            log.warning(
                "catalog of %s: refresh failed (%d in a row, serving the last snapshot): %s",
                state.conn.name,
                state.failures,
                error.message,
            )
        return error
