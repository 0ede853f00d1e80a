"""Every protocol message: round trip, byte-at-a-time framing, exact bytes, malformed input."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from regogate.errors import ProtocolViolation
from regogate.wire import backend as be
from regogate.wire import frontend as fe
from regogate.wire.framing import Frame, MessageReader
from regogate.wire.startup import (
    CancelRequest,
    GSSENCRequest,
    SSLRequest,
    StartupMessage,
    decode_startup,
)

FRONTEND: list[Any] = [
    fe.Query("select 1; select 'ü'"),
    fe.Query(""),
    fe.Parse("s1", "select $1::int, $2", (23, 0)),
    fe.Parse("", "select 1"),
    fe.Bind("p1", "s1", (0, 1), (b"42", None, b"\x00\x01"), (1,)),
    fe.Bind("", "", (), (), ()),
    fe.Execute("p1", 500),
    fe.Execute(),
    fe.Describe(b"S", "s1"),
    fe.Describe(b"P", ""),
    fe.Close(b"S", "s1"),
    fe.Close(b"P", "p"),
    fe.Sync(),
    fe.Flush(),
    fe.Terminate(),
    fe.CopyData(b"1\tabc\n"),
    fe.CopyDone(),
    fe.CopyFail("client aborted"),
    fe.FunctionCall(764, (0,), (b"x", None), 1),
    fe.AuthResponse(b"token\x00"),
]

BACKEND: list[Any] = [
    be.AuthenticationOk(),
    be.AuthenticationKerberosV5(),
    be.AuthenticationCleartextPassword(),
    be.AuthenticationMD5Password(b"salt"),
    be.AuthenticationGSS(),
    be.AuthenticationGSSContinue(b"gss"),
    be.AuthenticationSSPI(),
    be.AuthenticationSASL(("SCRAM-SHA-256", "SCRAM-SHA-256-PLUS")),
    be.AuthenticationSASLContinue(b"r=abc,s=def,i=4096"),
    be.AuthenticationSASLFinal(b"v=xyz"),
    be.BackendKeyData(1234, b"\x01\x02\x03\x04"),
    be.BackendKeyData(1234, bytes(range(32))),
    be.BindComplete(),
    be.CloseComplete(),
    be.CommandComplete("SELECT 3"),
    be.CopyInResponse(0, (0, 0)),
    be.CopyOutResponse(1, (1,)),
    be.CopyBothResponse(0, ()),
    be.CopyData(b"payload"),
    be.CopyDone(),
    be.DataRow((b"1", None, b"")),
    be.DataRow(()),
    be.EmptyQueryResponse(),
    be.ErrorResponse.make("42501", "permission denied", detail="d", hint="h"),
    be.NoticeResponse.make("00000", "hello", severity="NOTICE"),
    be.FunctionCallResponse(b"\x00\x01"),
    be.FunctionCallResponse(None),
    be.NegotiateProtocolVersion(0, ("_pq_.x",)),
    be.NoData(),
    be.NotificationResponse(77, "chan", "payload"),
    be.ParameterDescription((23, 25)),
    be.ParameterStatus("client_encoding", "UTF8"),
    be.ParseComplete(),
    be.PortalSuspended(),
    be.ReadyForQuery(b"T"),
    be.RowDescription(
        (
            be.FieldDescription("id", 16384, 1, 20, 8, -1, 0),
            be.FieldDescription("ü", 0, 0, 25, -1, -1, 1),
        )
    ),
]


def _frames(data: bytes, *, chunk: int) -> list[Frame]:
    reader = MessageReader()
    out = []
    for i in range(0, len(data), chunk):
        reader.feed(data[i : i + chunk])
        while (f := reader.next_frame()) is not None:
            out.append(f)
    assert reader.buffered() == 0
    return out


@pytest.mark.parametrize("msg", FRONTEND, ids=lambda m: type(m).__name__)
def test_frontend_round_trip_byte_at_a_time(msg: Any) -> None:
    wire = msg.encode()
    for chunk in (1, 3, len(wire)):
        (frame,) = _frames(wire, chunk=chunk)
        decoded = fe.decode_frontend(frame)
        assert decoded == msg
        assert decoded.encode() == wire


@pytest.mark.parametrize("msg", BACKEND, ids=lambda m: type(m).__name__)
def test_backend_round_trip_byte_at_a_time(msg: Any) -> None:
    wire = msg.encode()
    for chunk in (1, 3, len(wire)):
        (frame,) = _frames(wire, chunk=chunk)
        decoded = be.decode_backend(frame)
        assert decoded == msg
        assert decoded.encode() == wire


def test_concatenated_stream() -> None:
    wire = b"".join(m.encode() for m in BACKEND)
    frames = _frames(wire, chunk=1)
    assert [be.decode_backend(f) for f in frames] == BACKEND


@pytest.mark.parametrize(
    ("msg", "wire"),
    [
        (be.ReadyForQuery(b"I"), b"Z\x00\x00\x00\x05I"),
        (be.AuthenticationOk(), b"R\x00\x00\x00\x08\x00\x00\x00\x00"),
        (be.AuthenticationCleartextPassword(), b"R\x00\x00\x00\x08\x00\x00\x00\x03"),
        (fe.Sync(), b"S\x00\x00\x00\x04"),
        (fe.Terminate(), b"X\x00\x00\x00\x04"),
        (fe.Query("select 1"), b"Q\x00\x00\x00\x0dselect 1\x00"),
        (be.CommandComplete("BEGIN"), b"C\x00\x00\x00\x0aBEGIN\x00"),
        (SSLRequest(), struct.pack("!II", 8, 80877103)),
        (GSSENCRequest(), struct.pack("!II", 8, 80877104)),
        (CancelRequest(7, b"\x00\x00\x00\x09"), struct.pack("!IIII", 16, 80877102, 7, 9)),
    ],
)
def test_exact_bytes(msg: Any, wire: bytes) -> None:
    assert msg.encode() == wire


STARTUP: list[Any] = [
    StartupMessage({"user": "agent", "database": "bank", "options": "-c x=1"}),
    StartupMessage({"user": "u"}, protocol=(3 << 16) | 2),
    SSLRequest(),
    GSSENCRequest(),
    CancelRequest(4242, b"\xde\xad\xbe\xef"),
    CancelRequest(4242, bytes(range(32))),  # protocol 3.2 long key
]


@pytest.mark.parametrize("msg", STARTUP, ids=lambda m: type(m).__name__)
def test_startup_round_trip_byte_at_a_time(msg: Any) -> None:
    wire = msg.encode()
    reader = MessageReader(startup=True)
    frames = []
    for byte in wire:
        reader.feed(bytes([byte]))
        if (f := reader.next_frame()) is not None:
            frames.append(f)
    (frame,) = frames
    assert decode_startup(frame.body) == msg


def _body(tag: bytes, body: bytes) -> Frame:
    return Frame(tag, body)


MALFORMED_FRONTEND = [
    _body(b"Q", b"no terminator"),
    _body(b"Q", b"two\x00strings\x00"),
    _body(b"P", b"s\x00select 1\x00"),  # no parameter count
    _body(b"P", b"s\x00q\x00\x00\x05\x00\x00\x00\x17"),  # count 5, one type
    _body(b"B", b"\x00\x00\x00\x01\x00\x00\x00\x01"),  # value count but no value
    _body(b"B", b"\x00\x00\x00\x00\x00\x01\xff\xff\xff\xfe\x00\x00"),  # length -2
    _body(b"B", b"\x00\x00\xff\xff"),  # negative format count
    _body(b"E", b"p\x00\x00\x00"),
    _body(b"D", b"X\x00"),
    _body(b"C", b""),
    _body(b"S", b"junk"),
    _body(b"F", b"\x00\x00"),
    _body(b"?", b""),
]

MALFORMED_BACKEND = [
    _body(b"R", b"\x00\x00"),
    _body(b"R", b"\x00\x00\x00\x63"),  # unknown auth code
    _body(b"R", b"\x00\x00\x00\x05ab"),  # short md5 salt
    _body(b"K", b"\x00\x00\x00\x01\x00"),
    _body(b"Z", b"Q"),
    _body(b"T", b"\x00\x01name\x00\x00"),
    _body(b"D", b"\x00\x02\x00\x00\x00\x05ab"),
    _body(b"E", b"SERROR\x00"),  # missing final terminator
    _body(b"t", b"\x00\x02\x00\x00\x00\x17"),
    _body(b"v", b"\x00\x00\x00\x00\xff\xff\xff\xff"),
    _body(b"G", b"\x07\x00\x00"),
    _body(b"!", b""),
]


@pytest.mark.parametrize("frame", MALFORMED_FRONTEND, ids=lambda f: f"{f.tag!r}:{f.body!r}")
def test_malformed_frontend_is_protocol_violation(frame: Frame) -> None:
    with pytest.raises(ProtocolViolation):
        fe.decode_frontend(frame)


@pytest.mark.parametrize("frame", MALFORMED_BACKEND, ids=lambda f: f"{f.tag!r}:{f.body!r}")
def test_malformed_backend_is_protocol_violation(frame: Frame) -> None:
    with pytest.raises(ProtocolViolation):
        be.decode_backend(frame)


@pytest.mark.parametrize(
    "body",
    [
        b"\x00\x03",  # too short
        struct.pack("!I", 2 << 16) + b"user\x00x\x00\x00",  # protocol 2.0
        struct.pack("!I", 196608) + b"user\x00x\x00",  # missing terminator
        struct.pack("!I", 196608) + b"user\x00\x00",  # name without value
        struct.pack("!II", 80877102, 1),  # cancel without key
    ],
)
def test_malformed_startup(body: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        decode_startup(body)


def test_password_family() -> None:
    assert fe.PasswordMessage.decode(fe.PasswordMessage("tok").encode()[5:]).password == "tok"
    sasl = fe.SASLInitialResponse("SCRAM-SHA-256", b"n,,n=,r=abc")
    assert fe.SASLInitialResponse.decode(sasl.encode()[5:]) == sasl
    assert fe.SASLResponse.decode(b"c=biws") == fe.SASLResponse(b"c=biws")
    with pytest.raises(ProtocolViolation):
        fe.PasswordMessage.decode(b"no-nul")
    with pytest.raises(ProtocolViolation):
        fe.SASLInitialResponse.decode(b"SCRAM\x00\x00\x00\x00\x09ab")


def test_error_fields_and_from_error() -> None:
    from regogate.errors import PolicyDenied

    err = be.ErrorResponse.from_error(PolicyDenied("no", hint="ask"))
    assert (err.severity, err.sqlstate, err.message, err.hint) == ("ERROR", "42501", "no", "ask")


def test_framing_limits() -> None:
    reader = MessageReader(max_size=100)
    reader.feed(b"Q" + struct.pack("!I", 101))
    with pytest.raises(ProtocolViolation, match="maximum message size"):
        reader.next_frame()
    reader = MessageReader()
    reader.feed(b"Q\x00\x00\x00\x03")
    with pytest.raises(ProtocolViolation, match="invalid message length"):
        reader.next_frame()
    reader = MessageReader(startup=True)
    reader.feed(struct.pack("!I", 4) + b"xxxx")
    with pytest.raises(ProtocolViolation, match="startup packet"):
        reader.next_frame()


def test_framing_switch_and_take_buffered() -> None:
    reader = MessageReader(startup=True)
    reader.feed(SSLRequest().encode() + b"\x16\x03\x01")
    frame = reader.next_frame()
    assert frame is not None and decode_startup(frame.body) == SSLRequest()
    assert reader.take_buffered() == b"\x16\x03\x01"
    reader.feed(StartupMessage({"user": "u"}).encode())
    frame = reader.next_frame()
    assert frame is not None
    reader.typed()
    reader.feed(fe.Sync().encode())
    frame = reader.next_frame()
    assert frame == Frame(b"S", b"")


@pytest.mark.parametrize("count", [32767, 32768, 65535])
def test_counts_are_unsigned_as_postgresql_reads_them(count: int) -> None:
    """A Bind or Parse may carry up to 65535 parameters (PostgreSQL reads the Int16
    counts unsigned); a signed read refused 32768 and up as an invalid count."""
    bind = fe.Bind("", "s", (0,), tuple(b"1" for _ in range(count)), ())
    data = bind.encode()
    assert fe.decode_frontend(Frame(data[:1], data[5:])) == bind
    parse = fe.Parse("s", "select 1", tuple(23 for _ in range(count)))
    data = parse.encode()
    assert fe.decode_frontend(Frame(data[:1], data[5:])) == parse
