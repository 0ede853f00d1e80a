"""The shared approval store of several gateway replicas: schema ``regogate_approvals`` in
PostgreSQL, created and migrated by the gateway (a version table, under an advisory
lock), and LISTEN/NOTIFY on ``regogate_approvals`` to wake the replica holding a
statement when another replica decides it.

psycopg 3 (the ``pgstore`` extra). One connection for queries, one that listens; a lost
listener reconnects and wakes every waiter, which then re-read (and poll meanwhile).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

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


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        # psycopg's message may quote the DSN's host and user, never a password (the
        # config refuses one in the URI)
        raise ApprovalStoreError(
            f"the approvals store failed to {what}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None


class PgStore:
    def __init__(
        self, conn: psycopg.AsyncConnection[tuple[object, ...]], *, poll: float = POLL_SECONDS
    ):
        self.waiters = Waiters()
        self._conn = conn
        self._lock = anyio.Lock()
        self._poll = poll

    async def migrate(self) -> None:
        conn = self._conn
        with _translated("migrate its schema"):
            async with self._lock, conn.transaction():
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
                    await conn.execute(
                        f"INSERT INTO {SCHEMA}.schema_version VALUES (%s)", (version,)
                    )

    async def insert(self, request: ApprovalRequest) -> None:
        with _translated("store a request"):
            async with self._lock:
                await self._conn.execute(
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

    async def get(self, request_id: str) -> ApprovalRequest:
        with _translated("read a request"):
            async with self._lock:
                cur = await self._conn.execute(
                    f"SELECT body FROM {SCHEMA}.requests WHERE id = %s", (request_id,)
                )
                row = await cur.fetchone()
        if row is None or not isinstance(row[0], dict):
            raise ApprovalNotFound(f"no approval request {request_id!r}")
        return ApprovalRequest.from_json(row[0])

    async def replace(self, request: ApprovalRequest) -> ApprovalRequest:
        stored = ApprovalRequest.from_json({**request.to_json(), "version": request.version + 1})
        with _translated("update a request"):
            async with self._lock, self._conn.transaction():
                cur = await self._conn.execute(
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
                if cur.rowcount != 1:
                    raise StaleWrite(request.id)
                # delivered at commit, to every replica listening (this one included)
                await self._conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, request.id))
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
        with _translated("list requests"):
            async with self._lock:
                cur = await self._conn.execute(query, (*args, limit))
                rows = await cur.fetchall()
        return [ApprovalRequest.from_json(r[0]) for r in rows if isinstance(r[0], dict)]

    async def wait(self, request_id: str, timeout: float) -> ApprovalRequest:
        return await wait_settled(self, self.waiters, request_id, timeout, self._poll)

    async def listen(self, connect: _Connect) -> None:
        """Wake waiters on every NOTIFY, forever; reconnect (and wake everyone) when the
        listening connection is lost."""
        backoff = 0.5
        while True:
            try:
                async with await connect() as conn:
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


class _Connect:
    def __init__(self, dsn: str, password: str | None):
        self._dsn, self._password = dsn, password

    async def __call__(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        extra = {"application_name": "regogate-approvals"}
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
    connect = _Connect(dsn, password)
    with _translated("connect"):
        conn = await connect()
    try:
        store = PgStore(conn, poll=poll)
        await store.migrate()
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.listen, connect)
            try:
                yield store
            finally:
                tg.cancel_scope.cancel()
    finally:
        await conn.close()
