"""The PostgreSQL store on the real server: schema and version table, restart keeps
decided requests, and two processes sharing it: a request created and held by this one
is decided by another process and this one is woken by LISTEN/NOTIFY (polling is set to
a minute, so only the notification can wake it in time)."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator

import anyio
import psycopg
import pytest

from regogate.approvals.model import Status, Verdict
from regogate.approvals.service import ApprovalService
from regogate.approvals.store_pg import open_pg_store
from tests.approvals.conftest import draft, person
from tests.fix_pg import PgFixture


@pytest.fixture
def dsn(pg: PgFixture) -> Iterator[str]:
    name = f"approvals_{uuid.uuid4().hex[:8]}"
    pg.sql(f"CREATE DATABASE {name}", dbname="postgres")
    try:
        yield pg.admin_dsn(name)
    finally:
        pg.sql(f"DROP DATABASE {name} WITH (FORCE)", dbname="postgres")


DECIDE = textwrap.dedent(
    """
    import sys, anyio
    from regogate.approvals.model import Verdict
    from regogate.approvals.service import ApprovalService
    from regogate.approvals.store_pg import open_pg_store
    from tests.approvals.conftest import person

    async def main():
        async with open_pg_store(sys.argv[1]) as store:
            svc = ApprovalService(store, instance="gw-B")
            done = await svc.decide(person("bob"), sys.argv[2], Verdict.APPROVE, "from B")
            print(done.status.value)

    anyio.run(main)
    """
)


def test_two_processes_share_the_store_and_notify_wakes_the_holder(dsn: str) -> None:
    async def main() -> None:
        async with open_pg_store(dsn, poll=60) as store:
            svc = ApprovalService(store, instance="gw-A")
            r = await svc.create_request(draft())
            got: list[Status] = []

            async def holder() -> None:
                got.append((await svc.wait(r.id)).status)

            async with anyio.create_task_group() as tg:
                tg.start_soon(holder)
                out = await anyio.run_process([sys.executable, "-c", DECIDE, dsn, r.id], check=True)
                decided_at = anyio.current_time()
                assert out.stdout.decode().strip() == "approved"
                with anyio.fail_after(10):  # far less than the 60 s poll
                    while not got:
                        await anyio.sleep(0.01)
                woke_after = anyio.current_time() - decided_at
            assert got == [Status.APPROVED]
            assert woke_after < 5
            used = await svc.consume(r.id, r.bound_digest)
            assert used.status is Status.CONSUMED
            assert used.votes[0].comment == "from B"

    anyio.run(main)


def test_schema_is_versioned_and_restart_keeps_decided_requests(dsn: str) -> None:
    ids: list[str] = []

    async def first() -> None:
        async with open_pg_store(dsn) as store:
            svc = ApprovalService(store, instance="gw-A")
            ids.append((await svc.create_request(draft())).id)
            decided = await svc.create_request(draft())
            await svc.decide(person("bob"), decided.id, Verdict.DENY, "no")
            ids.append(decided.id)

    async def restarted() -> None:
        async with open_pg_store(dsn) as store:  # migrates again: a no-op
            svc = ApprovalService(store, instance="gw-A")
            assert [w.id for w in await svc.recover()] == [ids[0]]
            kept = await svc.get(ids[1])
            assert kept.status is Status.DENIED
            assert kept.votes[0].comment == "no"

    anyio.run(first)
    anyio.run(restarted)
    with psycopg.connect(dsn) as conn:
        versions = conn.execute("SELECT version FROM regogate_approvals.schema_version").fetchall()
        assert versions == [(1,)]
        statuses = dict(conn.execute("SELECT id, status FROM regogate_approvals.requests"))
        assert statuses == {ids[0]: "withdrawn", ids[1]: "denied"}
