"""Reading catalog snapshots from the upstream (docs/catalog.md): a side session per
configured connection that never waits on a lock a client holds, and
``UpstreamCatalogSource``, which reads through it and builds snapshots in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import anyio

from regogate.config import ConnectionConfig
from regogate.errors import RegogateError
from regogate.policy.catalog import CatalogSnapshot
from regogate.policy.catalog_rows import (
    CatalogBase,
    catalog_base,
    definitions_needed,
    known_view_versions,
    snapshot_from_rows,
)
from regogate.policy.catalog_source import catalog_unavailable
from regogate.policy.catalog_sql import (
    Row,
    as_json,
    catalog_query,
    definition_query,
    json_rows,
    lookup_names,
    lookup_statement,
    version_query,
)
from regogate.proxy import upstream as upstream_mod
from regogate.wire.backend import DataRow, ErrorResponse, ParameterStatus
from regogate.wire.frontend import Query, Terminate

log = logging.getLogger("regogate.catalog")


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
        self.prepared: set[str] = set()  # statements PREPAREd on this session
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
        # Lookups of names a snapshot does not know run on a side session of their own,
        # one at a time per connection: they never queue behind a read.
        self._lookups: dict[str, SideSession] = {}
        self._lookup_locks: dict[str, anyio.Lock] = {}

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

    async def lookup(
        self, conn: ConnectionConfig, names: Sequence[tuple[str, str]]
    ) -> list[Row] | None:
        """The rows of the named relations read now, and of what their rows are built
        from (catalog_sql.lookup_query); None when none of them exists (for the side
        session: a client's uncommitted relation does not). Milliseconds: only those
        relations' catalog rows are read, on a side session of its own."""
        lock = self._lookup_locks.setdefault(conn.name, anyio.Lock())
        argument = lookup_names(names)
        async with lock:
            result = await self._lookup(conn, argument, definitions=self.limits.guard_locks)
            if isinstance(result, StatementError) and result.sqlstate != "26000":
                why = result.message  # a lock taken meanwhile: without definitions
                log.info("catalog of %s: lookup without definitions (%s)", conn.name, why)
                result = await self._lookup(conn, argument, definitions=False)
        rows = decode_json_rows(self._rows(conn, result))
        if not any(row and row[0] == "relation" for row in rows):
            return None
        return rows

    async def _lookup(self, conn: ConnectionConfig, argument: str, *, definitions: bool) -> Result:
        """One lookup statement, PREPAREd once per side session (planning it costs more
        than running it); prepared again on a session that lost it (26000)."""
        name = "regogate_lookup" if definitions else "regogate_lookup_nodefs"
        execute = f"EXECUTE {name}('{argument}')"
        for _ in range(2):
            session = await self._session(conn, self._lookups)
            statements = [execute]
            if name not in session.prepared:
                statement = as_json(lookup_statement("$1", definitions=definitions))
                # A generic plan from the start: a custom one is planned at each run.
                statements[:0] = [
                    "SET plan_cache_mode = force_generic_plan",
                    f"PREPARE {name}(text) AS {statement}",
                ]
            results = await self._run(conn, statements, self._lookups)
            result = results[-1]
            current = self._lookups.get(conn.name)
            if isinstance(result, StatementError) and result.sqlstate == "26000":
                if current is not None:
                    current.prepared.discard(name)
                continue
            if current is not None and not any(isinstance(r, StatementError) for r in results):
                current.prepared.add(name)
            return result
        return result

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
        return [definition_query(oid, guard_locks=self.limits.guard_locks) for oid in oids]

    def _version_query(self, conn: ConnectionConfig) -> str:
        checked = self._checked.get(conn.name)
        return version_query(checked[0] if checked is not None else None)

    def _version(self, conn: ConnectionConfig, result: Result) -> str:
        rows = decode_rows(self._rows(conn, result))
        if len(rows) != 1 or rows[0][0] is None:
            raise catalog_unavailable(conn, "the catalog version query returned no row")
        snapshot, fingerprint = rows[0][0], rows[0][1]
        if fingerprint is None:  # nothing committed since the last check
            last = self._checked.get(conn.name)
            if last is None:
                raise catalog_unavailable(conn, "the catalog version query returned no version")
            fingerprint = last[1]
        self._checked[conn.name] = (snapshot, fingerprint)
        return fingerprint

    def _rows(self, conn: ConnectionConfig, result: Result) -> list[bytes]:
        if isinstance(result, StatementError):
            raise catalog_unavailable(conn, f"{result.message} [{result.sqlstate}]")
        return result

    async def _run(
        self,
        conn: ConnectionConfig,
        statements: list[str],
        sessions: dict[str, SideSession] | None = None,
    ) -> list[Result]:
        """Run on the connection's side session (of ``sessions``: the reads' by default);
        a kept session found dead (terminated, server restarted) is replaced once. A
        session whose statements did not finish (cancelled, timed out) is closed: its
        results would be read as the next statement's."""
        pool = self._sessions if sessions is None else sessions
        while True:
            kept = conn.name in pool
            session = await self._session(conn, pool)
            finished = False
            try:
                results = await session.run(statements)
                finished = True
                return results
            except RegogateError as exc:  # a protocol violation
                raise catalog_unavailable(conn, exc.message) from None
            except TimeoutError:
                limit = self.limits.statement_timeout
                raise catalog_unavailable(
                    conn, f"the catalog query took longer than {limit:g}s"
                ) from None
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                await self._close(conn, pool)
                if not kept:
                    raise catalog_unavailable(conn, "the upstream closed the connection") from None
                log.info("catalog of %s: side session lost, reconnecting", conn.name)
            finally:
                if not finished:
                    await self._close(conn, pool)

    async def _session(
        self, conn: ConnectionConfig, pool: dict[str, SideSession] | None = None
    ) -> SideSession:
        pool = self._sessions if pool is None else pool
        session = pool.get(conn.name)
        if session is None:
            try:
                session = await SideSession.open(conn, self.limits)
            except RegogateError as exc:
                raise catalog_unavailable(conn, exc.message) from None
            pool[conn.name] = session
        return session

    async def _close(self, conn: ConnectionConfig, pool: dict[str, SideSession]) -> None:
        session = pool.pop(conn.name, None)
        if session is not None:
            with anyio.CancelScope(shield=True):
                await session.aclose()

    async def release(self, conn: ConnectionConfig) -> None:
        await self._close(conn, self._sessions)
        await self._close(conn, self._lookups)

    async def aclose(self) -> None:
        for session in [*self._sessions.values(), *self._lookups.values()]:
            with anyio.CancelScope(shield=True):
                await session.aclose()
        self._sessions.clear()
        self._lookups.clear()


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
