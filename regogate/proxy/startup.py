"""Before the relay: the startup packet, TLS, token authentication, and the upstream
session the client will be relayed to (protocol §55.2.1, §55.2.10).

Nothing here runs unbounded: a connection has ``[server] auth_timeout`` seconds and
messages of at most 64 KiB until its token is verified, and ``proxy/admission.py``
decides whether it may wait at all.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import anyio.abc
from anyio.streams.tls import TLSAttribute, TLSStream

from regogate.errors import (
    AuthenticationFailed,
    InvalidAuthorization,
    ProtocolViolation,
    RegogateError,
    StartupRefused,
    UnknownDatabase,
    UpstreamError,
)
from regogate.identity import ClientInfo, Identity
from regogate.proxy import upstream as upstream_mod
from regogate.proxy.admission import Ticket
from regogate.proxy.cancel import UpstreamKey
from regogate.proxy.hooks import SESSION_SETTINGS_SQL, SessionContext, SessionHooks
from regogate.proxy.pinned import PINNED, acceptable, expected_value
from regogate.wire.backend import (
    AuthenticationCleartextPassword,
    ErrorResponse,
    NegotiateProtocolVersion,
)
from regogate.wire.framing import Frame, MessageReader
from regogate.wire.frontend import PasswordMessage
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
# The largest message a client may send before it is authenticated: a password message
# carrying a JWT is a few KiB; nothing legitimate comes near this.
PRE_AUTH_MAX_MESSAGE = 64 * 1024

GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError, ssl.SSLError)


class ClientGone(Exception):
    """The client closed the connection; nothing more can be said to it."""


class ClientLink:
    """The client's side of one connection: its stream (plain, then maybe TLS) and the
    reader that frames what it sends until the relay takes over."""

    def __init__(self, stream: anyio.abc.ByteStream, addr: str, port: int, max_message: int):
        self.stream = stream
        self.addr = addr
        self.port = port
        self.tls = False
        # True while a TLS handshake runs: an ErrorResponse then would land inside it.
        self.handshaking = False
        self.reader = MessageReader(
            startup=True, max_size=min(PRE_AUTH_MAX_MESSAGE, max(max_message, 1024))
        )

    async def send(self, data: bytes) -> None:
        try:
            await self.stream.send(data)
        except GONE as exc:
            raise ClientGone() from exc

    async def receive(self) -> bytes:
        try:
            return await self.stream.receive(RECV)
        except (anyio.EndOfStream, *GONE) as exc:
            raise ClientGone() from exc

    async def next_frame(self) -> Frame:
        while True:
            frame = self.reader.next_frame()
            if frame is not None:
                return frame
            self.reader.feed(await self.receive())

    async def send_error(self, exc: RegogateError) -> None:
        await self.send(ErrorResponse.from_error(exc).encode())

    async def start_tls(self, ctx: ssl.SSLContext) -> None:
        self.handshaking = True  # stays set if the handshake fails or is cut short
        try:
            self.stream = await TLSStream.wrap(
                self.stream, server_side=True, ssl_context=ctx, standard_compatible=False
            )
        except (ssl.SSLError, OSError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
            raise ClientGone() from exc
        self.handshaking = False
        self.tls = True

    def tls_info(self) -> dict[str, str] | None:
        if not isinstance(self.stream, TLSStream):
            return None
        obj = self.stream.extra(TLSAttribute.ssl_object)
        cipher = obj.cipher()
        return {"version": obj.version() or "", "cipher": cipher[0] if cipher else ""}

    async def close(self, session_id: str) -> None:
        if isinstance(self.stream, TLSStream):
            # Send close_notify: libpq (OpenSSL 3) reports "unexpected eof" without it,
            # notably after a CancelRequest sent inside TLS.
            with anyio.move_on_after(1) as scope:
                try:
                    await self.stream.unwrap()
                except Exception as exc:  # the peer may already be gone; nothing to tell it
                    log.debug("session %s: TLS close: %r", session_id, exc)
            if scope.cancelled_caught:
                log.debug("session %s: TLS close timed out", session_id)
        await anyio.aclose_forcefully(self.stream)


@dataclass(frozen=True)
class Authenticated:
    startup: StartupMessage
    identity: Identity


class Handshake:
    """Startup and token authentication of one connection, within ``auth_timeout``."""

    def __init__(self, gw: Gateway, link: ClientLink, session_id: str):
        self.gw = gw
        self.link = link
        self.session_id = session_id

    async def run(self, ticket: Ticket) -> Authenticated | CancelRequest:
        """The startup packet and, for a StartupMessage, the verified identity; a
        CancelRequest is returned for the caller to deliver."""
        timeout = self.gw.config.server.auth_timeout
        result: Authenticated | CancelRequest | None = None
        with anyio.move_on_after(timeout) as scope:
            ticket.interrupt = scope.cancel
            if ticket.ended is not None:
                scope.cancel()
            packet = await self._startup_packet()
            if isinstance(packet, StartupMessage):
                result = Authenticated(packet, await self._authenticate(packet))
            else:
                result = packet
        ticket.interrupt = None
        if ticket.ended is not None:  # too many waiting, or the gateway stops
            raise ticket.ended
        if scope.cancelled_caught:
            # 08P01, not 28000: the client did not finish the exchange; it presented no
            # wrong credential (clients treat 28xxx as "do not retry with this password").
            raise ProtocolViolation(
                f"authentication did not complete within {timeout:g} s",
                hint="the gateway closes connections that do not authenticate in time "
                "([server] auth_timeout)",
            )
        assert result is not None
        return result

    async def _startup_packet(self) -> StartupMessage | CancelRequest:
        """SSLRequest / GSSENCRequest (each at most once, as PostgreSQL allows) until a
        StartupMessage or a CancelRequest."""
        link = self.link
        ssl_done = gss_done = False
        while True:
            try:
                frame = await link.next_frame()
            except ProtocolViolation as exc:
                # PostgreSQL closes quietly on a packet that is no startup packet at all
                # (its length is out of range: e.g. a Terminate sent first): nothing to
                # answer a client that is not speaking the startup protocol.
                log.info("session %s from %s: %s; closed", self.session_id, link.addr, exc.message)
                raise ClientGone() from None
            packet = decode_startup(frame.body)
            if isinstance(packet, GSSENCRequest):
                if gss_done:
                    raise ProtocolViolation("GSSAPI encryption negotiation was already done")
                gss_done = True
                await link.send(b"N")
                continue
            if isinstance(packet, SSLRequest):
                if ssl_done:
                    raise ProtocolViolation("SSL negotiation was already done")
                ssl_done = True
                ctx = self.gw.server_tls
                if ctx is None:
                    await link.send(b"N")
                    continue
                if link.reader.buffered():
                    # CVE-2021-23214: bytes sent before the handshake must not be trusted.
                    raise ProtocolViolation("received unencrypted data after SSL request")
                await link.send(b"S")
                await link.start_tls(ctx)
                gss_done = True  # no GSSAPI encryption inside TLS
                continue
            if isinstance(packet, CancelRequest):
                return packet
            link.reader.typed()
            return packet

    def _cleartext_allowed(self) -> bool:
        rule = self.gw.config.server.cleartext_without_tls
        if self.link.tls or rule == "always":
            return True
        if rule == "never":
            return False
        try:
            return ipaddress.ip_address(self.link.addr).is_loopback
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
            await self.link.send(NegotiateProtocolVersion(0, unknown).encode())
        if not self._cleartext_allowed():
            raise InvalidAuthorization(
                f"regogate requires TLS for token authentication from {self.link.addr}",
                hint="connect with sslmode=require",
            )
        await self.link.send(AuthenticationCleartextPassword().encode())
        token = await self._password()
        client = ClientInfo(
            self.link.addr, self.link.port, user, params.get("application_name"), self.link.tls
        )
        try:
            return await self.gw.identities.authenticate(token, client)
        except RegogateError:
            raise
        except Exception as exc:  # a provider bug must not become an open door or a traceback
            log.exception("identity provider failed")
            raise AuthenticationFailed(
                "token authentication failed: identity provider error",
            ) from exc

    async def _password(self) -> str:
        try:
            frame = await self.link.next_frame()
        except ProtocolViolation as exc:
            raise ProtocolViolation(
                exc.message,
                hint=f"before authentication a message may be at most "
                f"{PRE_AUTH_MAX_MESSAGE // 1024} KiB (a password, or a token of any size "
                f"an identity provider issues)",
            ) from None
        if frame.tag != b"p":
            raise ProtocolViolation(
                f"expected password response, got message type {frame.tag.decode('latin-1')!r}"
            )
        return PasswordMessage.decode(frame.body).password


@dataclass(frozen=True)
class Opened:
    """An authenticated client and the upstream session it will be relayed to."""

    ctx: SessionContext
    upstream: upstream_mod.Upstream
    secret: bytes  # the gateway-issued cancel key the client gets


async def connect_upstream(
    gw: Gateway, link: ClientLink, session_id: str, auth: Authenticated
) -> Opened:
    params = auth.startup.params
    dbname = params.get("database") or params["user"]
    conn = gw.config.connections.get(dbname)
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
        up = await upstream_mod.connect(conn, forward, timeout=gw.config.server.connect_timeout)
    except upstream_mod.UpstreamRejected as exc:
        await link.send(exc.frame.encode())
        raise ClientGone() from None
    client = ClientInfo(
        link.addr, link.port, params["user"], params.get("application_name"), link.tls
    )
    ctx = SessionContext(
        session_id,
        auth.identity,
        client,
        conn,
        dict(params),
        up.pid,
        link.tls_info(),
        startup_settings.names,
        gateway_settings=startup_settings.gateway,
    )
    secret = gw.cancels.issue(UpstreamKey(conn, up.pid, up.secret))
    return Opened(ctx, up, secret)


def settings_sql(settings: Mapping[str, str]) -> tuple[str, ...]:
    """The SET statements that give the session the CONNECT decision's
    ``session_settings`` (names from decision.SESSION_SETTINGS, values checked there and
    quoted here all the same). Run before the client's first statement, they are the
    session's values; the reset value stays the role's, so the policy refuses RESET."""
    return tuple(
        f"SET {_quoted(name, chr(34))} = {_quoted(value, chr(39))}"
        for name, value in sorted(settings.items())
    )


def _quoted(text: str, quote: str) -> str:
    return quote + text.replace(quote, quote * 2) + quote


async def run_startup_sql(gw: Gateway, up: upstream_mod.Upstream, hooks: SessionHooks) -> None:
    """What the policy runs on the upstream before the client is relayed (SET ROLE)."""
    for sql in hooks.startup_sql:
        try:
            await upstream_mod.run_simple(up, sql, gw.config.server.connect_timeout)
        except (UpstreamError, TimeoutError) as exc:
            why = exc.message if isinstance(exc, UpstreamError) else "timed out"
            raise InvalidAuthorization(
                f"the session could not be set up as the policy requires: {why}",
                hint="ask the gateway operator (upstream role grants)",
            ) from None


async def session_settings(gw: Gateway, up: upstream_mod.Upstream, hooks: SessionHooks) -> None:
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
            up, SESSION_SETTINGS_SQL, gw.config.server.connect_timeout
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
