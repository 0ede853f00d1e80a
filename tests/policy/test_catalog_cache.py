"""CatalogCache with a fake source: stale-while-revalidate, coalesced refreshes, refresh()
semantics, failures and backoff, the periodic version check, idle connections, and the
inline mode used when no worker runs."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import pytest

from regogate.config import ConnectionConfig
from regogate.errors import PolicyUnavailable
from regogate.policy.catalog import CatalogSnapshot, Relation
from regogate.policy.catalog_cache import CatalogCache
from regogate.policy.catalog_source import CatalogSource

CONN = ConnectionConfig("bank", "127.0.0.1", 5432, "bank", "u", None)
OTHER = ConnectionConfig("other", "127.0.0.1", 5432, "other", "u", None)


def snap(version: str, *tables: str) -> CatalogSnapshot:
    rels = {("public", t): Relation("public", t, "table", ("id",)) for t in tables}
    return CatalogSnapshot(relations=rels, version=version)


@dataclass
class FakeSource:
    """A catalog whose version and tables the test sets; reads can be held or fail."""

    version_now: str = "v1"
    tables: tuple[str, ...] = ("t1",)
    reads: int = 0
    versions: int = 0
    releases: int = 0
    gate: anyio.Event | None = None  # reads wait for it while set
    fail: Exception | None = None
    fail_versions: Exception | None = None
    reading: int = 0
    most_at_once: int = 0
    started_reads: list[float] = field(default_factory=list)

    async def read(
        self, conn: ConnectionConfig, previous: CatalogSnapshot | None
    ) -> CatalogSnapshot:
        self.reading += 1
        self.most_at_once = max(self.most_at_once, self.reading)
        self.started_reads.append(anyio.current_time())
        try:
            version, tables = self.version_now, self.tables
            if self.gate is not None:
                await self.gate.wait()
            self.reads += 1
            if self.fail is not None:
                raise self.fail
            return snap(version, *tables)
        finally:
            self.reading -= 1

    async def version(self, conn: ConnectionConfig) -> str | None:
        self.versions += 1
        if self.fail_versions is not None:
            raise self.fail_versions
        return self.version_now

    async def release(self, conn: ConnectionConfig) -> None:
        self.releases += 1

    async def aclose(self) -> None:
        return None


def run_with_cache(
    test: Callable[[CatalogCache, FakeSource], Awaitable[None]],
    source: FakeSource | None = None,
    *,
    worker: bool = True,
    **options: float,
) -> None:
    fake = source or FakeSource()
    assert isinstance(fake, CatalogSource)
    settings: dict[str, float] = {"check_interval": 0.05, "idle_after": 10.0}
    settings.update(options)
    cache = CatalogCache(fake, backoff=(0.05, 0.2), **settings)

    async def main() -> None:
        with anyio.fail_after(10):
            if not worker:
                await test(cache, fake)
                return
            async with anyio.create_task_group() as tg:
                await tg.start(cache.run)
                await test(cache, fake)
                tg.cancel_scope.cancel()

    anyio.run(main)


def cache_snapshot(cache: CatalogCache) -> set[tuple[str, str]]:
    state = cache._states.get(CONN.name)
    return set(state.snapshot.relations) if state and state.snapshot else set()


async def eventually(check: Callable[[], bool], timeout: float = 3.0) -> None:
    with anyio.fail_after(timeout):
        while not check():
            await anyio.sleep(0.005)


def test_first_get_waits_then_later_gets_never_wait() -> None:
    async def body(cache: CatalogCache, src: FakeSource) -> None:
        snapshot, generation = await cache.get(CONN)
        assert ("public", "t1") in snapshot.relations and generation == 1
        src.gate = anyio.Event()  # every read from now on hangs
        src.version_now, src.tables = "v2", ("t1", "t2")
        cache.invalidate(CONN)
        await eventually(lambda: src.reading == 1)
        with anyio.fail_after(0.05):  # served at once, stale, while the refresh runs
            again, gen = await cache.get(CONN)
        assert again is snapshot and gen == 1
        src.gate.set()
        await eventually(
            lambda: cache.status(CONN) is not None and cache.status(CONN).generation == 2
        )  # type: ignore[union-attr]
        fresh, gen = await cache.get(CONN)
        assert ("public", "t2") in fresh.relations and gen == 2

    run_with_cache(body)


def test_invalidations_coalesce_into_one_refresh_at_a_time() -> None:
    async def body(cache: CatalogCache, src: FakeSource) -> None:
        await cache.get(CONN)
        src.gate = anyio.Event()
        src.version_now = "v2"
        for _ in range(50):  # a DDL storm
            cache.invalidate(CONN)
        await eventually(lambda: src.reading == 1)
        src.version_now = "v3"  # more DDL commits while the read runs
        for _ in range(50):
            cache.invalidate(CONN)
        src.gate.set()
        await eventually(lambda: src.reads == 3)
        await anyio.sleep(0.1)
        assert src.reads == 3  # the first read, the one running, one more queued
        assert src.most_at_once == 1

    run_with_cache(body, check_interval=60)


def test_refresh_waits_for_a_refresh_started_after_the_call() -> None:
    async def body(cache: CatalogCache, src: FakeSource) -> None:
        await cache.get(CONN)
        src.gate = anyio.Event()
        src.version_now = "v2"
        cache.invalidate(CONN)
        await eventually(lambda: src.reading == 1)  # this one started before refresh()
        src.tables = ("t1", "created")
        src.version_now = "v3"
        result: list[CatalogSnapshot] = []

        async def ask() -> None:
            result.append((await cache.refresh(CONN, timeout=2))[0])

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            await anyio.sleep(0.02)
            src.gate.set()
        assert ("public", "created") in result[0].relations
        assert src.reads == 3

    run_with_cache(body, check_interval=60)


def test_settled_waits_for_the_reads_in_flight_and_the_one_an_invalidation_asked_for() -> None:
    async def body(cache: CatalogCache, src: FakeSource) -> None:
        await cache.get(CONN)
        assert await cache.settled(CONN, timeout=0.01)  # nothing in flight: at once
        src.gate = anyio.Event()
        src.version_now = "v2"
        first = cache.invalidate(CONN)
        await eventually(lambda: src.reading == 1)
        src.version_now = "v3"  # committed while that read runs: seen by the next one
        second = cache.invalidate(CONN)
        assert second == first + 1
        assert not await cache.settled(CONN, timeout=0.05)  # the read is held
        done: list[bool] = []

        async def wait(after: int | None) -> None:
            done.append(await cache.settled(CONN, after=after, timeout=2))

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait, second)
            tg.start_soon(wait, None)
            await anyio.sleep(0.02)
            assert not done
            src.gate.set()
        assert done == [True, True]
        assert src.reads == 3 and cache.status(CONN).version == "v3"  # type: ignore[union-attr]
        assert await cache.settled(CONN, after=first, timeout=0.01)

    run_with_cache(body, check_interval=60)


def test_after_ddl_the_refresh_reads_without_a_version_check_first() -> None:
    async def body(cache: CatalogCache, src: FakeSource) -> None:
        await cache.get(CONN)
        checks, reads = src.versions, src.reads
        src.version_now = "v2"
        await cache.settled(CONN, after=cache.invalidate(CONN), timeout=2)
        assert (src.versions, src.reads) == (checks, reads + 1)
        # DDL that may have changed nothing a snapshot holds: the cheap check first.
        await cache.settled(CONN, after=cache.invalidate(CONN, changed=False), timeout=2)
        assert (src.versions, src.reads) == (checks + 1, reads + 1)

    run_with_cache(body, check_interval=60)


def test_refresh_with_an_unchanged_version_reads_nothing() -> None:
    async def body(cache: CatalogCache, src: FakeSource) -> None:
        first, gen = await cache.get(CONN)
        again, gen2 = await cache.refresh(CONN, timeout=1)
        assert again is first and gen2 == gen
        assert src.reads == 1 and src.versions >= 1

    run_with_cache(body, check_interval=60)


def test_a_read_that_finds_the_same_catalog_keeps_the_generation() -> None:
    async def body(cache: CatalogCache, src: FakeSource) -> None:
        _, gen = await cache.get(CONN)
        src.version_now = "v2"  # a version change that changed nothing the analyser sees
        _, gen2 = await cache.refresh(CONN, timeout=1)
        assert src.reads == 2 and gen2 == gen

    run_with_cache(body, check_interval=60)


def test_refresh_failure_and_timeout_raise_policy_unavailable() -> None:
    async def body(cache: CatalogCache, src: FakeSource) -> None:
        await cache.get(CONN)
        src.version_now = "v2"
        src.fail = PolicyUnavailable("catalog unreadable: boom")
        with pytest.raises(PolicyUnavailable, match="boom"):
            await cache.refresh(CONN, timeout=1)
        src.fail, src.gate = None, anyio.Event()
        with pytest.raises(PolicyUnavailable, match=r"within 0.1s; last error: catalog unreadable"):
            await cache.refresh(CONN, timeout=0.1)
        src.gate.set()

    run_with_cache(body, check_interval=60)


def test_failures_keep_the_snapshot_and_retry_with_backoff() -> None:
    async def body(cache: CatalogCache, src: FakeSource) -> None:
        first, gen = await cache.get(CONN)
        src.version_now = "v2"
        src.fail = RuntimeError("a bug in the reader")  # not even a RegogateError
        cache.invalidate(CONN)
        await eventually(lambda: src.reads >= 4, timeout=3)
        status = cache.status(CONN)
        assert status is not None and status.failures >= 3
        assert status.last_error is not None and "RuntimeError" in status.last_error
        gaps = [b - a for a, b in zip(src.started_reads[1:], src.started_reads[2:], strict=False)]
        assert gaps[0] >= 0.04 and gaps[-1] >= gaps[0]  # backing off
        assert (await cache.get(CONN)) == (first, gen)  # still served
        src.fail, src.tables = None, ("t1", "t9")
        await eventually(lambda: cache.status(CONN).failures == 0)  # type: ignore[union-attr]
        assert (await cache.get(CONN))[1] == gen + 1

    run_with_cache(body)


def test_a_first_read_failure_raises_and_the_next_get_tries_again() -> None:
    async def body(cache: CatalogCache, src: FakeSource) -> None:
        src.fail = PolicyUnavailable("upstream down")
        with pytest.raises(PolicyUnavailable, match="upstream down"):
            await cache.get(CONN)
        src.fail = None
        snapshot, _ = await cache.get(CONN)
        assert ("public", "t1") in snapshot.relations

    run_with_cache(body)


def test_concurrent_first_gets_share_one_read() -> None:
    async def body(cache: CatalogCache, src: FakeSource) -> None:
        src.gate = anyio.Event()
        got: list[int] = []

        async def one() -> None:
            got.append((await cache.get(CONN))[1])

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(one)
            await eventually(lambda: src.reading == 1)
            src.gate.set()
        assert got == [1] * 20 and src.reads == 1

    run_with_cache(body)


def test_changes_made_elsewhere_are_seen_within_the_check_interval() -> None:
    async def body(cache: CatalogCache, src: FakeSource) -> None:
        await cache.get(CONN)
        src.version_now, src.tables = "v2", ("t1", "made_directly")
        changed_at = anyio.current_time()
        while ("public", "made_directly") not in (await cache.get(CONN))[0].relations:
            await anyio.sleep(0.005)
        assert anyio.current_time() - changed_at < 0.05 + 0.1
        versions = src.versions
        await anyio.sleep(0.3)
        assert src.reads == 2  # unchanged versions read nothing
        assert src.versions - versions >= 3

    run_with_cache(body)


def test_a_slow_check_is_spaced_out_to_its_budget() -> None:
    @dataclass
    class SlowVersion(FakeSource):
        async def version(self, conn: ConnectionConfig) -> str | None:
            await anyio.sleep(0.02)
            return await super().version(conn)

    async def body(cache: CatalogCache, src: FakeSource) -> None:
        await cache.get(CONN)
        await anyio.sleep(0.5)
        # 20 ms checks at a 10% budget: one every 0.2 s, not every 0.01 s.
        assert 1 <= src.versions <= 4

    run_with_cache(body, SlowVersion(), check_interval=0.01, check_budget=0.1)


def test_idle_connections_stop_checking_and_check_once_on_return() -> None:
    async def body(cache: CatalogCache, src: FakeSource) -> None:
        await cache.get(CONN)
        await eventually(lambda: src.releases == 1)
        versions = src.versions
        await anyio.sleep(0.2)
        assert src.versions == versions  # dormant: no checks
        src.version_now, src.tables = "v2", ("t1", "while_idle")
        snapshot, _ = await cache.get(CONN)  # waits for one check (and the read)
        assert ("public", "while_idle") in snapshot.relations
        # Dormant again, then woken by DDL rather than by get(): checks resume too.
        await eventually(lambda: src.releases == 2)
        cache.invalidate(CONN)
        await anyio.sleep(0.02)
        src.version_now, src.tables = "v3", ("t1", "after_wake")
        await eventually(lambda: ("public", "after_wake") in cache_snapshot(cache))

    run_with_cache(body, idle_after=0.1)


def test_version_check_failures_keep_serving_and_never_crash() -> None:
    async def body(cache: CatalogCache, src: FakeSource) -> None:
        first, _ = await cache.get(CONN)
        src.fail_versions = PolicyUnavailable("canceling statement due to lock timeout")
        await anyio.sleep(0.3)
        status = cache.status(CONN)
        assert (
            status is not None and status.failures >= 2 and "lock timeout" in str(status.last_error)
        )
        with anyio.fail_after(0.05):
            assert (await cache.get(CONN))[0] is first
        src.fail_versions = None
        await eventually(lambda: cache.status(CONN).failures == 0)  # type: ignore[union-attr]

    run_with_cache(body)


def test_connections_are_independent() -> None:
    async def body(cache: CatalogCache, src: FakeSource) -> None:
        await cache.get(CONN)
        await cache.get(OTHER)
        src.gate = anyio.Event()
        src.version_now = "v2"
        cache.invalidate(CONN)
        await eventually(lambda: src.reading == 1)
        with anyio.fail_after(0.05):
            await cache.get(OTHER)
        src.gate.set()

    run_with_cache(body, check_interval=60)


def test_without_workers_the_caller_refreshes_inline() -> None:
    async def body(cache: CatalogCache, src: FakeSource) -> None:
        _, gen = await cache.get(CONN)
        src.version_now, src.tables = "v2", ("t1", "t2")
        cache.invalidate(CONN)
        snapshot, gen2 = await cache.get(CONN)
        assert ("public", "t2") in snapshot.relations and gen2 == gen + 1
        assert (await cache.refresh(CONN, timeout=1))[1] == gen2
        src.tables = ("t1", "t2", "t3")
        src.version_now = "v3"
        await anyio.sleep(0.06)  # past the check interval: the next get checks inline
        snapshot, _ = await cache.get(CONN)
        assert ("public", "t3") in snapshot.relations

    run_with_cache(body, worker=False)


def test_a_plain_fetch_function_still_works() -> None:
    reads: list[str] = []

    async def fetch(conn: ConnectionConfig) -> CatalogSnapshot:
        reads.append(conn.name)
        return snap("", "t1")

    async def main() -> None:
        cache = CatalogCache(fetch)
        _, gen = await cache.get(CONN)
        assert (await cache.get(CONN))[1] == gen and reads == ["bank"]
        cache.invalidate(CONN)
        assert (await cache.get(CONN))[1] == gen  # read again, same content
        assert reads == ["bank", "bank"]

    anyio.run(main)


@dataclass
class SlowSource(FakeSource):
    """Reads take ``took`` seconds."""

    took: float = 0.1

    async def read(
        self, conn: ConnectionConfig, previous: CatalogSnapshot | None
    ) -> CatalogSnapshot:
        snapshot = await super().read(conn, previous)  # notes when it started
        await anyio.sleep(self.took)
        return snapshot


async def _ddl_storm(cache: CatalogCache, src: FakeSource, seconds: float) -> list[float]:
    """DDL through the gateway every 10 ms for ``seconds`` (each changing the version);
    the gaps between the starts of the reads after the first."""
    await cache.get(CONN)
    began = anyio.current_time()
    while anyio.current_time() - began < seconds:
        src.version_now = f"v{src.reads}"
        cache.invalidate(CONN)
        await anyio.sleep(0.01)
    return [b - a for a, b in itertools.pairwise(src.started_reads[1:])]


def test_reads_asked_for_by_ddl_are_paced_and_waited_for_ones_are_not() -> None:
    """A DDL storm: reads start at most every (1 + pace) x the last read's duration;
    a refresh someone waits for starts at once."""

    async def body(cache: CatalogCache, src: FakeSource) -> None:
        gaps = await _ddl_storm(cache, src, 1.2)
        assert len(gaps) >= 2 and min(gaps) >= 0.27, gaps  # (1 + 2) x 0.1 s, less jitter
        await eventually(lambda: src.reading == 0)
        last = src.started_reads[-1]
        cache.invalidate(CONN)  # paced: would start ~0.3 s after the last read
        asked = anyio.current_time()
        await cache.refresh(CONN, timeout=2.0)  # but this caller waits: at once
        assert src.started_reads[-1] - asked < 0.1 and src.started_reads[-1] > last

    run_with_cache(body, SlowSource(), check_interval=60, pace=2)


def test_paced_reads_are_never_later_than_a_check_would_be() -> None:
    """The default pace (8: reads at most a ninth of the time) is capped by the check
    interval: DDL through the gateway is read at least as soon as a change made outside
    it would be (docs/catalog.md, the staleness bound)."""

    async def body(cache: CatalogCache, src: FakeSource) -> None:
        assert cache.pace == 8.0
        gaps = await _ddl_storm(cache, src, 1.5)
        # (1 + 8) x 0.1 s = 0.9 s uncapped; the 0.3 s check interval caps it.
        assert len(gaps) >= 2 and all(0.27 <= g < 0.6 for g in gaps), gaps

    run_with_cache(body, SlowSource(), check_interval=0.3)
