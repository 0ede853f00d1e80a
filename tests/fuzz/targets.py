"""The fuzz targets: each runs one part of regogate on one input and raises when a property
does not hold (AssertionError), or lets through the unexpected exception it met.

The properties, for every target: nothing but the project's error tree escapes (with a
SQLSTATE, and sendable to a client as an ErrorResponse); splitting the input into chunks
anywhere changes nothing; buffering stays bounded; what decodes re-encodes to the same
bytes. ``TARGETS`` names them for the corpus replay and the long campaign.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import orjson
from hypothesis import strategies as st

from regogate.errors import AuthenticationFailed, RegogateError
from regogate.identity import ClientInfo, Identity
from regogate.proxy.admission import Ticket
from regogate.proxy.startup import (
    PRE_AUTH_MAX_MESSAGE,
    Authenticated,
    ClientGone,
    ClientLink,
    Handshake,
)
from regogate.recording.write import hotpath, native
from regogate.recording.write.core import serialize
from regogate.wire import frontend as fe
from regogate.wire.backend import ErrorResponse, decode_backend
from regogate.wire.framing import DEFAULT_MAX_MESSAGE_SIZE, MAX_STARTUP_SIZE, Frame, MessageReader
from regogate.wire.frontend import decode_frontend
from regogate.wire.scan import StreamScanner
from regogate.wire.startup import CancelRequest, StartupMessage, decode_startup
from regogate.wire.startup_params import (
    StartupSetting,
    check_startup,
    format_options,
    parse_options,
)
from tests.fuzz import strategies as strat
from tests.fuzz.case import Case

SQLSTATE = re.compile(r"[0-9A-Z]{5}")


def expected_error(exc: RegogateError) -> None:
    """What every error regogate raises must be: a SQLSTATE, a message, and sendable to
    the client as an ErrorResponse that reads back the same."""
    assert SQLSTATE.fullmatch(exc.sqlstate), f"bad SQLSTATE {exc.sqlstate!r} on {exc!r}"
    assert exc.message, f"no message on {exc!r}"
    wire = ErrorResponse.from_error(exc).encode()
    back = ErrorResponse.decode(wire[5:])
    assert (back.sqlstate, back.message) == (exc.sqlstate, exc.message)


def outcome(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, or None when it raised an error of the tree (checked)."""
    try:
        return fn(*args)
    except RegogateError as exc:
        expected_error(exc)
        return None


# -- framing ------------------------------------------------------------------------------


@dataclass
class Framed:
    frames: list[Frame]
    error: str | None  # the message of the ProtocolViolation that stopped the stream
    most_buffered: int


def frame_stream(chunks: list[bytes], *, startup: bool, max_size: int) -> Framed:
    reader = MessageReader(startup=startup, max_size=max_size)
    frames: list[Frame] = []
    most = 0
    try:
        for chunk in chunks:
            reader.feed(chunk)
            while (f := reader.next_frame()) is not None:
                frames.append(f)
            most = max(most, reader.buffered())
    except RegogateError as exc:
        expected_error(exc)
        return Framed(frames, exc.message, most)
    return Framed(frames, None, most)


def check_framing(case: Case, *, startup: bool, max_size: int) -> Framed:
    """The frames of ``case``: the same however it is split, an exact prefix of the
    input, and never more buffered than one message may be long."""
    whole = frame_stream([case.data], startup=startup, max_size=max_size)
    split = frame_stream(case.chunks(), startup=startup, max_size=max_size)
    assert split.frames == whole.frames, "chunking changed the frames"
    assert split.error == whole.error, "chunking changed the error"
    consumed = b"".join(f.encode() for f in whole.frames)
    assert case.data.startswith(consumed), "frames are not the bytes they came from"
    bound = MAX_STARTUP_SIZE if startup else max(max_size, 4)
    assert split.most_buffered <= bound, f"{split.most_buffered} bytes buffered, over {bound}"
    if whole.error is None and not startup:
        rest = case.data[len(consumed) :]  # an incomplete message: it must be one
        assert len(rest) < 5 or int.from_bytes(rest[1:5], "big") + 1 > len(rest)
    return whole


def check_scanner(case: Case, framed: Framed, interest: bytes, max_size: int) -> None:
    """``StreamScanner`` (the relay's fast path) follows the same boundaries as
    ``MessageReader``, and stops on the same errors."""
    scanner = StreamScanner(interest, max_size)
    seen: list[tuple[int, bytes]] = []
    error = None
    for chunk in case.chunks():
        try:
            seen += scanner.feed(chunk)
        except RegogateError as exc:
            expected_error(exc)
            error = exc.message
            break
    expected = [(f.tag[0], f.body) for f in framed.frames if f.tag[0] in interest]
    assert error == framed.error, f"scanner error {error!r}, reader error {framed.error!r}"
    if error is None:
        assert seen == expected, "scanner and reader disagree"
    else:  # the messages completed in the failing chunk are not returned
        assert expected[: len(seen)] == seen, "scanner and reader disagree"


# -- the wire codec -----------------------------------------------------------------------

AUTH_DECODERS = (
    fe.PasswordMessage,
    fe.SASLInitialResponse,
    fe.SASLResponse,
    fe.GSSResponse,
)


def _reencodes(msg: Any, f: Frame) -> None:
    if msg is not None:
        assert msg.encode() == f.encode(), f"{msg!r} does not re-encode to its bytes"


def check_frontend(case: Case) -> None:
    """A client's byte stream after startup: framed, each message decoded."""
    check_framing(case, startup=False, max_size=64)
    framed = check_framing(case, startup=False, max_size=DEFAULT_MAX_MESSAGE_SIZE)
    check_scanner(case, framed, b"QPBEDCSHXdcfFp", DEFAULT_MAX_MESSAGE_SIZE)
    check_scanner(case, check_framing(case, startup=False, max_size=40), bytes(range(256)), 40)
    for f in framed.frames:
        _reencodes(outcome(decode_frontend, f), f)
        if f.tag == b"p":
            for cls in AUTH_DECODERS:
                _reencodes(outcome(cls.decode, f.body), f)


def check_backend(case: Case) -> None:
    """A server's byte stream: framed, scanned as the relay does, each message decoded."""
    framed = check_framing(case, startup=False, max_size=DEFAULT_MAX_MESSAGE_SIZE)
    check_scanner(case, framed, b"ZECIs", DEFAULT_MAX_MESSAGE_SIZE)
    check_scanner(case, check_framing(case, startup=False, max_size=64), bytes(range(256)), 64)
    for f in framed.frames:
        _reencodes(outcome(decode_backend, f), f)


def check_roundtrip(messages: list[Any], *, backend: bool) -> None:
    """Messages made with the codec: encoded, framed (whole and byte at a time), decoded
    back to what they were."""
    data = b"".join(m.encode() for m in messages)
    for case in (Case(data), Case(data, tuple(range(1, len(data))))):
        framed = check_framing(case, startup=False, max_size=DEFAULT_MAX_MESSAGE_SIZE)
        assert framed.error is None
        assert len(framed.frames) == len(messages)
        for m, f in zip(messages, framed.frames, strict=True):
            if backend:  # 'R' messages decode by their code only
                assert decode_backend(f) == m, f"{m!r} does not decode back"
            else:
                assert type(m).decode(f.body) == m, f"{m!r} does not decode back"
                if f.tag != b"p":
                    assert decode_frontend(f) == m


# -- startup ------------------------------------------------------------------------------


def check_startup_packet(case: Case) -> None:
    """Startup-phase packets: framed, decoded, their parameters checked as the gateway
    checks them before connecting upstream."""
    framed = check_framing(case, startup=True, max_size=PRE_AUTH_MAX_MESSAGE)
    for f in framed.frames:
        packet = outcome(decode_startup, f.body)
        if isinstance(packet, CancelRequest):
            _reencodes(packet, f)
        elif isinstance(packet, StartupMessage):
            assert decode_startup(packet.encode()[4:]) == packet
            check_parameters(packet.params)


def check_startup_roundtrip(packets: list[Any]) -> None:
    """Startup packets made with the codec decode back to what they were."""
    for p in packets:
        if isinstance(p, StartupMessage) and p.protocol >> 16 != 3:
            continue  # refused (another protocol): decoding raises, checked below
        assert decode_startup(p.encode()[4:]) == p, f"{p!r} does not decode back"
    check_startup_packet(Case(b"".join(p.encode() for p in packets)))


def check_parameters(params: dict[str, str]) -> None:
    """``check_startup``: refuses with an error of the tree, or allows parameters that it
    would allow again as forwarded, with the same settings."""
    allowed = outcome(check_startup, params)
    if allowed is None:
        return
    forward = dict(allowed.forward)
    assert not {"user", "database"} & forward.keys()
    assert not any(k.startswith("_pq_.") for k in forward)
    if "options" in forward:  # rebuilt: PostgreSQL reads back the same settings
        parsed = _settings(parse_options(forward["options"]))
        assert parsed == _settings(parse_options(params["options"]))
    again = check_startup(forward)
    assert _settings(again.settings) == _settings(allowed.settings), (
        "forwarded parameters mean something else"
    )


def _settings(settings: tuple[StartupSetting, ...]) -> list[tuple[str, str]]:
    """What settings do, whichever switch (``-c``, ``--``, none) asked for them."""
    return [(s.name, s.value) for s in settings]


def check_options(text: str) -> None:
    """``options`` as the backend reads it: read back the same once rebuilt."""
    settings = outcome(parse_options, text)
    if settings is not None:
        rebuilt = format_options(settings)
        assert _settings(parse_options(rebuilt)) == _settings(settings), rebuilt


GOOD_TOKEN = "good-token"


class _Identities:
    async def authenticate(self, token: str, client: ClientInfo) -> Identity:
        await anyio.lowlevel.checkpoint()
        if token != GOOD_TOKEN:
            raise AuthenticationFailed("token authentication failed")
        return Identity("fuzz", (), "static", "regogate", "0" * 64)


class ClientStream(anyio.abc.ByteStream):
    """A client that sends its chunks, then closes; it records what it was sent and how
    much the link had buffered each time it was read."""

    def __init__(self, chunks: list[bytes]):
        self.chunks = list(chunks)
        self.sent: list[bytes] = []
        self.link: ClientLink | None = None
        self.most_buffered = 0

    async def receive(self, max_bytes: int = 65536) -> bytes:
        await anyio.lowlevel.checkpoint()
        if self.link is not None:
            self.most_buffered = max(self.most_buffered, self.link.reader.buffered())
        if not self.chunks:
            raise anyio.EndOfStream
        chunk = self.chunks.pop(0)
        if len(chunk) > max_bytes:
            self.chunks.insert(0, chunk[max_bytes:])
            chunk = chunk[:max_bytes]
        return chunk

    async def send(self, item: bytes) -> None:
        self.sent.append(bytes(item))

    async def send_eof(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def handshake(chunks: list[bytes], *, tls: bool) -> tuple[tuple[Any, ...], ClientStream]:
    """``Handshake.run`` on a client that sends ``chunks``: how it ended, and the client."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) if tls else None
    server = SimpleNamespace(auth_timeout=30.0, cleartext_without_tls="loopback")
    gw = SimpleNamespace(config=SimpleNamespace(server=server), server_tls=ctx)
    gw.identities = _Identities()
    stream = ClientStream(chunks)
    link = ClientLink(stream, "127.0.0.1", 5432, DEFAULT_MAX_MESSAGE_SIZE)
    stream.link = link

    async def run() -> tuple[Any, ...]:
        try:
            result = await Handshake(gw, link, "fuzz").run(Ticket(0))  # type: ignore[arg-type]
        except ClientGone:
            return ("gone",)
        except RegogateError as exc:
            expected_error(exc)
            return ("error", type(exc).__name__, exc.sqlstate, exc.message)
        if isinstance(result, Authenticated):
            return ("authenticated", result.startup, result.identity.sub)
        return ("cancel", result)

    return anyio.run(run), stream


def check_startup_phase(case: Case) -> None:
    """The whole phase before the relay, on what an arbitrary client sends: it ends in
    one of the expected ways, sends only well-formed messages, buffers within the
    pre-authentication limit, and (without TLS) does not depend on how bytes arrive."""
    tls = bool(case.extra.get("tls", False))
    ended, stream = handshake(case.chunks(), tls=tls)
    for sent in stream.sent:
        if sent in (b"N", b"S"):
            continue
        framed = frame_stream([sent], startup=False, max_size=DEFAULT_MAX_MESSAGE_SIZE)
        assert framed.error is None and framed.frames, f"malformed {sent!r}"
        assert b"".join(f.encode() for f in framed.frames) == sent, f"malformed {sent!r}"
        for f in framed.frames:
            decode_backend(f)
    bound = max(PRE_AUTH_MAX_MESSAGE, MAX_STARTUP_SIZE)
    assert stream.most_buffered <= bound, f"{stream.most_buffered} bytes buffered"
    if ended[0] == "authenticated":
        startup: StartupMessage = ended[1]
        assert startup.params.get("user")
        check_parameters(startup.params)
    if not tls:
        ended_whole, whole = handshake([case.data], tls=False)
        assert ended_whole == ended, "chunking changed how the startup phase ended"
        assert b"".join(whole.sent) == b"".join(stream.sent), "chunking changed the answers"


# -- the result tap -----------------------------------------------------------------------

KEY = bytes(range(32))
SID = "0190f5a2-0000-7000-8000-000000000001"
_EVENT_BODIES: dict[str, Any] = {
    "none": None,
    "empty": {},
    "empty-bytes": b"",
    "bytes": b'{"text":"select 1"}',
    "mapping": {"text": 'say "hi" é', "k": 3},
}


class _Chain:
    """A session chain that only keeps what is appended."""

    sid = SID
    n = last_seq = -1
    closed = False

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes]] = []

    def append(self, rtype: str, body: bytes) -> int:
        self.records.append((rtype, body))
        return len(self.records) - 1


def _failure(fn: Callable[..., Any], *args: Any) -> tuple[str, str] | None:
    try:
        fn(*args)
    except Exception as exc:
        return type(exc).__name__, str(exc)
    return None


def tap_run(engine: hotpath.Engine, case: Case) -> tuple[list[tuple[str, str] | None], bytes]:
    """The tap of ``engine`` on ``case``'s chunks, with its events and its chain closed
    where the case says: what each call raised, and the frames queued."""
    wall = itertools.count(1_700_000_000_000_000, 7).__next__
    ticks = itertools.count()
    queue = engine.queue(0, wake=lambda: None, max_record=1 << 20, max_pending=64 << 20, clock=wall)
    queue.accepting = True
    chain = engine.chain(queue, SID)
    tap = engine.tap(chain, key=KEY, serialize=serialize, clock=lambda: next(ticks) * 0.000_731)
    chunks = case.chunks()
    events = case.extra.get("events", [])
    close_at = case.extra.get("close_at")
    calls: list[tuple[str, str] | None] = []
    for i in range(len(chunks) + 1):
        for at, kind, body in events:
            if at == i:
                calls.append(_failure(tap.event, kind, _EVENT_BODIES[body]))
        if close_at == i:
            chain.closed = True
        if i < len(chunks):
            calls.append(_failure(tap.upstream, chunks[i]))
    return calls, queue.take(1 << 30)[0]


def tap_results(chunks: list[bytes]) -> list[bytes]:
    """The result bodies of the Python tap fed ``chunks`` (no events)."""
    chain = _Chain()
    tap = hotpath.PyResultTap(chain, key=KEY, serialize=serialize, clock=lambda: 0.0)
    for chunk in chunks:
        tap.upstream(chunk)
    assert all(rtype == "result" for rtype, _ in chain.records)
    return [body for _, body in chain.records]


def expected_results(data: bytes) -> list[dict[str, Any]] | None:
    """The result summaries of a stream, computed apart from the tap: framed whole, each
    cycle up to its ReadyForQuery digested at once. None when an ErrorResponse in it is
    malformed (the tap's reading of those is its own)."""
    out: list[dict[str, Any]] = []
    pos = start = 0
    cycle: dict[str, Any] = {"tags": [], "rows": 0, "error": None, "suspended": False}
    while len(data) - pos >= 5:
        tag, length = data[pos], int.from_bytes(data[pos + 1 : pos + 5], "big")
        end = pos + 1 + length
        if length < 4 or end > len(data):
            break
        body = data[pos + 5 : end]
        pos = end
        if tag == ord("C"):
            text = body.rstrip(b"\0")
            cycle["tags"].append(text.decode("utf-8", "replace"))
            m = re.fullmatch(rb"(?s:.* )?([0-9]+)", text)
            cycle["rows"] += int(m.group(1)) if m else 0
        elif tag == ord("E"):
            try:
                sqlstate = ErrorResponse.decode(body).get("C")
            except RegogateError:
                return None
            if sqlstate is not None and not sqlstate.isascii():
                return None
            if cycle["error"] is None:
                cycle["error"] = sqlstate
        elif tag == ord("I"):
            cycle["tags"].append("EMPTY")
        elif tag == ord("s"):
            cycle["suspended"] = True
        elif tag == ord("Z"):
            if cycle["tags"] or cycle["error"] is not None or cycle["suspended"]:
                digest = hmac.new(KEY, data[start:end], hashlib.sha256).hexdigest()
                out.append({**cycle, "bytes": end - start, "digest": digest})
            start = end
            cycle = {"tags": [], "rows": 0, "error": None, "suspended": False}
    return out


def _summary(body: bytes) -> dict[str, Any]:
    rec = orjson.loads(body)
    return {
        "tags": rec["tags"],
        "rows": rec["rows"],
        "rows_capped": rec.get("rows_capped", False),
        "error": rec["error"],
        "suspended": rec.get("suspended", False),
        "bytes": rec["bytes"],
        "digest": rec["digest"],
    }


def check_result_tap(case: Case) -> None:
    """The recording's result tap: the same summaries however the stream is split,
    equal to the ones computed apart, and the native tap (when built) byte for byte the
    same as the Python one, errors included."""
    split = tap_results(case.chunks())
    assert split == tap_results([case.data]), "chunking changed the result records"
    expected = expected_results(case.data)
    if expected is not None:
        got = [_summary(b) for b in split]
        for e in expected:
            e["rows_capped"] = e["rows"] > hotpath.MAX_ROWS
            e["rows"] = min(e["rows"], hotpath.MAX_ROWS)
        assert got == expected, "the tap's summaries differ from the stream's"
    python = tap_run(hotpath.PYTHON, case)
    if native.BUILT:
        assert tap_run(hotpath.select("native"), case) == python, "native and Python differ"


# -- the registry -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    inputs: st.SearchStrategy[Any]
    check: Callable[[Any], None]
    corpus: bool = True  # inputs are Cases, kept in corpus/<name>/


def _startup_cases() -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        case = draw(strat.cases(strat.startup_stream()))
        return Case(case.data, case.cuts, {"tls": True} if draw(st.integers(0, 7)) == 0 else {})

    return build()


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("frontend", strat.cases(strat.frontend_stream()), check_frontend),
        Target("backend", strat.cases(strat.backend_stream()), check_backend),
        Target("startup_packet", strat.cases(strat.startup_stream()), check_startup_packet),
        Target("startup_phase", _startup_cases(), check_startup_phase),
        Target("result_tap", strat.tap_cases(), check_result_tap),
        Target(
            "result_tap_oracle",
            strat.cases(strat.result_streams(well_formed=True)),
            check_result_tap,
            corpus=False,
        ),
        Target(
            "frontend_roundtrip",
            st.lists(st.one_of(strat.FRONTEND_MESSAGES, strat.AUTH_MESSAGES), max_size=8),
            lambda ms: check_roundtrip(ms, backend=False),
            corpus=False,
        ),
        Target(
            "backend_roundtrip",
            st.lists(strat.BACKEND_MESSAGES, max_size=8),
            lambda ms: check_roundtrip(ms, backend=True),
            corpus=False,
        ),
        Target(
            "startup_roundtrip",
            st.lists(strat.STARTUP_PACKETS, max_size=4),
            check_startup_roundtrip,
            corpus=False,
        ),
        Target("options", strat.OPTIONS | strat.TEXT, check_options, corpus=False),
    )
}
