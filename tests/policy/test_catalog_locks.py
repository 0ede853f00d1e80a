"""Catalog reads on a real PostgreSQL never wait on the locks clients hold, survive
failures mid-way, and see changes made by other clients within the check interval;
function details and inheritance come from pg_proc and pg_inherits."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import psycopg
import pytest

from regogate.config import ConnectionConfig, Secret
from regogate.errors import PolicyUnavailable
from regogate.pgserver import SUPERUSER, PgServer
from regogate.policy.catalog import CatalogSnapshot
from regogate.policy.catalog_cache import CatalogCache
from regogate.policy.catalog_fetch import CatalogLimits, UpstreamCatalogSource
from regogate.policy.facts import analyze
from tests.fix_pg import PgFixture

SCHEMA = """
CREATE TABLE people (id int, name text, ssn text);
CREATE VIEW names AS SELECT id, name FROM people;
CREATE VIEW v AS SELECT 1 AS a;
CREATE TABLE secret (id int, note text);
CREATE FUNCTION locker() RETURNS int LANGUAGE plpgsql
  AS $$ BEGIN LOCK TABLE secret IN ACCESS EXCLUSIVE MODE; RETURN 1; END $$;
CREATE VIEW calls_locker AS SELECT locker() AS x, id, ssn FROM people;
"""
FAST = 1.5  # seconds: a read that waited on a lock would take lock_timeout per view or 10 s
# A lock_timeout longer than FAST: the pg_locks check alone must avoid every wait.
GUARD_ONLY = CatalogLimits(lock_timeout=5.0)


@dataclass
class Database:
    pg: PgFixture
    name: str

    @property
    def conn(self) -> ConnectionConfig:
        return ConnectionConfig(
            self.name, "127.0.0.1", self.pg.port, self.name, "rg_scram", Secret(self.pg.password)
        )

    @property
    def dsn(self) -> str:
        return (
            f"host=127.0.0.1 port={self.pg.port} user=rg_scram "
            f"password={self.pg.password} dbname={self.name}"
        )

    def client(self) -> psycopg.Connection[tuple[object, ...]]:
        """A client connected directly (not through the gateway)."""
        return psycopg.connect(self.dsn, autocommit=True)


@pytest.fixture
def db(pg: PgFixture) -> Iterator[Database]:
    name = f"cat_{uuid.uuid4().hex[:10]}"
    pg.sql(f"CREATE DATABASE {name} OWNER rg_scram")
    pg.sql(f"SET ROLE rg_scram; {SCHEMA}", dbname=name)
    yield Database(pg, name)
    pg.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run(
    body: Callable[[UpstreamCatalogSource], Awaitable[None]], limits: CatalogLimits | None = None
) -> None:
    async def main() -> None:
        source = UpstreamCatalogSource(limits)
        try:
            with anyio.fail_after(60):
                await body(source)
        finally:
            await source.aclose()

    anyio.run(main)


async def timed_read(
    source: UpstreamCatalogSource, db: Database | ConnectionConfig, previous: CatalogSnapshot | None
) -> tuple[CatalogSnapshot, float]:
    started = time.perf_counter()
    snapshot = await source.read(db.conn if isinstance(db, Database) else db, previous)
    return snapshot, time.perf_counter() - started


def lineage(snapshot: CatalogSnapshot, view: str, column: str) -> frozenset[str]:
    rel = snapshot.relations[("public", view)]
    return snapshot.column_lineage(rel)[column]


# -- never waiting on locks ----------------------------------------------------------------


def test_a_client_holding_a_view_lock_does_not_stall_a_refresh(db: Database) -> None:
    """The regression suite's case: BEGIN; ALTER VIEW v RENAME COLUMN a TO b; <read>."""

    async def body(source: UpstreamCatalogSource) -> None:
        first = await source.read(db.conn, None)
        with db.client() as client:
            client.execute("BEGIN")
            client.execute("ALTER VIEW v RENAME COLUMN a TO b")
            client.execute("ALTER VIEW names RENAME COLUMN name TO full_name")
            again, took = await timed_read(source, db, first)
            assert took < FAST, f"refresh took {took:.2f}s"
            # Uncommitted: the committed definitions, kept by version, still hold.
            assert lineage(again, "names", "name") == {"public.names.name", "public.people.name"}
            assert not again.unread_views
            fresh, took = await timed_read(source, db, None)  # a first read, same locks
            assert took < FAST
            assert fresh.unread_views == {("public", "v"), ("public", "names")}
            # Unknown lineage is conservative: the whole base table.
            assert lineage(fresh, "names", "name") == {"public.names.name", "public.people.*"}
            client.execute("ROLLBACK")
        after = await source.read(db.conn, fresh)
        assert not after.unread_views
        assert lineage(after, "names", "name") == {"public.names.name", "public.people.name"}

    run(body, GUARD_ONLY)


def test_a_client_holding_table_locks_does_not_stall_a_refresh(db: Database) -> None:
    async def body(source: UpstreamCatalogSource) -> None:
        first = await source.read(db.conn, None)
        with db.client() as client, db.client() as waiter:
            client.execute("BEGIN")
            client.execute("ALTER TABLE people ADD COLUMN extra int")
            client.execute("LOCK TABLE secret IN ACCESS EXCLUSIVE MODE")
            again, took = await timed_read(source, db, first)
            assert took < FAST, f"refresh took {took:.2f}s"
            assert lineage(again, "names", "name") == {"public.names.name", "public.people.name"}
            # A client *waiting* for a lock queues our request too: also skipped.
            client.execute("ROLLBACK")
            client.execute("BEGIN")
            client.execute("SELECT * FROM people")  # AccessShareLock held ...
            waiter.execute("SET lock_timeout = '5s'")
            async with anyio.create_task_group() as tg:
                # ... and another client waits for AccessExclusiveLock behind it.
                tg.start_soon(anyio.to_thread.run_sync, _try_alter, waiter)
                await anyio.sleep(0.3)
                fresh, took = await timed_read(source, db, None)
                assert took < FAST
                assert ("public", "names") in fresh.unread_views
                client.execute("ROLLBACK")

    run(body, GUARD_ONLY)


def _try_alter(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    conn.execute("ALTER TABLE people ADD COLUMN waited int")
    conn.execute("ALTER TABLE people DROP COLUMN waited")


def test_a_lock_behind_many_views_costs_one_check_not_one_wait_each(db: Database) -> None:
    with db.client() as client:
        client.execute(
            "".join(f"CREATE VIEW many_{i} AS SELECT id, ssn FROM people;" for i in range(60))
        )

    async def body(source: UpstreamCatalogSource) -> None:
        with db.client() as client:
            client.execute("BEGIN")
            client.execute("LOCK TABLE people IN ACCESS EXCLUSIVE MODE")
            snapshot, took = await timed_read(source, db, None)
            client.execute("ROLLBACK")
        assert took < FAST
        assert {f"many_{i}" for i in range(60)} <= {name for _, name in snapshot.unread_views}
        assert lineage(snapshot, "many_7", "id") == {"public.many_7.id", "public.people.*"}
        after = await source.read(db.conn, snapshot)
        assert not after.unread_views
        assert lineage(after, "many_7", "ssn") == {"public.many_7.ssn", "public.people.ssn"}

    run(body, GUARD_ONLY)


def test_a_view_calling_a_function_that_takes_locks(db: Database) -> None:
    async def body(source: UpstreamCatalogSource) -> None:
        with db.client() as client:
            client.execute("BEGIN")
            client.execute("LOCK TABLE secret IN ACCESS EXCLUSIVE MODE")
            snapshot, took = await timed_read(source, db, None)
            assert took < FAST
            # pg_get_viewdef deparses; it never runs locker().
            assert lineage(snapshot, "calls_locker", "ssn") == {
                "public.calls_locker.ssn",
                "public.people.ssn",
            }
            client.execute("ROLLBACK")
        with db.client() as client:
            client.execute(
                "CREATE OR REPLACE FUNCTION locker() RETURNS int LANGUAGE sql AS 'SELECT 2'"
            )
        # The function changed: the view's version did too, its definition is read again.
        again = await source.read(db.conn, snapshot)
        old = snapshot.relations[("public", "calls_locker")].definition_version
        assert again.relations[("public", "calls_locker")].definition_version != old

    run(body, GUARD_ONLY)


def test_view_versions_follow_what_the_definition_text_depends_on(db: Database) -> None:
    """A view's text (pg_get_viewdef) changes with the names and visibility of what it
    reads, not only with its own rule: each such change gives it a new version."""

    def version(snapshot: CatalogSnapshot) -> str | None:
        return snapshot.relations[("public", "names")].definition_version

    async def body(source: UpstreamCatalogSource) -> None:
        first = await source.read(db.conn, None)
        seen = {version(first)}
        steps = [
            ("ALTER TABLE people RENAME COLUMN name TO full_name", "public.people.full_name", True),
            # rg_scram's own schema now shadows public along "$user", public: definitions
            # are printed schema-qualified (search_path ''), so neither text nor lineage move
            (
                "CREATE SCHEMA rg_scram; CREATE TABLE rg_scram.people (id int, full_name text)",
                "public.people.full_name",
                False,
            ),
            (
                "CREATE SCHEMA moved; ALTER TABLE public.people SET SCHEMA moved",
                "moved.people.full_name",
                True,
            ),
        ]
        previous = first
        for ddl, read, changes in steps:
            with db.client() as client:
                client.execute(ddl)
            snapshot = await source.read(db.conn, previous)
            assert (version(snapshot) not in seen) == changes, ddl
            seen.add(version(snapshot))
            rel = next(r for k, r in snapshot.relations.items() if k[1] == "names")
            assert read in snapshot.column_lineage(rel)["name"], (ddl, snapshot.column_lineage(rel))
            previous = snapshot

    run(body)


CATALOGS = ("pg_class", "pg_attribute", "pg_proc", "pg_rewrite", "pg_depend", "pg_namespace")


def test_a_client_locking_the_catalogs_makes_reads_fail_fast_not_hang(db: Database) -> None:
    async def body(source: UpstreamCatalogSource) -> None:
        first = await source.read(db.conn, None)
        with db.client() as client:
            client.execute("BEGIN")
            for name in CATALOGS:
                client.execute(f"LOCK TABLE pg_catalog.{name} IN ACCESS EXCLUSIVE MODE")
            for attempt in (source.read(db.conn, first), source.version(db.conn)):
                started = time.perf_counter()
                with pytest.raises(PolicyUnavailable, match="lock timeout"):
                    await attempt
                assert time.perf_counter() - started < FAST
            client.execute("ROLLBACK")
        again = await source.read(db.conn, first)
        assert again.relations.keys() == first.relations.keys()

    run(body)


def test_cache_keeps_serving_while_the_catalogs_are_locked(db: Database) -> None:
    async def main() -> None:
        cache = CatalogCache(UpstreamCatalogSource(), check_interval=0.1, backoff=(0.1, 0.5))
        async with anyio.create_task_group() as tg:
            await tg.start(cache.run)
            first, generation = await cache.get(db.conn)
            with db.client() as client:
                client.execute("BEGIN")
                for name in CATALOGS:
                    client.execute(f"LOCK TABLE pg_catalog.{name} IN ACCESS EXCLUSIVE MODE")
                cache.invalidate(db.conn)
                await anyio.sleep(1.0)
                status = cache.status(db.conn)
                assert status is not None and status.failures >= 1
                started = time.perf_counter()
                assert await cache.get(db.conn) == (first, generation)
                assert time.perf_counter() - started < 0.05
                with pytest.raises(PolicyUnavailable, match="lock timeout"):
                    await cache.refresh(db.conn, timeout=2)
                client.execute("ROLLBACK")
            with db.client() as client:
                client.execute("CREATE TABLE after_locks (id int)")
            snapshot, _ = await cache.refresh(db.conn, timeout=5)
            assert ("public", "after_locks") in snapshot.relations
            tg.cancel_scope.cancel()

    anyio.run(main)


# -- failing mid-way ------------------------------------------------------------------------


def test_the_per_view_fallback_reads_every_definition_it_can(db: Database) -> None:
    """Without the pg_locks check, the catalog statement itself meets the lock: it fails
    on lock_timeout, and each definition is read on its own; the locked one is left out."""

    async def body(source: UpstreamCatalogSource) -> None:
        with db.client() as client:
            client.execute("BEGIN")
            client.execute("ALTER VIEW v RENAME COLUMN a TO b")
            snapshot, took = await timed_read(source, db, None)
            client.execute("ROLLBACK")
        assert took < FAST
        assert snapshot.unread_views == {("public", "v")}
        assert lineage(snapshot, "names", "name") == {"public.names.name", "public.people.name"}

    run(body, CatalogLimits(guard_locks=False))


def test_a_side_session_killed_mid_read_is_reopened(db: Database) -> None:
    async def main() -> None:
        cache = CatalogCache(UpstreamCatalogSource(), check_interval=0.05, backoff=(0.05, 0.2))
        async with anyio.create_task_group() as tg:
            await tg.start(cache.run)
            await cache.get(db.conn)
            with db.client() as admin:
                for _ in range(5):
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = 'regogate catalog' AND datname = %s",
                        (db.name,),
                    )
                    await anyio.sleep(0.1)
                admin.execute("CREATE TABLE after_kill (id int)")
            snapshot, _ = await cache.refresh(db.conn, timeout=5)
            assert ("public", "after_kill") in snapshot.relations
            tg.cancel_scope.cancel()

    anyio.run(main)


def test_a_ddl_storm_never_blocks_get(db: Database) -> None:
    """Clients create, alter (holding locks a while) and drop views and tables while
    statements ask for the catalog and DDL invalidates it."""

    async def storm(stop: anyio.Event) -> int:
        done = 0
        async with await psycopg.AsyncConnection.connect(db.dsn, autocommit=True) as c:
            while not stop.is_set():
                i = done % 7
                await c.execute(f"CREATE TABLE IF NOT EXISTS s{i} (id int, x text)")
                await c.execute(f"CREATE OR REPLACE VIEW sv{i} AS SELECT id, x FROM s{i}")
                async with c.transaction():
                    await c.execute(f"ALTER TABLE s{i} ADD COLUMN y int")
                    await c.execute(f"ALTER VIEW sv{i} RENAME COLUMN x TO x2")
                    await anyio.sleep(0.03)  # holding AccessExclusiveLock
                await c.execute(f"DROP VIEW sv{i}; DROP TABLE s{i}")
                done += 1
        return done

    async def main() -> None:
        cache = CatalogCache(UpstreamCatalogSource(), check_interval=0.05)
        waits: list[float] = []
        async with anyio.create_task_group() as tg:
            await tg.start(cache.run)
            await cache.get(db.conn)
            stop = anyio.Event()
            counts: list[int] = []

            async def run_storm() -> None:
                counts.append(await storm(stop))

            tg.start_soon(run_storm)
            deadline = time.perf_counter() + 3.0
            while time.perf_counter() < deadline:
                cache.invalidate(db.conn)
                started = time.perf_counter()
                await cache.get(db.conn)
                waits.append(time.perf_counter() - started)
                await anyio.sleep(0.005)
            stop.set()
            await anyio.sleep(0.3)
            with db.client() as client:
                client.execute("CREATE TABLE storm_over (id int)")
            snapshot, _ = await cache.refresh(db.conn, timeout=5)
            status = cache.status(db.conn)
            tg.cancel_scope.cancel()
        assert counts and counts[0] > 5
        assert ("public", "storm_over") in snapshot.relations
        assert not any(
            name.startswith(("s", "sv")) and name[-1].isdigit()
            for _, name in snapshot.relations
            if _ == "public"
        )
        assert status is not None and status.reads > 3
        waits.sort()
        assert waits[-1] < 0.25, f"get waited {waits[-1] * 1000:.0f} ms"

    anyio.run(main)


# -- bounded staleness ----------------------------------------------------------------------


def test_changes_made_directly_are_seen_within_the_check_interval(db: Database) -> None:
    interval = 0.2

    async def main() -> None:
        cache = CatalogCache(UpstreamCatalogSource(), check_interval=interval, check_budget=0.5)
        async with anyio.create_task_group() as tg:
            await tg.start(cache.run)
            await cache.get(db.conn)
            for ddl, seen in [
                (
                    "CREATE TABLE direct_t (id int, ssn text)",
                    lambda s: ("public", "direct_t") in s.relations,
                ),
                (
                    "ALTER TABLE people RENAME COLUMN ssn TO tax_id",
                    lambda s: "tax_id" in s.relations[("public", "people")].columns,
                ),
                (
                    "CREATE VIEW direct_v AS SELECT ssn FROM direct_t",
                    lambda s: bool(
                        s.relations.get(("public", "direct_v"))
                        and s.relations[("public", "direct_v")].view_columns
                    ),
                ),
                (
                    "CREATE FUNCTION direct_f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
                    lambda s: "public.direct_f" in s.function_details,
                ),
            ]:
                with db.client() as client:
                    client.execute(ddl)
                changed = time.perf_counter()
                while not seen((await cache.get(db.conn))[0]):
                    await anyio.sleep(0.01)
                took = time.perf_counter() - changed
                assert took < interval + 1.0, f"{ddl!r} seen after {took:.2f}s"
            tg.cancel_scope.cancel()

    anyio.run(main)


# -- function details and inheritance --------------------------------------------------------


def test_function_details_and_parents_from_postgresql(db: Database) -> None:
    with db.client() as client:
        client.execute(
            """
            CREATE FUNCTION f_sd() RETURNS int LANGUAGE sql SECURITY DEFINER IMMUTABLE
              AS 'SELECT 1';
            CREATE FUNCTION f_sd(int) RETURNS int LANGUAGE plpgsql VOLATILE
              AS 'BEGIN RETURN 1; END';
            CREATE PROCEDURE proc() LANGUAGE sql AS 'SELECT 1';
            CREATE SCHEMA "odd.schema";
            CREATE FUNCTION "odd.schema".f() RETURNS int LANGUAGE sql STABLE AS 'SELECT 1';
            CREATE TABLE m (id int, at date) PARTITION BY RANGE (at);
            CREATE TABLE m2024 PARTITION OF m FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')
              PARTITION BY RANGE (at);
            CREATE TABLE m2024q1 PARTITION OF m2024
              FOR VALUES FROM ('2024-01-01') TO ('2024-04-01');
            CREATE TABLE base (id int);
            CREATE TABLE child () INHERITS (base);
            CREATE INDEX ON m (at);
            """
        )

    async def body(source: UpstreamCatalogSource) -> None:
        snapshot = await source.read(db.conn, None)
        details = snapshot.function_details
        lower = details["pg_catalog.lower"]
        assert (lower.volatility, lower.builtin, lower.kinds) == ("immutable", True, ("function",))
        assert details["pg_catalog.count"].kinds == ("aggregate",)
        assert details["pg_catalog.row_number"].kinds == ("window",)
        assert details["pg_catalog.now"].volatility == "stable"
        assert details["pg_catalog.random"].volatility == "volatile"
        mine = details["public.f_sd"]
        assert (mine.volatility, mine.security_definer, mine.languages, mine.builtin) == (
            "volatile",
            True,
            ("plpgsql", "sql"),
            False,
        )
        assert details["public.proc"].kinds == ("procedure",)
        assert details['"odd.schema".f'].volatility == "stable"
        assert ("public", "f_sd") in snapshot.functions
        rels = snapshot.relations
        assert rels[("public", "m2024q1")].parents == (("public", "m2024"), ("public", "m"))
        assert rels[("public", "child")].parents == (("public", "base"),)
        assert rels[("public", "m")].kind == "partitioned" and rels[("public", "m")].parents == ()
        # The snapshot still drives the analyser as before.
        (facts,) = analyze("select * from names", snapshot).statements
        assert facts.read == (
            "public.names.id",
            "public.names.name",
            "public.people.id",
            "public.people.name",
        )

    run(body)


# -- a prepared transaction holding a lock (pg_locks.pid is NULL) ----------------------------


@pytest.fixture
def pg2pc() -> Iterator[PgServer]:
    base = Path(tempfile.mkdtemp(prefix="regogate-test-2pc-"))
    base.chmod(0o755)  # the server runs as its own user
    server = PgServer(base / "data", settings={"max_prepared_transactions": "4"})
    server.start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


def test_a_prepared_transactions_lock_is_seen(pg2pc: PgServer) -> None:
    server = pg2pc
    server.psql(SCHEMA)
    conn = ConnectionConfig(
        "twophase", "127.0.0.1", server.port, "postgres", SUPERUSER, Secret(server.password)
    )

    async def body(source: UpstreamCatalogSource) -> None:
        first = await source.read(conn, None)
        with psycopg.connect(server.dsn(), autocommit=True) as client:
            client.execute("BEGIN")
            client.execute("ALTER VIEW names RENAME COLUMN name TO full_name")
            client.execute("PREPARE TRANSACTION 'held'")  # its lock outlives the session
        try:
            again, took = await timed_read(source, conn, first)
            assert took < FAST and again.relations.keys() == first.relations.keys()
            fresh, took = await timed_read(source, conn, None)
            assert took < FAST and ("public", "names") in fresh.unread_views
        finally:
            with psycopg.connect(server.dsn(), autocommit=True) as client:
                client.execute("ROLLBACK PREPARED 'held'")

    run(body, GUARD_ONLY)


# -- name safety -----------------------------------------------------------------------------

HIJACK = """
CREATE TABLE hijacked (who text DEFAULT current_user);
CREATE FUNCTION public.hijack(bigint, text) RETURNS text LANGUAGE plpgsql
  AS $$ BEGIN INSERT INTO public.hijacked DEFAULT VALUES; RETURN $1::text || $2; END $$;
CREATE OPERATOR public.|| (LEFTARG = bigint, RIGHTARG = text, FUNCTION = public.hijack);
CREATE FUNCTION public.hijack_ge(oid, integer) RETURNS boolean LANGUAGE plpgsql
  AS $$ BEGIN INSERT INTO public.hijacked DEFAULT VALUES; RETURN $1::int8 >= $2; END $$;
CREATE OPERATOR public.>= (LEFTARG = oid, RIGHTARG = integer, FUNCTION = public.hijack_ge);
CREATE FUNCTION public.unnest(name[]) RETURNS SETOF name LANGUAGE plpgsql
  AS $$ BEGIN INSERT INTO public.hijacked DEFAULT VALUES; RETURN; END $$;
"""


def test_user_operators_and_functions_never_run_in_a_catalog_read(db: Database) -> None:
    """Operators a user made that match argument types better than pg_catalog's would
    be picked along the search_path (CVE-2018-1058): the reads run with search_path ''."""
    with db.client() as client:
        client.execute(HIJACK)

    async def body(source: UpstreamCatalogSource) -> None:
        snapshot = await source.read(db.conn, None)
        await source.version(db.conn)
        with db.client() as client:
            client.execute("CREATE TABLE bump (id int)")
        await source.version(db.conn)
        await source.read(db.conn, snapshot)
        assert snapshot.search_path == ("$user", "public")  # the role's, not the read's
        assert snapshot.connect_schemas == ("pg_catalog", "public")
        assert lineage(snapshot, "names", "name") == {"public.names.name", "public.people.name"}

    run(body)
    with db.client() as client:
        assert client.execute("SELECT count(*) FROM hijacked").fetchone() == (0,)
