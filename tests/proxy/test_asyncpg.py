"""asyncpg through the gateway: named prepared statements, binary codecs, COPY, cancel."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import uuid

import asyncpg
import pytest

from tests.fix_gateway import GatewayFixture


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def _connect(gw: GatewayFixture) -> asyncpg.Connection:
    return await asyncpg.connect(
        host="127.0.0.1",
        port=gw.port,
        user="dba",
        password=gw.token("dba"),
        database="bank",
        ssl=False,
    )


def test_prepared_statements_and_binary_codecs(gateway: GatewayFixture) -> None:
    async def main() -> None:
        conn = await _connect(gateway)
        try:
            stmt = await conn.prepare("select id, balance, opened_at from accounts where id = $1")
            for i in (1, 2, 3, 1500):
                row = await stmt.fetchrow(i)
                assert row["id"] == i
                assert isinstance(row["balance"], decimal.Decimal)
                assert isinstance(row["opened_at"], dt.date)
            u = uuid.uuid4()
            vals = await conn.fetchrow(
                "select $1::uuid u, $2::jsonb j, $3::int[] a, $4::timestamptz t, $5::bytea b",
                u,
                '{"k": [1, 2]}',
                [1, 2, 3],
                dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
                b"\x00\xff",
            )
            assert vals["u"] == u and vals["a"] == [1, 2, 3] and vals["b"] == b"\x00\xff"
            assert await conn.fetchval("select count(*) from customers") == 1000
        finally:
            await conn.close()

    run(main())


def test_copy_records_to_table(gateway: GatewayFixture) -> None:
    async def main() -> None:
        conn = await _connect(gateway)
        try:
            await conn.execute("create temp table t_recs (id int, name text, amount numeric)")
            records = [(i, f"n{i}", decimal.Decimal(i) / 4) for i in range(2000)]
            await conn.copy_records_to_table("t_recs", records=records)
            assert await conn.fetchval("select count(*) from t_recs") == 2000
            assert await conn.fetchval("select sum(amount) from t_recs") == sum(
                r[2] for r in records
            )
        finally:
            await conn.close()

    run(main())


def test_transactions_and_errors(gateway: GatewayFixture) -> None:
    async def main() -> None:
        conn = await _connect(gateway)
        try:
            with pytest.raises(asyncpg.UndefinedTableError):
                async with conn.transaction():
                    await conn.execute("insert into no_such values (1)")
            assert await conn.fetchval("select 1") == 1
        finally:
            await conn.close()

    run(main())


def test_timeout_cancels_upstream_query(gateway: GatewayFixture) -> None:
    async def main() -> None:
        conn = await _connect(gateway)
        try:
            with pytest.raises(asyncio.TimeoutError):
                await conn.fetchval("select pg_sleep(30)", timeout=0.5)
            # asyncpg sent a CancelRequest; the connection is usable right away
            assert await conn.fetchval("select 7") == 7
        finally:
            await conn.close()

    run(main())
