"""Read the SQLSTATE of a failed connection attempt (libpq-based clients don't expose it)."""

from __future__ import annotations

import asyncio
import ssl as ssl_mod

import asyncpg


def connect_error(
    port: int,
    user: str,
    password: str,
    database: str,
    ssl: ssl_mod.SSLContext | bool = False,
    host: str = "127.0.0.1",
) -> tuple[str, str]:
    """Connect with asyncpg; return (sqlstate, message) of the error it must raise."""

    async def main() -> tuple[str, str]:
        try:
            conn = await asyncpg.connect(
                host=host,
                port=port,
                user=user,
                password=password,
                database=database,
                ssl=ssl,
                timeout=30,
            )
        except asyncpg.PostgresError as exc:
            return str(exc.sqlstate), str(exc)
        await conn.close()
        raise AssertionError("connection unexpectedly succeeded")

    return asyncio.run(main())
