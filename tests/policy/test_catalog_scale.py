"""What a catalog read costs, measured on the demo bank database and on a database with
~2,000 relations and 200 views (``wide_schema``): a first read, a refresh after one DDL
(definitions and lineage reused), the version check; and how much of it runs on the
event loop's thread. Run with ``-s`` to see the numbers (docs/catalog.md quotes them)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable, Iterator

import anyio
import psycopg
import pytest

from regogate.config import ConnectionConfig, Secret
from regogate.policy import catalog_fetch
from regogate.policy.catalog import CatalogSnapshot
from regogate.policy.catalog_fetch import UpstreamCatalogSource
from tests.fix_pg import PgFixture


def wide_schema(schemas: int = 10, tables: int = 180, views: int = 200) -> str:
    """``schemas`` x ``tables`` tables of six columns and ``views`` views joining two of
    them (every fourth view reads the previous view): 2,000 relations by default."""
    out: list[str] = []
    for s in range(schemas):
        out.append(f"CREATE SCHEMA s{s};")
        out += [
            f"CREATE TABLE s{s}.t{t} (id bigint PRIMARY KEY, a text, b int, c timestamptz,"
            f" d numeric, e text);"
            for t in range(tables)
        ]
    for v in range(views):
        s, t = v % schemas, v % tables
        if v % 4 == 3:
            body = f"SELECT id, a, yb, ue FROM s{(v - 1) % schemas}.v{v - 1} WHERE yb > 0"
        else:
            body = (
                f"SELECT x.id, x.a, y.b AS yb, upper(x.e) AS ue FROM s{s}.t{t} x"
                f" JOIN s{(s + 1) % schemas}.t{t} y ON y.id = x.id"
            )
        out.append(f"CREATE VIEW s{s}.v{v} AS {body};")
    return "\n".join(out)


@pytest.fixture(scope="module")
def wide(pg: PgFixture) -> Iterator[str]:
    pg.sql("DROP DATABASE IF EXISTS catalog_wide WITH (FORCE)")
    pg.sql("CREATE DATABASE catalog_wide OWNER rg_scram")
    pg.sql(f"SET ROLE rg_scram;\n{wide_schema()}", dbname="catalog_wide")
    yield "catalog_wide"
    pg.sql("DROP DATABASE IF EXISTS catalog_wide WITH (FORCE)")


def _conn(pg: PgFixture, db: str) -> ConnectionConfig:
    return ConnectionConfig(db, "127.0.0.1", pg.port, db, "rg_scram", Secret(pg.password))


async def _measure(step: Callable[[], Awaitable[object]], runs: int) -> tuple[float, float, float]:
    """Median wall time, median CPU time of this (the event loop's) thread, and the
    longest gap between 1 ms ticks of another task, over ``runs`` runs (ms)."""
    walls: list[float] = []
    cpus: list[float] = []
    gap = 0.0
    for _ in range(runs):
        stop = anyio.Event()
        gaps: list[float] = []

        async def tick(stop: anyio.Event = stop, gaps: list[float] = gaps) -> None:
            last = time.perf_counter()
            while not stop.is_set():
                await anyio.sleep(0.001)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        async with anyio.create_task_group() as tg:
            tg.start_soon(tick)
            await anyio.sleep(0.005)
            cpu, wall = time.thread_time(), time.perf_counter()
            await step()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.thread_time() - cpu)
            stop.set()
        gap = max(gap, *gaps)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000, gap * 1000


@pytest.mark.parametrize("db", ["bank", "wide"])
def test_read_costs(pg: PgFixture, wide: str, db: str) -> None:
    conn = _conn(pg, wide if db == "wide" else "bank")
    report: dict[str, tuple[float, float, float]] = {}

    async def main() -> None:
        async def first_read(cold: bool) -> CatalogSnapshot:
            if cold:  # built-ins not read yet in this process
                catalog_fetch._BUILTINS.clear()
            source = UpstreamCatalogSource()
            try:
                return await source.read(conn, None)
            finally:
                await source.aclose()

        report["first read, built-ins too"] = await _measure(lambda: first_read(True), 3)
        report["first read (new session)"] = await _measure(lambda: first_read(False), 3)
        source = UpstreamCatalogSource()
        try:
            previous = await source.read(conn, None)
            with psycopg.connect(
                f"host=127.0.0.1 port={pg.port} user=rg_scram password={pg.password} "
                f"dbname={conn.database}",
                autocommit=True,
            ) as direct:
                made = [0]

                async def refresh_after_ddl() -> CatalogSnapshot:
                    made[0] += 1
                    await anyio.to_thread.run_sync(
                        direct.execute, f"CREATE TABLE scale_probe_{made[0]} (id int)"
                    )
                    return await source.read(conn, previous)

                report["refresh after one DDL"] = await _measure(refresh_after_ddl, 5)
                report["version check, nothing committed"] = await _measure(
                    lambda: source.version(conn), 9
                )

                async def check_after_commit() -> str:
                    await anyio.to_thread.run_sync(direct.execute, "SELECT txid_current()")
                    return await source.version(conn)

                report["version check after a commit"] = await _measure(check_after_commit, 9)
                again = await source.read(conn, previous)
                for n in range(1, made[0] + 1):
                    direct.execute(f"DROP TABLE scale_probe_{n}")
        finally:
            await source.aclose()
        views = [r for r in again.relations.values() if r.kind == "view" and r.definition]
        assert all(r.view_columns for r in views)
        report["relations"] = (float(len(again.relations)), float(len(views)), 0.0)

    anyio.run(main)
    print(f"\n{db}: {int(report.pop('relations')[0])} relations")
    for what, (wall, cpu, gap) in report.items():
        print(
            f"  {what:36} wall {wall:7.1f} ms   loop-thread CPU {cpu:6.1f} ms   max tick gap {gap:5.1f} ms"
        )
    wall, cpu, _ = report["refresh after one DDL"]
    # Before: 81 ms (bank) / 334 ms (wide) per fetch, 51 / 240 ms of it on the event loop.
    assert cpu < 30, f"{cpu:.1f} ms of a refresh ran on the event loop"
    assert wall < report["first read (new session)"][0] * 1.5
