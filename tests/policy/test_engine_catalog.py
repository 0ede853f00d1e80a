"""The catalog API of PolicyEngine, as the gate uses it: catalog() without waiting,
invalidate_catalog() after DDL, refresh_catalog() before deciding on an unknown name,
run() hosting the refreshes; and analyses cached apart by whether the path is known."""

from __future__ import annotations

from collections.abc import Mapping

import anyio
import pytest

from regogate.errors import PolicyUnavailable
from regogate.policy.catalog import CatalogSnapshot
from regogate.policy.catalog_cache import CatalogCache
from regogate.policy.decision import Decision, parse_decision
from regogate.policy.engine import PolicyEngine
from tests.policy.test_catalog_cache import CONN, FakeSource


class AllowAll:
    async def decide(self, policy_input: Mapping[str, object], revision: str) -> Decision:
        return parse_decision({"allow": True})


def engine(source: FakeSource) -> PolicyEngine:
    cache = CatalogCache(source, check_interval=60, backoff=(0.05, 0.1))
    return PolicyEngine(AllowAll(), cache, revision=lambda: "r1")


def test_the_gate_api() -> None:
    source = FakeSource()
    eng = engine(source)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(eng.run)
            snapshot, generation = await eng.catalog(CONN)
            assert ("public", "t1") in snapshot.relations
            # DDL: refreshed in the background, the current snapshot served meanwhile.
            source.gate = anyio.Event()
            source.version_now, source.tables = "v2", ("t1", "new_table")
            eng.invalidate_catalog(CONN)
            with anyio.fail_after(0.05):
                assert await eng.catalog(CONN) == (snapshot, generation)
            source.gate.set()
            # A statement names a relation the snapshot does not know: look again.
            fresh, newer = await eng.refresh_catalog(CONN, timeout=2)
            assert ("public", "new_table") in fresh.relations and newer > generation
            source.fail = PolicyUnavailable("catalog unreadable")
            source.version_now = "v3"
            with pytest.raises(PolicyUnavailable, match="unreadable"):
                await eng.refresh_catalog(CONN, timeout=2)
            assert (await eng.catalog(CONN))[1] == newer  # still served
            tg.cancel_scope.cancel()

    anyio.run(main)


def test_analyses_are_cached_apart_by_whether_the_path_is_known() -> None:
    eng = engine(FakeSource())
    catalog = CatalogSnapshot()
    known = eng.analyze("select 1", catalog, 1, ("public",), {})
    assert eng.analyze("select 1", catalog, 1, ("public",), {}) is known
    unknown = eng.analyze("select 1", catalog, 1, ("public",), {}, path_known=False)
    assert unknown is not known and eng.stats.analyses == 2
