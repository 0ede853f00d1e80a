"""The default approval store: one SQLite file beside the recordings (WAL mode).

Calls run in a worker thread, one at a time. Waiters in this process are woken at once;
a change made by another process (the CLI never writes here, but a second gateway on the
same host could) is seen by polling.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import anyio

from regogate.approvals.errors import ApprovalNotFound, ApprovalStoreError
from regogate.approvals.model import ApprovalRequest, Status
from regogate.approvals.store import SCHEMA_VERSION, StaleWrite, Waiters, wait_settled

T = TypeVar("T")
POLL_SECONDS = 0.5

_MIGRATIONS = {
    1: (
        "CREATE TABLE requests ("
        " id TEXT PRIMARY KEY, status TEXT NOT NULL, instance TEXT NOT NULL,"
        " created_at REAL NOT NULL, expires_at REAL NOT NULL, version INTEGER NOT NULL,"
        " body TEXT NOT NULL)",
        "CREATE INDEX requests_status ON requests (status, expires_at)",
        "CREATE INDEX requests_created ON requests (created_at)",
    ),
}


class SqliteStore:
    def __init__(self, path: Path, *, poll: float = POLL_SECONDS):
        self.path = path
        self.waiters = Waiters()
        self._poll = poll
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    def _migrate(self) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT max(version) FROM schema_version").fetchone()
            current = row[0] or 0
            if current > SCHEMA_VERSION:
                raise ApprovalStoreError(
                    f"the approvals store {self.path} has schema version {current}, newer "
                    f"than this regogate's {SCHEMA_VERSION}",
                    hint="upgrade regogate, or point [approvals] sqlite_path elsewhere",
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[version]:
                    db.execute(statement)
                db.execute("INSERT INTO schema_version VALUES (?)", (version,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            with self._lock:
                try:
                    return fn(self._db)
                except sqlite3.Error as exc:
                    raise ApprovalStoreError(
                        f"the approvals store {self.path} failed: {exc}"
                    ) from None

        return await anyio.to_thread.run_sync(call)

    async def aclose(self) -> None:
        await self._run(lambda db: db.close())

    async def insert(self, request: ApprovalRequest) -> None:
        def run(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    request.id,
                    request.status.value,
                    request.instance,
                    request.created_at,
                    request.expires_at,
                    request.version,
                    json.dumps(request.to_json()),
                ),
            )

        await self._run(run)

    async def get(self, request_id: str) -> ApprovalRequest:
        def run(db: sqlite3.Connection) -> str | None:
            row = db.execute("SELECT body FROM requests WHERE id = ?", (request_id,)).fetchone()
            return None if row is None else str(row[0])

        body = await self._run(run)
        if body is None:
            raise ApprovalNotFound(f"no approval request {request_id!r}")
        return ApprovalRequest.from_json(json.loads(body))

    async def replace(self, request: ApprovalRequest) -> ApprovalRequest:
        stored = ApprovalRequest.from_json({**request.to_json(), "version": request.version + 1})

        def run(db: sqlite3.Connection) -> int:
            cur = db.execute(
                "UPDATE requests SET status = ?, version = ?, body = ? "
                "WHERE id = ? AND version = ?",
                (
                    stored.status.value,
                    stored.version,
                    json.dumps(stored.to_json()),
                    request.id,
                    request.version,
                ),
            )
            return cur.rowcount

        if await self._run(run) != 1:
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
        where, args = ["1 = 1"], list[object]()
        if statuses:
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            args.extend(s.value for s in statuses)
        if instance is not None:
            where.append("instance = ?")
            args.append(instance)
        if expires_before is not None:
            where.append("expires_at <= ?")
            args.append(expires_before)
        sql = (
            f"SELECT body FROM requests WHERE {' AND '.join(where)} "
            "ORDER BY created_at DESC LIMIT ?"
        )

        def run(db: sqlite3.Connection) -> list[str]:
            return [str(r[0]) for r in db.execute(sql, (*args, limit)).fetchall()]

        return [ApprovalRequest.from_json(json.loads(b)) for b in await self._run(run)]

    async def wait(self, request_id: str, timeout: float) -> ApprovalRequest:
        return await wait_settled(self, self.waiters, request_id, timeout, self._poll)


@asynccontextmanager
async def open_sqlite_store(
    path: Path, *, poll: float = POLL_SECONDS
) -> AsyncIterator[SqliteStore]:
    try:
        store = await anyio.to_thread.run_sync(lambda: SqliteStore(path, poll=poll))
    except sqlite3.Error as exc:
        raise ApprovalStoreError(f"cannot open the approvals store {path}: {exc}") from None
    try:
        yield store
    finally:
        await store.aclose()
