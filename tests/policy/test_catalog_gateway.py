"""Through a real gateway: DDL in an open transaction (the client itself holding the lock)
or a lock held by another client no longer stalls the next statement's catalog read."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.fix_gateway import GatewayFixture
from tests.policy.test_enforce_e2e import policy_dir, policy_section


@pytest.fixture
def gateway_with_policy(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> GatewayFixture:
    return make_gateway(extra=policy_section(policy_dir(tmp_path)))


def test_the_clients_own_lock_does_not_stall_its_next_statement(
    gateway_with_policy: GatewayFixture,
) -> None:
    view = f"lock_probe_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(gateway_with_policy.dsn("dba"), autocommit=True) as conn:
        conn.execute(f"CREATE VIEW {view} AS SELECT 1 AS a")
        try:
            conn.execute("BEGIN")
            conn.execute(f"ALTER VIEW {view} RENAME COLUMN a TO b")
            started = time.perf_counter()
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.execute(f"SELECT b FROM {view}").fetchone() == (1,)
            conn.execute("ROLLBACK")
            assert time.perf_counter() - started < 3.0
        finally:
            conn.execute(f"DROP VIEW IF EXISTS {view}")


def test_another_clients_locks_do_not_stall_statements(
    gateway_with_policy: GatewayFixture,
) -> None:
    gw = gateway_with_policy
    table = f"lock_probe_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(gw.pg.admin_dsn("bank"), autocommit=True) as direct:
        direct.execute(f"CREATE TABLE {table} (id int, note text)")
        direct.execute(f"CREATE VIEW {table}_v AS SELECT id, note FROM {table}")
        try:
            with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
                conn.execute("SELECT 1")  # the catalog is read
                direct.execute("BEGIN")
                direct.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
                direct.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
                conn.execute(f"CREATE TABLE {table}_new (id int)")  # DDL: catalog refresh
                started = time.perf_counter()
                assert conn.execute("SELECT 1").fetchone() == (1,)
                assert time.perf_counter() - started < 3.0
                direct.execute("ROLLBACK")
        finally:
            direct.execute(f"DROP TABLE IF EXISTS {table}_new")  # the policy denies DROP TABLE
            direct.execute(f"DROP VIEW IF EXISTS {table}_v")
            direct.execute(f"DROP TABLE IF EXISTS {table}")
