"""Two `regogate serve` replicas sharing one PostgreSQL approvals store ([approvals]
store = "postgresql://…", docs/approvals.md "Store"): a statement held on one replica
is approved through the other's API or CLI and runs at once (LISTEN/NOTIFY, not the
store's 5 s poll); a replica that stops withdraws what it held, one that crashed
withdraws it when it starts again, and decided requests survive both."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest

from regogate.approvals.errors import ApprovalStoreError
from regogate.approvals.model import Status, Verdict
from regogate.approvals.service import ApprovalService
from regogate.approvals.store_pg import CHANNEL, POLL_SECONDS, SCHEMA, PgStore, open_pg_store
from regogate.identity import token_sha256
from regogate.pgserver import free_port
from tests.approvals.conftest import draft, person
from tests.fix_gateway import GatewayFixture, start_gateway
from tests.fix_pg import PgFixture
from tests.gateway_process import GatewayProcess
from tests.proxy.test_approval_hold_e2e import (
    APPROVER,
    POLICIES,
    POLICY_TIMEOUT,
    Approvals,
    held_update,
)

ACCOUNT = 1311
UPDATE = f"UPDATE accounts SET balance = balance + 2.50 WHERE id = {ACCOUNT}"


@dataclass
class Replica:
    name: str
    gw: GatewayFixture
    api: Approvals

    @property
    def process(self) -> GatewayProcess:
        assert self.gw.process is not None
        return self.gw.process

    def restart(self) -> None:
        """The same config (ports, instance name) in a new process."""
        old = self.process
        assert old.proc.poll() is not None, "stop it first"
        log = old.log.with_name(f"{old.log.stem}.{time.monotonic_ns()}.log")
        self.gw.process = GatewayProcess(old.config, self.gw.pg, old.port, log)


@dataclass
class Replicas:
    a: Replica
    b: Replica
    store_dsn: str  # the store's database, as the test's superuser

    def store_rows(self) -> dict[str, tuple[str, str]]:
        """id -> (status, instance), straight from the shared table."""
        with psycopg.connect(self.store_dsn, autocommit=True) as conn:
            rows = conn.execute(f"SELECT id, status, instance FROM {SCHEMA}.requests").fetchall()
        return {str(i): (str(s), str(n)) for i, s, n in rows}


def replica_extra(tmp: Path, name: str, port: int, store: str, password: Path) -> str:
    """Each replica its own instance name and port; one store, one binding key."""
    key = tmp / "binding.key"
    if not key.exists():
        key.write_text(secrets.token_hex(32))
    return (
        f'[policy]\ndir = "{POLICIES}"\ntimeout = {POLICY_TIMEOUT}\n'
        f'[approvals]\nlisten = "127.0.0.1:{port}"\ntimeout = 60\n'
        f'store = "{store}"\nstore_password_file = "{password}"\n'
        f'instance = "{name}"\nsqlite_path = "{tmp}/{name}-unused.sqlite3"\n'
        f'binding_key_file = "{key}"\nasync_connections = ["bank_tls"]\n'
        f'[[tokens]]\nsub = "{APPROVER[0]}"\ngroups = ["{APPROVER[2]}"]\n'
        f'token_sha256 = "{token_sha256(APPROVER[1])}"\n'
    )


@pytest.fixture(scope="module")
def store_db(pg: PgFixture) -> Iterator[str]:
    """A database of its own for the shared store; its name."""
    db = f"approvals_{uuid.uuid4().hex[:8]}"
    pg.sql(f"CREATE DATABASE {db} OWNER rg_scram", dbname="postgres")
    try:
        yield db
    finally:
        pg.sql(f"DROP DATABASE {db} WITH (FORCE)", dbname="postgres")


@pytest.fixture(scope="module")
def replicas(
    pg: PgFixture, store_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicas]:
    """Gateways A and B for the module; each test ends with nothing pending."""
    tmp = tmp_path_factory.mktemp("approval-replicas")
    password = tmp / "store-password"
    password.write_text(pg.password + "\n")
    password.chmod(0o600)
    store = f"postgresql://rg_scram@127.0.0.1:{pg.port}/{store_db}"

    def start(name: str) -> Replica:
        port = free_port()
        extra = replica_extra(tmp, name, port, store, password)
        gw = start_gateway(pg, tmp / name, extra=extra)
        return Replica(name, gw, Approvals(gw, f"http://127.0.0.1:{port}", tmp))

    started: list[Replica] = []
    try:
        with ThreadPoolExecutor(2) as pool:  # both start at once: half the wait
            futures = [pool.submit(start, name) for name in ("gw-A", "gw-B")]
            for future in futures:
                if future.exception() is None:
                    started.append(future.result())
            for future in futures:
                future.result()  # raises the first failure, once both are done
        yield Replicas(started[0], started[1], pg.admin_dsn(store_db))
    finally:
        for r in started:
            r.process.stop()


def balance(pg: PgFixture) -> Decimal:
    with psycopg.connect(pg.admin_dsn("bank"), autocommit=True) as conn:
        row = conn.execute("SELECT balance FROM accounts WHERE id = %s", (ACCOUNT,)).fetchone()
    assert row is not None and isinstance(row[0], Decimal)
    return row[0]


def wait_for(check: Any, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def sqlstate(out: dict[str, object]) -> str | None:
    error = out.get("error")
    assert isinstance(error, psycopg.Error), out
    return error.sqlstate


def pending(replica: Replica) -> list[dict[str, Any]]:
    answer = replica.api.call("approver", "GET", "/api/v1/requests?status=pending")
    assert answer.status_code == 200, answer.text
    requests: list[dict[str, Any]] = answer.json()["requests"]
    return requests


def test_the_store_reconnects_after_a_lost_connection_or_a_cancelled_call(
    pg: PgFixture, store_db: str
) -> None:
    """In process: the store's connections cut before each call (a failover, a restart
    of its server), or a call cancelled halfway: every later call still answers."""
    dsn = pg.admin_dsn(store_db)

    def cut() -> None:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'regogate-approvals' AND datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )

    async def main() -> None:
        async with open_pg_store(dsn) as store:
            svc = ApprovalService(store, instance="gw-in-process")
            cut()
            request = await svc.create_request(draft())  # insert
            cut()
            assert (await svc.get(request.id)).status is Status.PENDING  # get
            cut()
            assert request.id in [r.id for r in await store.select([Status.PENDING])]
            cut()
            decided = await svc.decide(person("bob"), request.id, Verdict.APPROVE, "ok")
            assert decided.status is Status.APPROVED  # replace
            cut()
            used = await svc.consume(request.id, request.bound_digest)
            assert used.status is Status.CONSUMED
            # a read cancelled mid-query (a client's CancelRequest or a session ending
            # while its statement is held): psycopg closes that connection
            with psycopg.connect(dsn) as locker:
                locker.execute(f"LOCK TABLE {SCHEMA}.requests IN ACCESS EXCLUSIVE MODE")
                with anyio.move_on_after(0.3) as scope:
                    await svc.get(request.id)
                assert scope.cancelled_caught
            assert (await svc.get(request.id)).status is Status.CONSUMED
        with pytest.raises(ApprovalStoreError, match="failed to connect"):
            async with open_pg_store(f"postgresql://rg_scram@127.0.0.1:{free_port()}/none"):
                raise AssertionError("connected to nothing")

    anyio.run(main)


class LosesAnswers:
    """A store connection that, once for each kind, does the work and then loses the
    server's answer (the connection breaks after COMMIT, before the reply): the store
    must find its own write done rather than do it twice or call it a lost race."""

    def __init__(self, conn: psycopg.AsyncConnection[tuple[object, ...]], lose: set[str]):
        self._conn = conn
        self._lose = lose

    @property
    def closed(self) -> bool:
        return self._conn.closed

    async def _lost(self, kind: str) -> None:
        if kind in self._lose:
            self._lose.discard(kind)
            await self._conn.close()
            raise psycopg.OperationalError("server closed the connection unexpectedly")

    async def execute(self, query: str, params: Any = None) -> Any:
        cur = await self._conn.execute(query, params)
        if query.startswith(f"INSERT INTO {SCHEMA}.requests"):
            await self._lost("insert")
        return cur

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with self._conn.transaction():
            yield
        await self._lost("commit")

    async def close(self) -> None:
        await self._conn.close()


def test_a_write_whose_answer_was_lost_is_done_once(pg: PgFixture, store_db: str) -> None:
    dsn = pg.admin_dsn(store_db)
    lose = {"insert"}

    async def connect() -> Any:
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
        return LosesAnswers(conn, lose)

    async def main() -> None:
        store = PgStore(connect)
        try:
            await store.migrate()
            svc = ApprovalService(store, instance="gw-lossy")
            request = await svc.create_request(draft())
            assert not lose  # the INSERT's answer was lost; its retry found the row
            lose.add("commit")
            decided = await svc.decide(person("bob"), request.id, Verdict.APPROVE, "ok")
            assert not lose and decided.status is Status.APPROVED  # not "already approved"
            assert len(decided.votes) == 1
            lose.add("commit")
            used = await svc.consume(request.id, request.bound_digest)
            assert not lose and used.status is Status.CONSUMED  # not "used once" refused
            assert (await svc.get(request.id)).version == request.version + 2
        finally:
            await store.aclose()

    anyio.run(main)
    with psycopg.connect(dsn) as conn:
        count = conn.execute(
            f"SELECT count(*) FROM {SCHEMA}.requests WHERE instance = 'gw-lossy'"
        ).fetchone()
    assert count == (1,)


def test_held_on_one_replica_approved_through_the_other(replicas: Replicas) -> None:
    a, b = replicas.a, replicas.b
    before = balance(a.gw.pg)
    with psycopg.connect(replicas.store_dsn, autocommit=True) as listener:
        # both replicas listen on the store's channel
        listening = listener.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'regogate-approvals'"
            " AND query = %s",
            (f"LISTEN {CHANNEL}",),
        ).fetchone()
        assert listening == (2,)
        listener.execute(f"LISTEN {CHANNEL}")

        thread, out, notices = held_update(a.gw, UPDATE)
        request = b.api.pending()  # B lists what A holds: one shared store
        assert replicas.store_rows()[request["id"]] == ("pending", "gw-A")
        assert a.api.get(request["id"]) == request
        time.sleep(0.3)
        assert thread.is_alive()

        b.api.approve(request["id"], "approved on B")
        approved_at = time.monotonic()
        thread.join(POLL_SECONDS)
        woke_after = time.monotonic() - approved_at
        assert out == {"value": 1}, out
        # well before the store's poll: B's NOTIFY woke the holder on A
        assert woke_after < POLL_SECONDS / 2, woke_after
        payloads = [n.payload for n in listener.notifies(timeout=2, stop_after=2)]
        assert payloads.count(request["id"]) >= 1, payloads  # approved (B), consumed (A)

    assert balance(a.gw.pg) == before + Decimal("2.50")
    assert any(request["id"] in n for n in notices)
    done = b.api.get(request["id"])
    assert done["status"] == "consumed"
    assert [v["comment"] for v in done["votes"]] == ["approved on B"]


def test_approved_through_the_cli_pointed_at_the_other_replica(replicas: Replicas) -> None:
    a, b = replicas.a, replicas.b
    thread, out, _ = held_update(
        b.gw, "UPDATE accounts SET balance = balance + %s WHERE id = %s", (0, ACCOUNT)
    )
    request = a.api.pending()
    env = {**os.environ, "REGOGATE_APPROVALS_URL": a.api.url, "REGOGATE_TOKEN": APPROVER[1]}
    done = subprocess.run(
        [sys.executable, "-m", "regogate", "approvals", "approve", request["id"], "-m", "cli"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    thread.join(10)
    assert out == {"value": 1}, out
    assert replicas.store_rows()[request["id"]] == ("consumed", "gw-B")


def test_async_mode_approved_on_one_replica_runs_once_on_the_other(
    replicas: Replicas,
) -> None:
    """An agent's connection (async_connections) need not come back to the same
    replica: with one binding_key_file the approval binds the same on each."""
    a, b = replicas.a, replicas.b
    sql = "UPDATE accounts SET balance = balance + %s WHERE id = %s"
    before = balance(a.gw.pg)
    with psycopg.connect(a.gw.dsn("dba", "bank_tls"), autocommit=True) as on_a:
        with pytest.raises(psycopg.Error) as first:
            on_a.execute(sql, (Decimal("0.25"), ACCOUNT))
        assert first.value.sqlstate == "RA001"
    request = b.api.pending()
    assert request["id"] in str(first.value)
    b.api.approve(request["id"], "once, on any replica")
    with psycopg.connect(b.gw.dsn("dba", "bank_tls"), autocommit=True) as on_b:
        assert on_b.execute(sql, (Decimal("0.25"), ACCOUNT)).rowcount == 1
    assert balance(a.gw.pg) == before + Decimal("0.25")
    assert replicas.store_rows()[request["id"]] == ("consumed", "gw-A")
    with psycopg.connect(a.gw.dsn("dba", "bank_tls"), autocommit=True) as on_a:
        with pytest.raises(psycopg.Error) as again:  # used: a new request
            on_a.execute(sql, (Decimal("0.25"), ACCOUNT))
        assert again.value.sqlstate == "RA001"
    assert balance(a.gw.pg) == before + Decimal("0.25")
    fresh = a.api.pending()
    assert fresh["id"] != request["id"] and fresh["id"] in str(again.value)
    a.api.deny(fresh["id"], "already done")  # leave nothing pending


def test_replicas_reconnect_to_the_store_after_losing_it(replicas: Replicas) -> None:
    a, b = replicas.a, replicas.b
    with psycopg.connect(replicas.store_dsn, autocommit=True) as admin:
        # what a failover or a restart of the store's server does to every replica
        cut = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'regogate-approvals'"
        ).fetchone()
        assert cut == (4,)  # each replica's query and listening connections
    thread, out, _ = held_update(a.gw, UPDATE)
    request = b.api.pending()
    b.api.approve(request["id"], "after the failover")
    thread.join(POLL_SECONDS)
    assert out == {"value": 1}, out
    assert replicas.store_rows()[request["id"]] == ("consumed", "gw-A")


def test_a_stopped_replica_withdraws_what_it_held_and_keeps_decided_requests(
    replicas: Replicas,
) -> None:
    a, b = replicas.a, replicas.b
    # decided before: denied through B
    thread, out, _ = held_update(a.gw, UPDATE)
    denied = b.api.pending()
    b.api.deny(denied["id"], "not on a Friday")
    thread.join(10)
    assert sqlstate(out) == "RA002"
    decided = {  # the replicas' (the store tests above share the table)
        i: b.api.get(i)
        for i, (_, instance) in replicas.store_rows().items()
        if instance in ("gw-A", "gw-B")
    }
    assert decided and all(r["status"] in ("consumed", "denied") for r in decided.values())

    # stopped (SIGTERM) while a statement waits: its session ends, the request goes
    thread, out, _ = held_update(a.gw, UPDATE)
    stopped = b.api.pending()
    assert a.process.stop() == 0
    thread.join(10)
    assert sqlstate(out) == "57P01"  # admin_shutdown, as any session (docs/architecture.md)
    body = b.api.get(stopped["id"])
    assert body["status"] == "withdrawn", body
    assert body["outcome_note"] == "the session ended"

    # crashed (SIGKILL) while a statement waits: pending until A starts again
    a.restart()
    thread, out, _ = held_update(a.gw, UPDATE)
    crashed = b.api.pending()
    a.process.proc.send_signal(signal.SIGKILL)
    a.process.proc.wait(10)
    thread.join(10)
    assert isinstance(out.get("error"), psycopg.Error), out
    # meanwhile B holds a statement of its own: A's restart must leave it alone
    thread_b, out_b, _ = held_update(b.gw, UPDATE)
    wait_for(lambda: len(pending(b)) == 2, "B's own request")
    assert b.api.get(crashed["id"])["status"] == "pending"
    a.restart()
    body = b.api.get(crashed["id"])
    assert body["status"] == "withdrawn", body
    assert body["outcome_note"] == "the gateway holding the statement restarted"

    rows = replicas.store_rows()
    held_on_b = [i for i, row in rows.items() if row == ("pending", "gw-B")]
    assert len(held_on_b) == 1, rows
    # every request decided before the stop and the crash is as it was
    assert {i: a.api.get(i) for i in decided} == decided
    assert [(v["verdict"], v["comment"]) for v in decided[denied["id"]]["votes"]] == [
        ("deny", "not on a Friday")
    ]
    # and B's held statement, approved through the restarted A, runs on B
    a.api.approve(held_on_b[0], "from A after its restart")
    thread_b.join(10)
    assert out_b == {"value": 1}, out_b
