"""Statements held for approval, end to end: real `regogate serve` with its OPA sidecar and
the default policy library (dba writes to accounts need approval by group:approvers), real
PostgreSQL, psql, psycopg, asyncpg and raw protocol; approved through the HTTP API and
the CLI; denied, expired, cancelled and disconnected; async mode bound to the parameter
values; min_approvals counting people, not sign-ins (docs/approvals.md). The page in a
browser: test_approval_page_e2e.py; replicas sharing a store: test_approval_replicas_e2e.py."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psycopg
import pytest

from regogate.identity import token_sha256
from regogate.pgserver import free_port
from tests.fix_gateway import GatewayFixture
from tests.rawpg import RawClient, query

POLICIES = Path(__file__).resolve().parents[2] / "policies" / "rego"
APPROVER = ("approver", "tok-approver-71c4", "approvers")  # approves the dba's
UPDATE = "UPDATE accounts SET balance = balance + 0 WHERE id = 1"
TIMEOUT = 6  # [approvals] timeout, seconds


class Approvals:
    def __init__(self, gw: GatewayFixture, url: str, directory: Path):
        self.gw = gw
        self.url = url
        self.directory = directory

    def call(self, who: str, method: str, path: str, body: object = None) -> httpx.Response:
        token = APPROVER[1] if who == "approver" else self.gw.token(who)
        return httpx.request(
            method,
            self.url + path,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )

    def pending(self, wait: float = 10) -> dict[str, Any]:
        """The one pending request, once it is there."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            answer = self.call("approver", "GET", "/api/v1/requests?status=pending")
            assert answer.status_code == 200, answer.text
            found = answer.json()
            if found["requests"]:
                assert len(found["requests"]) == 1, found
                request: dict[str, Any] = found["requests"][0]
                return request
            time.sleep(0.05)
        raise AssertionError("no pending approval request")

    def get(self, request_id: str) -> dict[str, Any]:
        response = self.call("approver", "GET", f"/api/v1/requests/{request_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def approve(self, request_id: str, comment: str = "ok") -> None:
        response = self.call(
            "approver", "POST", f"/api/v1/requests/{request_id}/approve", {"comment": comment}
        )
        assert response.status_code == 200, response.text

    def deny(self, request_id: str, comment: str) -> None:
        response = self.call(
            "approver", "POST", f"/api/v1/requests/{request_id}/deny", {"comment": comment}
        )
        assert response.status_code == 200, response.text


# OPA's answer to each policy upload at start shares [policy] timeout (0.5 s by default)
# with decisions; compiling the whole library takes longer on a loaded 2-core machine.
POLICY_TIMEOUT = 5


def approvals_extra(tmp: Path, port: int, extra: str = "", policies: Path = POLICIES) -> str:
    return (
        f'[policy]\ndir = "{policies}"\ntimeout = {POLICY_TIMEOUT}\n'
        f'[approvals]\nlisten = "127.0.0.1:{port}"\ntimeout = {TIMEOUT}\n'
        f'sqlite_path = "{tmp}/approvals.sqlite3"\ninstance = "gw-e2e"\n'
        f'async_connections = ["bank_tls"]\n{extra}\n'
        f'[[tokens]]\nsub = "{APPROVER[0]}"\ngroups = ["{APPROVER[2]}"]\n'
        f'token_sha256 = "{token_sha256(APPROVER[1])}"\n'
    )


@pytest.fixture
def appr(make_gateway: Callable[..., GatewayFixture], tmp_path: Path) -> Approvals:
    port = free_port()
    gw = make_gateway(extra=approvals_extra(tmp_path, port))
    return Approvals(gw, f"http://127.0.0.1:{port}", tmp_path)


@pytest.fixture
def admin(appr: Approvals) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(appr.gw.pg.admin_dsn("bank"), autocommit=True) as conn:
        yield conn


def in_thread(fn: Callable[[], object]) -> tuple[threading.Thread, dict[str, object]]:
    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # handed to the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def held_update(
    gw: GatewayFixture, sql: str = UPDATE, params: tuple[object, ...] | None = None
) -> tuple[threading.Thread, dict[str, object], list[str]]:
    notices: list[str] = []

    def run() -> object:
        with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
            conn.add_notice_handler(lambda d: notices.append(str(d.message_primary)))
            cur = conn.execute(sql, params)
            rows = cur.rowcount
            assert conn.execute("select 1").fetchone() == (1,)  # still healthy
            return rows

    thread, out = in_thread(run)
    return thread, out, notices


def test_simple_protocol_held_until_approved_through_the_api(
    appr: Approvals, admin: psycopg.Connection[tuple[object, ...]]
) -> None:
    thread, out, notices = held_update(appr.gw)
    request = appr.pending()
    assert request["requester"]["sub"] == "dba"
    assert request["approvers"] == ["group:approvers"]  # policies/rego config approval
    assert "accounts" in request["reason"]
    time.sleep(0.3)
    assert thread.is_alive()  # held
    assert any(request["id"] in n for n in notices), notices  # the NOTICE came at once
    # nobody decides their own request, whatever their groups
    own = appr.call("dba", "POST", f"/api/v1/requests/{request['id']}/approve", {})
    assert own.status_code == 403, own.text
    appr.approve(request["id"], "ticket 7")
    thread.join(10)
    assert out == {"value": 1}
    assert appr.get(request["id"])["status"] == "consumed"


def test_extended_protocol_psycopg_params_approved_through_the_cli(appr: Approvals) -> None:
    sql = "UPDATE accounts SET balance = balance + %s WHERE id = %s"
    thread, out, notices = held_update(appr.gw, sql, (0, 2))
    request = appr.pending()
    env = {
        **os.environ,
        "REGOGATE_APPROVALS_URL": appr.url,
        "REGOGATE_TOKEN": APPROVER[1],
    }
    done = subprocess.run(
        [sys.executable, "-m", "regogate", "approvals", "approve", request["id"], "-m", "cli"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "approved" in done.stdout
    thread.join(10)
    assert out == {"value": 1}, out
    assert notices


def test_denied_in_a_transaction_block(appr: Approvals) -> None:
    def run() -> tuple[str | None, str]:
        with psycopg.connect(appr.gw.dsn("dba")) as conn:  # a transaction block
            conn.execute("select 1")
            try:
                conn.execute(UPDATE)
            except psycopg.Error as exc:
                code, message = exc.sqlstate, str(exc)
            else:
                raise AssertionError("the denied statement ran")
            with pytest.raises(psycopg.errors.InFailedSqlTransaction):
                conn.execute("select 1")
            conn.rollback()
            assert conn.execute("select 2").fetchone() == (2,)
            return code, message

    thread, out = in_thread(run)
    request = appr.pending()
    appr.deny(request["id"], "use the batch job")
    thread.join(10)
    assert out["value"] == ("RA002", out["value"][1]), out  # type: ignore[index]
    message = str(out["value"][1])
    assert "use the batch job" in message and "approver" in message
    assert appr.get(request["id"])["status"] == "denied"


def test_expiry(appr: Approvals) -> None:
    thread, out, _ = held_update(appr.gw)
    request = appr.pending()
    thread.join(TIMEOUT + 10)
    error = out.get("error")
    assert isinstance(error, psycopg.Error) and error.sqlstate == "RA003", out
    assert appr.get(request["id"])["status"] == "expired"


def test_cancel_withdraws(appr: Approvals) -> None:
    conn = psycopg.connect(appr.gw.dsn("dba"), autocommit=True)
    try:
        thread, out = in_thread(lambda: conn.execute(UPDATE))
        request = appr.pending()
        conn.cancel_safe()
        thread.join(10)
        error = out.get("error")
        assert isinstance(error, psycopg.errors.QueryCanceled), out
        assert conn.execute("select 3").fetchone() == (3,)
    finally:
        conn.close()
    body = appr.get(request["id"])
    assert body["status"] == "withdrawn" and body["outcome_note"] == "client cancelled"


def test_disconnect_withdraws(appr: Approvals) -> None:
    client = RawClient(appr.gw.port, "dba", appr.gw.token("dba"))
    client.send(query(UPDATE))
    request = appr.pending()
    client.close()
    deadline = time.monotonic() + 5
    while appr.get(request["id"])["status"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.1)
    body = appr.get(request["id"])
    assert body["status"] == "withdrawn" and body["outcome_note"] == "client disconnected"


def test_asyncpg_extended_protocol(appr: Approvals) -> None:
    async def run() -> str:
        conn = await asyncpg.connect(appr.gw.url("dba"), ssl=False)
        try:
            status: str = await conn.execute(
                "UPDATE accounts SET balance = balance + $1 WHERE id = $2", 0, 3
            )
            return status
        finally:
            await conn.close()

    thread, out = in_thread(lambda: asyncio.run(run()))
    appr.approve(appr.pending()["id"])
    thread.join(10)
    assert out == {"value": "UPDATE 1"}, out


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")
def test_psql(appr: Approvals) -> None:
    env = {**os.environ, **appr.gw.env("dba")}
    proc = subprocess.Popen(
        ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-c", UPDATE],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    request = appr.pending()
    appr.approve(request["id"])
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert "UPDATE 1" in stdout
    assert request["id"] in stderr and "NOTICE" in stderr


def balance(admin: psycopg.Connection[tuple[object, ...]], account: int) -> Decimal:
    row = admin.execute("SELECT balance FROM accounts WHERE id = %s", (account,)).fetchone()
    assert row is not None and isinstance(row[0], Decimal)
    return row[0]


def test_async_mode_runs_once_with_the_same_parameters(
    appr: Approvals, admin: psycopg.Connection[tuple[object, ...]]
) -> None:
    dsn = appr.gw.dsn("dba", "bank_tls")
    sql = "UPDATE accounts SET balance = balance + %s WHERE id = %s"
    start = balance(admin, 4)
    with psycopg.connect(dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as first:
            conn.execute(sql, (5, 4))
        assert first.value.sqlstate == "RA001"
        request = appr.pending(wait=1)
        assert request["id"] in str(first.value)
        assert request["statement"] == "UPDATE accounts SET balance = balance + $1 WHERE id = $2"
        appr.approve(request["id"])
        # $1 = 6 is not what was approved for $1 = 5: a new request, nothing runs
        with pytest.raises(psycopg.Error) as other:
            conn.execute(sql, (6, 4))
        assert other.value.sqlstate == "RA001"
        assert request["id"] not in str(other.value)
        assert balance(admin, 4) == start
        assert appr.get(request["id"])["status"] == "approved"  # still for $1 = 5
        assert conn.execute(sql, (5, 4)).rowcount == 1  # the approved one, once
        assert balance(admin, 4) == start + 5
        with pytest.raises(psycopg.Error) as again:
            conn.execute(sql, (5, 4))
        assert again.value.sqlstate == "RA001"  # used: a new request
        assert request["id"] not in str(again.value)
    assert balance(admin, 4) == start + 5
    assert appr.get(request["id"])["status"] == "consumed"


# Two DBAs must approve every UPDATE; the rest is allowed (docs/policy-contract.md,
# approval.min_approvals). The library's rules ask for one approver.
TWO_DBAS = """\
package regogate

default decision := {"allow": true, "ttl": 0}

decision := {
\t"allow": true,
\t"ttl": 0,
\t"approval": {
\t\t"required": true,
\t\t"approvers": ["group:approvers", "group:dba"],
\t\t"reason": "two DBAs approve every UPDATE",
\t\t"min_approvals": 2,
\t},
} if "UPDATE" in input.statement.verbs
"""
# approver (from approvals_extra) is ann; ann-sso is ann again (the same email, another
# subject, as through a second issuer); bert is a second DBA
PEOPLE = {
    "ann-sso": ("tok-ann-sso-51d0", "ANN@bank.example"),
    "bert": ("tok-bert-0c9e", "bert@bank.example"),
}


def test_min_approvals_counts_distinct_people(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> None:
    policies = tmp_path / "policies"
    (policies / "regogate").mkdir(parents=True)
    (policies / "regogate" / "two_dbas.rego").write_text(TWO_DBAS)
    tokens = "".join(
        f'[[tokens]]\nsub = "{sub}"\ngroups = ["dba"]\nemail = "{email}"\n'
        f'token_sha256 = "{token_sha256(token)}"\n'
        for sub, (token, email) in PEOPLE.items()
    )
    port = free_port()
    extra = approvals_extra(tmp_path, port, policies=policies)
    # approvals_extra's approver gets ann's email
    extra = extra.replace(
        f'sub = "{APPROVER[0]}"\n', f'sub = "{APPROVER[0]}"\nemail = "ann@bank.example"\n'
    )
    appr = Approvals(make_gateway(extra=extra + tokens), f"http://127.0.0.1:{port}", tmp_path)

    def vote(token: str, request_id: str) -> httpx.Response:
        return httpx.post(
            f"{appr.url}/api/v1/requests/{request_id}/approve",
            json={"comment": "fine by me"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )

    thread, out, _ = held_update(appr.gw)
    request = appr.pending()
    assert request["min_approvals"] == 2
    rid = request["id"]
    # the requester is a DBA too, and still may not approve their own request
    assert appr.call("dba", "POST", f"/api/v1/requests/{rid}/approve", {}).status_code == 403
    assert vote(APPROVER[1], rid).status_code == 200  # ann: 1 of 2
    assert appr.get(rid)["status"] == "pending"
    assert vote(APPROVER[1], rid).status_code == 409  # ann again
    again = vote(PEOPLE["ann-sso"][0], rid)  # ann through another sign-in
    assert again.status_code == 409, again.text
    assert "already decided" in again.json()["error"]["message"]
    time.sleep(0.3)
    assert thread.is_alive() and len(appr.get(rid)["votes"]) == 1
    assert vote(PEOPLE["bert"][0], rid).status_code == 200  # bert: 2 of 2
    thread.join(10)
    assert out == {"value": 1}, out
    done = appr.get(rid)
    assert done["status"] == "consumed"
    assert [v["approver"]["sub"] for v in done["votes"]] == [APPROVER[0], "bert"]
