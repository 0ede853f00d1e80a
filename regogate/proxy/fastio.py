"""Byte streams for the relay hot path: anyio ``ByteStream``s over asyncio protocols.

anyio's own ``SocketStream`` yields to the event loop twice per ``send`` and pauses /
resumes reading around every ``receive`` (measured: the largest item of the relay's
profile, docs/benchmarks.md). These streams keep reading up to a high-water mark and
only wait when there is nothing to read or the peer's socket buffer is full, so a
pipelined message batch costs no extra loop turns. They are ordinary anyio byte
streams: TLSStream wraps them, task groups cancel them.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

Accepted = anyio.abc.ObjectReceiveStream["ProtocolStream"]
HIGH_WATER = 1 << 20  # bytes buffered before reading pauses
LOW_WATER = 1 << 18
# Bytes a stream hands out without waiting before it lets the event loop run once: a
# session relaying a large backlog (a million one-row CopyData messages) would otherwise
# keep the loop for each megabyte, and every other session, accept and cancel request
# waited that long for each of its steps (a cancel took 1.5-2 s: docs/client-suites.md).
YIELD_EVERY = 1 << 16


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.eof = False
        self.lost = False
        self.exc: BaseException | None = None
        self.reading_paused = False
        self.writing_paused = False
        self.read_waiter: asyncio.Future[None] | None = None
        self.write_waiter: asyncio.Future[None] | None = None

    def _wake(self, waiter: asyncio.Future[None] | None) -> None:
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.size > HIGH_WATER and not self.reading_paused and self.transport is not None:
            self.transport.pause_reading()
            self.reading_paused = True
        self._wake(self.read_waiter)

    def eof_received(self) -> bool:
        self.eof = True
        self._wake(self.read_waiter)
        return True  # keep the transport open for writing (half-close)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.exc = exc
        self._wake(self.read_waiter)
        self._wake(self.write_waiter)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake(self.write_waiter)


class ProtocolStream(anyio.abc.ByteStream):
    """An anyio ByteStream over one asyncio transport + protocol."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol):
        self._transport = transport
        self._p = protocol
        self._closed = False
        self._unyielded = 0  # bytes handed out since this stream last waited

    async def receive(self, max_bytes: int = 65536) -> bytes:
        p = self._p
        if self._unyielded >= YIELD_EVERY and p.chunks:
            # Before taking anything: cancelled here, nothing is lost.
            self._unyielded = 0
            await asyncio.sleep(0)
        if not p.chunks:
            self._unyielded = 0
        while not p.chunks:
            if self._closed:
                raise anyio.ClosedResourceError
            if p.lost and p.exc is not None:
                raise anyio.BrokenResourceError from p.exc
            if p.eof or p.lost:
                raise anyio.EndOfStream
            p.read_waiter = asyncio.get_running_loop().create_future()
            try:
                await p.read_waiter
            finally:
                p.read_waiter = None
        chunk = p.chunks.popleft()
        if len(chunk) > max_bytes:
            chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
            p.chunks.appendleft(rest)
        p.size -= len(chunk)
        self._unyielded += len(chunk)
        if p.reading_paused and p.size < LOW_WATER and not p.lost:
            p.reading_paused = False
            self._transport.resume_reading()
        return chunk

    async def send(self, item: bytes) -> None:
        p = self._p
        if self._closed:
            raise anyio.ClosedResourceError
        if p.lost or self._transport.is_closing():
            raise anyio.BrokenResourceError from p.exc
        self._transport.write(item)
        while p.writing_paused and not p.lost:
            p.write_waiter = asyncio.get_running_loop().create_future()
            try:
                await p.write_waiter
            finally:
                p.write_waiter = None
        if p.lost:
            raise anyio.BrokenResourceError from p.exc

    async def send_eof(self) -> None:
        if self._transport.can_write_eof():
            self._transport.write_eof()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._transport.close()
            self._p._wake(self._p.read_waiter)
            self._p._wake(self._p.write_waiter)
        await anyio.lowlevel.checkpoint()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        sock: socket.socket = self._transport.get_extra_info("socket")
        return {
            SocketAttribute.raw_socket: lambda: sock,
            SocketAttribute.family: lambda: sock.family,
            SocketAttribute.local_address: sock.getsockname,
            SocketAttribute.remote_address: lambda: self._transport.get_extra_info("peername"),
            SocketAttribute.local_port: lambda: sock.getsockname()[1],
        }


async def connect_tcp(host: str, port: int) -> ProtocolStream:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_connection(_Protocol, host, port)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ProtocolStream(transport, protocol)


async def connect_unix(path: str) -> ProtocolStream:
    """A unix-domain socket (the OPA sidecar's), as a ``ProtocolStream``."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_unix_connection(_Protocol, path)
    return ProtocolStream(transport, protocol)


@asynccontextmanager
async def tcp_server(
    host: str, port: int
) -> AsyncIterator[tuple[int, anyio.abc.ObjectReceiveStream[ProtocolStream]]]:
    """Listen; yield the bound port and a stream of accepted connections."""
    send, receive = anyio.create_memory_object_stream[ProtocolStream](1024)
    loop = asyncio.get_running_loop()

    def factory() -> _Protocol:
        proto = _Protocol()
        original = proto.connection_made

        def made(transport: asyncio.BaseTransport) -> None:
            original(transport)
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                send.send_nowait(ProtocolStream(cast(asyncio.Transport, transport), proto))
            except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                cast(
                    asyncio.Transport, transport
                ).abort()  # accept queue overflow: refuse rather than queue forever

        proto.connection_made = made  # type: ignore[method-assign]
        return proto

    server = await loop.create_server(factory, host, port, reuse_address=True)
    try:
        bound: int = server.sockets[0].getsockname()[1]
        yield bound, receive
    finally:
        server.close()
        send.close()
        receive.close()


def client_closed(stream: anyio.abc.ByteStream) -> bool:
    """Whether the peer of ``stream`` (a ProtocolStream, maybe under TLS) has closed its
    side, without reading what it sent (a statement held for approval watches this)."""
    inner = getattr(stream, "transport_stream", stream)
    if isinstance(inner, ProtocolStream):
        p = inner._p
        return p.eof or p.lost
    return False
