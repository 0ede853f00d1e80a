"""Shared pieces of the approvals tests: people, drafts, and a served approvals service
(a blocking portal runs ``start_approvals`` in a thread, so sync tests, the CLI and a
browser can all talk to it over real HTTP)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from regogate.approvals.binding import BoundStatement
from regogate.approvals.model import ApprovalRequest, Person, RequestDraft
from regogate.approvals.running import RunningApprovals, start_approvals
from regogate.config import Config, parse_config

TOKENS = {
    "alice": ("alice-token-0123456789", ["dev"]),  # asks
    "bob": ("bob-token-0123456789", ["dba"]),  # approves
    "carol": ("carol-token-0123456789", ["dba", "dev"]),  # approves, and asks too
    "dave": ("dave-token-0123456789", ["ops"]),  # may not approve
}
SQL = "UPDATE accounts SET balance = balance - 98765 WHERE id = 4242 AND owner = 'Mallory'"


def person(name: str) -> Person:
    return Person(name, "regogate:static", tuple(TOKENS[name][1]))


def draft(
    requester: str = "alice",
    *,
    sql: str = SQL,
    digest: str = "d" * 64,
    min_approvals: int = 1,
    timeout: float | None = None,
    approvers: tuple[str, ...] = ("group:dba",),
) -> RequestDraft:
    return RequestDraft(
        requester=person(requester),
        session_id="s-1",
        connection="ledger",
        sql=sql,
        bound_digest=digest,
        reason="writes to accounts need a DBA",
        approvers=approvers,
        min_approvals=min_approvals,
        timeout=timeout,
    )


def config_text(tmp: Path, extra: str = "") -> str:
    tokens = "".join(
        f'[[tokens]]\nsub = "{name}"\ngroups = {groups!r}\n'
        f'token_sha256 = "{hashlib.sha256(token.encode()).hexdigest()}"\n'
        for name, (token, groups) in TOKENS.items()
    ).replace("'", '"')
    return (
        '[policy]\nopa_url = "http://127.0.0.1:8181"\n[server]\nlisten_port = 0\n[connections.ledger]\nhost = "127.0.0.1"\nport = 5432\n'
        'database = "ledger"\nuser = "u"\n'
        f'{tokens}[approvals]\nlisten = "127.0.0.1:0"\nsqlite_path = "{tmp}/approvals.db"\n'
        f'instance = "gw-test"\n{extra}'
    )


def make_config(tmp: Path, extra: str = "") -> Config:
    return parse_config(config_text(tmp, extra), base=tmp, env={})


@dataclass
class Served:
    portal: BlockingPortal
    running: RunningApprovals

    @property
    def url(self) -> str:
        return self.running.url

    def create(self, d: RequestDraft) -> ApprovalRequest:
        return self.portal.call(self.running.service.create_request, d)

    def get(self, request_id: str) -> ApprovalRequest:
        return self.portal.call(self.running.service.get, request_id)

    def digest(self, statement: BoundStatement) -> str:
        return self.running.digest(statement)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve(make_config(tmp_path)) as s:
        yield s


@contextmanager
def serve(config: Config) -> Iterator[Served]:
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(start_approvals(config)) as running,
    ):
        yield Served(portal, running)
