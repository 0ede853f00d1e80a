"""Opening an authenticated session to the upstream PostgreSQL (protocol §55.2.1, §55.3).

Speaks startup for the gateway: optional TLS, StartupMessage with the client's
parameters, then trust, cleartext, md5 or SCRAM-SHA-256 (scramp) with the secret from
the config — the client never sends or sees it. The server must prove who it is
(``_Login``) before the session is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field

import anyio
import anyio.abc
import anyio.to_thread
from anyio.streams.tls import TLSStream
from scramp import ScramClient, ScramException

from regogate.config import ConnectionConfig
from regogate.errors import ProtocolViolation, UpstreamError
from regogate.proxy import fastio
from regogate.proxy.tls import upstream_context
from regogate.wire.backend import (
    BackendKeyData,
    DataRow,
    ErrorResponse,
    ReadyForQuery,
)
from regogate.wire.backend_auth import (
    Authentication,
    AuthenticationCleartextPassword,
    AuthenticationMD5Password,
    AuthenticationOk,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    decode_authentication,
)
from regogate.wire.framing import Frame, MessageReader
from regogate.wire.frontend import PasswordMessage, Query, SASLInitialResponse, SASLResponse
from regogate.wire.startup import CancelRequest, SSLRequest, StartupMessage

log = logging.getLogger("regogate.upstream")

SCRAM = "SCRAM-SHA-256"


class UpstreamRejected(UpstreamError):
    """The upstream answered startup with an ErrorResponse; ``frame`` is forwarded as is."""

    def __init__(self, frame: Frame, message: str):
        super().__init__(message)
        self.frame = frame


@dataclass
class Upstream:
    stream: anyio.abc.ByteStream
    reader: MessageReader
    pid: int
    secret: bytes
    startup_frames: list[Frame] = field(default_factory=list)
    tls: bool = False


async def _open(conn: ConnectionConfig, timeout: float) -> tuple[anyio.abc.ByteStream, bool]:
    try:
        with anyio.fail_after(timeout):
            sock: anyio.abc.ByteStream = await fastio.connect_tcp(conn.host, conn.port)
            ctx = upstream_context(conn)
            if ctx is None:
                return sock, False
            await sock.send(SSLRequest().encode())
            answer = await sock.receive(1)
            if answer != b"S":
                await sock.aclose()
                raise UpstreamError(
                    f"upstream of connection {conn.name!r} does not accept TLS "
                    f"(tls = {conn.tls!r} requires it)"
                )
            hostname = conn.host if conn.tls == "verify-full" else None
            tls = await TLSStream.wrap(
                sock,
                server_side=False,
                hostname=hostname,
                ssl_context=ctx,
                standard_compatible=False,
            )
            return tls, True
    except TimeoutError:
        raise UpstreamError(
            f"upstream of connection {conn.name!r} ({conn.host}:{conn.port}) did not answer "
            f"within {timeout:g}s"
        ) from None
    except ssl.SSLError as exc:
        raise UpstreamError(
            f"TLS to the upstream of connection {conn.name!r} failed: {exc.reason or exc}"
        ) from None
    except OSError as exc:
        raise UpstreamError(
            f"cannot reach the upstream of connection {conn.name!r} ({conn.host}:{conn.port}): "
            f"{exc.strerror or exc}"
        ) from None


def _md5_password(user: str, password: str, salt: bytes) -> str:
    inner = hashlib.md5((password + user).encode()).hexdigest()
    return "md5" + hashlib.md5(inner.encode() + salt).hexdigest()


def warn_unverified_tls(connections: Iterable[ConnectionConfig]) -> None:
    """Say once, at start, which upstreams are encrypted but not authenticated."""
    for conn in connections:
        if conn.tls == "require":
            log.warning(
                'connection %r: tls = "require" encrypts, but the certificate of %s is not '
                "checked (anyone on the path can pose as the server); "
                'use tls = "verify-full" with tls_ca_file',
                conn.name,
                conn.host,
            )


async def connect(
    conn: ConnectionConfig,
    params: dict[str, str],
    *,
    timeout: float = 10.0,
    max_message_size: int = 1 << 30,
) -> Upstream:
    """Connect, authenticate and read up to the first ReadyForQuery."""
    stream, tls = await _open(conn, timeout)
    try:
        with anyio.fail_after(timeout):
            return await _startup(conn, stream, tls, params, max_message_size)
    except TimeoutError:
        await anyio.aclose_forcefully(stream)
        raise UpstreamError(
            f"upstream of connection {conn.name!r} did not finish startup within {timeout:g}s"
        ) from None
    except BaseException:
        await anyio.aclose_forcefully(stream)
        raise


def _need_password(conn: ConnectionConfig) -> str:
    if conn.password is None:
        raise UpstreamError(
            f"the upstream of connection {conn.name!r} asks for a password, but none is "
            f"configured (set password_env or password_file)"
        )
    return conn.password.value


class _Login:
    """The gateway's answers to the upstream's authentication requests (§55.2.1, §55.3).

    The server must prove itself before the session is used: with SCRAM-SHA-256 by its
    signature in AuthenticationSASLFinal (checked before AuthenticationOk is accepted);
    otherwise only by a certificate checked with ``tls = "verify-full"``. A password in
    cleartext or as MD5 (replayable, and a password equivalent) goes only to a verified
    server, and a server that asks for no password while one is configured is refused
    unless verified: it proves nothing about who it is.
    """

    def __init__(self, conn: ConnectionConfig, tls: bool):
        self.conn = conn
        self.verified_tls = tls and conn.tls == "verify-full"
        self.scram: ScramClient | None = None
        self.proven = False  # the server signature of SCRAM checked

    def _fail(self, what: str, hint: str | None = None) -> UpstreamError:
        return UpstreamError(f"the upstream of connection {self.conn.name!r} {what}", hint=hint)

    async def answer(self, msg: Authentication) -> bytes | None:
        """The message to send for one authentication request (None: nothing to send)."""
        try:
            return await self._answer(msg)
        except ScramException as exc:
            raise self._fail(f"failed SCRAM authentication: {exc}") from None
        except UnicodeDecodeError:
            raise self._fail("sent a SCRAM message that is not UTF-8") from None

    async def _answer(self, msg: Authentication) -> bytes | None:
        match msg:
            case AuthenticationOk():
                self._accept_ok()
                return None
            case AuthenticationCleartextPassword():
                self._weak_method("in cleartext")
                return PasswordMessage(_need_password(self.conn)).encode()
            case AuthenticationMD5Password(salt=salt):
                self._weak_method("as an MD5 hash")
                password = _md5_password(self.conn.user, _need_password(self.conn), salt)
                return PasswordMessage(password).encode()
            case AuthenticationSASL(mechanisms=mechanisms) if self.scram is None:
                if SCRAM not in mechanisms:
                    raise self._fail(
                        f"offers SASL mechanisms {', '.join(mechanisms)}; regogate supports {SCRAM}"
                    )
                self.scram = ScramClient([SCRAM], self.conn.user, _need_password(self.conn))
                first = self.scram.get_client_first().encode()
                return SASLInitialResponse(SCRAM, first).encode()
            case AuthenticationSASLContinue(data=data) if self.scram is not None:
                scram = self.scram
                scram.set_server_first(data.decode())
                # PBKDF2 with the server's iteration count (up to scramp's 10 million)
                # runs off the event loop: other sessions do not wait for it.
                final = await anyio.to_thread.run_sync(scram.get_client_final)
                return SASLResponse(final.encode()).encode()
            case AuthenticationSASLFinal(data=data) if self.scram is not None:
                try:
                    self.scram.set_server_final(data.decode())
                except ScramException as exc:
                    raise self._fail(
                        f"did not prove it knows the password: its SCRAM server signature "
                        f"is wrong ({exc})",
                        hint="it is not the configured server, or its stored password "
                        "differs; check the host and the upstream's credentials",
                    ) from None
                self.proven = True
                return None
        raise self._fail(
            f"asks for an authentication method regogate does not support or did not "
            f"expect here ({type(msg).__name__})"
        )

    def _weak_method(self, how: str) -> None:
        if not self.verified_tls:
            raise self._fail(
                f"asks for the password {how}; regogate sends it that way only to a server "
                f'whose certificate it checks (tls = "verify-full")',
                hint="use SCRAM-SHA-256 on the server (password_encryption = "
                "'scram-sha-256', then set the password again; scram-sha-256 in "
                'pg_hba.conf), or tls = "verify-full" with tls_ca_file',
            )

    def _accept_ok(self) -> None:
        if self.scram is not None and not self.proven:
            raise self._fail(
                "accepted the SCRAM login without proving it knows the password (no "
                "AuthenticationSASLFinal before AuthenticationOk); the session is not used",
                hint="it is not a PostgreSQL server regogate can trust; check the host",
            )
        if self.scram is None and self.conn.password is not None and not self.verified_tls:
            # No exchange at all (trust): anything that speaks the protocol could say so.
            raise self._fail(
                "accepted the login without asking for the configured password; regogate "
                "cannot tell it from a server posing as the upstream",
                hint="if the server is meant to trust this role, remove password_env / "
                'password_file, or set tls = "verify-full"',
            )


async def _startup(
    conn: ConnectionConfig,
    stream: anyio.abc.ByteStream,
    tls: bool,
    params: dict[str, str],
    max_message_size: int,
) -> Upstream:
    startup = {**params, "user": conn.user, "database": conn.database}
    await stream.send(StartupMessage(startup).encode())
    reader = MessageReader(max_size=max_message_size)
    login = _Login(conn, tls)
    pid, secret = 0, b""
    kept: list[Frame] = []
    while True:
        frame = reader.next_frame()
        if frame is None:
            try:
                data = await stream.receive(65536)
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                raise UpstreamError(
                    f"the upstream of connection {conn.name!r} closed the connection during startup"
                ) from None
            reader.feed(data)
            continue
        if frame.tag == b"E":
            err = ErrorResponse.decode(frame.body)
            raise UpstreamRejected(frame, err.message)
        if frame.tag == b"R":
            answer = await login.answer(decode_authentication(frame.body))
            if answer is not None:
                await stream.send(answer)
            continue
        if frame.tag == b"K":
            key = BackendKeyData.decode(frame.body)
            pid, secret = key.pid, key.secret
            continue
        if frame.tag == b"Z":
            ReadyForQuery.decode(frame.body)
            kept.append(frame)
            return Upstream(stream, reader, pid, secret, kept, tls)
        if frame.tag in (b"S", b"N", b"v"):
            if frame.tag != b"v":
                kept.append(frame)
            continue
        raise ProtocolViolation(
            f"unexpected message {frame.tag!r} from the upstream during startup"
        )


async def send_cancel(conn: ConnectionConfig, pid: int, secret: bytes, timeout: float) -> None:
    """Deliver a CancelRequest to the upstream (§55.2.8); best effort, never raises."""
    try:
        stream, _ = await _open(conn, timeout)
    except UpstreamError:
        return
    try:
        with anyio.move_on_after(timeout):
            await stream.send(CancelRequest(pid, secret).encode())
            # The server closes the connection when it has processed the request.
            with contextlib.suppress(
                anyio.EndOfStream, anyio.BrokenResourceError, OSError, ssl.SSLError
            ):
                await stream.receive(1)
    finally:
        await anyio.aclose_forcefully(stream)


async def run_simple(up: Upstream, sql: str, timeout: float) -> None:
    """Run one statement on the upstream before the client is relayed (e.g. SET ROLE);
    read its responses up to ReadyForQuery. An error raises UpstreamError with its text."""
    await query_rows(up, sql, timeout)


async def query_rows(up: Upstream, sql: str, timeout: float) -> list[tuple[str | None, ...]]:
    """Like ``run_simple``, and return the rows (text format) of its result."""
    rows: list[tuple[str | None, ...]] = []
    error: str | None = None
    with anyio.fail_after(timeout):
        await up.stream.send(Query(sql).encode())
        while True:
            frame = up.reader.next_frame()
            if frame is None:
                try:
                    up.reader.feed(await up.stream.receive(65536))
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    raise UpstreamError("the upstream closed the connection") from None
                continue
            if frame.tag == b"E":
                error = ErrorResponse.decode(frame.body).message
            elif frame.tag == b"D":
                values = DataRow.decode(frame.body).values
                rows.append(
                    tuple(None if v is None else v.decode("utf-8", "replace") for v in values)
                )
            elif frame.tag == b"Z":
                break
    if error is not None:
        raise UpstreamError(error)
    return rows
