"""Looking up the names a snapshot does not know: only those relations (and what their rows
are built from) are read, in milliseconds, never waiting on a client's locks, and put in
a new generation of the snapshot; names that do not exist (or not for the side session:
uncommitted) leave the snapshot as it was."""

from __future__ import annotations

import time

import anyio
import pytest

from regogate.policy.catalog_cache import CatalogCache
from regogate.policy.catalog_fetch import UpstreamCatalogSource
from regogate.policy.catalog_rows import merge_lookup
from tests.policy.test_catalog_locks import FAST, Database, db, lineage, run

__all__ = ["db"]  # the fixture, imported


def test_a_new_relation_is_read_with_what_it_is_built_from(db: Database) -> None:
    async def body(source: UpstreamCatalogSource) -> None:
        before = await source.read(db.conn, None)
        with db.client() as client:
            client.execute(
                "CREATE TABLE parent (id int, ssn text) PARTITION BY RANGE (id);"
                "CREATE TABLE child PARTITION OF parent FOR VALUES FROM (0) TO (100);"
                "CREATE VIEW inner_v AS SELECT id, ssn AS s FROM child;"
                "CREATE VIEW outer_v AS SELECT s AS x FROM inner_v;"
            )
        started = time.perf_counter()
        rows = await source.lookup(db.conn, [("public", "outer_v")])
        took = time.perf_counter() - started
        assert rows is not None
        merged = merge_lookup(before, rows)
        assert merged is not None and took < FAST
        outer = merged.relations[("public", "outer_v")]
        # The views it reads, and theirs, transitively: complete base tables and lineage.
        assert set(outer.base_tables) == {("public", "inner_v"), ("public", "child")}
        assert lineage(merged, "outer_v", "x") >= {"public.outer_v.x", "public.child.ssn"}
        assert merged.relations[("public", "child")].parents == (("public", "parent"),)
        assert merged.relations[("public", "child")].oid is not None
        # What was there is kept as it was; the version too (a check still reads all).
        assert merged.relations[("public", "people")] is before.relations[("public", "people")]
        assert merged.version == before.version

    run(body)


def test_names_that_do_not_exist_or_are_uncommitted_are_not_found(db: Database) -> None:
    async def body(source: UpstreamCatalogSource) -> None:
        await source.read(db.conn, None)
        assert await source.lookup(db.conn, [("public", "nothing_here")]) is None
        with db.client() as client:
            client.execute("BEGIN")
            client.execute("CREATE TABLE not_yet (id int)")
            assert await source.lookup(db.conn, [("public", "not_yet")]) is None
            client.execute("COMMIT")
        assert await source.lookup(db.conn, [("public", "not_yet")]) is not None

    run(body)


@pytest.mark.parametrize(
    "name", ["it's", 'q"uote', "back\\slash", "ünï", "a.b", "$1", "x'; DROP TABLE people; --"]
)
def test_any_name_is_looked_up_as_data(db: Database, name: str) -> None:
    quoted = '"' + name.replace('"', '""') + '"'

    async def body(source: UpstreamCatalogSource) -> None:
        with db.client() as client:
            client.execute(f"CREATE TABLE {quoted} (v int)")
        rows = await source.lookup(db.conn, [("public", name), ("public", "people")])
        assert rows is not None
        names = {r[2] for r in rows if r[0] == "relation"}
        assert names == {name, "people"}

    run(body)
    with db.client() as client:
        assert client.execute("SELECT count(*) FROM people").fetchone() is not None


def test_a_lookup_never_waits_on_a_client_lock(db: Database) -> None:
    """A client holds AccessExclusiveLock on a view's table: the view's definition is
    left unread (unknown lineage, conservative), and the lookup does not wait."""

    async def body(source: UpstreamCatalogSource) -> None:
        before = await source.read(db.conn, None)
        with db.client() as client:
            client.execute("CREATE TABLE locked_t (id int, ssn text)")
            client.execute("CREATE VIEW over_locked AS SELECT ssn FROM locked_t")
            client.execute("BEGIN")
            client.execute("LOCK TABLE locked_t IN ACCESS EXCLUSIVE MODE")
            started = time.perf_counter()
            rows = await source.lookup(db.conn, [("public", "over_locked")])
            assert time.perf_counter() - started < FAST
            client.execute("ROLLBACK")
        assert rows is not None
        merged = merge_lookup(before, rows)
        assert merged is not None
        assert ("public", "over_locked") in merged.unread_views
        assert lineage(merged, "over_locked", "ssn") >= {"public.locked_t.*"}

    run(body)


def test_the_cache_serves_a_lookup_as_a_new_generation(db: Database) -> None:
    async def main() -> None:
        source = UpstreamCatalogSource()
        cache = CatalogCache(source, check_interval=60.0)
        async with anyio.create_task_group() as tg:
            await tg.start(cache.run)
            _, first = await cache.get(db.conn)
            same, gen = await cache.lookup(db.conn, [("public", "absent")], timeout=5.0)
            assert gen == first and ("public", "absent") not in same.relations
            with db.client() as client:
                client.execute("CREATE TABLE fresh_t (id int, note text)")
            snap, gen = await cache.lookup(db.conn, [("public", "fresh_t")], timeout=5.0)
            assert gen > first
            assert snap.relations[("public", "fresh_t")].columns == ("id", "note")
            served, now = await cache.get(db.conn)
            assert now == gen and ("public", "fresh_t") in served.relations
            assert cache.fetches == 1  # no full read for it
            # A lookup merged into the snapshot served; a full read replaces it (the gate
            # looks up its own DDL's relations again then: CatalogCache.replaced).
            assert cache.replaced(db.conn) == 1
            await cache.refresh(db.conn, timeout=5.0)
            assert cache.replaced(db.conn) == 2
            tg.cancel_scope.cancel()

    anyio.run(main)
