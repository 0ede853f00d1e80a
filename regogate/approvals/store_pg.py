"""The shared approval store of several gateway replicas: schema ``regogate_approvals`` in
PostgreSQL, created and migrated by the gateway (a version table, under an advisory
lock), and LISTEN/NOTIFY on ``regogate_approvals`` to wake the replica holding a
statement when another replica decides it.

psycopg 3 (the ``pgstore`` extra). One connection for queries, one that listens. Either
reconnects when it is lost (the server restarted, a failover, an idle connection cut):
a query that found its connection gone runs once more on a new one, and a new listener
wakes every waiter, which then re-read (and poll meanwhile).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import anyio
import psycopg
import psycopg.conninfo
from psycopg.types.json import Jsonb

from regogate.approvals.errors import ApprovalNotFound, ApprovalStoreError
from regogate.approvals.model import ApprovalRequest, Status
from regogate.approvals.store import SCHEMA_VERSION, StaleWrite, Waiters, wait_settled

log = logging.getLogger("regogate.approvals")

SCHEMA = "regogate_approvals"
CHANNEL = "regogate_approvals"
POLL_SECONDS = 5.0  # a safety net only: NOTIFY wakes waiters at once
CONNECT_TIMEOUT = 10  # seconds, unless the URI says connect_timeout
_LOCK_KEY = 0x7265676F  # pg_advisory_xact_lock key of migrations ("rego")

_MIGRATIONS = {
    1: (
        "CREATE TABLE regogate_approvals.requests ("
        " id text PRIMARY KEY, status text NOT NULL, instance text NOT NULL,"
        " created_at double precision NOT NULL, expires_at double precision NOT NULL,"
        " version integer NOT NULL, body jsonb NOT NULL)",
        "CREATE INDEX requests_status ON regogate_approvals.requests (status, expires_at)",
        "CREATE INDEX requests_created ON regogate_approvals.requests (created_at)",
    ),
}


T = TypeVar("T")
Conn = psycopg.AsyncConnection[tuple[object, ...]]


def store_error(what: str, exc: psycopg.Error) -> ApprovalStoreError:
    # psycopg's message may quote the DSN's host and user, never a password (the config
    # refuses one in the URI)
    return ApprovalStoreError(
        f"the approvals store failed to {what}: {type(exc).__name__}: "
        f"{str(exc).splitlines()[0] if str(exc) else ''}"
    )


class PgStore:
    def __init__(self, connect: Callable[[], Awaitable[Conn]], *, poll: float = POLL_SECONDS):
        self.waiters = Waiters()
        self._connect = connect
        self._conn: Conn | None = None
        self._lock = anyio.Lock()
        self._poll = poll

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def _connection(self) -> Conn:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = await self._connect()
            except psycopg.Error as exc:
                raise store_error("connect", exc) from None
        return self._conn

    async def _call(self, what: str, query: Callable[[Conn, bool], Awaitable[T]]) -> T:
        """``query(connection, again)`` under the lock, errors translated. A query that
        finds its connection lost runs once more on a new one, told ``again=True``: the
        connection was most likely gone before the statement was sent, and a query that
        writes checks whether its first attempt took effect after all."""
        async with self._lock:
            conn = await self._connection()
            try:
                return await query(conn, False)
            except psycopg.Error as exc:
                if not conn.closed:
                    raise store_error(what, exc) from None
                log.warning(
                    "approvals store: connection lost (%s); reconnecting", type(exc).__name__
                )
            conn = await self._connection()
            try:
                return await query(conn, True)
            except psycopg.Error as exc:
                raise store_error(what, exc) from None

    async def migrate(self) -> None:
        await self._call("migrate its schema", _migrate)

    async def insert(self, request: ApprovalRequest) -> None:
        async def run(conn: Conn, again: bool) -> None:
            try:
                await conn.execute(
                    f"INSERT INTO {SCHEMA}.requests VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (
                        request.id,
                        request.status.value,
                        request.instance,
                        request.created_at,
                        request.expires_at,
                        request.version,
                        Jsonb(request.to_json()),
                    ),
                )
            except psycopg.errors.UniqueViolation:
                if again and await _read(conn, request.id) == request:
                    return  # the first attempt was stored before its connection was lost
                raise

        await self._call("store a request", run)

    async def get(self, request_id: str) -> ApprovalRequest:
        async def run(conn: Conn, again: bool) -> ApprovalRequest | None:
            return await _read(conn, request_id)

        request = await self._call("read a request", run)
        if request is None:
            raise ApprovalNotFound(f"no approval request {request_id!r}")
        return request

    async def replace(self, request: ApprovalRequest) -> ApprovalRequest:
        stored = ApprovalRequest.from_json({**request.to_json(), "version": request.version + 1})

        async def run(conn: Conn, again: bool) -> bool:
            async with conn.transaction():
                cur = await conn.execute(
                    f"UPDATE {SCHEMA}.requests SET status = %s, version = %s, body = %s "
                    "WHERE id = %s AND version = %s",
                    (
                        stored.status.value,
                        stored.version,
                        Jsonb(stored.to_json()),
                        request.id,
                        request.version,
                    ),
                )
                if cur.rowcount == 1:
                    # delivered at commit, to every replica listening (this one included)
                    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, request.id))
                    return True
            # lost the compare-and-set; unless it was our own first attempt that won
            return again and await _read(conn, request.id) == stored

        if not await self._call("update a request", run):
            raise StaleWrite(request.id)
        self.waiters.wake(request.id)
        return stored

    async def select(
        self,
        statuses: Collection[Status] = (),
        *,
        limit: int = 100,
        instance: str | None = None,
        expires_before: float | None = None,
    ) -> list[ApprovalRequest]:
        where, args = ["true"], list[object]()
        if statuses:
            where.append("status = ANY(%s)")
            args.append([s.value for s in statuses])
        if instance is not None:
            where.append("instance = %s")
            args.append(instance)
        if expires_before is not None:
            where.append("expires_at <= %s")
            args.append(expires_before)
        query = (
            f"SELECT body FROM {SCHEMA}.requests WHERE {' AND '.join(where)} "
            "ORDER BY created_at DESC LIMIT %s"
        )

        async def run(conn: Conn, again: bool) -> list[ApprovalRequest]:
            cur = await conn.execute(query, (*args, limit))
            rows = await cur.fetchall()
            return [ApprovalRequest.from_json(r[0]) for r in rows if isinstance(r[0], dict)]

        return await self._call("list requests", run)

    async def wait(self, request_id: str, timeout: float) -> ApprovalRequest:
        return await wait_settled(self, self.waiters, request_id, timeout, self._poll)

    async def listen(self) -> None:
        """Wake waiters on every NOTIFY, forever; reconnect (and wake everyone) when the
        listening connection is lost."""
        backoff = 0.5
        while True:
            try:
                async with await self._connect() as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    backoff = 0.5
                    self.waiters.wake_all()  # changes missed while not listening
                    async for notice in conn.notifies():
                        self.waiters.wake(notice.payload)
            except psycopg.Error as exc:
                log.warning(
                    "approvals store: listening connection lost (%s); retrying", type(exc).__name__
                )
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)


async def _read(conn: Conn, request_id: str) -> ApprovalRequest | None:
    cur = await conn.execute(f"SELECT body FROM {SCHEMA}.requests WHERE id = %s", (request_id,))
    row = await cur.fetchone()
    return ApprovalRequest.from_json(row[0]) if row and isinstance(row[0], dict) else None


async def _migrate(conn: Conn, again: bool) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_version (version integer NOT NULL)"
        )
        cur = await conn.execute(f"SELECT max(version) FROM {SCHEMA}.schema_version")
        row = await cur.fetchone()
        current = int(row[0]) if row and isinstance(row[0], int) else 0
        if current > SCHEMA_VERSION:
            raise ApprovalStoreError(
                f"the approvals schema {SCHEMA} has version {current}, newer than "
                f"this regogate's {SCHEMA_VERSION}",
                hint="upgrade this replica to the version the others run",
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[version]:
                await conn.execute(statement)
            await conn.execute(f"INSERT INTO {SCHEMA}.schema_version VALUES (%s)", (version,))


class _Connect:
    def __init__(self, dsn: str, password: str | None):
        self._dsn, self._password = dsn, password

    async def __call__(self) -> Conn:
        extra = {"application_name": "regogate-approvals"}
        if "connect_timeout" not in psycopg.conninfo.conninfo_to_dict(self._dsn):
            extra["connect_timeout"] = str(CONNECT_TIMEOUT)  # an unreachable store fails
        if self._password is not None:
            extra["password"] = self._password
        conninfo = psycopg.conninfo.make_conninfo(self._dsn, **extra)
        return await psycopg.AsyncConnection.connect(conninfo, autocommit=True)


@asynccontextmanager
async def open_pg_store(
    dsn: str, *, password_file: Path | None = None, poll: float = POLL_SECONDS
) -> AsyncIterator[PgStore]:
    password = None
    if password_file is not None:
        try:
            password = password_file.read_text().strip()
        except OSError as exc:
            raise ApprovalStoreError(
                f"[approvals] store_password_file: cannot read {password_file}: {exc.strerror}"
            ) from None
    store = PgStore(_Connect(dsn, password), poll=poll)
    try:
        await store.migrate()
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.listen)
            try:
                yield store
            finally:
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await store.aclose()
