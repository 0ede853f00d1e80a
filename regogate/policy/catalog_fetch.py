"""Reading catalog facts from the upstream: one query on a short-lived side connection.

The snapshot (columns, views and their lineage, schemas, functions, search_path) feeds
statement facts. It is cached per configured connection (the gateway's upstream role sees
the same catalog for every session of that connection) and refreshed after DDL through
the gateway or when it is older than ``max_age``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from regogate.config import ConnectionConfig
from regogate.errors import PolicyUnavailable, RegogateError
from regogate.policy.catalog import CATALOG_QUERY, CatalogSnapshot, Row, snapshot_from_rows
from regogate.proxy import upstream as upstream_mod
from regogate.wire.backend import DataRow, ErrorResponse
from regogate.wire.frontend import Query

log = logging.getLogger("regogate.catalog")

Fetcher = Callable[[ConnectionConfig], Awaitable[CatalogSnapshot]]


async def fetch_catalog(conn: ConnectionConfig, timeout: float = 10.0) -> CatalogSnapshot:
    """Run CATALOG_QUERY on a fresh upstream connection and build the snapshot."""
    try:
        up = await upstream_mod.connect(
            conn, {"application_name": "regogate catalog"}, timeout=timeout
        )
    except upstream_mod.UpstreamRejected as exc:
        raise _unavailable(conn, exc.message) from None
    except RegogateError as exc:
        raise _unavailable(conn, exc.message) from None
    rows: list[Row] = []
    error: str | None = None
    try:
        with anyio.fail_after(timeout):
            await up.stream.send(Query(CATALOG_QUERY).encode())
            done = False
            while not done:
                frame = up.reader.next_frame()
                if frame is None:
                    up.reader.feed(await up.stream.receive(262144))
                    continue
                if frame.tag == b"D":
                    values = DataRow.decode(frame.body).values
                    rows.append(tuple(None if v is None else v.decode() for v in values))
                elif frame.tag == b"E":
                    error = ErrorResponse.decode(frame.body).message
                elif frame.tag == b"Z":
                    done = True
            await up.stream.send(b"X\x00\x00\x00\x04")
    except TimeoutError:
        raise _unavailable(conn, f"the catalog query took longer than {timeout:g}s") from None
    except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
        raise _unavailable(conn, "the upstream closed the connection") from None
    finally:
        await anyio.aclose_forcefully(up.stream)
    if error is not None:
        raise _unavailable(conn, error)
    return snapshot_from_rows(rows)


def _unavailable(conn: ConnectionConfig, why: str) -> PolicyUnavailable:
    return PolicyUnavailable(
        f"regogate could not read the catalog of connection {conn.name!r} ({why}); "
        f"statement denied (fail closed)",
        hint="the statement cannot be analysed without the catalog; retry in a moment",
    )


@dataclass
class _Entry:
    snapshot: CatalogSnapshot
    generation: int
    fetched: float


class CatalogCache:
    """One snapshot per configured connection; concurrent sessions share one fetch."""

    def __init__(
        self,
        fetch: Fetcher,
        *,
        max_age: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._fetch = fetch
        self._max_age = max_age
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self._generation = 0
        self.fetches = 0

    async def get(self, conn: ConnectionConfig) -> tuple[CatalogSnapshot, int]:
        """The snapshot for ``conn`` and its generation (part of every analysis cache key)."""
        entry = self._entries.get(conn.name)
        if entry is not None and self._clock() - entry.fetched < self._max_age:
            return entry.snapshot, entry.generation
        lock = self._locks.setdefault(conn.name, anyio.Lock())
        async with lock:
            entry = self._entries.get(conn.name)
            if entry is not None and self._clock() - entry.fetched < self._max_age:
                return entry.snapshot, entry.generation
            snapshot = await self._fetch(conn)
            self.fetches += 1
            self._generation += 1
            entry = _Entry(snapshot, self._generation, self._clock())
            self._entries[conn.name] = entry
            log.debug("catalog of %s: %d relations", conn.name, len(snapshot.relations))
            return entry.snapshot, entry.generation

    def invalidate(self, name: str) -> None:
        """Forget a connection's snapshot (after DDL): the next statement refetches it."""
        self._entries.pop(name, None)
