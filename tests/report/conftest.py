"""Recordings made by real sessions through `regogate serve`, for the report's tests.

Two logs (two origins). Log A spans a gateway restart and a key rotation; log B is a
second deployment. Every session below is what the report's figures are checked against.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.fix_gateway import start_gateway
from tests.fix_pg import PgFixture
from tests.policy.test_enforce_e2e import policy_dir, policy_section

LITERAL = "Report-Literal-4417"  # a value typed into a WHERE clause: never in a report
EPOCH = "1767225600"  # SOURCE_DATE_EPOCH for byte-identical runs


def regogate(*args: str | Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
    run = subprocess.run(
        [sys.executable, "-m", "regogate", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    if check and run.returncode != 0:
        raise AssertionError(f"regogate {args}: {run.returncode}\n{run.stdout}\n{run.stderr}")
    return run


@dataclass
class Recorded:
    root: Path
    log_a: Path
    log_b: Path
    trust_a: Path
    trust_b: Path
    fetched: list[str]  # values the clients read back (customer data): never in a report


def _section(rec_dir: Path, key: Path) -> str:
    return (
        f'[recording]\ndir = "{rec_dir}"\nkey_file = "{key}"\n'
        "checkpoint_interval = 0.5\ncommit_interval = 0.02\n"
    )


def _analyst(dsn: str, fetched: list[str]) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        fetched += [r[0] for r in c.execute("select full_name from customers limit 5")]
        c.execute("select id from customers where full_name = %s", (LITERAL,))
        c.execute(f"select count(*) from customers where full_name <> '{LITERAL}'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("delete from transactions where id = 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("select ssn from customers")


def _dba(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("create table report_scratch (id int)")
        c.execute("insert into report_scratch values (1), (2)")
        c.execute("update report_scratch set id = 3 where id = 2")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("drop table report_scratch")
        c.execute("alter table report_scratch add column note text")


@pytest.fixture(scope="session")
def recorded(pg: PgFixture, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    root = tmp_path_factory.mktemp("report")
    rego = policy_dir(root)
    fetched: list[str] = []
    logs, trusts = [], []
    for name in ("a", "b"):
        key = root / f"{name}.key"
        regogate("keys", "generate", "--name", f"bank.example/regogate/{name}", "--key", key,
                 check=True)  # fmt: skip
        logs.append(root / f"rec-{name}")
        trusts.append(root / f"{name}.vkeys")
    extra = policy_section(rego)
    # log A, boot 1: analyst and dba
    gw = start_gateway(pg, root / "gw-a1", extra=extra + _section(logs[0], root / "a.key"))
    try:
        _analyst(gw.dsn("analyst"), fetched)
        _dba(gw.dsn("dba"))
    finally:
        assert gw.process is not None
        gw.process.stop()
    regogate("keys", "rotate", "-d", logs[0], "--key", root / "a.key", check=True)
    # log A, boot 2 (after the rotation): the agent
    gw = start_gateway(pg, root / "gw-a2", extra=extra + _section(logs[0], root / "a.key"))
    try:
        with psycopg.connect(gw.dsn("agent"), autocommit=True) as c:
            c.execute("select 1")
            c.execute("select count(*) from accounts")
    finally:
        assert gw.process is not None
        gw.process.stop()
    # log B: another deployment, the analyst again
    gw = start_gateway(pg, root / "gw-b", extra=extra + _section(logs[1], root / "b.key"))
    try:
        with psycopg.connect(gw.dsn("analyst"), autocommit=True) as c:
            c.execute("select count(*) from accounts")
            c.execute("begin")
            c.execute("commit")
    finally:
        assert gw.process is not None
        gw.process.stop()
    with psycopg.connect(pg.admin_dsn(), autocommit=True) as c:
        c.execute("drop table if exists report_scratch")
    return Recorded(root, logs[0], logs[1], trusts[0], trusts[1], fetched)
