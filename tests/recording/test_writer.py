"""The Recorder: chains, flush, checkpoints, fail-closed, restart, rotation, bounded queue."""

from __future__ import annotations

import errno
import itertools
import json
import threading
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from regogate.errors import RecordingUnavailable
from regogate.proxy.hooks import RecordSink
from regogate.recording.format.note import Signer, open_note, parse_verifier_list
from regogate.recording.format.records import GatewayInfo, Record, RecordError
from regogate.recording.read.verify import verify_directory
from regogate.recording.write import keys
from regogate.recording.write.store import FsyncPolicy, SegmentStore, StoreState
from regogate.recording.write.writer import Recorder
from tests.recording.conftest import ORIGIN, everything, statement, write_log


def records(directory: Path) -> list[Record]:
    out = []
    for seg in sorted(directory.glob("seg-*.jsonl")):
        out += [Record.parse(line) for line in seg.read_bytes().splitlines()]
    return out


def test_a_full_log_verifies_and_is_sealed(
    tmp_path: Path, signer: Signer, process: str | None
) -> None:
    write_log(tmp_path, signer, everything(), fsync=FsyncPolicy.ALWAYS, process=process)
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert verdict.ok and verdict.sealed, verdict.findings
    assert [f.code for f in verdict.findings] == []
    recs = records(tmp_path)
    assert [r.seq for r in recs] == list(range(len(recs)))
    assert recs[0].type == "gateway.start" and recs[-1].type == "gateway.stop"
    assert {r.type for r in recs} >= {"stmt", "decision", "approval", "result", "error", "cancel"}
    assert verdict.sessions == 3 and verdict.origin == ORIGIN


def test_session_chain_fields(tmp_path: Path, signer: Signer, process: str | None) -> None:
    write_log(tmp_path, signer, everything(), process=process)
    recs = records(tmp_path)
    sid = next(r.sid for r in recs if r.type == "session.open")
    chain = [r for r in recs if r.sid == sid]
    assert [r.n for r in chain] == list(range(len(chain)))
    assert chain[0].prev is None
    for before, after in itertools.pairwise(chain):
        assert after.prev == before.leaf.hex()
    close = chain[-1]
    assert close.type == "session.close"
    assert close.body["chain_head"] == close.prev
    assert close.body["counts"] == {"statements": 2, "records": len(chain)}
    start = recs[0].body
    assert start["last_seen_tree_size"] == 0 and start["prev_boot"] is None
    assert start["vkey"] == signer.verifier.vkey() and start["recovered"] == []


def test_flush_means_written(tmp_path: Path, signer: Signer, process: str | None) -> None:
    async def script(rec: Recorder) -> None:
        s = rec.open_session({})
        seq = s.record("stmt", {"q": {"norm": "SELECT 1"}})
        await s.flush()
        data = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("seg-*.jsonl")))
        assert data.splitlines()[seq].startswith(b"{")
        assert json.loads(data.splitlines()[seq])["seq"] == seq

    write_log(tmp_path, signer, script, fsync=FsyncPolicy.ALWAYS, process=process)


def test_checkpoints_every_n_records_and_every_t_seconds(tmp_path: Path, signer: Signer) -> None:
    async def script(rec: Recorder) -> None:
        s = rec.open_session({})
        for i in range(10):
            await statement(s, i)  # 30 records, checkpoint every 8
        assert rec.sealed_size >= 24
        sealed = rec.sealed_size
        s.record("stmt", {})
        await s.flush()
        with anyio.fail_after(5):
            while rec.sealed_size == sealed:  # the interval (50 ms) seals the lone record
                await anyio.sleep(0.01)

    write_log(tmp_path, signer, script, checkpoint_every=8, checkpoint_interval=0.05)
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert verdict.ok and verdict.sealed
    assert len(verdict.checkpoints) >= 5


def test_close_seals_and_checkpoint_returns_a_signed_note(
    tmp_path: Path, signer: Signer, process: str | None
) -> None:
    async def script(rec: Recorder) -> None:
        s = rec.open_session({})
        await statement(s, 1)
        await s.close("bye")
        with anyio.fail_after(5):
            while rec.sealed_size < rec.size:
                await anyio.sleep(0.005)
        note = await rec.checkpoint()
        text, good = open_note(note, [signer.verifier])
        assert text.split("\n")[:2] == [ORIGIN, str(rec.size)]
        assert good == [signer.verifier]

    write_log(
        tmp_path, signer, script, checkpoint_every=10_000, checkpoint_interval=3600, process=process
    )


class BlockingStore:
    """A store whose writes wait for a gate (a stalled disk) or fail (a full disk)."""

    def __init__(self, fail: OSError | None = None):
        self.state = StoreState()
        self.gate = threading.Event()
        self.fail = fail
        self.lines: list[bytes] = []

    def write(self, lines: Sequence[bytes]) -> None:
        if self.fail is not None:
            raise self.fail
        self.gate.wait(10)
        self.lines += lines

    def flush(self) -> None:
        pass

    def append_checkpoint(self, note: str) -> None:
        pass


def test_full_queue_fails_closed_and_records_nothing(signer: Signer) -> None:
    store = BlockingStore()

    async def main() -> None:
        rec = Recorder(store, signer, GatewayInfo.new("gw", "0"), max_pending_bytes=4096)
        async with rec.running():
            s = rec.open_session({})
            with pytest.raises(RecordingUnavailable, match="recording queue is full") as err:
                for i in range(100):
                    s.record("stmt", {"i": i, "pad": "x" * 200})
            assert err.value.sqlstate == "58030"
            size = rec.size
            with pytest.raises(RecordingUnavailable):
                s.record("stmt", {"pad": "x" * 5000})
            assert rec.size == size and rec.healthy  # backpressure is not a failure
            store.gate.set()
            await s.flush()
            s.record("stmt", {})  # room again

    anyio.run(main)
    assert [json.loads(x)["seq"] for x in store.lines] == list(range(len(store.lines)))


def test_a_full_queue_keeps_the_close_of_a_session(signer: Signer) -> None:
    """A stalled disk fills the queue: the session's next statement is refused, but its
    close is queued and written once the disk catches up (no chain left open)."""
    store = BlockingStore()

    async def main() -> None:
        rec = Recorder(store, signer, GatewayInfo.new("gw", "0"), max_pending_bytes=4096)
        async with rec.running():
            s = rec.open_session({})
            with pytest.raises(RecordingUnavailable, match="recording queue is full"):
                for i in range(100):
                    s.record("stmt", {"i": i, "pad": "x" * 200})
            assert not s.closed
            closing = anyio.Event()

            async def close() -> None:
                await s.close("client", {"stmt": 1})
                closing.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(close)
                await anyio.sleep(0.05)
                assert not closing.is_set() and s.closed  # queued, waits for the disk
                store.gate.set()

    anyio.run(main)
    records = [json.loads(x) for x in store.lines]
    closes = [r for r in records if r["type"] == "session.close"]
    assert len(closes) == 1 and closes[0]["reason"] == "client"


def test_write_error_marks_the_recorder_failed(signer: Signer) -> None:
    store = BlockingStore(fail=OSError(errno.ENOSPC, "No space left on device"))

    async def main() -> None:
        rec = Recorder(store, signer, GatewayInfo.new("gw", "0"))
        async with rec.running():
            s = rec.open_session({})
            with pytest.raises(RecordingUnavailable, match="No space left on device"):
                await s.flush()
            assert not rec.healthy
            assert rec.failure is not None and rec.failure.sqlstate == "58030"
            with pytest.raises(RecordingUnavailable, match="No space left"):
                s.record("stmt", {})

    anyio.run(main)


def test_an_exception_in_the_body_propagates_unwrapped(
    tmp_path: Path, signer: Signer, process: str | None
) -> None:
    async def script(rec: Recorder) -> None:
        rec.open_session({})
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        write_log(tmp_path, signer, script, process=process)
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert verdict.ok and verdict.sealed  # the open session was closed by gateway.stop
    assert records(tmp_path)[-2].body["reason"] == "gateway.stop"


def test_restart_continues_the_log(tmp_path: Path, signer: Signer, process: str | None) -> None:
    write_log(tmp_path, signer, everything(), process=process)
    first = records(tmp_path)
    write_log(tmp_path, signer, everything(), process=process)
    recs = records(tmp_path)
    start = recs[len(first)]
    assert start.type == "gateway.start"
    assert start.body["last_seen_tree_size"] == len(first)
    assert start.body["prev_boot"] == first[-1].gw["boot"] != start.gw["boot"]
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert verdict.ok and verdict.sealed and not verdict.findings


def test_ts_never_goes_back_within_a_boot(tmp_path: Path, signer: Signer) -> None:
    ticks = iter([5_000_000, 9_000_000, 1_000_000, 9_000_001] + [9_500_000] * 100)

    async def script(rec: Recorder) -> None:
        s = rec.open_session({})
        s.record("stmt", {})
        s.record("stmt", {})

    write_log(tmp_path, signer, script, clock=lambda: next(ticks))
    recs = records(tmp_path)
    # the clock's step back (9 s to 1 s) is recorded first, in a clock.step record
    assert [(r.type, r.ts) for r in recs[:5]] == [
        ("gateway.start", "1970-01-01T00:00:05.000000Z"),
        ("session.open", "1970-01-01T00:00:09.000000Z"),
        ("clock.step", "1970-01-01T00:00:09.000000Z"),
        ("stmt", "1970-01-01T00:00:09.000000Z"),
        ("stmt", "1970-01-01T00:00:09.000001Z"),
    ]
    assert dict(recs[2].body) == {
        "clock": "1970-01-01T00:00:01.000000Z",
        "previous": "1970-01-01T00:00:09.000000Z",
    }


def test_misuse_is_refused(tmp_path: Path, signer: Signer, process: str | None) -> None:
    nan_seq: list[int] = []

    async def script(rec: Recorder) -> None:
        s = rec.open_session({}, sid="s-1")
        with pytest.raises(ValueError, match="already open"):
            rec.open_session({}, sid="s-1")
        for kind in ("session.open", "session.close", "gateway.start", "key.rotate"):
            with pytest.raises(ValueError, match="written by the recorder"):
                s.record(kind, {})
        for kind in ("stmt", "gateway.stop", "session.open"):
            with pytest.raises(ValueError, match="written by the recorder"):
                rec.record(kind, {})
        size = rec.size
        with pytest.raises(RecordError, match="envelope fields"):
            s.record("stmt", {"seq": 7})
        with pytest.raises(RecordError, match="not canonicalizable"):
            s.record("stmt", {"x": object()})
        nan = s.record("stmt", {"x": float("nan")})  # no JSON form: recorded as null
        with pytest.raises(RecordingUnavailable, match="exceeds"):
            s.record("result", {"blob": "x" * 2000})
        assert rec.size == size + 1  # nothing else was recorded, nothing skipped
        nan_seq.append(nan)
        await s.close("bye")
        with pytest.raises(RuntimeError, match="closed"):
            s.record("stmt", {})

    write_log(tmp_path, signer, script, max_record_bytes=1000, process=process)
    assert verify_directory(tmp_path, [signer.verifier]).ok
    assert records(tmp_path)[nan_seq[0]].body == {"x": None}


def test_not_running_refuses(signer: Signer) -> None:
    rec = Recorder(BlockingStore(), signer, GatewayInfo.new("gw", "0"))
    assert not rec.healthy
    with pytest.raises(RecordingUnavailable, match="not running"):
        rec.open_session({})


def test_session_log_is_a_record_sink(tmp_path: Path, signer: Signer) -> None:
    async def script(rec: Recorder) -> None:
        sink: RecordSink = rec.open_session({"subject": {"sub": "x"}})  # mypy checks the fit
        assert sink.wants_boundaries
        sink.event("stmt", {"q": {"norm": "SELECT 1"}})
        await sink.boundary()
        await sink.close("client exit")
        await sink.close("again")  # idempotent

    write_log(tmp_path, signer, script)
    assert [r.type for r in records(tmp_path)][1:4] == ["session.open", "stmt", "session.close"]


def test_key_rotation(tmp_path: Path, signer: Signer, process: str | None) -> None:
    history, key_file = tmp_path / "keys.vkeys", tmp_path / "signing.key"
    keys.install_signer(key_file, signer)
    keys.append_history(history, signer.verifier, "2026-01-01T00:00:00.000000Z", signer)
    log = tmp_path / "log"
    new: list[Signer] = []

    async def script(rec: Recorder) -> None:
        s = rec.open_session({})
        await statement(s, 1)
        new.append(await keys.rotate(rec, signer, history, key_file, "2026-06-01T00:00:00.000000Z"))
        assert rec.verifier == new[0].verifier
        await statement(s, 2)
        await s.close("bye")

    write_log(log, signer, script, process=process)
    assert keys.load_signer(key_file).verifier == new[0].verifier
    # The retired private key is gone: nothing but the new key and the history is left.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.vkeys", "log", "signing.key"]
    trusted = parse_verifier_list(history.read_text())
    assert trusted == [signer.verifier, new[0].verifier]
    verdict = verify_directory(log, trusted)
    assert verdict.ok and verdict.sealed, verdict.findings
    rotate = next(r for r in records(log) if r.type == "key.rotate")
    assert rotate.body == {"old": signer.verifier.vkey(), "new": new[0].verifier.vkey()}
    # The checkpoint sealing key.rotate is signed by the old key, later ones by the new.
    signers = [c.signers[0] for c in verdict.checkpoints]
    first_new = next(i for i, c in enumerate(verdict.checkpoints) if c.checkpoint.size > rotate.seq)
    assert signers[first_new] == signer.verifier
    assert set(signers[first_new + 1 :]) == {new[0].verifier}
    # The restarted gateway loads the new key from the file and the log stays valid.
    write_log(log, keys.load_signer(key_file), everything(), process=process)
    assert verify_directory(log, trusted).ok
    only_old = verify_directory(log, [signer.verifier])
    assert {f.code for f in only_old.errors()} == {"checkpoint-untrusted"}


def test_store_lock_is_exclusive(tmp_path: Path) -> None:
    store = SegmentStore.open(tmp_path)
    try:
        with pytest.raises(RecordingUnavailable, match="in use by another process"):
            SegmentStore.open(tmp_path)
    finally:
        store.close()
    SegmentStore.open(tmp_path).close()


def test_a_prepared_body_is_recorded_like_its_mapping(
    tmp_path: Path, signer: Signer, process: str | None
) -> None:
    from regogate.recording.write.core import prepared

    body = {"text": "SELECT $1", "decisions": [{"outcome": "allow", "cached": True}]}
    once = prepared(body)

    async def script(rec: Recorder) -> None:
        s = rec.open_session({})
        s.record("stmt", body)
        s.record("stmt", once)
        s.record("stmt", once)
        await s.close("bye")

    write_log(tmp_path, signer, script, process=process)
    assert verify_directory(tmp_path, [signer.verifier]).ok
    stmts = [r for r in records(tmp_path) if r.type == "stmt"]
    assert [r.body for r in stmts] == [body, body, body]
    assert len({r.prev for r in stmts}) == 3  # each one chained, none a copy
    with pytest.raises(RecordError, match="envelope fields"):
        prepared({"seq": 1})
    with pytest.raises(RecordError, match="not canonicalizable"):
        prepared({"x": object()})


def test_a_flush_cuts_the_group_commit_linger_short(tmp_path: Path, signer: Signer) -> None:
    # Lingers far longer than the test may take: each flush must end them, not wait them out.
    async def script(rec: Recorder) -> None:
        s = rec.open_session({})
        with anyio.fail_after(5):
            for i in range(3):  # idle wake-up linger, then the busy linger after a batch
                seq = s.record("stmt", {"i": i})
                await s.flush()
                assert rec._written > seq

    write_log(tmp_path, signer, script, linger=30.0, busy_linger=60.0)
    assert [r.body["i"] for r in records(tmp_path) if r.type == "stmt"] == [0, 1, 2]


def tally_batches(rec: Recorder, batches: list[tuple[int, int]]) -> None:
    """Append (records, bytes) of each non-empty batch the recorder commits to ``batches``."""
    backend = rec._backend
    commit = backend.commit

    async def counting(batch: bytes, count: int, seal: bool, rotate: Signer | None):  # type: ignore[no-untyped-def]
        if count:
            batches.append((count, len(batch)))
        return await commit(batch, count, seal, rotate)

    backend.commit = counting  # type: ignore[method-assign]


def test_under_load_batches_follow_the_busy_linger(tmp_path: Path, signer: Signer) -> None:
    batches: list[tuple[int, int]] = []

    async def script(rec: Recorder) -> None:
        tally_batches(rec, batches)
        s = rec.open_session({})
        for i in range(100):  # a record every ~2 ms for ~0.2 s
            s.record("stmt", {"i": i})
            await anyio.sleep(0.002)
        await s.flush()

    write_log(tmp_path, signer, script, linger=0.001, busy_linger=0.05)
    # a 1 ms linger alone gives a batch per record (~100); 50 ms between batches gives a
    # handful of large ones
    assert sum(c for c, _ in batches) >= 101 and len(batches) <= 12, batches


def test_a_filling_queue_cuts_a_long_commit_interval_short(tmp_path: Path, signer: Signer) -> None:
    # A 60 s commit interval and a 64 KiB queue: a steady stream of ~1 KiB records must
    # never find the queue full (RecordingUnavailable); the linger ends at a quarter.
    batches: list[tuple[int, int]] = []

    async def script(rec: Recorder) -> None:
        tally_batches(rec, batches)
        s = rec.open_session({})
        with anyio.fail_after(20):
            for i in range(400):  # ~400 KiB in all, over ~0.8 s
                s.record("stmt", {"i": i, "pad": "x" * 1000})
                await anyio.sleep(0.002)
            await s.flush()

    write_log(tmp_path, signer, script, linger=0.001, busy_linger=60.0, max_pending_bytes=64 << 10)
    assert [r.body["i"] for r in records(tmp_path) if r.type == "stmt"] == list(range(400))
    assert len(batches) >= 4 and max(n for _, n in batches) < 40 << 10, batches
