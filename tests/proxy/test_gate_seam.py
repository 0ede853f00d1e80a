"""The per-statement seam: a gate that denies in order via proxy/deny.py.

The gateway runs in-process on the test's event loop (asyncpg is async, so nothing blocks
the loop). The gate denies any statement mentioning 'forbidden'; PostgreSQL itself then
reports the error at the right place, aborts a transaction block and discards to Sync.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

import anyio
import asyncpg
import pytest

from regogate.errors import PolicyDenied
from regogate.proxy.deny import Denials
from regogate.proxy.hooks import NullRecordSink, PassThroughHooks, SessionContext
from regogate.proxy.server import Gateway
from regogate.wire.framing import Frame
from regogate.wire.frontend import Parse, Query
from tests.fix_gateway import TOKENS, gateway_config
from tests.fix_pg import PgFixture

DENIAL = PolicyDenied("agents may not touch forbidden things", hint="ask the DBA's team")


class DenyForbidden:
    passthrough = False

    def __init__(self, denials: Denials) -> None:
        self.seen: list[bytes] = []
        self.denials = denials

    async def admit(self, frame: Frame) -> Sequence[Frame]:
        self.seen.append(frame.tag)
        if frame.tag == b"Q" and "forbidden" in Query.decode(frame.body).query:
            return (self.denials.query(DENIAL),)
        if frame.tag == b"P":
            parse = Parse.decode(frame.body)
            if "forbidden" in parse.query:
                return (self.denials.parse(parse.name, DENIAL),)
        return (frame,)

    def attach(self, drain: Callable[[bytes], Awaitable[None]]) -> None:
        return None

    def start(self, values: Mapping[str, str | None], reset: Mapping[str, str | None]) -> None:
        return None


def test_denials_are_in_order_and_leave_the_session_usable(pg: PgFixture) -> None:
    gates: list[DenyForbidden] = []

    async def hooks(ctx: SessionContext) -> PassThroughHooks:
        denials = Denials()
        gate = DenyForbidden(denials)
        gates.append(gate)
        return PassThroughHooks(gate, denials, NullRecordSink())

    async def main() -> None:
        gateway = Gateway(gateway_config(pg), hooks=hooks)
        async with anyio.create_task_group() as tg:
            port = await tg.start(gateway.serve)
            conn = await asyncpg.connect(
                host="127.0.0.1",
                port=port,
                user="dba",
                password=TOKENS["dba"][0],
                database="bank",
                ssl=False,
            )
            try:
                await conn.execute("create temp table gate_t (v text)")
                # Simple protocol, multi-statement: the whole message is denied, none of it runs.
                with pytest.raises(asyncpg.InsufficientPrivilegeError) as info:
                    await conn.execute("insert into gate_t values ('a'); select 'forbidden'")
                assert info.value.message == DENIAL.message
                assert info.value.hint == DENIAL.hint
                assert await conn.fetchval("select count(*) from gate_t") == 0
                # Extended protocol: Parse is denied (asyncpg parses and describes first),
                # the upstream discards to Sync, the client sees the policy's own error.
                with pytest.raises(asyncpg.InsufficientPrivilegeError) as info:
                    await conn.fetchval("select $1::text || 'forbidden'", "x")
                assert info.value.message == DENIAL.message
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.prepare("select 'forbidden' where $1::int > 0")
                assert await conn.fetchval("select $1::int + 1", 1) == 2
                # Inside a transaction block the denial aborts it, as any error would.
                await conn.execute("begin")
                await conn.execute("insert into gate_t values ('b')")
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute("select 'forbidden'")
                with pytest.raises(asyncpg.InFailedSQLTransactionError):
                    await conn.execute("select 1")
                await conn.execute("rollback")
                assert await conn.fetchval("select count(*) from gate_t") == 0
            finally:
                await conn.close()
            tg.cancel_scope.cancel()

    anyio.run(main)
    assert gates and b"P" in gates[0].seen and b"Q" in gates[0].seen
