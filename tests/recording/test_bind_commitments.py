"""Bind parameter commitments (docs/recording-format.md, "Bind parameter commitments"):
the Bind reader against the wire codec, the messages against RFC 8785, the record fields
the statement recorder writes, every Bind the gate lets run (fake engine, no sockets), and
the examiner's claim syntax."""

from __future__ import annotations

import hashlib
import hmac
import random
import struct
from collections.abc import Mapping

import orjson
import pytest
import rfc8785

from regogate.cli.rec_io import CommandError
from regogate.cli.rec_literal import ParamClaim
from regogate.errors import ProtocolViolation
from regogate.proxy.deny import Denials
from regogate.proxy.gate import PolicyGate
from regogate.proxy.hooks import RecordBody
from regogate.proxy.statement_record import StatementRecorder
from regogate.recording.format import mac
from regogate.recording.format.key_info import COMMIT_INFO
from regogate.recording.format.mac import MAX_PARAM_MACS, MacRoot, ParamCommitter, bind_values
from regogate.recording.write import native
from regogate.recording.write.core import prepared
from regogate.wire.frontend import Bind, Execute, Parse, Sync
from tests.proxy.test_gate_unit import FakeEngine, admit, answer, context

KEY = bytes(range(32))


def body(bind: Bind) -> bytes:
    return bind.encode()[5:]


def expected_mac(key: bytes, n: int, code: int, value: bytes | None) -> str:
    message = rfc8785.dumps([n, {"format": code, "value": None if value is None else value.hex()}])
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


# -- reading a Bind ---------------------------------------------------------------------


def random_bind(rnd: random.Random) -> bytes:
    """A Bind body, well formed or broken in one of the ways a client can break it."""
    count = rnd.choice([0, 1, 2, 3, 7])
    values = tuple(
        None if rnd.random() < 0.2 else rnd.randbytes(rnd.choice([0, 1, 4, 9]))
        for _ in range(count)
    )
    nformats = rnd.choice([0, 1, count, count + 1, 2])
    formats = tuple(rnd.choice([0, 1, 2, -1]) for _ in range(nformats))
    data = body(Bind(rnd.choice(["", "p"]), rnd.choice(["", "s", "é"]), formats, values, (1,)))
    damage = rnd.random()
    if damage < 0.15:
        data = data[: rnd.randrange(len(data))]  # truncated
    elif damage < 0.2:
        data += b"\x00"  # trailing byte
    elif damage < 0.25 and count:
        at = data.index(0, data.index(0) + 1) + 3 + 2 * nformats
        data = data[:at] + struct.pack("!i", -2) + data[at + 4 :]  # a length below -1
    return data


def test_bind_values_reads_what_the_wire_codec_reads() -> None:
    rnd = random.Random(21)
    for _ in range(4000):
        data = random_bind(rnd)
        try:
            bind = Bind.decode(data)
        except ProtocolViolation:
            assert bind_values(data) is None, data
            continue
        read = bind_values(data)
        n, formats = len(bind.params), bind.param_formats
        if len(formats) not in (0, 1, n):
            assert read is None, data  # PostgreSQL refuses it before binding anything
            continue
        codes = formats if len(formats) == n else (formats or (0,)) * n
        assert read == (data.split(b"\x00", 2)[1], list(zip(codes, bind.params, strict=True)))


@pytest.mark.parametrize("each", [True, False])
def test_commit_is_fields_of_bind_values(each: bool) -> None:
    # The one-pass commitment of the hot path against its reference, on the same inputs.
    committer = ParamCommitter(KEY, each=each)
    rnd = random.Random(22)
    cases = [random_bind(rnd) for _ in range(3000)]
    cases += [body(Bind("", "big", (1,), tuple(b"%d" % i for i in range(n)))) for n in (256, 257)]
    for data in cases:
        read = bind_values(data)
        want = None if read is None or not read[1] else (read[0], committer.fields(read[1]))
        assert committer.commit(data) == want, data


@pytest.mark.skipif(not native.BUILT, reason="the native hot path is built by setup")
def test_the_native_pass_is_the_python_one() -> None:
    """regogate._native.BindMacs (the gateway's, when built) against ParamCommitter's
    Python pass on the same key and inputs: random, truncated and corrupted Binds,
    every prefix of one, and more values than MAX_PARAM_MACS (all committed at once)."""
    key = bytes(range(32))
    python = ParamCommitter(key)
    fast = ParamCommitter(key, fast=native.bind_macs(key, MAX_PARAM_MACS, "native"))
    rnd = random.Random(23)
    cases = [random_bind(rnd) for _ in range(4000)]
    whole = body(Bind("", "s", (0, 1), (b"\x00\xff", None), (0,)))
    cases += [whole[:end] for end in range(len(whole) + 1)]
    many = tuple(str(i).encode() for i in range(MAX_PARAM_MACS + 1))
    cases += [body(Bind("p", "big", (1,), many, ())), body(Bind("", "", (0,), many[:-1], ()))]
    seen = 0
    for data in cases:
        got = fast.commit(data)
        assert got == python.commit(data), data
        seen += got is not None
    assert seen > 1000


def test_bind_values_one_byte_at_a_time_short() -> None:
    # Every proper prefix of a Bind is refused, never read as a shorter Bind.
    data = body(Bind("", "s", (0, 1), (b"abc", None), (0,)))
    for end in range(len(data)):
        assert bind_values(data[:end]) is None
    assert bind_values(data) == (b"s", [(0, b"abc"), (1, None)])


# -- the messages and the MACs ----------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "code", "value"),
    [
        (1, 0, b"42"),
        (2, 1, b"\x00\x00\x00*"),
        (3, 0, b""),
        (4, 0, None),
        (7, 1, None),
        (1, -1, b"x"),
    ],
)
def test_param_message_is_rfc8785(n: int, code: int, value: bytes | None) -> None:
    item = {"format": code, "value": None if value is None else value.hex()}
    assert mac.param_message(n, code, value) == rfc8785.dumps([n, item])
    assert mac.param_mac(KEY, n, code, value) == expected_mac(KEY, n, code, value)


def test_null_empty_text_and_binary_all_differ() -> None:
    macs = {
        mac.param_mac(KEY, 1, code, value)
        for code in (0, 1)
        for value in (None, b"", b"0", b"\x00")
    }
    assert len(macs) == 8


def test_bind_message_is_rfc8785_and_an_object() -> None:
    values = [(0, b"a"), (1, None), (1, b"\xff")]
    want = {"bind": [{"format": c, "value": None if v is None else v.hex()} for c, v in values]}
    assert mac.bind_message(values) == rfc8785.dumps(want)
    assert mac.bind_message([]) == b'{"bind":[]}'


def test_committer_fields() -> None:
    committer = ParamCommitter(KEY)
    values = [(0, b"O'Brien"), (1, b"\x00\x00\x00\x07"), (0, None)]
    fields = committer.fields(values)
    assert fields == {
        "bind_macs": {str(n): expected_mac(KEY, n, c, v) for n, (c, v) in enumerate(values, 1)}
    }
    # the keyed state is copied per value, not consumed
    assert committer.fields(values) == fields
    many = [(0, str(i).encode()) for i in range(MAX_PARAM_MACS + 1)]
    whole = hmac.new(KEY, mac.bind_message(many), hashlib.sha256).hexdigest()
    assert committer.fields(many) == {"bind_commitment": whole}
    assert len(committer.fields(many[:MAX_PARAM_MACS])["bind_macs"]) == MAX_PARAM_MACS  # type: ignore[arg-type]
    legacy = ParamCommitter(KEY, each=False)
    assert legacy.fields(values) == {
        "bind_commitment": hmac.new(KEY, mac.bind_message(values), hashlib.sha256).hexdigest()
    }
    assert "KEY" not in repr(committer) and KEY.hex() not in repr(committer)
    long_key = bytes(range(100))  # over SHA-256's block: hashed first, as HMAC does
    assert ParamCommitter(long_key).fields(values[:1]) == {
        "bind_macs": {"1": expected_mac(long_key, 1, 0, b"O'Brien")}
    }


def test_keys_are_per_session_and_per_purpose() -> None:
    root = MacRoot(bytes(32))
    assert root.param_key("a") != root.param_key("b")
    assert root.param_key("a") not in (root.literal_key("a"), root.digest_key("a"))
    # without a MAC root: HKDF of the old scheme's literal key, its own info
    old = bytes(range(32))
    assert mac.legacy_param_key(old) not in (old, mac.legacy_param_key(bytes(32)))
    assert mac.LEGACY_PARAM_INFO != COMMIT_INFO


# -- the statement recorder -------------------------------------------------------------


class Sink:
    """A RecordSink that keeps what it is given."""

    wants_boundaries = False
    observes_results = True

    def __init__(self) -> None:
        self.records: list[tuple[str, Mapping[str, object]]] = []

    def upstream(self, data: bytes) -> None:
        return None

    def event(self, kind: str, body: RecordBody) -> None:
        parsed = orjson.loads(body) if isinstance(body, bytes) else dict(body or {})
        self.records.append((kind, parsed))

    async def boundary(self) -> None:
        return None

    async def close(self, reason: str) -> None:
        return None


def redact(sql: str) -> Mapping[str, object]:
    return {"text": sql, "literals": 0, "literals_commitment": None}


BIND = body(Bind("", "s", (), (b"7", b"secret"), ()))
FIELDS = ParamCommitter(KEY).fields([(0, b"7"), (0, b"secret")])


def test_a_first_run_gets_a_bind_record() -> None:
    sink = Sink()
    rec = StatementRecorder(sink, redact, ParamCommitter(KEY))
    rec.bound(BIND)
    rec.flush()
    assert sink.records == [("bind", {**FIELDS, "prepared": "s"})]
    rec.start("select 1", "simple", "fp")
    rec.flush()
    assert sink.records[-1][0] == "stmt"  # the kind goes back


def test_a_rerun_carries_them_on_its_reused_stmt_body_in_key_order() -> None:
    sink = Sink()
    rec = StatementRecorder(sink, redact, ParamCommitter(KEY))
    rec.start("select $1, $2", "bind", "fp", prepared="s")
    reused = rec.serialized()
    rec.reuse(reused)
    rec.bound(BIND)
    spliced = rec.pending
    assert isinstance(spliced, bytes)
    whole = {**orjson.loads(reused), **FIELDS}
    assert spliced == prepared(whole)  # canonical: the native writer copies it as it is
    rec.flush()
    assert sink.records == [("stmt", whole)]


def test_a_decided_bind_carries_them_on_its_stmt() -> None:
    sink = Sink()
    rec = StatementRecorder(sink, redact, ParamCommitter(KEY))
    rec.start("select $1, $2", "bind", "fp", prepared="s")
    rec.bound(BIND)
    rec.flush()
    assert sink.records[0][0] == "stmt" and sink.records[0][1]["bind_macs"] == FIELDS["bind_macs"]


@pytest.mark.parametrize(
    "bind",
    [
        body(Bind("", "s")),  # no values
        BIND[:-1],  # malformed: PostgreSQL refuses it
        body(Bind("", "s", (0, 1, 0), (b"1", b"2"))),  # formats neither 0, 1 nor 2
    ],
)
def test_nothing_to_commit(bind: bytes) -> None:
    sink = Sink()
    rec = StatementRecorder(sink, redact, ParamCommitter(KEY))
    rec.bound(bind)
    rec.flush()
    assert sink.records == []


def test_no_committer_or_no_recording_adds_nothing() -> None:
    sink = Sink()
    StatementRecorder(sink, redact).bound(BIND)
    off = StatementRecorder(sink, None, ParamCommitter(KEY))
    off.bound(BIND)
    off.flush()
    assert sink.records == []


# -- every Bind the gate lets run -------------------------------------------------------

OK = "select id from customers where id = $1"
PARSE_COMPLETE = (b"1", b"")
BIND_COMPLETE = (b"2", b"")
COMPLETE = (b"C", b"SELECT 1\x00")
READY = (b"Z", b"I")


def recording_gate() -> tuple[PolicyGate, Sink]:
    sink = Sink()
    g = PolicyGate(
        FakeEngine(), context(), Denials(), sink, redact=redact, params=ParamCommitter(KEY)
    )
    g.start({"search_path": '"$user", public'}, {"search_path": '"$user", public'})
    return g, sink


def bind_of(statement: str, value: bytes | None, code: int = 0) -> bytes:
    return Bind("", statement, (code,), (value,)).encode()


def committed(sink: Sink) -> list[tuple[str, object, object]]:
    """(record type, its protocol, $1's commitment) of each record with commitments."""
    return [
        (kind, b.get("protocol"), b["bind_macs"]["1"])  # type: ignore[index]
        for kind, b in sink.records
        if "bind_macs" in b
    ]


def test_prepared_statement_run_again_and_again() -> None:
    # pgbench -M prepared: Parse once, then Bind after Bind; the re-runs take the
    # gate's fast path (nothing awaited) and each carries its own values.
    g, sink = recording_gate()
    for message in (Parse("P0_1", OK).encode(), bind_of("P0_1", b"1"), Execute().encode()):
        admit(g, message)
    admit(g, Sync().encode())
    answer(g, PARSE_COMPLETE, BIND_COMPLETE, COMPLETE, READY)
    for value in (b"2", b"3"):
        admit(g, bind_of("P0_1", value))
        admit(g, Execute().encode())
        admit(g, Sync().encode())
        answer(g, BIND_COMPLETE, COMPLETE, READY)
    kinds = [kind for kind, _ in sink.records]
    assert kinds == ["stmt", "bind", "stmt", "stmt"]
    assert sink.records[1][1]["prepared"] == "P0_1"
    assert committed(sink) == [
        ("bind", None, expected_mac(KEY, 1, 0, b"1")),
        ("stmt", "bind", expected_mac(KEY, 1, 0, b"2")),
        ("stmt", "bind", expected_mac(KEY, 1, 0, b"3")),
    ]


def test_unnamed_parse_bind_pipelined() -> None:
    # pgbench -M extended, psycopg, pgjdbc: Parse "" and Bind each time, all in one
    # pipeline before any answer; binary values bound exactly.
    g, sink = recording_gate()
    values = [(b"\x00\x00\x00\x01", 1), (b"5", 0), (None, 0)]
    for value, code in values:
        admit(g, Parse("", OK).encode())
        admit(g, bind_of("", value, code))
        admit(g, Execute().encode())
    admit(g, Sync().encode())
    assert [kind for kind, _ in sink.records] == ["stmt", "bind"] * 3
    assert committed(sink) == [("bind", None, expected_mac(KEY, 1, c, v)) for v, c in values]


def test_a_bind_decided_again_carries_them_on_its_own_stmt() -> None:
    g, sink = recording_gate()
    admit(g, Parse("s", OK).encode())
    admit(g, Sync().encode())
    answer(g, PARSE_COMPLETE, READY)
    engine = g.engine
    assert isinstance(engine, FakeEngine)
    engine.rev = "r2"  # a new policy: the next Bind is decided again, on the full path
    admit(g, bind_of("s", b"9"))
    stmt = [b for kind, b in sink.records if kind == "stmt" and b.get("protocol") == "bind"]
    assert len(stmt) == 1 and stmt[0]["bind_macs"] == {"1": expected_mac(KEY, 1, 0, b"9")}


def test_a_denied_bind_runs_nothing_and_commits_nothing() -> None:
    g, sink = recording_gate()
    admit(g, bind_of("nosuch", b"1"))
    admit(g, Sync().encode())
    assert committed(sink) == []


# -- the examiner's claims ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "claim"),
    [
        ("12:1=O'Brien", ParamClaim(12, 1, b"O'Brien", (0,))),
        ("12:$2=a=b:c", ParamClaim(12, 2, b"a=b:c", (0,))),
        ("12:1=", ParamClaim(12, 1, b"", (0,))),
        ("12:1:text=x", ParamClaim(12, 1, b"x", (0,))),
        ("12:1:hex=e9", ParamClaim(12, 1, b"\xe9", (0,))),
        ("12:3:binary=0000002A", ParamClaim(12, 3, b"\x00\x00\x00*", (1,))),
        ("12:3:null", ParamClaim(12, 3, None, (0, 1))),
    ],
)
def test_param_claims(text: str, claim: ParamClaim) -> None:
    assert ParamClaim.parse(text) == claim


@pytest.mark.parametrize(
    "text", ["12=1", "x:1=a", "12:y=a", "12:1:octal=7", "12:1:null=x", "12:1:binary=zz", "12:1"]
)
def test_bad_param_claims(text: str) -> None:
    with pytest.raises(CommandError):
        ParamClaim.parse(text)
