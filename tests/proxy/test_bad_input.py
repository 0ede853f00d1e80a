"""Hostile and broken peers: the offending session ends with an ErrorResponse, others carry on."""

from __future__ import annotations

import socket
import struct
import time

import psycopg
import pytest

from tests.fix_gateway import GatewayFixture
from tests.pgerror import connect_error


def _raw(gw: GatewayFixture) -> socket.socket:
    return socket.create_connection(("127.0.0.1", gw.port), timeout=10)


def _read_all(s: socket.socket) -> bytes:
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


def _startup(user: str, db: str) -> bytes:
    body = struct.pack("!I", 196608) + f"user\0{user}\0database\0{db}\0\0".encode()
    return struct.pack("!I", len(body) + 4) + body


def _password(token: str) -> bytes:
    body = token.encode() + b"\0"
    return b"p" + struct.pack("!I", len(body) + 4) + body


def _login(gw: GatewayFixture) -> socket.socket:
    s = _raw(gw)
    s.sendall(_startup("dba", "bank"))
    assert s.recv(9) == b"R\x00\x00\x00\x08\x00\x00\x00\x03"  # cleartext password request
    s.sendall(_password(gw.token("dba")))
    buf = b""
    while not buf.endswith(b"Z\x00\x00\x00\x05I"):
        buf += s.recv(65536)
    return s


def _error_fields(data: bytes) -> dict[str, str]:
    i = data.index(b"E")
    length = struct.unpack("!I", data[i + 1 : i + 5])[0]
    body = data[i + 5 : i + 1 + length]
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode()
    return fields


def _still_works(gw: GatewayFixture) -> None:
    with psycopg.connect(gw.dsn(), autocommit=True) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


@pytest.mark.parametrize(
    "first",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        # node-postgres's quick-disconnect: a Terminate before any startup packet.
        b"X\x00\x00\x00\x04",
        b"\x00\x00\x00\x02",
    ],
)
def test_no_startup_packet_is_closed_quietly(gateway: GatewayFixture, first: bytes) -> None:
    # As PostgreSQL does ("invalid length of startup packet" is logged, not sent): a peer
    # that does not speak the startup protocol gets no answer, only a closed socket.
    s = _raw(gateway)
    s.sendall(first)
    assert _read_all(s) == b""
    _still_works(gateway)


def test_unsupported_protocol_version(gateway: GatewayFixture) -> None:
    s = _raw(gateway)
    body = struct.pack("!I", 2 << 16) + b"user\0dba\0\0"
    s.sendall(struct.pack("!I", len(body) + 4) + body)
    assert _error_fields(_read_all(s))["C"] == "08P01"


def test_oversized_message_after_login(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(extra_server="max_message_size = 4096")
    s = _login(gw)
    s.sendall(b"Q" + struct.pack("!I", 1_000_000))
    fields = _error_fields(_read_all(s))
    assert fields["C"] == "08P01"
    assert "maximum message size" in fields["M"]
    _still_works(gw)


def test_malformed_length(gateway: GatewayFixture) -> None:
    s = _login(gateway)
    s.sendall(b"Q\x00\x00\x00\x02")
    assert _error_fields(_read_all(s))["C"] == "08P01"
    _still_works(gateway)


def test_malformed_password_message(gateway: GatewayFixture) -> None:
    s = _raw(gateway)
    s.sendall(_startup("dba", "bank"))
    s.recv(9)
    s.sendall(b"p\x00\x00\x00\x08abcd")  # no NUL terminator
    assert _error_fields(_read_all(s))["C"] == "08P01"
    _still_works(gateway)


def test_wrong_message_instead_of_password(gateway: GatewayFixture) -> None:
    s = _raw(gateway)
    s.sendall(_startup("dba", "bank"))
    s.recv(9)
    s.sendall(b"Q\x00\x00\x00\x0dselect 1\x00")
    assert _error_fields(_read_all(s))["C"] == "08P01"


def test_client_vanishes_mid_message(gateway: GatewayFixture, pg) -> None:  # type: ignore[no-untyped-def]
    s = _login(gateway)
    s.sendall(b"Q\x00\x00\x01\x00select")  # promises 256 bytes, sends 6
    s.close()
    time.sleep(0.5)
    _still_works(gateway)


def test_client_vanishes_mid_result(gateway: GatewayFixture) -> None:
    s = _login(gateway)
    q = b"select repeat('x', 1000) from generate_series(1, 200000)\0"
    s.sendall(b"Q" + struct.pack("!I", len(q) + 4) + q)
    s.recv(1000)
    s.close()
    _still_works(gateway)


def test_upstream_goes_away(gateway: GatewayFixture, pg) -> None:  # type: ignore[no-untyped-def]
    with psycopg.connect(gateway.dsn(), autocommit=True) as victim:
        pid = victim.info.backend_pid
        pg.sql(f"select pg_terminate_backend({pid})")
        with pytest.raises(psycopg.OperationalError) as info:
            victim.execute("select 1")
        assert info.value.sqlstate in ("57P01", "08006")
    _still_works(gateway)


def test_max_sessions(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(extra_server="max_sessions = 2")
    a = psycopg.connect(gw.dsn())
    b = psycopg.connect(gw.dsn())
    try:
        state, _ = connect_error(gw.port, "dba", gw.token("dba"), "bank")
        assert state == "53300"
    finally:
        a.close()
        b.close()
    time.sleep(0.2)
    _still_works(gw)


def test_gssenc_request_answered_n(gateway: GatewayFixture) -> None:
    s = _raw(gateway)
    s.sendall(struct.pack("!II", 8, 80877104))
    assert s.recv(1) == b"N"
    s.sendall(_startup("dba", "bank"))
    assert s.recv(9)[:1] == b"R"


def test_ssl_request_without_tls_answered_n(gateway: GatewayFixture) -> None:
    s = _raw(gateway)
    s.sendall(struct.pack("!II", 8, 80877103))
    assert s.recv(1) == b"N"


def test_unknown_cancel_key_is_ignored(gateway: GatewayFixture) -> None:
    s = _raw(gateway)
    s.sendall(struct.pack("!IIII", 16, 80877102, 12345, 999))
    assert _read_all(s) == b""
    _still_works(gateway)


def test_silent_client_times_out_with_error(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(extra_server="auth_timeout = 0.5")
    s = _raw(gw)
    t0 = time.monotonic()
    data = _read_all(s)  # the client says nothing at all
    assert time.monotonic() - t0 < 9
    fields = _error_fields(data)
    assert fields["C"] == "08P01"
    assert "authentication did not complete within 0.5 s" in fields["M"]
    _still_works(gw)
