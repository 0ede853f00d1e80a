"""The seam between the catalog cache and where its snapshots come from: the
``CatalogSource`` protocol, a plain fetch function as a source, and the fail-closed error
both sides raise when a catalog cannot be read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable

from regogate.config import ConnectionConfig
from regogate.errors import PolicyUnavailable
from regogate.policy.catalog import CatalogSnapshot
from regogate.policy.catalog_sql import Row

Fetcher = Callable[[ConnectionConfig], Awaitable[CatalogSnapshot]]


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


@runtime_checkable
class CatalogLookup(Protocol):
    """A source that can read a few named relations on their own (a statement names
    what the snapshot does not know): their rows (catalog_sql.lookup_query), or None
    when none of them exists."""

    async def lookup(
        self, conn: ConnectionConfig, names: Sequence[tuple[str, str]]
    ) -> list[Row] | None: ...


def catalog_unavailable(conn: ConnectionConfig, why: str) -> PolicyUnavailable:
    return PolicyUnavailable(
        f"regogate could not read the catalog of connection {conn.name!r} ({why}); "
        f"statement denied (fail closed)",
        hint="the statement cannot be analysed without the catalog; retry in a moment",
    )


class FetcherSource:
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
