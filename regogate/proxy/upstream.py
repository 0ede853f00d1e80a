"""Opening an authenticated session to the upstream PostgreSQL (protocol §55.2.1, §55.3).

Speaks startup for the gateway: optional TLS, StartupMessage with the client's
parameters, then trust, cleartext, md5 or SCRAM-SHA-256 (scramp) with the secret from
the config — the client never sends or sees it.
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
from dataclasses import dataclass, field

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream
from scramp import ScramClient, ScramException

from regogate.config import ConnectionConfig
from regogate.errors import ProtocolViolation, UpstreamError
from regogate.proxy import fastio
from regogate.proxy.tls import upstream_context
from regogate.wire.backend import (
    AuthenticationCleartextPassword,
    AuthenticationMD5Password,
    AuthenticationOk,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    BackendKeyData,
    DataRow,
    ErrorResponse,
    ReadyForQuery,
    decode_backend,
)
from regogate.wire.framing import Frame, MessageReader
from regogate.wire.frontend import PasswordMessage, Query, SASLInitialResponse, SASLResponse
from regogate.wire.startup import CancelRequest, SSLRequest, StartupMessage

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
    scram: ScramClient | None = None
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
            msg = decode_backend(frame)
            try:
                if isinstance(msg, AuthenticationOk):
                    continue
                if isinstance(msg, AuthenticationCleartextPassword):
                    if not tls and conn.host not in ("127.0.0.1", "::1", "localhost"):
                        raise UpstreamError(
                            f"the upstream of connection {conn.name!r} asks for a cleartext "
                            f'password over an unencrypted connection; set tls = "require"'
                        )
                    await stream.send(PasswordMessage(_need_password(conn)).encode())
                elif isinstance(msg, AuthenticationMD5Password):
                    password = _md5_password(conn.user, _need_password(conn), msg.salt)
                    await stream.send(PasswordMessage(password).encode())
                elif isinstance(msg, AuthenticationSASL):
                    if SCRAM not in msg.mechanisms:
                        raise UpstreamError(
                            f"the upstream of connection {conn.name!r} offers SASL mechanisms "
                            f"{', '.join(msg.mechanisms)}; regogate supports {SCRAM}"
                        )
                    scram = ScramClient([SCRAM], conn.user, _need_password(conn))
                    first = scram.get_client_first().encode()
                    await stream.send(SASLInitialResponse(SCRAM, first).encode())
                elif isinstance(msg, AuthenticationSASLContinue) and scram is not None:
                    scram.set_server_first(msg.data.decode())
                    await stream.send(SASLResponse(scram.get_client_final().encode()).encode())
                elif isinstance(msg, AuthenticationSASLFinal) and scram is not None:
                    scram.set_server_final(msg.data.decode())
                else:
                    raise UpstreamError(
                        f"the upstream of connection {conn.name!r} asks for an authentication "
                        f"method regogate does not support ({type(msg).__name__})"
                    )
            except ScramException as exc:
                raise UpstreamError(
                    f"SCRAM authentication with the upstream of connection "
                    f"{conn.name!r} failed: {exc}"
                ) from None
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
