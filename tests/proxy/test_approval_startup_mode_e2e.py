"""Async approval mode chosen by the client at startup (``regogate.approval_mode``, a
startup parameter or ``-c`` in ``options``; docs/approvals.md), end to end: real gateway,
OPA, PostgreSQL; psycopg (libpq ``options``) and asyncpg (``server_settings``)."""

from __future__ import annotations

import asyncio
import threading
import time

import asyncpg
import psycopg
import pytest

from regogate.wire.backend import ErrorResponse, FunctionCallResponse
from regogate.wire.frontend import FunctionCall
from tests.proxy import test_approval_hold_e2e as hold
from tests.proxy.test_approval_hold_e2e import UPDATE, Approvals, balance
from tests.rawpg import RawClient

appr = hold.appr  # the fixtures
admin = hold.admin


def test_a_client_asks_for_async_mode_in_options(
    appr: Approvals, admin: psycopg.Connection[tuple[object, ...]]
) -> None:
    """ "bank" holds by config; this client asks for async: fails at once with RA001 and
    the request id; approved, the same statement runs once. The setting never reaches
    PostgreSQL (it would be a placeholder variable there)."""
    start = balance(admin, 1)
    dsn = appr.gw.dsn("dba", options="-c regogate.approval_mode=async")
    with psycopg.connect(dsn, autocommit=True) as conn:
        began = time.monotonic()
        with pytest.raises(psycopg.Error) as first:
            conn.execute(UPDATE.replace("+ 0", "+ 3"))
        assert first.value.sqlstate == "RA001"
        assert time.monotonic() - began < 3  # not held ([approvals] timeout is 6 s)
        request = appr.pending(wait=2)
        assert request["id"] in str(first.value)
        with pytest.raises(psycopg.errors.UndefinedObject):
            conn.execute("show regogate.approval_mode")  # not forwarded
        appr.approve(request["id"])
        assert conn.execute(UPDATE.replace("+ 0", "+ 3")).rowcount == 1
    assert balance(admin, 1) == start + 3


def test_a_client_asks_to_be_held_where_the_config_says_async(appr: Approvals) -> None:
    """ "bank_tls" is async by config; asyncpg asks for hold: the statement waits for the
    approver, then runs."""

    async def run() -> str:
        conn = await asyncpg.connect(
            dsn=appr.gw.url("dba").replace("/bank", "/bank_tls"),
            ssl=False,
            server_settings={"regogate.approval_mode": "hold"},
        )
        try:
            return str(await conn.execute(UPDATE))
        finally:
            await conn.close()

    out: dict[str, object] = {}
    thread = threading.Thread(target=lambda: out.setdefault("v", asyncio.run(run())))
    thread.start()
    request = appr.pending(wait=10)
    assert thread.is_alive()  # held, not failed at once
    appr.approve(request["id"])
    thread.join(10)
    assert out.get("v") == "UPDATE 1"


def test_an_unknown_approval_mode_is_refused_at_startup(appr: Approvals) -> None:
    with pytest.raises(psycopg.OperationalError) as err:
        psycopg.connect(appr.gw.dsn("dba", options="-c regogate.approval_mode=later"))
    assert 'does not allow the startup parameter "regogate.approval_mode"' in str(err.value)


def test_a_fast_path_function_call_is_held_and_bound_to_its_arguments(
    appr: Approvals, admin: psycopg.Connection[tuple[object, ...]]
) -> None:
    """A FunctionCall message (fast path) that needs approval (opaque to the analyser:
    the library asks a DBA's approval) is held like a statement; approved, it runs with
    exactly the argument bytes asked for."""
    row = admin.execute("select 'int4abs(int4)'::regprocedure::oid").fetchone()
    assert row is not None
    oid = int(row[0])
    client = RawClient(appr.gw.port, "dba", appr.gw.token("dba"))
    try:
        call = FunctionCall(oid, (0,), (b"-42",), 0).encode()
        client.send(call)
        request = appr.pending()
        assert request["statement"] == f'<FunctionCall of function "{oid}">'
        appr.approve(request["id"])
        got = client.until_ready()
        tags = [f.tag for f in got.frames]
        assert tags == [b"N", b"V", b"Z"], got.frames
        answer = FunctionCallResponse.decode(got.frames[1].body)
        assert answer.value == b"42"
        # the approval was for -42 only: another argument asks again (denied here)
        client.send(FunctionCall(oid, (0,), (b"-43",), 0).encode())
        other = appr.pending()
        assert other["id"] != request["id"]
        appr.deny(other["id"], "not this one")
        refused = client.until_ready()
        error = next(f for f in refused.frames if f.tag == b"E")
        assert ErrorResponse.decode(error.body).sqlstate == "RA002"
    finally:
        client.close()
