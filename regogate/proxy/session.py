"""One client session: startup, authentication, then moving bytes both ways.

This module moves bytes; deciding lives behind the hooks (``proxy/hooks.py``). Errors a
client can see leave as real ErrorResponse messages with a SQLSTATE, never as a
dropped socket where the protocol allows a message.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import anyio.abc
from anyio.streams.tls import TLSAttribute, TLSStream

from regogate.errors import (
    AdminShutdown,
    AuthenticationFailed,
    InvalidAuthorization,
    ProtocolViolation,
    RegogateError,
    SessionExpired,
    SessionStateLost,
    StartupRefused,
    TooManyConnections,
    UnknownDatabase,
    UpstreamError,
)
from regogate.identity import ClientInfo, Identity
from regogate.proxy import upstream as upstream_mod
from regogate.proxy.cancel import UpstreamKey
from regogate.proxy.hooks import SESSION_SETTINGS_SQL, SessionContext, SessionHooks
from regogate.proxy.pinned import PINNED, acceptable, expected_value
from regogate.recording.records import new_session_id
from regogate.wire.backend import (
    AuthenticationCleartextPassword,
    AuthenticationOk,
    BackendKeyData,
    ErrorResponse,
    NegotiateProtocolVersion,
)
from regogate.wire.framing import Frame, MessageReader
from regogate.wire.frontend import PasswordMessage
from regogate.wire.scan import StreamScanner
from regogate.wire.startup import (
    CancelRequest,
    GSSENCRequest,
    SSLRequest,
    StartupMessage,
    decode_startup,
)
from regogate.wire.startup_params import check_startup

if TYPE_CHECKING:
    from regogate.proxy.server import Gateway

log = logging.getLogger("regogate.session")

RECV = 262144


class ClientGone(Exception):
    """The client closed the connection; nothing more can be said to it."""


@dataclass
class _State:
    txn_status: bytes = b"I"
    upstream_fatal: bool = False
    terminated: bool = False
    violation: ProtocolViolation | None = None
    shutdown: bool = False
    expired: bool = False


_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError, ssl.SSLError)


class Session:
    def __init__(self, gateway: Gateway, stream: anyio.abc.ByteStream, addr: str, port: int):
        self.gw = gateway
        self.client: anyio.abc.ByteStream = stream
        self.addr = addr
        self.port = port
        self.id = new_session_id()  # UUIDv7: the recording's session id too
        self.tls = False
        self.state = _State()
        self.reader = MessageReader(startup=True, max_size=gateway.config.server.max_message_size)

    # -- client I/O --------------------------------------------------------------------------
    async def _send(self, data: bytes) -> None:
        """Write to the client; only one task ever writes at a time (no lock on the hot path)."""
        try:
            await self.client.send(data)
        except _GONE as exc:
            raise ClientGone() from exc

    async def _receive(self) -> bytes:
        try:
            return await self.client.receive(RECV)
        except (anyio.EndOfStream, *_GONE) as exc:
            raise ClientGone() from exc

    async def _next_frame(self) -> Frame:
        while True:
            frame = self.reader.next_frame()
            if frame is not None:
                return frame
            self.reader.feed(await self._receive())

    async def send_error(self, exc: RegogateError) -> None:
        await self._send(ErrorResponse.from_error(exc).encode())

    # -- lifecycle -----------------------------------------------------------------------------
    async def run(self) -> None:
        acquired = False
        try:
            with anyio.fail_after(self.gw.config.server.connect_timeout * 6):
                startup = await self._startup_packet()
                if startup is None:
                    return
                if not self.gw.try_acquire():
                    raise TooManyConnections("sorry, too many clients already")
                acquired = True
                identity = await self._authenticate(startup)
                ctx, upstream, key = await self._connect_upstream(startup, identity)
            await self._relay(ctx, upstream, key)
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
            if acquired:
                self.gw.release()
            await self._close_client()

    async def _close_client(self) -> None:
        if isinstance(self.client, TLSStream):
            # Send close_notify: libpq (OpenSSL 3) reports "unexpected eof" without it,
            # notably after a CancelRequest sent inside TLS.
            with anyio.move_on_after(1) as scope:
                try:
                    await self.client.unwrap()
                except Exception as exc:  # the peer may already be gone; nothing to tell it
                    log.debug("session %s: TLS close: %r", self.id, exc)
            if scope.cancelled_caught:
                log.debug("session %s: TLS close timed out", self.id)
        await anyio.aclose_forcefully(self.client)

    async def _try_error(self, exc: RegogateError) -> None:
        try:
            with anyio.move_on_after(2):
                await self.send_error(exc)
        except ClientGone:
            pass

    async def _startup_packet(self) -> StartupMessage | None:
        """Handle SSLRequest / GSSENCRequest / CancelRequest until a StartupMessage."""
        while True:
            try:
                frame = await self._next_frame()
            except ProtocolViolation as exc:
                # PostgreSQL closes quietly on a packet that is no startup packet at all
                # (its length is out of range: e.g. a Terminate sent first): nothing to
                # answer a client that is not speaking the startup protocol.
                log.info("session %s from %s: %s; closed", self.id, self.addr, exc.message)
                raise ClientGone() from None
            packet = decode_startup(frame.body)
            if isinstance(packet, SSLRequest):
                ctx = self.gw.server_tls
                if ctx is None or self.tls:
                    await self._send(b"N")
                    continue
                if self.reader.buffered():
                    # CVE-2021-23214: bytes sent before the handshake must not be trusted.
                    raise ProtocolViolation("received unencrypted data after SSL request")
                await self._send(b"S")
                try:
                    self.client = await TLSStream.wrap(
                        self.client, server_side=True, ssl_context=ctx, standard_compatible=False
                    )
                except (ssl.SSLError, OSError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
                    raise ClientGone() from exc
                self.tls = True
                continue
            if isinstance(packet, GSSENCRequest):
                await self._send(b"N")
                continue
            if isinstance(packet, CancelRequest):
                await self.gw.cancel(packet.pid, packet.secret, self.addr)
                return None
            self.reader.typed()
            return packet

    def _cleartext_allowed(self) -> bool:
        rule = self.gw.config.server.cleartext_without_tls
        if self.tls or rule == "always":
            return True
        if rule == "never":
            return False
        try:
            return ipaddress.ip_address(self.addr).is_loopback
        except ValueError:
            return False

    async def _authenticate(self, startup: StartupMessage) -> Identity:
        params = startup.params
        user = params.get("user")
        if not user:
            raise InvalidAuthorization("no PostgreSQL user name specified in startup packet")
        replication = params.get("replication", "false").lower()
        if replication not in ("false", "off", "no", "0", "database"):
            # Logical replication (replication=database, COPY BOTH) is relayed; physical
            # replication would bypass every statement decision, so it is refused.
            raise InvalidAuthorization(
                "physical replication connections are not supported by regogate",
                hint="logical replication (replication=database) is supported",
            )
        minor = startup.protocol & 0xFFFF
        unknown = tuple(k for k in params if k.startswith("_pq_."))
        if minor > 0 or unknown:
            await self._send(NegotiateProtocolVersion(0, unknown).encode())
        if not self._cleartext_allowed():
            raise InvalidAuthorization(
                f"regogate requires TLS for token authentication from {self.addr}",
                hint="connect with sslmode=require",
            )
        await self._send(AuthenticationCleartextPassword().encode())
        frame = await self._next_frame()
        if frame.tag != b"p":
            raise ProtocolViolation(
                f"expected password response, got message type {frame.tag.decode('latin-1')!r}"
            )
        token = PasswordMessage.decode(frame.body).password
        client = ClientInfo(self.addr, self.port, user, params.get("application_name"), self.tls)
        try:
            return await self.gw.identities.authenticate(token, client)
        except AuthenticationFailed:
            raise
        except RegogateError:
            raise
        except Exception as exc:  # a provider bug must not become an open door or a traceback
            log.exception("identity provider failed")
            raise AuthenticationFailed(
                "token authentication failed: identity provider error",
            ) from exc

    async def _connect_upstream(
        self, startup: StartupMessage, identity: Identity
    ) -> tuple[SessionContext, upstream_mod.Upstream, bytes]:
        params = startup.params
        dbname = params.get("database") or params["user"]
        conn = self.gw.config.connections.get(dbname)
        if conn is None:
            raise UnknownDatabase(
                f'regogate has no connection named "{dbname}"',
                hint="the database name you connect to selects a configured connection",
            )
        # An allowlist: settings that change how statements are read or who runs them
        # never reach the upstream (docs/startup-parameters.md).
        startup_settings = check_startup(params)
        forward = dict(startup_settings.forward)
        try:
            up = await upstream_mod.connect(
                conn, forward, timeout=self.gw.config.server.connect_timeout
            )
        except upstream_mod.UpstreamRejected as exc:
            await self._send(exc.frame.encode())
            raise ClientGone() from None
        client = ClientInfo(
            self.addr, self.port, params["user"], params.get("application_name"), self.tls
        )
        ctx = SessionContext(
            self.id,
            identity,
            client,
            conn,
            dict(params),
            up.pid,
            self._tls_info(),
            startup_settings.names,
        )
        secret = self.gw.cancels.issue(UpstreamKey(conn, up.pid, up.secret))
        return ctx, up, secret

    def _tls_info(self) -> dict[str, str] | None:
        if not isinstance(self.client, TLSStream):
            return None
        obj = self.client.extra(TLSAttribute.ssl_object)
        cipher = obj.cipher()
        return {"version": obj.version() or "", "cipher": cipher[0] if cipher else ""}

    # -- steady state ------------------------------------------------------------------------
    async def _relay(self, ctx: SessionContext, up: upstream_mod.Upstream, secret: bytes) -> None:
        hooks: SessionHooks | None = None
        try:
            hooks = await self.gw.hooks(ctx)
            record = hooks.record

            def cancelled(source: str) -> None:
                with contextlib.suppress(RegogateError):
                    record.event("cancel", {"from": source})

            self.gw.cancel_listeners[(ctx.connection.name, up.pid)] = cancelled
            for sql in hooks.startup_sql:
                try:
                    await upstream_mod.run_simple(up, sql, self.gw.config.server.connect_timeout)
                except (UpstreamError, TimeoutError) as exc:
                    why = exc.message if isinstance(exc, UpstreamError) else "timed out"
                    raise InvalidAuthorization(
                        f"the session could not be set up as the policy requires: {why}",
                        hint="ask the gateway operator (upstream role grants)",
                    ) from None
            if not hooks.gate.passthrough:
                await self._session_settings(up, hooks)
            out = bytearray(AuthenticationOk().encode())
            for frame in up.startup_frames[:-1]:
                out += frame.encode()
            out += BackendKeyData(up.pid, secret).encode()
            out += up.startup_frames[-1].encode()
            await self._send(bytes(out))
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
            if self.state.violation is not None:
                raise self.state.violation
            if self.state.expired:
                with anyio.move_on_after(1), contextlib.suppress(*_GONE):
                    await up.stream.send(b"X\x00\x00\x04")
                raise SessionExpired(
                    f"terminating connection: the token of {ctx.identity.sub!r} expired",
                    hint="reconnect with a fresh token",
                )
            if self.state.shutdown:
                with anyio.move_on_after(1), contextlib.suppress(*_GONE):
                    await up.stream.send(b"X\x00\x00\x00\x04")
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
        finally:
            self.gw.cancel_listeners.pop((ctx.connection.name, up.pid), None)
            self.gw.cancels.release(up.pid, secret)
            if hooks is not None:
                with anyio.CancelScope(shield=True):
                    await hooks.record.close(self._close_reason())
            await anyio.aclose_forcefully(up.stream)

    async def _session_settings(self, up: upstream_mod.Upstream, hooks: SessionHooks) -> None:
        """What the gate needs to know of the session before the first statement: the
        lexing settings must be where the analyser reads text (else the session is
        refused), and the values and reset values of the settings it follows."""
        reported: dict[str, str] = {}
        for frame in up.startup_frames:
            if frame.tag == b"S":
                name, _, rest = frame.body.partition(b"\x00")
                reported[name.decode("utf-8", "replace").lower()] = rest.rstrip(b"\x00").decode(
                    "utf-8", "replace"
                )
        for pinned in PINNED:
            value = reported.get(pinned)
            if value is not None and not acceptable(pinned, value):
                raise StartupRefused(
                    f"the session would start with {pinned} = {value!r}; regogate reads "
                    f"statements only with {pinned} = {expected_value(pinned)!r}",
                    hint="a role or database default (ALTER ROLE/DATABASE ... SET) or the "
                    "server configuration sets it; ask the database administrator",
                )
        try:
            rows = await upstream_mod.query_rows(
                up, SESSION_SETTINGS_SQL, self.gw.config.server.connect_timeout
            )
        except (UpstreamError, TimeoutError) as exc:
            why = exc.message if isinstance(exc, UpstreamError) else "timed out"
            raise UpstreamError(f"could not read the session's settings: {why}") from None
        values: dict[str, str | None] = {r[0] or "": r[1] for r in rows}
        reset: dict[str, str | None] = {r[0] or "": r[2] for r in rows}
        if "session_authorization" in reported:
            values["session_authorization"] = reset["session_authorization"] = reported[
                "session_authorization"
            ]
        hooks.gate.start(values, reset)

    def _close_reason(self) -> str:
        st = self.state
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
        pending = self.reader.take_buffered()
        if pending:
            yield pending
        while True:
            try:
                yield await self.client.receive(RECV)
            except (anyio.EndOfStream, *_GONE):
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
            gone = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError, ssl.SSLError)
            with anyio.CancelScope(shield=True), anyio.move_on_after(1), contextlib.suppress(*gone):
                await up.stream.send(b"X\x00\x00\x00\x04")
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
        with anyio.move_on_after(2), contextlib.suppress(*_GONE):
            await up.stream.send(b"X\x00\x00\x00\x04")
        with anyio.move_on_after(2), contextlib.suppress(*_GONE):
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
                messages = scanner.feed(data)
                for tag, body in messages:
                    if tag == 0x5A:  # 'Z' ReadyForQuery
                        state.txn_status = body[:1]
                        boundary = True
                    elif tag == 0x45 and (
                        body.startswith(b"SFATAL\x00") or body.startswith(b"SPANIC\x00")
                    ):
                        state.upstream_fatal = True
                if framed:
                    up.reader.feed(data)
                    out = bytearray()
                    try:
                        while (frame := up.reader.next_frame()) is not None:
                            for f in results.on_backend(frame):
                                out += f.encode()
                    except SessionStateLost as exc:
                        await self._end_lost(up, bytes(out), exc)
                        break
                    data = bytes(out)
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
