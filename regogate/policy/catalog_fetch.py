"""Reading catalog facts from the upstream, and keeping them fresh (docs/catalog.md).

``UpstreamCatalogSource`` reads on one side session per configured connection and never
waits on a lock a client holds; ``CatalogCache`` serves each connection's snapshot
stale-while-revalidate: refreshes (after DDL, on request, when the periodic version
check sees a change) run in the background, one at a time per connection, and build the
snapshot in a worker thread.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import anyio
import anyio.abc

from regogate.config import ConnectionConfig
from regogate.errors import PolicyUnavailable, RegogateError
from regogate.policy.catalog import (
    CatalogBase,
    CatalogSnapshot,
    Row,
    as_json,
    catalog_base,
    catalog_query,
    definition_query,
    definitions_needed,
    json_rows,
    known_view_versions,
    same_catalog,
    snapshot_from_rows,
    version_query,
)
from regogate.proxy import upstream as upstream_mod
from regogate.wire.backend import DataRow, ErrorResponse, ParameterStatus
from regogate.wire.frontend import Query, Terminate

log = logging.getLogger("regogate.catalog")

Fetcher = Callable[[ConnectionConfig], Awaitable[CatalogSnapshot]]


@dataclass(frozen=True)
class CatalogLimits:
    """How long a catalog read may wait. ``guard_locks``: skip the definitions of views
    that are locked now (pg_locks); only tests turn it off, to force the fallback."""

    lock_timeout: float = 0.2
    statement_timeout: float = 10.0
    connect_timeout: float = 10.0
    guard_locks: bool = True


@dataclass(frozen=True)
class StatementError:
    """A statement of a pipeline failed (the others ran: each is its own transaction)."""

    sqlstate: str
    message: str


Result = list[bytes] | StatementError  # the DataRow bodies of a statement, or its error
BATCH = 32768


class SideSession:
    """One upstream session for catalog reads. Each statement is a Query message of its
    own, so an implicit transaction of its own: one failing leaves the others alone."""

    def __init__(self, up: upstream_mod.Upstream, limits: CatalogLimits):
        self._up = up
        self._limits = limits
        self.server_version = ""
        for frame in up.startup_frames:
            if frame.tag == b"S":
                status = ParameterStatus.decode(frame.body)
                if status.name == "server_version":
                    self.server_version = status.value
        # search_path '': only pg_catalog's functions and operators (docs/catalog.md).
        self._prefix = (
            "SET LOCAL search_path = ''; "
            f"SET LOCAL lock_timeout = '{max(1, round(limits.lock_timeout * 1000))}ms'; "
            f"SET LOCAL statement_timeout = '{max(1, round(limits.statement_timeout * 1000))}ms'; "
        )

    @classmethod
    async def open(cls, conn: ConnectionConfig, limits: CatalogLimits) -> SideSession:
        params = {"application_name": "regogate catalog", "client_encoding": "UTF8"}
        up = await upstream_mod.connect(conn, params, timeout=limits.connect_timeout)
        return cls(up, limits)

    async def run(self, statements: Sequence[str]) -> list[Result]:
        """Send the statements (lock_timeout and statement_timeout set in each) and read
        their results in order. Sent in batches of at most BATCH bytes, each read before
        the next is sent: a long pipeline must not fill both socket buffers."""
        messages = [Query(self._prefix + sql).encode() for sql in statements]
        results: list[Result] = []
        with anyio.fail_after(self._limits.statement_timeout + 2.0):
            while len(results) < len(messages):
                batch: list[bytes] = []
                size = 0
                for message in messages[len(results) :]:
                    if batch and size + len(message) > BATCH:
                        break
                    batch.append(message)
                    size += len(message)
                await self._up.stream.send(b"".join(batch))
                results += await self._results(len(batch))
        return results

    async def _results(self, count: int) -> list[Result]:
        results: list[Result] = []
        rows: list[bytes] = []
        error: StatementError | None = None
        reader = self._up.reader
        while len(results) < count:
            frame = reader.next_frame()
            if frame is None:
                reader.feed(await self._up.stream.receive(262144))
                continue
            if frame.tag == b"D":
                rows.append(frame.body)
            elif frame.tag == b"E":
                report = ErrorResponse.decode(frame.body)
                error = StatementError(report.sqlstate, report.message)
            elif frame.tag == b"Z":
                results.append(error if error is not None else rows)
                rows, error = [], None
        return results

    async def aclose(self) -> None:
        try:
            with anyio.move_on_after(1.0):
                await self._up.stream.send(Terminate().encode())
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        finally:
            await anyio.aclose_forcefully(self._up.stream)


def decode_rows(bodies: Iterable[bytes]) -> list[Row]:
    """DataRow bodies (text format) -> rows."""
    return [
        tuple(None if v is None else v.decode("utf-8", "replace") for v in DataRow.decode(b).values)
        for b in bodies
    ]


def decode_json_rows(bodies: list[bytes]) -> list[Row]:
    """The rows of an as_json() statement (one DataRow). Runs in a worker thread."""
    rows: list[Row] = []
    for (text,) in decode_rows(bodies):
        rows += json_rows(text)
    return rows


@runtime_checkable
class CatalogSource(Protocol):
    """Where snapshots come from (``UpstreamCatalogSource``; fakes in tests)."""

    async def read(
        self, conn: ConnectionConfig, previous: CatalogSnapshot | None
    ) -> CatalogSnapshot: ...

    async def version(self, conn: ConnectionConfig) -> str | None:
        """The catalog version now (cheap); None when the source cannot tell."""
        ...

    async def release(self, conn: ConnectionConfig) -> None:
        """The connection is idle: close what the source holds open for it."""
        ...

    async def aclose(self) -> None: ...


# Built-in objects (oid below 16384) change only with the server version: read once per
# database and server version, shared by every source of the process (immutable).
_BUILTINS: dict[tuple[str, int, str, str], CatalogBase] = {}


class UpstreamCatalogSource:
    """Reads on one side session per configured connection, kept open between reads
    (closed after an error and when ``release``d). Built-in objects are read once per
    server version (_BUILTINS); user objects at every read, with the definitions of the
    views whose version changed only."""

    def __init__(self, limits: CatalogLimits | None = None):
        self.limits = limits or CatalogLimits()
        self._sessions: dict[str, SideSession] = {}
        self._builtin = _BUILTINS
        self._checked: dict[str, tuple[str, str]] = {}  # (txid snapshot, fingerprint)

    async def version(self, conn: ConnectionConfig) -> str:
        (result,) = await self._run(conn, [self._version_query(conn)])
        return self._version(conn, result)

    async def read(
        self, conn: ConnectionConfig, previous: CatalogSnapshot | None
    ) -> CatalogSnapshot:
        known = known_view_versions(previous)
        definitions = self.limits.guard_locks
        statements = [
            self._version_query(conn),
            as_json(catalog_query("user", known, definitions=definitions)),
        ]
        session = await self._session(conn)
        builtin_key = (conn.host, conn.port, conn.database, session.server_version)
        builtin = self._builtin.get(builtin_key)
        if builtin is None:
            statements.append(as_json(catalog_query("builtin")))
        results = await self._run(conn, statements)
        version = self._version(conn, results[0])
        if builtin is None:
            bodies = self._rows(conn, results[2])
            builtin = await anyio.to_thread.run_sync(lambda: catalog_base(decode_json_rows(bodies)))
            if len(self._builtin) >= 64:
                self._builtin.clear()
            self._builtin[builtin_key] = builtin
        user = results[1]
        if isinstance(user, StatementError) or not definitions:
            if isinstance(user, StatementError):
                log.info("catalog of %s: reading definitions apart (%s)", conn.name, user.message)
            rows = await self._read_apart(conn, known)
        else:
            rows = await anyio.to_thread.run_sync(decode_json_rows, user)
        return await anyio.to_thread.run_sync(_build, builtin, rows, previous, version)

    async def _read_apart(self, conn: ConnectionConfig, known: list[str]) -> list[Row]:
        """The user objects without definitions, then each missing definition in a
        statement of its own: one that cannot be read (a lock, a view dropped meanwhile)
        is left out, and that view's lineage is unknown until the next read."""
        query = as_json(catalog_query("user", known, definitions=False))
        (result,) = await self._run(conn, [query])
        rows = await anyio.to_thread.run_sync(decode_json_rows, self._rows(conn, result))
        needed = definitions_needed(rows, known)
        if not needed:
            return rows
        bodies: list[bytes] = []
        for oid, got in zip(needed, await self._run(conn, self._definitions(needed)), strict=True):
            if isinstance(got, StatementError):
                log.info("catalog of %s: view %d unreadable now (%s)", conn.name, oid, got.message)
            else:
                bodies += got
        return rows + await anyio.to_thread.run_sync(decode_rows, bodies)

    def _definitions(self, oids: list[int]) -> list[str]:
        if self.limits.guard_locks:
            return [definition_query(oid) for oid in oids]
        return [
            f"SELECT 'definition', '{o:d}', pg_catalog.pg_get_viewdef({o:d}::oid)" for o in oids
        ]

    def _version_query(self, conn: ConnectionConfig) -> str:
        checked = self._checked.get(conn.name)
        return version_query(checked[0] if checked is not None else None)

    def _version(self, conn: ConnectionConfig, result: Result) -> str:
        rows = decode_rows(self._rows(conn, result))
        if len(rows) != 1 or rows[0][0] is None:
            raise _unavailable(conn, "the catalog version query returned no row")
        snapshot, fingerprint = rows[0][0], rows[0][1]
        if fingerprint is None:  # nothing committed since the last check
            last = self._checked.get(conn.name)
            if last is None:
                raise _unavailable(conn, "the catalog version query returned no version")
            fingerprint = last[1]
        self._checked[conn.name] = (snapshot, fingerprint)
        return fingerprint

    def _rows(self, conn: ConnectionConfig, result: Result) -> list[bytes]:
        if isinstance(result, StatementError):
            raise _unavailable(conn, f"{result.message} [{result.sqlstate}]")
        return result

    async def _run(self, conn: ConnectionConfig, statements: list[str]) -> list[Result]:
        """Run on the connection's side session; a kept session found dead (terminated,
        server restarted) is replaced once."""
        while True:
            kept = conn.name in self._sessions
            session = await self._session(conn)
            try:
                return await session.run(statements)
            except RegogateError as exc:  # a protocol violation
                await self.release(conn)
                raise _unavailable(conn, exc.message) from None
            except TimeoutError:
                await self.release(conn)
                limit = self.limits.statement_timeout
                raise _unavailable(conn, f"the catalog query took longer than {limit:g}s") from None
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                await self.release(conn)
                if not kept:
                    raise _unavailable(conn, "the upstream closed the connection") from None
                log.info("catalog of %s: side session lost, reconnecting", conn.name)

    async def _session(self, conn: ConnectionConfig) -> SideSession:
        session = self._sessions.get(conn.name)
        if session is None:
            try:
                session = await SideSession.open(conn, self.limits)
            except RegogateError as exc:
                raise _unavailable(conn, exc.message) from None
            self._sessions[conn.name] = session
        return session

    async def release(self, conn: ConnectionConfig) -> None:
        session = self._sessions.pop(conn.name, None)
        if session is not None:
            with anyio.CancelScope(shield=True):
                await session.aclose()

    async def aclose(self) -> None:
        for session in list(self._sessions.values()):
            with anyio.CancelScope(shield=True):
                await session.aclose()
        self._sessions.clear()


def _build(
    builtin: CatalogBase, rows: list[Row], previous: CatalogSnapshot | None, version: str
) -> CatalogSnapshot:
    return snapshot_from_rows(rows, previous, version=version, base=builtin)


async def fetch_catalog(conn: ConnectionConfig, timeout: float = 10.0) -> CatalogSnapshot:
    """Read a connection's catalog once, on a session of its own (``policy explain``)."""
    source = UpstreamCatalogSource(
        CatalogLimits(statement_timeout=timeout, connect_timeout=timeout)
    )
    try:
        return await source.read(conn, None)
    finally:
        await source.aclose()


def _unavailable(conn: ConnectionConfig, why: str) -> PolicyUnavailable:
    return PolicyUnavailable(
        f"regogate could not read the catalog of connection {conn.name!r} ({why}); "
        f"statement denied (fail closed)",
        hint="the statement cannot be analysed without the catalog; retry in a moment",
    )


class _FetcherSource:
    """A plain fetch function as a source: no version check, a full read each time."""

    def __init__(self, fetch: Fetcher):
        self._fetch = fetch

    async def read(
        self, conn: ConnectionConfig, previous: CatalogSnapshot | None
    ) -> CatalogSnapshot:
        return await self._fetch(conn)

    async def version(self, conn: ConnectionConfig) -> str | None:
        return None

    async def release(self, conn: ConnectionConfig) -> None:
        return None

    async def aclose(self) -> None:
        return None


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
    wake: anyio.Event = field(default_factory=anyio.Event)
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
        clock: Callable[[], float] = time.monotonic,
    ):
        self._polls = isinstance(source, CatalogSource)
        self._source = source if isinstance(source, CatalogSource) else _FetcherSource(source)
        self.check_interval = check_interval
        self.check_budget = check_budget
        self.max_age = max_age
        self.idle_after = idle_after
        self._backoff = backoff
        self._clock = clock
        self._states: dict[str, _State] = {}
        self._generation = 0
        self._tg: anyio.abc.TaskGroup | None = None
        self.fetches = 0

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
                raise state.error or _unavailable(conn, "no snapshot")
        elif self._due_inline(state):
            await self._settle(state)
        return state.snapshot, state.generation

    def invalidate(self, conn: ConnectionConfig) -> None:
        """DDL ran: refresh in the background (queued behind a running refresh; many
        invalidations coalesce into one refresh), serving the snapshot meanwhile."""
        state = self._state(conn)
        state.used = self._clock()
        state.requested = True
        state.wake.set()

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
            raise _unavailable(conn, f"no fresh catalog within {timeout:g}s{last}") from None
        if state.error is not None:
            raise state.error
        assert state.snapshot is not None
        return state.snapshot, state.generation

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
            return 0.0 if state.snapshot is None else max(0.0, state.retry_at - now)
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
        """One refresh: a version check, then a read when the version changed."""
        state.started += 1
        number = state.started
        state.requested = False
        state.released = False  # in use again: checks resume
        state.running = True
        error: RegogateError | None = None
        try:
            await self._check_or_read(state)
            if state.failures:
                log.info("catalog of %s readable again", state.conn.name)
            state.failures = 0
        except Exception as exc:
            error = self._failed(state, exc)
        except BaseException:
            error = _unavailable(state.conn, "the read was interrupted")
            raise
        finally:
            state.running = False
            state.completed = number
            state.error = error
            done, state.done = state.done, anyio.Event()
            done.set()

    async def _check_or_read(self, state: _State) -> None:
        conn = state.conn
        started = self._clock()
        old = state.snapshot
        if old is not None and not old.unread_views and started - state.fetched < self.max_age:
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
        if old is None or not await anyio.to_thread.run_sync(same_catalog, old, snapshot):
            self._generation += 1
            state.generation = self._generation
        state.snapshot, state.version = snapshot, snapshot.version
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
            error = _unavailable(state.conn, f"internal error: {type(exc).__name__}")
        if state.failures == 1 or state.failures % 10 == 0:
            log.warning(
                "catalog of %s: refresh failed (%d in a row, serving the last snapshot): %s",
                state.conn.name,
                state.failures,
                error.message,
            )
        return error
