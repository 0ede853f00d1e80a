"""One client session's relay: moving bytes both ways once the client is authenticated.

Startup and authentication live in ``proxy/startup.py``, the caps in
``proxy/admission.py``; deciding lives behind the hooks (``proxy/hooks.py``). Errors a
client can see leave as real ErrorResponse messages with a SQLSTATE, never as a dropped
socket where the protocol allows a message.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from regogate.errors import (
    AdminShutdown,
    ProtocolViolation,
    RegogateError,
    SessionExpired,
    SessionStateLost,
    UpstreamError,
)
from regogate.proxy import upstream as upstream_mod
from regogate.proxy.admission import Ticket
from regogate.proxy.fastio import client_closed
from regogate.proxy.hooks import ResultHook, SessionContext, SessionHooks
from regogate.proxy.recording_sink import describe
from regogate.proxy.startup import (
    GONE,
    RECV,
    Authenticated,
    ClientGone,
    ClientLink,
    Handshake,
    Opened,
    connect_upstream,
    run_startup_sql,
    session_settings,
)
from regogate.recording.format.records import new_session_id
from regogate.wire.backend import AuthenticationOk, BackendKeyData, ErrorResponse
from regogate.wire.framing import Frame, MessageReader
from regogate.wire.frontend import Terminate
from regogate.wire.scan import StreamScanner

if TYPE_CHECKING:
    from regogate.proxy.server import Gateway

log = logging.getLogger("regogate.session")

TERMINATE = Terminate().encode()
_FATAL = (b"SFATAL\x00", b"SPANIC\x00")  # an ErrorResponse that ends the upstream session


class _Lost(Exception):
    """SessionStateLost raised by the result hook, with what was relayed before it."""

    def __init__(self, relayed: bytes, exc: SessionStateLost):
        super().__init__(exc.message)
        self.relayed = relayed
        self.exc = exc


@dataclass
class _State:
    txn_status: bytes = b"I"
    upstream_fatal: bool = False
    terminated: bool = False
    violation: ProtocolViolation | None = None
    shutdown: bool = False
    expired: bool = False
    refused: bool = False  # the session ended before its client was relayed


class Session:
    def __init__(self, gateway: Gateway, stream: anyio.abc.ByteStream, addr: str, port: int):
        self.gw = gateway
        self.link = ClientLink(stream, addr, port, gateway.config.server.max_message_size)
        self.addr = addr
        self.port = port
        self.id = new_session_id()  # UUIDv7: the recording's session id too
        self.state = _State()

    @property
    def client(self) -> anyio.abc.ByteStream:
        return self.link.stream

    @property
    def tls(self) -> bool:
        return self.link.tls

    async def _send(self, data: bytes) -> None:
        """Write to the client; only one task ever writes at a time (no lock on the hot path)."""
        await self.link.send(data)

    async def send_error(self, exc: RegogateError) -> None:
        await self.link.send_error(exc)

    # -- lifecycle -----------------------------------------------------------------------------
    async def run(self) -> None:
        admission = self.gw.admission
        ticket = admission.arrive()
        try:
            auth = await Handshake(self.gw, self.link, self.id).run(ticket)
            if not isinstance(auth, Authenticated):  # a CancelRequest: no session follows
                admission.leave(ticket)
                await self.gw.cancel(auth.pid, auth.secret, self.addr)
                return
            ident = auth.identity
            admission.authenticated(ticket, (ident.issuer, ident.sub), ident.sub)
            with anyio.fail_after(self.gw.config.server.connect_timeout * 6):
                opened = await connect_upstream(self.gw, self.link, self.id, auth)
            await self._relay(opened, ticket)
        except ClientGone:
            log.debug("session %s: client went away", self.id)
        except TimeoutError:
            await self._try_error(
                ProtocolViolation(
                    "startup did not complete in time", hint="the gateway closes idle handshakes"
                )
            )
        except RegogateError as exc:
            log.info("session %s from %s: %s (%s)", self.id, self.addr, exc.message, exc.sqlstate)
            await self._try_error(exc)
        finally:
            admission.leave(ticket)
            await self.link.close(self.id)

    async def _try_error(self, exc: RegogateError) -> None:
        if self.link.handshaking:
            return  # mid TLS handshake: an ErrorResponse would only corrupt it
        try:
            with anyio.move_on_after(2):
                await self.send_error(exc)
        except ClientGone:
            pass

    # -- steady state ------------------------------------------------------------------------
    async def _relay(self, opened: Opened, ticket: Ticket) -> None:
        ctx, up, secret = opened.ctx, opened.upstream, opened.secret
        hooks: SessionHooks | None = None
        self.state.refused = True  # until the client has its AuthenticationOk
        try:
            if self.gw.config.recording.enabled:  # what session.open records of both ends
                ctx = await describe(ctx, up, self.client, self.gw.config.server.connect_timeout)
            hooks = await self.gw.hooks(ctx)
            await self._prepare(opened, hooks, ticket)
            out = bytearray(AuthenticationOk().encode())
            for frame in up.startup_frames[:-1]:
                out += frame.encode()
            out += BackendKeyData(up.pid, secret).encode()
            out += up.startup_frames[-1].encode()
            await self._send(bytes(out))
            self.state.refused = False
            log.info(
                "session %s: %s as %s -> %s (pid %d)",
                self.id,
                self.addr,
                ctx.identity.sub,
                ctx.connection.name,
                up.pid,
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._pump_upstream, up, hooks, tg.cancel_scope)
                tg.start_soon(self._watch_shutdown, tg.cancel_scope)
                if ctx.identity.expires_at is not None:
                    tg.start_soon(self._watch_expiry, ctx, hooks, tg.cancel_scope)
                await self._pump_client(up, hooks)
                tg.cancel_scope.cancel()
            await self._ended(ctx, up)
        finally:
            self.gw.cancel_listeners.pop((ctx.connection.name, up.pid), None)
            self.gw.cancels.release(up.pid, secret)
            if hooks is not None:
                with anyio.CancelScope(shield=True):
                    await hooks.record.close(self._close_reason())
            if self.state.refused:
                await self._terminate_upstream(up)
            await anyio.aclose_forcefully(up.stream)

    async def _prepare(self, opened: Opened, hooks: SessionHooks, ticket: Ticket) -> None:
        """The checks and set-up between the session decision and the first relayed byte."""
        ctx, up = opened.ctx, opened.upstream
        record = hooks.record

        def cancelled(source: str) -> None:
            with contextlib.suppress(RegogateError):
                record.event("cancel", {"from": source})
            cancel_hold = getattr(hooks.gate, "cancel_hold", None)  # a statement held
            if cancel_hold is not None:  # for approval ends (proxy/approval_hold.py)
                cancel_hold()

        self.gw.cancel_listeners[(ctx.connection.name, up.pid)] = cancelled
        if hooks.session_limit is not None:
            self.gw.admission.check_limit(ticket, hooks.session_limit, ctx.identity.sub)
        await run_startup_sql(self.gw, up, hooks)
        if not hooks.gate.passthrough:
            await session_settings(self.gw, up, hooks)

    async def _ended(self, ctx: SessionContext, up: upstream_mod.Upstream) -> None:
        """Both pumps stopped: say why to the client (raise) or return quietly."""
        if self.state.violation is not None:
            raise self.state.violation
        if self.state.expired:
            await self._terminate_upstream(up)
            raise SessionExpired(
                f"terminating connection: the token of {ctx.identity.sub!r} expired",
                hint="reconnect with a fresh token",
            )
        if self.state.shutdown:
            await self._terminate_upstream(up)
            raise AdminShutdown(
                "terminating connection because regogate is shutting down",
                hint="reconnect in a moment",
            )
        if self.state.terminated:
            return
        if self.state.upstream_fatal:
            raise ClientGone()
        raise UpstreamError(
            "the upstream server closed the connection unexpectedly",
            hint="the database may have restarted; reconnect",
        )

    async def _terminate_upstream(self, up: upstream_mod.Upstream, wait: float = 1) -> None:
        """End the upstream session politely (best effort): a Terminate, not a bare close."""
        with anyio.move_on_after(wait), contextlib.suppress(*GONE):
            await up.stream.send(TERMINATE)

    def _close_reason(self) -> str:
        st = self.state
        if st.refused:
            return "refused"
        if st.violation is not None:
            return "protocol violation"
        if st.expired:
            return "token expired"
        if st.shutdown:
            return "gateway shutdown"
        if st.terminated:
            return "terminate"
        return "upstream closed"

    async def _watch_expiry(
        self, ctx: SessionContext, hooks: SessionHooks, scope: anyio.CancelScope
    ) -> None:
        expires = ctx.identity.expires_at
        assert expires is not None
        await anyio.sleep(max(0.0, expires - time.time()))
        action = self.gw.config.server.token_expiry
        log.info("session %s: the token of %s expired (%s)", self.id, ctx.identity.sub, action)
        with contextlib.suppress(RegogateError):
            hooks.record.event("identity.expired", {"expires_at": int(expires), "action": action})
        if action == "disconnect":
            self.state.expired = True
            scope.cancel()

    async def _watch_shutdown(self, scope: anyio.CancelScope) -> None:
        await self.gw.shutting_down.wait()
        self.state.shutdown = True
        scope.cancel()

    async def _client_chunks(self) -> AsyncIterator[bytes]:
        """Bytes from the client until it goes away (startup leftovers first)."""
        pending = self.link.reader.take_buffered()
        if pending:
            yield pending
        while True:
            try:
                yield await self.client.receive(RECV)
            except (anyio.EndOfStream, *GONE):
                return

    async def _pump_client(self, up: upstream_mod.Upstream, hooks: SessionHooks) -> None:
        """Client → upstream. Raw bytes when the gate passes everything; else per message.

        Only the upstream pump writes to the client during the relay; a protocol violation
        here is stored and reported once both pumps have stopped.
        """
        gate = hooks.gate
        max_size = self.gw.config.server.max_message_size
        try:
            if gate.passthrough:
                scanner = StreamScanner(b"X", max_size)
                async for data in self._client_chunks():
                    if scanner.feed(data):
                        self.state.terminated = True
                        await up.stream.send(data)
                        return
                    await up.stream.send(data)
            else:
                reader = MessageReader(max_size=max_size)
                out = bytearray()

                async def drain(extra: bytes) -> None:
                    data = bytes(out) + extra
                    out.clear()
                    if data:
                        await up.stream.send(data)

                gate.attach(drain)
                attach_client = getattr(gate, "attach_client", None)
                if attach_client is not None:  # approvals: a held statement's NOTICE
                    attach_client(self.link.send, lambda: client_closed(self.client))
                async for data in self._client_chunks():
                    reader.feed(data)
                    while (frame := reader.next_frame()) is not None:
                        if frame.tag == b"X":
                            self.state.terminated = True
                            await drain(frame.encode())
                            return
                        for f in await gate.admit(frame):
                            out += f.encode()
                    if out:
                        await drain(b"")
            self.state.terminated = True  # the client went away without Terminate
        except ProtocolViolation as exc:
            self.state.violation = exc
            self.state.terminated = True
            with anyio.CancelScope(shield=True):
                await self._terminate_upstream(up)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError, ssl.SSLError):
            return  # upstream went away: the upstream pump reports it

    async def _end_lost(
        self, up: upstream_mod.Upstream, relayed: bytes, exc: SessionStateLost
    ) -> None:
        """The gate can no longer read statements as PostgreSQL does: what came before is
        relayed, then FATAL, and the upstream session is ended; nothing else reaches
        either side."""
        log.warning("session %s: %s", self.id, exc.message)
        self.state.upstream_fatal = True
        await self._terminate_upstream(up, wait=2)
        with anyio.move_on_after(2), contextlib.suppress(*GONE):
            await self.client.send(relayed + ErrorResponse.from_error(exc).encode())

    async def _pump_upstream(
        self, up: upstream_mod.Upstream, hooks: SessionHooks, scope: anyio.CancelScope
    ) -> None:
        """Upstream → client: forwarded untouched unless a result hook is active."""
        record = hooks.record
        observe = record.observes_results  # the recording follows the messages itself
        scanner = StreamScanner(b"ZE")
        state = self.state
        results = hooks.results
        client = self.client
        wants_boundaries = record.wants_boundaries
        framed = results.active  # read once: the framed reader must start at a boundary
        pending = up.reader.take_buffered()
        try:
            while True:
                if pending:
                    data, pending = pending, b""
                else:
                    try:
                        data = await up.stream.receive(RECV)
                    except (
                        anyio.EndOfStream,
                        anyio.BrokenResourceError,
                        anyio.ClosedResourceError,
                        OSError,
                        ssl.SSLError,
                    ):
                        break
                boundary = False
                if framed:
                    try:
                        data, boundary = relay_frames(data, up.reader, results, state)
                    except _Lost as lost:
                        await self._end_lost(up, lost.relayed, lost.exc)
                        break
                else:
                    for tag, body in scanner.feed(data):
                        if tag == 0x5A:  # 'Z' ReadyForQuery
                            state.txn_status = body[:1]
                            boundary = True
                        elif tag == 0x45 and body.startswith(_FATAL):
                            state.upstream_fatal = True
                held = boundary and wants_boundaries
                if held:
                    # The cycle's records (its result summary too) reach the log before
                    # the client sees its ReadyForQuery ([recording] durability).
                    if observe:
                        record.upstream(data)
                    await record.boundary()
                try:
                    await client.send(data)
                except (
                    anyio.BrokenResourceError,
                    anyio.ClosedResourceError,
                    OSError,
                    ssl.SSLError,
                ):
                    if observe and not held:
                        record.upstream(data)
                    break
                if observe and not held:  # after the send: the client need not wait for it
                    record.upstream(data)
        except ProtocolViolation as exc:
            log.error("session %s: the upstream sent a malformed message: %s", self.id, exc)
            self.state.upstream_fatal = True
        scope.cancel()


def relay_frames(
    data: bytes, reader: MessageReader, results: ResultHook, state: _State
) -> tuple[bytes, bool]:
    """``data`` from the upstream through the result hook, message by message: what
    goes to the client, and whether a ReadyForQuery was among it. When every message
    of the chunk comes back unchanged and the chunk holds whole messages only (the
    usual case), the chunk itself is what goes: nothing is encoded again."""
    aligned = reader.buffered() == 0
    reader.feed(data)
    relayed: list[Frame] = []
    same = True
    boundary = False
    on_backend = results.on_backend
    try:
        while (frame := reader.next_frame()) is not None:
            tag = frame.tag
            if tag == b"Z":
                state.txn_status = frame.body[:1]
                boundary = True
            elif tag == b"E" and frame.body.startswith(_FATAL):
                state.upstream_fatal = True
            out = on_backend(frame)
            if same and (len(out) != 1 or out[0] is not frame):
                same = False
            relayed.extend(out)
    except SessionStateLost as exc:
        raise _Lost(b"".join(f.encode() for f in relayed), exc) from None
    if same and aligned and reader.buffered() == 0:
        return data, boundary
    return b"".join(f.encode() for f in relayed), boundary
