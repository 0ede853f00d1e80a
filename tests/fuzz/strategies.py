"""Hypothesis strategies for the fuzz targets: protocol messages built with the wire
module, byte streams made of them (mutated, truncated, mixed with noise), and the points
a stream is split at."""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import strategies as st

from regogate.wire import backend as be
from regogate.wire import frontend as fe
from regogate.wire.codec import frame
from regogate.wire.startup import (
    PROTOCOL_3_0,
    CancelRequest,
    GSSENCRequest,
    SSLRequest,
    StartupMessage,
)
from tests.fuzz.case import Case

# -- fields -------------------------------------------------------------------------------

INT16 = st.integers(-(2**15), 2**15 - 1)
INT32 = st.integers(-(2**31), 2**31 - 1)
UINT32 = st.integers(0, 2**32 - 1)
FORMATS = st.lists(st.sampled_from([0, 1, 0, 1, 2, -1]) | INT16, max_size=6).map(tuple)

# A protocol string: any text without NUL, or raw bytes read as the wire module reads
# them (UTF-8 with surrogateescape), so invalid UTF-8 comes through as well.
TEXT = st.one_of(
    st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40),
    st.binary(max_size=40).map(lambda b: b.replace(b"\0", b"").decode("utf-8", "surrogateescape")),
    st.sampled_from(["", "select 1", "SELECT $1::int", "p1", "s1", "SCRAM-SHA-256", "é日本"]),
)
NAME = st.sampled_from(["", "s1", "p1", "__asyncpg_stmt_1__"]) | TEXT
VALUE = st.none() | st.binary(max_size=40)
VALUES = st.lists(VALUE, max_size=6).map(tuple)


# -- frontend messages ----------------------------------------------------------------------

FRONTEND_MESSAGES: st.SearchStrategy[Any] = st.one_of(
    st.builds(fe.Query, TEXT),
    st.builds(fe.Parse, NAME, TEXT, st.lists(UINT32, max_size=6).map(tuple)),
    st.builds(fe.Bind, NAME, NAME, FORMATS, VALUES, FORMATS),
    st.builds(fe.Execute, NAME, INT32),
    st.builds(fe.Describe, st.sampled_from([b"S", b"P"]), NAME),
    st.builds(fe.Close, st.sampled_from([b"S", b"P"]), NAME),
    st.sampled_from([fe.Sync(), fe.Flush(), fe.Terminate(), fe.CopyDone()]),
    st.builds(fe.CopyData, st.binary(max_size=60)),
    st.builds(fe.CopyFail, TEXT),
    st.builds(fe.FunctionCall, UINT32, FORMATS, VALUES, INT16),
    st.builds(fe.AuthResponse, st.binary(max_size=40)),
)

# The 'p' messages: what a password, SASL or GSS exchange sends.
AUTH_MESSAGES: st.SearchStrategy[Any] = st.one_of(
    st.builds(fe.PasswordMessage, TEXT),
    st.builds(fe.SASLInitialResponse, TEXT, st.none() | st.binary(max_size=40)),
    st.builds(fe.SASLResponse, st.binary(max_size=40)),
    st.builds(fe.GSSResponse, st.binary(max_size=40)),
)

# -- backend messages -----------------------------------------------------------------------

# Field codes of ErrorResponse / NoticeResponse are one byte each (protocol §55.8).
FIELD_CODE = st.sampled_from(list("SVCMDHPpqWstcdnFLR")) | st.characters(
    min_codepoint=1, max_codepoint=255
)
REPORT_FIELDS = st.lists(st.tuples(FIELD_CODE, TEXT), max_size=6).map(tuple)
FIELD = st.builds(
    be.FieldDescription,
    TEXT,
    UINT32,
    INT16,
    UINT32,
    INT16,
    INT32,
    INT16,
)

BACKEND_MESSAGES: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(
        [
            be.AuthenticationOk(),
            be.AuthenticationKerberosV5(),
            be.AuthenticationCleartextPassword(),
            be.AuthenticationGSS(),
            be.AuthenticationSSPI(),
            be.BindComplete(),
            be.CloseComplete(),
            be.EmptyQueryResponse(),
            be.NoData(),
            be.ParseComplete(),
            be.PortalSuspended(),
            be.CopyDone(),
        ]
    ),
    st.builds(be.AuthenticationMD5Password, st.binary(min_size=4, max_size=4)),
    st.builds(
        be.AuthenticationSASL,
        st.lists(TEXT.filter(bool), max_size=3).map(tuple),
    ),
    st.builds(be.AuthenticationSASLContinue, st.binary(max_size=40)),
    st.builds(be.AuthenticationSASLFinal, st.binary(max_size=40)),
    st.builds(be.AuthenticationGSSContinue, st.binary(max_size=40)),
    st.builds(be.BackendKeyData, UINT32, st.binary(min_size=4, max_size=256)),
    st.builds(be.CommandComplete, TEXT),
    st.builds(be.CopyInResponse, st.sampled_from([0, 1]), FORMATS),
    st.builds(be.CopyOutResponse, st.sampled_from([0, 1]), FORMATS),
    st.builds(be.CopyBothResponse, st.sampled_from([0, 1]), FORMATS),
    st.builds(be.CopyData, st.binary(max_size=60)),
    st.builds(be.DataRow, VALUES),
    st.builds(be.ErrorResponse, REPORT_FIELDS),
    st.builds(be.NoticeResponse, REPORT_FIELDS),
    st.builds(be.FunctionCallResponse, VALUE),
    st.builds(be.NegotiateProtocolVersion, UINT32, st.lists(TEXT, max_size=3).map(tuple)),
    st.builds(be.NotificationResponse, UINT32, TEXT, TEXT),
    st.builds(be.ParameterDescription, st.lists(UINT32, max_size=6).map(tuple)),
    st.builds(be.ParameterStatus, TEXT, TEXT),
    st.builds(be.ReadyForQuery, st.sampled_from([b"I", b"T", b"E"])),
    st.builds(be.RowDescription, st.lists(FIELD, max_size=4).map(tuple)),
)

# -- startup packets ----------------------------------------------------------------------

STARTUP_KEYS = st.sampled_from(
    [
        "user",
        "database",
        "options",
        "application_name",
        "client_encoding",
        "standard_conforming_strings",
        "replication",
        "search_path",
        "TimeZone",
        "role",
        "_pq_.command_trace",
    ]
)
OPTIONS = st.one_of(
    st.sampled_from(
        [
            "-c search_path=public",
            "--statement-timeout=5s",
            "-csearch_path=a\\ b",
            "-c role=admin",
            "-B 100",
            "-c",
            "--",
            "x",
            "-c geqo=off -c TimeZone=UTC",
            "-c a\\",
        ]
    ),
    st.text(st.sampled_from(list(" -cx=\\\tB_aé")), max_size=30),
)
STARTUP_VALUES = st.one_of(
    TEXT,
    OPTIONS,
    st.sampled_from(["alice", "app", "UTF8", "'utf-8'", "latin1", "on", "off", "database"]),
)
STARTUP_PARAMS = st.dictionaries(STARTUP_KEYS | TEXT, STARTUP_VALUES, max_size=5)

STARTUP_PACKETS: st.SearchStrategy[Any] = st.one_of(
    st.builds(
        StartupMessage,
        STARTUP_PARAMS,
        st.sampled_from([PROTOCOL_3_0, PROTOCOL_3_0 + 2, (2 << 16), (3 << 16) + 0xFFFF]),
    ),
    st.just(SSLRequest()),
    st.just(GSSENCRequest()),
    st.builds(CancelRequest, UINT32, st.binary(min_size=4, max_size=256)),
)


# -- streams ------------------------------------------------------------------------------


def _mutate(data: bytes, draw: st.DrawFn) -> bytes:
    """One small change to a well-formed stream: a flipped byte, a cut, an insertion, a
    length field rewritten."""
    if not data:
        return draw(st.binary(max_size=8))
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "length", "delete"]))
    at = draw(st.integers(0, len(data) - 1))
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    if kind == "truncate":
        return data[:at]
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    if kind == "delete":
        return data[:at] + data[at + draw(st.integers(1, 8)) :]
    length = draw(
        st.sampled_from([0, 1, 3, 4, 5, 8, 0x7FFFFFFF, 0xFFFFFFFF, 10000, 10001]) | UINT32
    )
    return data[:at] + struct.pack("!I", length) + data[at + 4 :]


@st.composite
def streams(draw: st.DrawFn, messages: st.SearchStrategy[Any], *, startup: bool = False) -> bytes:
    """Encoded messages, now and then mutated or followed by noise; or plain noise."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    prefix = b""
    if startup:
        prefix = b"".join(m.encode() for m in draw(st.lists(STARTUP_PACKETS, max_size=3)))
    data = prefix + b"".join(m.encode() for m in draw(st.lists(messages, max_size=8)))
    for _ in range(draw(st.integers(0, 2))):
        data = _mutate(data, draw)
    if draw(st.booleans()):
        data += draw(st.binary(max_size=12))
    return data


@st.composite
def cuts(draw: st.DrawFn, data: bytes) -> tuple[int, ...]:
    """Where a stream is split into chunks: nowhere, everywhere, or at random points."""
    if not data:
        return ()
    how = draw(st.integers(0, 5))
    if how == 0:
        return ()
    if how == 1:
        return tuple(range(1, len(data)))
    points = draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=12))
    return tuple(sorted(set(points)))


@st.composite
def cases(draw: st.DrawFn, data: st.SearchStrategy[bytes]) -> Case:
    blob = draw(data)
    return Case(blob, draw(cuts(blob)))


def frontend_stream() -> st.SearchStrategy[bytes]:
    return streams(st.one_of(FRONTEND_MESSAGES, AUTH_MESSAGES))


def backend_stream() -> st.SearchStrategy[bytes]:
    return streams(BACKEND_MESSAGES)


LOGINS: st.SearchStrategy[Any] = st.builds(
    lambda user, params, protocol: StartupMessage({**params, "user": user}, protocol),
    st.sampled_from(["alice", ""]) | TEXT,
    STARTUP_PARAMS,
    st.sampled_from([PROTOCOL_3_0, PROTOCOL_3_0, PROTOCOL_3_0 + 2]),
)
PASSWORDS: st.SearchStrategy[Any] = st.builds(
    fe.PasswordMessage,
    st.integers(0, 3).flatmap(
        lambda i: st.just("good-token") if i else st.sampled_from(["bad", ""]) | TEXT
    ),
)


@st.composite
def startup_stream(draw: st.DrawFn) -> bytes:
    """What a client sends before the relay: SSL/GSS requests, a StartupMessage (mostly
    with a user) or another packet, then a password (mostly); now and then mutated."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    # (one_of flattens and merges its branches: weights are drawn by hand)
    packets = draw(st.lists(st.sampled_from([SSLRequest(), GSSENCRequest()]), max_size=2))
    packets.append(draw(LOGINS if draw(st.integers(0, 3)) else STARTUP_PACKETS))
    for _ in range(draw(st.sampled_from([1, 1, 1, 0, 2]))):
        packets.append(draw(PASSWORDS if draw(st.integers(0, 3)) else FRONTEND_MESSAGES))
    data = b"".join(p.encode() for p in packets)
    for _ in range(max(0, draw(st.integers(0, 4)) - 2)):
        data = _mutate(data, draw)
    return data


# -- result streams -----------------------------------------------------------------------

COMMAND_TAGS = st.one_of(
    st.sampled_from(
        [
            "SELECT 1",
            "INSERT 0 3",
            "UPDATE 18446744073709551615",
            "DELETE 99999999999999999999999999999999999999",
            "SELECT ²",
            "COPY 12",
            "CREATE TABLE",
            "",
            "FETCH 007",
            "MOVE ",
            " 5",
        ]
    ),
    st.builds(lambda verb, n: f"{verb} {n}", st.sampled_from(["SELECT", "UPDATE"]), UINT32),
    TEXT,
)
ERROR_FIELDS = st.lists(
    st.tuples(st.sampled_from(list("SVCMDH")), st.sampled_from(["ERROR", "42P01", "XX000", "x"])),
    max_size=5,
).map(tuple)
RESULT_MESSAGES: st.SearchStrategy[bytes] = st.one_of(
    st.builds(lambda t: be.CommandComplete(t).encode(), COMMAND_TAGS),
    st.builds(lambda f: be.ErrorResponse(f).encode(), ERROR_FIELDS),
    st.builds(lambda s: be.ReadyForQuery(s).encode(), st.sampled_from([b"I", b"T", b"E"])),
    st.just(be.EmptyQueryResponse().encode()),
    st.just(be.PortalSuspended().encode()),
    st.builds(lambda v: be.DataRow(v).encode(), VALUES),
    # a large body: it spans chunks, and a tag of interest is then captured
    st.builds(lambda n: frame(b"D", bytes(n)), st.integers(0, 3000)),
    st.builds(lambda n: frame(b"C", b"SELECT " + b"9" * n + b"\0"), st.integers(0, 3000)),
)


@st.composite
def result_streams(draw: st.DrawFn, *, well_formed: bool = False) -> bytes:
    """Backend responses as the tap sees them, cycle after cycle (each ends with a
    ReadyForQuery); ``well_formed``: every message framed (the bodies of those the tap
    reads well-formed), perhaps cut short at the end; else now and then mutated."""
    cycles = draw(st.lists(st.lists(RESULT_MESSAGES, max_size=5), max_size=5))
    ready = st.builds(lambda s: be.ReadyForQuery(s).encode(), st.sampled_from([b"I", b"T", b"E"]))
    data = b"".join(b"".join(c) + draw(ready) for c in cycles)
    data += b"".join(draw(st.lists(RESULT_MESSAGES, max_size=3)))
    if well_formed:
        if draw(st.booleans()) and data:
            data = data[: draw(st.integers(0, len(data)))]
        return data
    if draw(st.integers(0, 5)) == 0:
        return draw(st.binary(max_size=200))
    for _ in range(max(0, draw(st.integers(0, 4)) - 2)):
        data = _mutate(data, draw)
    return data


EVENT_KINDS = st.sampled_from(["stmt", "stmt", "stmt", "policy.note", "session.open"])
EVENT_BODIES = st.sampled_from(["none", "empty", "bytes", "mapping", "empty-bytes"])


@st.composite
def tap_cases(draw: st.DrawFn) -> Case:
    data = draw(result_streams())
    split = draw(cuts(data))
    chunks = len(split) + 1
    events = draw(
        st.lists(st.tuples(st.integers(0, chunks), EVENT_KINDS, EVENT_BODIES), max_size=6)
    )
    close_at = draw(st.none() | st.integers(0, chunks))
    return Case(
        data,
        split,
        {"events": [list(e) for e in sorted(events)], "close_at": close_at},
    )
