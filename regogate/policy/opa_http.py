"""A lean keep-alive HTTP/1.1 client for decision requests to a plain-http OPA (the sidecar).

h11 (the sans-IO HTTP/1.1 state machine httpx itself is built on) over the gateway's own
byte streams (loopback TCP) or a unix-domain socket (the sidecar's): one pooled connection
per concurrent request, no per-request client machinery. Measured against httpx in
docs/decisions/0005-opa-decision-client.md.
Anything unusual (a closed connection, a protocol error, a timeout) raises OSError or
TimeoutError; the caller turns that into a fail-closed denial.
"""

from __future__ import annotations

import anyio
import anyio.abc
import h11

from regogate.proxy import fastio


class _Conn:
    __slots__ = ("h11", "stream")

    def __init__(self, stream: anyio.abc.ByteStream):
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)


class HttpPool:
    def __init__(self, host: str, port: int, *, unix: str | None = None, max_idle: int = 64):
        self.host, self.port, self.unix = host, port, unix
        self._idle: list[_Conn] = []
        self._max_idle = max_idle
        authority = host if unix is not None else f"{host}:{port}"
        self._headers = [("Host", authority), ("Content-Type", "application/json")]

    async def aclose(self) -> None:
        while self._idle:
            await anyio.aclose_forcefully(self._idle.pop().stream)

    async def post(self, path: str, body: bytes, timeout: float) -> tuple[int, bytes]:
        """POST ``body``; return (status, response body). Retries once on a stale
        keep-alive connection (the server may close idle ones)."""
        with anyio.fail_after(timeout):
            for attempt in (0, 1):
                reused = bool(self._idle)
                conn = self._idle.pop() if reused else await self._connect()
                try:
                    result = await self._exchange(conn, path, body)
                except (OSError, h11.ProtocolError, anyio.EndOfStream, anyio.BrokenResourceError):
                    await anyio.aclose_forcefully(conn.stream)
                    if reused and attempt == 0:
                        continue
                    raise OSError("OPA closed the connection") from None
                except BaseException:
                    await anyio.aclose_forcefully(conn.stream)
                    raise
                await self._release(conn)
                return result
        raise OSError("unreachable")  # pragma: no cover

    async def _connect(self) -> _Conn:
        if self.unix is not None:
            return _Conn(await fastio.connect_unix(self.unix))
        return _Conn(await fastio.connect_tcp(self.host, self.port))

    async def _exchange(self, conn: _Conn, path: str, body: bytes) -> tuple[int, bytes]:
        c = conn.h11
        headers = [*self._headers, ("Content-Length", str(len(body)))]
        out = c.send(h11.Request(method="POST", target=path, headers=headers))
        out = (out or b"") + (c.send(h11.Data(data=body)) or b"")
        out += c.send(h11.EndOfMessage()) or b""
        await conn.stream.send(out)
        status = 0
        chunks: list[bytes] = []
        while True:
            event = c.next_event()
            if event is h11.NEED_DATA:
                try:
                    data = await conn.stream.receive(65536)
                except anyio.EndOfStream:
                    data = b""  # end of a close-delimited body (else h11 raises)
                c.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return status, b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed):
                raise OSError("connection closed")

    async def _release(self, conn: _Conn) -> None:
        c = conn.h11
        if c.our_state is h11.DONE and c.their_state is h11.DONE:
            c.start_next_cycle()
            if len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        await anyio.aclose_forcefully(conn.stream)
