"""A small HTTP/1.1 server for the approvals API and page: h11 (the sans-IO state machine
the OPA client uses too, docs/decisions/0005) over anyio TCP streams.

Handlers are plain async functions from an ``HttpRequest`` to an ``HttpResponse``; they
never see a socket. Limits: one request's head and body, and the time to read them
(a slow client cannot hold a connection open). See docs/decisions/0018-approvals-http.md.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.abc
import h11

log = logging.getLogger("regogate.approvals")

MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024
READ_TIMEOUT = 15.0  # seconds to receive one whole request
HANDLER_TIMEOUT = 30.0
_REASONS = {
    200: b"OK",
    303: b"See Other",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    409: b"Conflict",
    413: b"Content Too Large",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str
    headers: Mapping[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes = b""
    client_addr: str = ""
    client_port: int = 0

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.target).query).items()}

    def form(self) -> dict[str, str]:
        """An application/x-www-form-urlencoded body (the last value of each name)."""
        text = self.body.decode("utf-8", "replace")
        return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}

    def cookies(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for part in self.headers.get("cookie", "").split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name not in found:
                found[name] = value
        return found


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = field(default=())


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


def _head(conn: h11.Connection, response: HttpResponse) -> h11.Response:
    headers = [
        ("Content-Type", response.content_type),
        ("Content-Length", str(len(response.body))),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        *response.headers,
    ]
    return h11.Response(
        status_code=response.status, headers=headers, reason=_REASONS.get(response.status, b"")
    )


class _TooLarge(Exception):
    pass


async def _read_request(
    conn: h11.Connection, stream: anyio.abc.ByteStream, addr: tuple[str, int]
) -> HttpRequest | None:
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            try:
                data = await stream.receive(65536)
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                data = b""
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY:
                raise _TooLarge
        elif isinstance(event, h11.EndOfMessage):
            assert head is not None
            headers: dict[str, str] = {}
            for name, value in head.headers:
                key = name.decode("latin-1").lower()
                text = value.decode("latin-1")
                headers[key] = f"{headers[key]}, {text}" if key in headers else text
            return HttpRequest(
                head.method.decode("ascii"),
                head.target.decode("latin-1"),
                headers,
                bytes(body),
                addr[0],
                addr[1],
            )
        elif isinstance(event, h11.ConnectionClosed):
            return None


async def _send(conn: h11.Connection, stream: anyio.abc.ByteStream, response: HttpResponse) -> None:
    data = conn.send(_head(conn, response)) or b""
    if response.body:
        data += conn.send(h11.Data(data=response.body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    await stream.send(data)


async def serve_connection(stream: anyio.abc.SocketStream, handler: Handler) -> None:
    addr = stream.extra(anyio.abc.SocketAttribute.remote_address)
    peer = (str(addr[0]), int(addr[1])) if isinstance(addr, tuple) else ("local", 0)
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    async with stream:
        while True:
            try:
                with anyio.fail_after(READ_TIMEOUT):
                    request = await _read_request(conn, stream, peer)
            except (TimeoutError, h11.RemoteProtocolError, _TooLarge) as exc:
                status = 413 if isinstance(exc, _TooLarge) else 400
                if not isinstance(exc, TimeoutError) and conn.our_state in (
                    h11.IDLE,
                    h11.SEND_RESPONSE,
                ):
                    await _send_quietly(conn, stream, HttpResponse(status, b"bad request\n"))
                return
            if request is None:
                return
            response = await _handle(handler, request)
            if not await _send_quietly(conn, stream, response):
                return
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()


async def _handle(handler: Handler, request: HttpRequest) -> HttpResponse:
    try:
        with anyio.fail_after(HANDLER_TIMEOUT):
            return await handler(request)
    except Exception:
        log.exception("approvals http: %s %s failed", request.method, request.path)
        return HttpResponse(500, b"internal error\n")


async def _send_quietly(
    conn: h11.Connection, stream: anyio.abc.ByteStream, response: HttpResponse
) -> bool:
    try:
        await _send(conn, stream, response)
    except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, h11.LocalProtocolError):
        return False
    return True


@dataclass
class HttpServer:
    """A listening server; ``port`` is the bound one (listen on port 0 in tests)."""

    listener: anyio.abc.Listener[anyio.abc.SocketStream]
    host: str
    port: int

    async def serve(self, handler: Handler) -> None:
        async def one(stream: anyio.abc.SocketStream) -> None:
            await serve_connection(stream, handler)

        await self.listener.serve(one)


async def listen(host: str, port: int) -> HttpServer:
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    bound = listener.listeners[0].extra(anyio.abc.SocketAttribute.local_port)
    return HttpServer(listener, host, int(bound))
