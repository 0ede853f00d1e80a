"""Before authentication nobody holds much: a connection has ``auth_timeout`` seconds and
64 KiB a message, connections awaiting authentication have their own cap, and none of
that keeps a client with a good token out. Slow, silent, oversized and repetitive
clients against a real `regogate serve` in front of the real PostgreSQL."""

from __future__ import annotations

import select
import signal
import socket
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import psycopg
import pytest

from regogate.wire.backend import ErrorResponse
from regogate.wire.framing import MessageReader
from regogate.wire.frontend import PasswordMessage
from regogate.wire.startup import GSSENCRequest, SSLRequest, StartupMessage
from tests.fix_gateway import GatewayFixture
from tests.fix_pg import PgFixture
from tests.pgerror import connect_error

STARTUP = StartupMessage({"user": "dba", "database": "bank"}).encode()
PASSWORD_REQUEST = b"R\x00\x00\x00\x08\x00\x00\x00\x03"


def _raw(gw: GatewayFixture, timeout: float = 15) -> socket.socket:
    return socket.create_connection(("127.0.0.1", gw.port), timeout=timeout)


def _read_all(s: socket.socket) -> bytes:
    """Everything until the gateway closes the connection (or the socket times out)."""
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        out += chunk
    return out


def _fatal(data: bytes) -> ErrorResponse:
    """The one ErrorResponse the gateway sent before closing (after any 1-byte answers)."""
    start = data.index(b"E")
    reader = MessageReader()
    reader.feed(data[start:])
    frame = reader.next_frame()
    assert frame is not None and frame.tag == b"E", data
    assert reader.buffered() == 0, "nothing may follow the FATAL error"
    err = ErrorResponse.decode(frame.body)
    assert err.severity == "FATAL"
    return err


def _awaiting_password(gw: GatewayFixture) -> socket.socket:
    s = _raw(gw)
    s.sendall(STARTUP)
    assert s.recv(9) == PASSWORD_REQUEST
    return s


def _still_works(gw: GatewayFixture, who: str = "dba") -> None:
    with psycopg.connect(gw.dsn(who), autocommit=True, connect_timeout=10) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_a_silent_client_is_ended_at_auth_timeout(
    make_gateway: Callable[..., GatewayFixture],
) -> None:
    gw = make_gateway(extra_server="auth_timeout = 1.5")
    s = _raw(gw)
    t0 = time.monotonic()
    err = _fatal(_read_all(s))
    elapsed = time.monotonic() - t0
    assert 1.2 < elapsed < 6
    assert err.sqlstate == "08P01"
    assert err.message == "authentication did not complete within 1.5 s"
    assert "auth_timeout" in (err.hint or "")
    _still_works(gw)


def _trickle(s: socket.socket, payload: bytes, interval: float) -> bytes:
    """Send one byte per ``interval`` seconds until the gateway answers; return the answer."""
    for i in range(len(payload)):
        try:
            s.sendall(payload[i : i + 1])
        except OSError:
            break
        readable, _, _ = select.select([s], [], [], interval)
        if readable:
            break
    return _read_all(s)


@pytest.mark.parametrize("phase", ["startup packet", "password"])
def test_a_client_sending_a_byte_a_second_is_ended_at_auth_timeout(
    make_gateway: Callable[..., GatewayFixture], phase: str
) -> None:
    # Each byte arrives well within any per-read timeout; only the total is bounded.
    gw = make_gateway(extra_server="auth_timeout = 3")
    if phase == "startup packet":
        s, payload = _raw(gw), STARTUP
    else:
        s, payload = _awaiting_password(gw), PasswordMessage(gw.token("dba")).encode()
    t0 = time.monotonic()
    err = _fatal(_trickle(s, payload, 1.0))
    assert time.monotonic() - t0 < 3 + 3
    assert err.sqlstate == "08P01"
    assert "authentication did not complete within 3 s" in err.message
    _still_works(gw)


def test_a_password_over_64_kib_is_refused_at_once(gateway: GatewayFixture) -> None:
    s = _awaiting_password(gateway)
    t0 = time.monotonic()
    # Only the header: the gateway must not wait for (or buffer) the promised megabyte.
    s.sendall(b"p" + struct.pack("!I", 1 << 20))
    err = _fatal(_read_all(s))
    assert time.monotonic() - t0 < 3
    assert err.sqlstate == "08P01"
    assert "over the maximum message size of 65536 bytes" in err.message
    assert "64 KiB" in (err.hint or "")
    _still_works(gateway)


def test_a_60_kib_token_is_read_and_judged(gateway: GatewayFixture) -> None:
    # Under the cap, a big credential is an ordinary wrong token (any JWT fits).
    s = _awaiting_password(gateway)
    s.sendall(PasswordMessage("x" * 60 * 1024).encode())
    err = _fatal(_read_all(s))
    assert err.sqlstate == "28P01"
    assert "x" * 100 not in err.message


def test_a_60_kib_password_then_a_stall_is_ended_at_auth_timeout(
    make_gateway: Callable[..., GatewayFixture],
) -> None:
    gw = make_gateway(extra_server="auth_timeout = 1.5")
    s = _awaiting_password(gw)
    whole = PasswordMessage("y" * 60 * 1024).encode()
    s.sendall(whole[: len(whole) - 10])  # all but the last bytes, then nothing
    t0 = time.monotonic()
    err = _fatal(_read_all(s))
    assert time.monotonic() - t0 < 5
    assert err.sqlstate == "08P01"
    assert "authentication did not complete" in err.message
    _still_works(gw)


@pytest.mark.parametrize("length", [0x7FFFFFFF, 0xFFFFFFFF, 10001, 7])
def test_a_startup_packet_with_an_absurd_length_is_closed_quietly(
    gateway: GatewayFixture, length: int
) -> None:
    # As PostgreSQL does: no answer to a peer not speaking the startup protocol.
    s = _raw(gateway)
    s.sendall(struct.pack("!I", length) + b"\x00" * 64)
    assert _read_all(s) == b""
    _still_works(gateway)


@pytest.mark.parametrize(
    ("request_bytes", "what"),
    [(SSLRequest().encode(), "SSL"), (GSSENCRequest().encode(), "GSSAPI encryption")],
)
def test_a_negotiation_request_loop_ends_at_the_second(
    gateway: GatewayFixture, request_bytes: bytes, what: str
) -> None:
    # PostgreSQL allows each negotiation once; a loop would cost a reply per 8 bytes.
    s = _raw(gateway)
    s.sendall(request_bytes * 1000)
    data = _read_all(s)
    assert data.startswith(b"N")
    err = _fatal(data[1:])
    assert err.sqlstate == "08P01"
    assert err.message == f"{what} negotiation was already done"
    _still_works(gateway)


def test_gssenc_then_ssl_then_startup_still_works(gateway: GatewayFixture) -> None:
    # libpq's gssencmode=prefer sslmode=prefer: one of each is the protocol, not a loop.
    s = _raw(gateway)
    s.sendall(GSSENCRequest().encode())
    assert s.recv(1) == b"N"
    s.sendall(SSLRequest().encode())
    assert s.recv(1) == b"N"
    s.sendall(STARTUP)
    assert s.recv(9) == PASSWORD_REQUEST


def test_a_tls_handshake_that_stalls_gets_no_plaintext_error(
    make_gateway: Callable[..., GatewayFixture], pg: PgFixture
) -> None:
    gw = make_gateway(
        extra_server=f'auth_timeout = 1\ntls_cert_file = "{pg.certs.cert}"\n'
        f'tls_key_file = "{pg.certs.key}"\n'
    )
    s = _raw(gw)
    s.sendall(SSLRequest().encode())
    assert s.recv(1) == b"S"
    t0 = time.monotonic()
    assert _read_all(s) == b""  # closed; an ErrorResponse here would be TLS garbage
    assert time.monotonic() - t0 < 5


@contextmanager
def _held(
    gw: GatewayFixture, count: int, *, startup: bool = False
) -> Iterator[list[socket.socket]]:
    """``count`` connections that never authenticate (silent, or stuck at the password)."""
    with ExitStack() as stack:
        socks = []
        for _ in range(count):
            s = _awaiting_password(gw) if startup else _raw(gw)
            stack.callback(s.close)
            socks.append(s)
        yield socks


def test_unauthenticated_connections_do_not_take_session_places(
    make_gateway: Callable[..., GatewayFixture],
) -> None:
    gw = make_gateway(extra_server="max_sessions = 2\nmax_pending_auth = 64\nauth_timeout = 60")
    with _held(gw, 30), _held(gw, 20, startup=True), ExitStack() as stack:
        for who in ("dba", "analyst"):
            conn = stack.enter_context(psycopg.connect(gw.dsn(who), autocommit=True))
            assert conn.execute("select 1").fetchone() == (1,)
        # max_sessions counts sessions, and two are open now.
        state, message = connect_error(gw.port, "agent", gw.token("agent"), "bank")
        assert (state, message) == ("53300", "sorry, too many clients already")


def _ended(s: socket.socket) -> bytes | None:
    """What the gateway sent before closing ``s``, or None if it is still open and silent."""
    readable, _, _ = select.select([s], [], [], 0)
    return _read_all(s) if readable else None


def test_beyond_max_pending_auth_the_longest_waiting_is_ended(
    make_gateway: Callable[..., GatewayFixture],
) -> None:
    gw = make_gateway(extra_server="max_pending_auth = 8\nauth_timeout = 60")
    with _held(gw, 100) as socks:
        time.sleep(1)
        answers = [_ended(s) for s in socks]
        waiting = [s for s, answer in zip(socks, answers, strict=True) if answer is None]
        assert len(waiting) == 8
        assert set(waiting) <= set(socks[-12:])  # the oldest were ended, the newest wait
        for answer in answers:
            if answer is not None:  # ended with a reason, not a bare close
                err = _fatal(answer)
                assert err.sqlstate == "53300"
                assert err.message == (
                    "too many connections are awaiting authentication; this one waited longest"
                )
                assert "max_pending_auth = 8" not in err.message
                assert "max_pending_auth" in (err.hint or "")
        # A client with a good token still gets in: its handshake takes milliseconds, so
        # it is never the connection that has waited longest.
        _still_works(gw)
        time.sleep(0.3)
        assert sum(_ended(s) is not None for s in waiting) == 1  # it made room for itself
        _still_works(gw, "analyst")


def test_shutdown_tells_connections_still_authenticating_at_once(
    make_gateway: Callable[..., GatewayFixture],
) -> None:
    gw = make_gateway(extra_server="auth_timeout = 60\nconnect_timeout = 20")
    assert gw.process is not None
    with _held(gw, 5, startup=True) as waiting, _held(gw, 5) as silent:
        time.sleep(0.5)  # accepted by the gateway, not only by the kernel's backlog
        t0 = time.monotonic()
        gw.process.proc.send_signal(signal.SIGTERM)
        for s in waiting + silent:
            err = _fatal(_read_all(s))
            assert err.sqlstate == "57P01"
        assert gw.process.proc.wait(timeout=15) == 0
        # Not held up for connect_timeout (the drain) by clients that never logged in.
        assert time.monotonic() - t0 < 10
