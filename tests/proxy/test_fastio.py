"""The relay's byte streams (proxy/fastio): a large backlog does not keep the event loop."""

from __future__ import annotations

import anyio

from regogate.proxy import fastio

TOTAL = 8 << 20  # bytes the peer sends at once


def _backlog_run(cancel_after: int | None) -> tuple[int, int]:
    """Bytes read, and how many turns a ticker task got while one task read a backlog of
    TOTAL bytes in a tight loop (``cancel_after``: cancel the reader once, mid-way, and
    read on)."""
    result = {"read": 0, "ticks": 0}

    async def main() -> None:
        async with fastio.tcp_server("127.0.0.1", 0) as (port, accepted):
            client = await fastio.connect_tcp("127.0.0.1", port)
            server = await accepted.receive()
            done = anyio.Event()

            async def ticker() -> None:
                while not done.is_set():
                    result["ticks"] += 1
                    await anyio.sleep(0)

            async def reader() -> None:
                while result["read"] < TOTAL:
                    result["read"] += len(await client.receive(65536))

            async with anyio.create_task_group() as tg:
                tg.start_soon(server.send, b"x" * TOTAL)
                with anyio.fail_after(10):  # a megabyte buffered before anyone reads
                    while client._p.size < fastio.HIGH_WATER:
                        await anyio.sleep(0.01)
                tg.start_soon(ticker)
                if cancel_after is not None:
                    with anyio.CancelScope() as scope:

                        async def stop_soon() -> None:
                            while result["read"] < cancel_after:
                                await anyio.sleep(0)
                            scope.cancel()

                        tg.start_soon(stop_soon)
                        await reader()
                await reader()  # what the cancelled read left, every byte of it
                done.set()
            await client.aclose()
            await server.aclose()

    anyio.run(main)
    return result["read"], result["ticks"]


def test_a_large_backlog_lets_the_loop_run_every_64_kib() -> None:
    """Reading 8 MiB that is already buffered takes one loop turn per 64 KiB, not one per
    megabyte: other sessions, accepts and cancel requests get their turns."""
    read, ticks = _backlog_run(None)
    assert read == TOTAL
    assert ticks >= TOTAL // fastio.YIELD_EVERY // 2, ticks


def test_a_reader_cancelled_at_a_turn_loses_nothing() -> None:
    read, _ = _backlog_run(cancel_after=1 << 20)
    assert read == TOTAL
