"""The native hot path (regogate._native) against its Python reference (recording.hotpath):
the same calls give the same frames, byte for byte, and the same errors."""

from __future__ import annotations

import hashlib
import hmac
import random
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from regogate.errors import RecordingUnavailable
from regogate.recording.format.records import RecordError, format_ts
from regogate.recording.write import hotpath, native
from regogate.recording.write.core import frame, serialize

pytestmark = pytest.mark.skipif(
    not native.BUILT, reason="regogate._native is not built (scripts/setup.sh builds it)"
)
ENGINES = [hotpath.PYTHON, hotpath.select("native")] if native.BUILT else []
KEY = bytes(range(32))  # the result digest key


class Clocks:
    """The same deterministic clocks for each engine: wall micros (sometimes backwards)
    and monotonic seconds."""

    def __init__(self, seed: int):
        rnd = random.Random(seed)
        self.wall = [1_700_000_000_000_000 + rnd.randrange(-50, 10_000) * i for i in range(4096)]
        self.mono = [i * 0.000_731 + rnd.random() / 1000 for i in range(4096)]

    def for_engine(self) -> tuple[Callable[[], int], Callable[[], float]]:
        wall: Iterator[int] = iter(self.wall)
        mono: Iterator[float] = iter(self.mono)
        return wall.__next__, mono.__next__


def queue(engine: hotpath.Engine, clock: Callable[[], int], **kw: Any) -> hotpath.Queue:
    wakes: list[int] = kw.pop("wakes", [])
    q = engine.queue(
        kw.pop("size", 7),
        wake=lambda: wakes.append(1),
        max_record=kw.pop("max_record", 1 << 20),
        max_pending=kw.pop("max_pending", 16 << 20),
        clock=clock,
    )
    q.accepting = True
    return q


def tap_for(engine: hotpath.Engine, **kw: Any) -> tuple[hotpath.Queue, hotpath.Tap]:
    """A queue and the tap of one session "s" on it, with deterministic clocks."""
    wall, mono = Clocks(0).for_engine()
    q = queue(engine, wall)
    return q, engine.tap(engine.chain(q, "s"), key=KEY, serialize=serialize, clock=mono, **kw)


TEXTS = [
    "stmt",
    "result",
    "policy.load",
    'a "quoted" \\ type',
    "ctl \x00\x01\x08\t\n\x0b\x0c\r\x1f\x7f",
    "é ü 日本 \u2028 \U0001f600",
]


def test_frames_are_core_frames_byte_for_byte() -> None:
    rnd = random.Random(5)
    clocks = Clocks(1)
    calls = []
    for _ in range(500):
        body = orjson.dumps(
            {rnd.choice(TEXTS): rnd.choice([rnd.randrange(-(2**53), 2**53), rnd.choice(TEXTS)])},
            option=orjson.OPT_SORT_KEYS,
        )
        sid = rnd.choice([None, "0190f5a2-0000-7000-8000-000000000001", rnd.choice(TEXTS)])
        n = rnd.choice([None, 0, rnd.randrange(2**40)])
        calls.append((rnd.choice(TEXTS), sid, n, body))
    blobs = []
    for engine in ENGINES:
        wall, _ = clocks.for_engine()
        q = queue(engine, wall)
        seqs = [q.append(*call) for call in calls]
        blob, count, nbytes = q.take(10**6)
        assert count == q.size - 7 and q.queued == 0
        assert nbytes == len(blob) - count == q.pending_bytes
        q.release(nbytes)
        assert q.pending_bytes == 0
        blobs.append((seqs, blob))
    assert blobs[0] == blobs[1]
    # and the reference is core.frame, with ts never going back and each step back of
    # the clock recorded first, as a clock.step record
    ts = last_clock = 0
    seq = 7
    expected, expected_seqs = [], []
    for (rtype, sid, n, body), wall_ts in zip(calls, clocks.wall[:500], strict=True):
        if wall_ts < last_clock:
            step = {"clock": format_ts(wall_ts), "previous": format_ts(last_clock)}
            expected.append(frame(seq, max(ts, wall_ts), "clock.step", None, None, step) + b"\n")
            seq += 1
        last_clock = wall_ts
        ts = max(ts, wall_ts)
        expected.append(frame(seq, ts, rtype, sid, n, body) + b"\n")
        expected_seqs.append(seq)
        seq += 1
    assert seq > 507  # the clocks went back
    assert blobs[1] == (expected_seqs, b"".join(expected))


def test_take_part_of_the_queue_and_limits() -> None:
    clocks = Clocks(2)
    out = []
    for engine in ENGINES:
        wall, _ = clocks.for_engine()
        wakes: list[int] = []
        q = queue(engine, wall, max_record=120, max_pending=300, wakes=wakes)
        errors = []
        q.append("stmt", "s", 0, b'{"a":1}')
        q.idle = True
        q.append("stmt", "s", 1, b'{"a":2}')  # wakes the writer once
        q.append("stmt", "s", 2, b'{"a":3}')
        assert wakes == [1] and not q.idle
        for body in (b'{"x":"' + b"y" * 100 + b'"}', b'{"x":"' + b"y" * 60 + b'"}'):
            try:
                q.append("stmt", "s", 3, body)
            except RecordingUnavailable as exc:
                errors.append((exc.message, exc.hint, exc.sqlstate))
        for _ in range(4):  # until the queue is full
            try:
                q.append("stmt", "s", 3, b'{"x":"' + b"y" * 50 + b'"}')
            except RecordingUnavailable as exc:
                errors.append((exc.message, exc.hint, exc.sqlstate))
        first, count, nbytes = q.take(2)
        q.release(nbytes)
        q.draining = True  # stopping: nothing is refused for a full queue
        q.append("stmt", "s", 4, b'{"x":"' + b"y" * 50 + b'"}')
        rest = q.take(100)
        q.failure = RecordingUnavailable("recording failed: disk full", hint="free disk space")
        try:
            q.append("stmt", "s", 5, b"{}")
        except RecordingUnavailable as exc:
            errors.append((exc.message, exc.hint, exc.sqlstate))
        q.failure = None
        q.accepting = False
        try:
            q.append("stmt", "s", 5, b"{}")
        except RecordingUnavailable as exc:
            errors.append((exc.message, exc.hint, exc.sqlstate))
        q.clear()
        assert q.queued == 0 and q.pending_bytes == 0
        out.append((first, count, nbytes, rest, errors, q.size, q.last_ts))
    assert out[0] == out[1]
    errors = out[1][4]
    assert errors[0][0] == "a stmt record of 143 bytes exceeds the 120-byte limit"
    assert any("the recording queue is full" in e[0] for e in errors)
    assert errors[-2][:2] == ("recording failed: disk full", "free disk space")
    assert errors[-1][0] == "the recorder is not running"
    assert {e[2] for e in errors} == {"58030"}


def test_chains_count_their_records_and_refuse_once_closed() -> None:
    out = []
    for engine in ENGINES:
        wall = iter(range(1_700_000_000_000_000, 1_800_000_000_000_000, 7)).__next__
        q = queue(engine, wall)  # a clock that never goes back: no clock.step records
        a, b = engine.chain(q, "sid-a"), engine.chain(q, "sid-b")
        assert (a.n, a.last_seq, a.sid) == (-1, -1, "sid-a")
        seqs = [a.append("session.open", b"{}"), b.append("session.open", b"{}")]
        seqs += [a.append("stmt", b'{"q":1}'), a.append("result", b'{"r":1}')]
        a.closed = True
        with pytest.raises(RuntimeError, match="session sid-a is closed"):
            a.append("stmt", b"{}")
        out.append((seqs, a.n, a.last_seq, b.n, b.last_seq, q.take(100)[0]))
    assert out[0] == out[1]
    assert out[1][:5] == ([7, 8, 9, 10], 2, 10, 0, 8)


def tap_script(seed: int) -> list[tuple[str, Any]]:
    """Random statements and responses: odd tags, invalid UTF-8, errors, empty cycles."""
    rnd = random.Random(seed)
    tags = [
        b"SELECT 1",
        b"INSERT 0 3",
        b"UPDATE 18446744073709551615",
        b"SELECT \xc2\xb2",
        'COPY 12 "q" \\ é'.encode(),
        b"BAD \xff\xfe\xed\xa0\x80 7",
        b"ctl \x01\x1f\x7f 5",
        b"DELETE 00042",
        b"CREATE TABLE",
        b"",
        b"SELECT 1\x00\x00",
    ]
    errors = [
        b"SERROR\x00C42703\x00Mno x\x00\x00",
        b"SFATAL\x00Mno code\x00\x00",
        b'SERROR\x00C4\xff\xe9"0\x00\x00',
        b"",
    ]
    script: list[tuple[str, Any]] = []
    pending = b""  # wire bytes not yet sent: split anywhere, even inside a header
    for _ in range(300):
        what = rnd.random()
        if what < 0.25:
            body: Any = rnd.choice(
                [
                    None,
                    {},
                    b"",
                    {"text": rnd.choice(["select 1", 'say "hi"', "é\n"]), "k": rnd.randrange(9)},
                    serialize("stmt", {"text": "prepared", "z": [1, 2]}),
                ]
            )
            script.append(("event", (rnd.choice(["stmt", "stmt", "policy.note"]), body)))
        else:
            for _ in range(rnd.randrange(5)):
                kind = rnd.choice("CCCEIsZZDDT")
                if kind == "C":
                    pending += wire(b"C", rnd.choice(tags) + b"\x00")
                elif kind == "E":
                    pending += wire(b"E", rnd.choice(errors))
                elif kind in "Is":
                    pending += wire(kind.encode(), b"")
                elif kind == "Z":
                    pending += wire(b"Z", rnd.choice([b"I", b"T", b"E"]))
                else:  # rows and descriptions: not read, some large
                    pending += wire(kind.encode(), rnd.randbytes(rnd.choice([0, 3, 70, 9000])))
            cut = rnd.randrange(len(pending) + 1)
            data, pending = pending[:cut], pending[cut:]
            script.append(("upstream", (data,)))
    script.append(("upstream", (pending,)))
    return script


def wire(tag: bytes, body: bytes) -> bytes:
    return tag + (len(body) + 4).to_bytes(4, "big") + body


@pytest.mark.parametrize("seed", range(12))
def test_result_taps_write_the_same_summaries(seed: int) -> None:
    clocks = Clocks(seed)
    out = []
    for engine in ENGINES:
        wall, mono = clocks.for_engine()
        q = queue(engine, wall)
        chain = engine.chain(q, f"0190f5a2-0000-7000-8000-00000000000{seed % 10}")
        tap = engine.tap(chain, key=KEY, serialize=serialize, clock=mono)
        for method, args in tap_script(seed):
            getattr(tap, method)(*args)
        out.append((q.take(10**6), chain.n, chain.last_seq))
    assert out[0] == out[1]
    assert out[1][0][1] > 50 and out[1][0][0].count(b'"result"') > 20  # records were written


def test_a_malformed_stream_ends_the_summaries_not_the_session() -> None:
    out = []
    for engine in ENGINES:
        q, tap = tap_for(engine)
        tap.upstream(wire(b"C", b"SELECT 1\x00") + wire(b"Z", b"I"))
        tap.upstream(wire(b"C", b"SELECT 2\x00") + b"Z\x00\x00\x00\x02" + wire(b"Z", b"I"))
        tap.upstream(wire(b"C", b"SELECT 3\x00") + wire(b"Z", b"I"))  # no longer followed
        out.append(q.take(10))
    assert out[0] == out[1]
    assert out[1][1] == 1 and b"SELECT 1" in out[1][0]


def test_result_summary_fields() -> None:
    for engine in ENGINES:
        wall, _ = Clocks(0).for_engine()
        q = queue(engine, wall)
        chain = engine.chain(q, "s")
        ticks = iter([10.0, 10.25])
        tap = engine.tap(chain, key=KEY, serialize=serialize, clock=ticks.__next__)
        tap.event("stmt", b'{"q":1}')
        one = wire(b"D", b"\x00\x01\x00\x00\x00\x012") + wire(b"C", b"SELECT 2\x00")
        two = wire(b"C", "UPDATE ²\x00".encode()) + wire(b"E", b"C2\xff\x00") + wire(b"Z", b"I")
        tap.upstream(one)
        tap.upstream(two[:3])  # a header split across chunks
        tap.upstream(two[3:])
        tap.upstream(wire(b"Z", b"I"))  # a cycle with nothing in it: no record
        blob = q.take(10)[0]
        (_, _, _, _, _, body) = orjson.loads(blob.splitlines()[1])
        assert body == {
            "bytes": len(one + two),
            "digest": hmac.new(KEY, one + two, hashlib.sha256).hexdigest(),
            "elapsed_us": 250000,
            "error": "2\ufffd",
            "rows": 2,
            "tags": ["SELECT 2", "UPDATE ²"],
        }, engine.name
        assert blob.count(b"\n") == 2


def test_taps_refuse_and_report_alike() -> None:
    for engine in ENGINES:
        wall, _ = Clocks(0).for_engine()
        q = queue(engine, wall)
        chain = engine.chain(q, "s")
        failed: list[int] = []
        strict = engine.tap(chain, key=KEY, serialize=serialize)
        lenient = engine.tap(
            chain, key=KEY, serialize=serialize, failed=lambda f=failed: f.append(1)
        )
        with pytest.raises(ValueError, match=r"session\.close records are written by the recorder"):
            strict.event("session.close", {})
        with pytest.raises(RecordError, match="stmt record: not canonicalizable JSON"):
            strict.event("stmt", {"x": 2**64})
        with pytest.raises(RecordError, match="envelope fields"):
            strict.event("stmt", {"seq": 1})
        q.failure = RecordingUnavailable("recording failed: disk full")
        with pytest.raises(RecordingUnavailable, match="disk full"):
            strict.event("stmt", b'{"q":1}')
        lenient.event("stmt", b'{"q":1}')
        strict.upstream(wire(b"C", b"SELECT 1\x00") + wire(b"Z", b"I"))  # never raises
        lenient.upstream(wire(b"C", b"SELECT 1\x00") + wire(b"Z", b"I"))
        assert failed == [1, 1], engine.name
        assert q.queued == 0 and chain.n == -1


def test_the_pending_limit_is_inclusive() -> None:
    one = len(frame(7, 1_700_000_000_000_000, "stmt", "s", 0, b'{"a":1}'))
    for engine in ENGINES:
        q = queue(engine, lambda: 1_700_000_000_000_000, max_pending=2 * one, max_record=one)
        q.append("stmt", "s", 0, b'{"a":1}')
        q.append("stmt", "s", 0, b'{"a":1}')  # exactly at the limit: accepted
        assert q.pending_bytes == 2 * one
        with pytest.raises(RecordingUnavailable, match="the recording queue is full"):
            q.append("stmt", "s", 0, b'{"a":1}')
        with pytest.raises(RecordingUnavailable, match="exceeds the"):
            q.append("stmt", "s", 0, b'{"a":12}')  # one byte over max_record
        assert q.queued == 2 and q.size == 9, engine.name


def test_literal_commitments_match_the_reference() -> None:
    from regogate import _native
    from regogate.recording.write.commit import commit
    from regogate.recording.write.redactor import Redactor

    rnd = random.Random(9)
    alphabet = ["a", "7", "'", '"', "\\", "\x00", "\x1f", "\x7f", "é", "\u2028", "\U0001f600", " "]
    for _ in range(300):
        key = rnd.randbytes(rnd.choice([16, 32, 64, 100]))
        literals = tuple(
            "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(12)))
            for _ in range(rnd.randrange(5))
        )
        assert _native.commitment(key, literals) == commit(key, literals), literals
    # text decoded with surrogateescape: no JSON string; the native code defers to
    # Python's, which commits to the literal's bytes (commit.committed)
    odd = ("\udcff", "x")
    with pytest.raises(UnicodeEncodeError):
        _native.commitment(b"k" * 32, odd)
    native, python = Redactor(b"k" * 32), Redactor(b"k" * 32, engine="python")
    assert native._native is not None and python._native is None
    assert native._commit(odd) == python._commit(odd) == commit(b"k" * 32, odd)
    sql = "select 'a\"é' , 5, E'\\n' from t where x = $1"
    assert native(sql) == python(sql)
    assert native(sql)["literals_commitment"] == commit(b"k" * 32, ("'a\"é'", "5", "E'\\n'"))


def test_a_message_that_raises_leaves_the_stream_in_step() -> None:
    out = []
    for engine in ENGINES:
        calls: list[int] = []

        def failed(calls: list[int] = calls) -> None:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("the callback failed")

        q, tap = tap_for(engine, failed=failed)
        q.failure = RecordingUnavailable("recording failed: disk full")
        two = wire(b"C", b"SELECT 2\x00")
        with pytest.raises(RuntimeError, match="the callback failed"):
            tap.upstream(wire(b"C", b"SELECT 1\x00") + wire(b"Z", b"I") + two[:3])
        q.failure = None
        tap.upstream(two[3:] + wire(b"Z", b"I"))
        tap.upstream(wire(b"C", b"SELECT 3\x00") + wire(b"Z", b"I"))
        out.append(q.take(10))
    assert out[0] == out[1]
    assert out[1][1] == 2 and b'"SELECT 2"' in out[1][0] and b'"SELECT 3"' in out[1][0]


def test_a_failure_raised_again_and_again_keeps_a_short_traceback() -> None:
    for engine in ENGINES:
        q = queue(engine, lambda: 1)
        q.failure = RecordingUnavailable("recording failed: disk full")
        depths = []
        for _ in range(50):
            try:
                q.append("stmt", "s", 0, b"{}")
            except RecordingUnavailable as exc:
                depths.append(len(traceback.extract_tb(exc.__traceback__)))
        assert len(depths) == 50 and max(depths) == depths[0] <= 3, (engine.name, depths[-1])


def test_row_counts_beyond_exact_json_numbers_are_capped_and_flagged() -> None:
    out = []
    for engine in ENGINES:
        q, tap = tap_for(engine)
        tap.upstream(wire(b"C", b"UPDATE 9007199254740991\x00") + wire(b"Z", b"I"))
        tap.upstream(wire(b"C", b"UPDATE 9007199254740991\x00") * 2 + wire(b"Z", b"I"))
        out.append(q.take(10)[0])
    assert out[0] == out[1]
    exact, capped = (orjson.loads(line)[5] for line in out[1].splitlines())
    assert exact["rows"] == 2**53 - 1 and "rows_capped" not in exact
    assert capped["rows"] == 2**53 - 1 and capped["rows_capped"] is True


def test_a_full_queue_still_takes_a_session_close() -> None:
    """The queue refuses statements when full (fail closed), never a session's close: the
    end of a chain whose statements were all recorded is not lost (the psycopg suite under
    load lost three, docs/client-suites.md)."""
    one = len(frame(7, 1_700_000_000_000_000, "stmt", "s", 0, b'{"a":1}'))
    for engine in ENGINES:
        q = queue(engine, lambda: 1_700_000_000_000_000, max_pending=2 * one, max_record=4 * one)
        q.append("stmt", "s", 0, b'{"a":1}')
        q.append("stmt", "s", 1, b'{"a":1}')
        with pytest.raises(RecordingUnavailable, match="the recording queue is full"):
            q.append("stmt", "s", 2, b'{"a":1}')
        q.append("session.close", "s", 2, b'{"reason":"client"}')
        with pytest.raises(RecordingUnavailable, match="the recording queue is full"):
            q.append("stmt", "t", 0, b'{"a":1}')
        assert q.queued == 3 and q.pending_bytes > 2 * one, engine.name
