"""The lean decision client (policy/opa_http) against canned HTTP/1.1 responses: framing
(Content-Length, chunked, close-delimited), keep-alive and its retry, unix sockets, and
fail-closed on anything it cannot read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import anyio
import orjson
import pytest

from regogate.errors import PolicyUnavailable
from regogate.policy.opa import DECISION_PATH, OpaClient

RESULT = orjson.dumps(
    {
        "result": {
            "allow": True,
            "deny": [],
            "mask": {},
            "approval": {"required": False, "approvers": [], "reason": None},
            "ttl": 60,
            "rules": ["read_only"],
            "upstream_role": None,
        }
    }
)
INPUT = {"identity": {"sub": "a", "groups": ["analysts"]}, "statement": {"verb": "SELECT"}}

Responder = Callable[[int], list[bytes]]  # request number -> chunks to write (b"" closes)


def content_length(n: int) -> list[bytes]:
    return [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(RESULT) + RESULT]


def chunked(n: int) -> list[bytes]:
    a, b = RESULT[:10], RESULT[10:]
    return [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"%x\r\n%s\r\n" % (len(a), a),
        b"%x;ext=1\r\n%s\r\n0\r\n\r\n" % (len(b), b),
    ]


def close_delimited(n: int) -> list[bytes]:
    return [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + RESULT, b""]


def close_after_each(n: int) -> list[bytes]:
    return [*content_length(n), b""]


class Server:
    """asyncio server whose handlers and transports are all gone after ``stop()``.

    (Left pending, their finalizers run during some later test's import and trip a
    CPython 3.11 AST bug: "AST constructor recursion depth mismatch".)
    """

    def __init__(self, server: asyncio.Server, handlers: set[asyncio.Task[None]]):
        self.server, self.handlers = server, handlers
        self.sockets = server.sockets

    async def stop(self) -> None:
        self.server.close()
        for task in list(self.handlers):
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        await self.server.wait_closed()


async def serve(respond: Responder, requests: list[bytes], unix: Path | None) -> Server:
    count = 0
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await _handle(reader, writer)
        finally:
            writer.close()
            handlers.discard(task)

    async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                requests.append(head + await reader.readexactly(length))
                count += 1
                for chunk in respond(count):
                    if not chunk:
                        writer.close()
                        return
                    writer.write(chunk)
                    await writer.drain()
                    await asyncio.sleep(0.001)  # arrive in pieces
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    if unix is not None:
        return Server(await asyncio.start_unix_server(handle, str(unix)), handlers)
    return Server(await asyncio.start_server(handle, "127.0.0.1", 0), handlers)


def run(respond: Responder, tmp_path: Path, *, unix: bool = False, n: int = 3) -> list[bytes]:
    requests: list[bytes] = []

    async def main() -> None:
        path = tmp_path / "opa.sock" if unix else None
        server = await serve(respond, requests, path)
        port = server.sockets[0].getsockname()[1] if path is None else 0
        client = OpaClient(f"unix://{path}" if path else f"http://127.0.0.1:{port}")
        try:
            for _ in range(n):
                decision = await client.decide(INPUT, "rev")
                assert decision.allow and decision.rules == ("read_only",)
        finally:
            await client.aclose()
            await server.stop()

    anyio.run(main)
    return requests


@pytest.mark.parametrize(
    "respond",
    [content_length, chunked, close_delimited, close_after_each],
    ids=lambda f: f.__name__,
)
@pytest.mark.parametrize("unix", [False, True], ids=["tcp", "unix"])
def test_framings(respond: Responder, unix: bool, tmp_path: Path) -> None:
    requests = run(respond, tmp_path, unix=unix)
    assert len(requests) == 3
    head, _, body = requests[0].partition(b"\r\n\r\n")
    assert head.startswith(f"POST {DECISION_PATH} HTTP/1.1\r\n".encode())
    assert orjson.loads(body) == {"input": INPUT}


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nnope!",  # not JSON
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",  # no result: undefined
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"SPDY/3 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{",  # then closed: truncated
    ],
)
def test_what_cannot_be_read_fails_closed(response: bytes, tmp_path: Path) -> None:
    with pytest.raises(PolicyUnavailable):
        run(lambda n: [response, b""], tmp_path, n=1)


def test_silence_times_out_closed(tmp_path: Path) -> None:
    async def main() -> None:
        server = await serve(lambda n: [b"HTTP/1.1 200 OK\r\n"], [], None)
        port = server.sockets[0].getsockname()[1]
        client = OpaClient(f"http://127.0.0.1:{port}", timeout=0.2)
        with pytest.raises(PolicyUnavailable, match="timed out"):
            await client.decide(INPUT, "rev")
        await client.aclose()
        await server.stop()

    anyio.run(main)


def test_missing_unix_socket_is_unavailable(tmp_path: Path) -> None:
    async def main() -> None:
        client = OpaClient(f"unix://{tmp_path / 'none.sock'}", timeout=0.2)
        with pytest.raises(PolicyUnavailable, match="unreachable"):
            await client.decide(INPUT, "rev")
        await client.aclose()

    anyio.run(main)
