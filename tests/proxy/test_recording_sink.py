"""The per-session result summary (proxy.recording_sink) over a real Recorder and store,
with each hot path (recording.hotpath: the native module and the Python reference)."""

from __future__ import annotations

import errno
import gc
import hashlib
import hmac
import json
import weakref
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from regogate.errors import RecordingUnavailable
from regogate.proxy.recording_sink import SessionRecording
from regogate.recording.format.note import Signer
from regogate.recording.format.records import GatewayInfo
from regogate.recording.read.verify import verify_directory
from regogate.recording.write import native
from regogate.recording.write.core import prepared
from regogate.recording.write.store import SegmentStore
from regogate.recording.write.writer import Recorder

C, D, E, EMPTY, S, Z = 0x43, 0x44, 0x45, 0x49, 0x73, 0x5A
KEY = bytes(range(32))  # the result digest key
ENGINES = [
    "python",
    pytest.param(
        "native",
        marks=pytest.mark.skipif(
            not native.BUILT,
            reason="regogate._native is not built (scripts/setup.sh builds it)",
        ),
    ),
]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def run(tmp_path: Path, script: object, engine: str) -> list[dict[str, object]]:
    signer = Signer.generate("test.example/sink")

    async def main() -> None:
        store = SegmentStore.open(tmp_path)
        try:
            rec = Recorder(store, signer, GatewayInfo.new("gw", "0"), hotpath_engine=engine)
            assert rec.hotpath_engine == engine
            async with rec.running():
                sink = SessionRecording(
                    rec.open_session({}), digest_key=KEY, clock=iter(range(100)).__next__
                )
                script(sink)  # type: ignore[operator]
                await sink.close("bye")
        finally:
            store.close()

    anyio.run(main)
    assert verify_directory(tmp_path, [signer.verifier]).ok
    out = []
    for seg in sorted(tmp_path.glob("seg-*.jsonl")):
        out += [json.loads(line) for line in seg.read_bytes().splitlines()]
    return out


def wire(*messages: tuple[int, bytes]) -> bytes:
    return b"".join(bytes([t]) + (len(b) + 4).to_bytes(4, "big") + b for t, b in messages)


def test_each_cycle_is_summarized(tmp_path: Path, engine: str) -> None:
    chunks = [
        wire((D, b"\x00\x01\x00\x00\x00\x011"), (C, b"SELECT 1\x00")),
        wire((E, b"SERROR\x00C42703\x00Mno x\x00\x00"), (Z, b"I")),
        wire((C, b"INSERT 0 3\x00"), (EMPTY, b""), (S, b""), (Z, b"I")),
    ]

    def script(sink: SessionRecording) -> None:
        sink.event("stmt", prepared({"text": "select 1; select x"}))
        sink.upstream(chunks[0])
        sink.upstream(chunks[1][:7])  # a message split across chunks
        sink.upstream(chunks[1][7:])
        sink.event("stmt", {"text": "insert"})
        sink.upstream(chunks[2])
        sink.upstream(wire((Z, b"I")))  # a cycle with nothing in it: no record

    recs = run(tmp_path, script, engine)
    assert [r["type"] for r in recs[2:-2]] == ["stmt", "result", "stmt", "result"]
    first, second = recs[3], recs[5]
    assert first["tags"] == ["SELECT 1"] and first["rows"] == 1
    assert first["error"] == "42703" and first["bytes"] == len(chunks[0] + chunks[1])
    assert first["digest"] == hmac.new(KEY, chunks[0] + chunks[1], hashlib.sha256).hexdigest()
    assert first["elapsed_us"] == 1_000_000 and "suspended" not in first
    assert recs[2]["text"] == "select 1; select x"  # the prepared body, recorded as is
    assert second["tags"] == ["INSERT 0 3", "EMPTY"] and second["rows"] == 3
    assert second["suspended"] is True and second["error"] is None
    assert second["digest"] == hmac.new(KEY, chunks[2], hashlib.sha256).hexdigest()


class DiskFull(SegmentStore):
    """A segment store whose disk fills up when told to."""

    full = False

    def write(self, lines: Sequence[bytes]) -> None:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        super().write(lines)


@pytest.mark.parametrize("on_error", ["continue", "deny"])
def test_a_failed_recorder_keeps_the_session_or_refuses_its_statements(
    tmp_path: Path, engine: str, on_error: str, caplog: pytest.LogCaptureFixture
) -> None:
    signer = Signer.generate("test.example/sink")

    async def main() -> None:
        store = DiskFull.open(tmp_path)
        try:
            rec = Recorder(store, signer, GatewayInfo.new("gw", "0"), hotpath_engine=engine)
            async with rec.running():
                sink = SessionRecording(rec.open_session({}), digest_key=KEY, on_error=on_error)
                sink.event("stmt", {"text": "select 1"})
                sink.upstream(wire((C, b"SELECT 1\x00"), (Z, b"I")))
                await rec.flush()
                store.full = True
                sink.event("stmt", {"text": "select 2"})
                with pytest.raises(RecordingUnavailable):
                    await rec.flush()  # the write fails: the recorder fails closed
                assert not rec.healthy
                if on_error == "continue":
                    sink.event("stmt", {"text": "select 3"})  # logged once, not raised
                    sink.event("stmt", prepared({"text": "select 4"}))
                    assert caplog.text.count("continuing unrecorded") == 1
                else:
                    with pytest.raises(RecordingUnavailable) as err:
                        sink.event("stmt", {"text": "select 3"})
                    assert err.value.sqlstate == "58030"
                    assert "No space left on device" in err.value.message
                # a result summary never raises: with "deny" the gate refuses what follows
                sink.upstream(wire((C, b"SELECT 1\x00"), (Z, b"I")))
                await sink.close("bye")  # cannot be recorded: logged, not raised
                assert "could not record its close" in caplog.text
        finally:
            store.close()

    anyio.run(main)
    lines = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("seg-*.jsonl")))
    assert b"select 1" in lines and b"select 2" not in lines  # what was written stays


def test_a_command_tag_with_non_ascii_digits_counts_no_rows(tmp_path: Path, engine: str) -> None:
    # "²".isdigit() is true but int("²") raises: an odd upstream must not break the pump.
    def script(sink: SessionRecording) -> None:
        sink.event("stmt", prepared({"text": "select"}))
        sink.upstream(wire((C, "SELECT ²\x00".encode()), (C, b"SELECT 2\x00"), (Z, b"I")))

    recs = run(tmp_path, script, engine)
    (result,) = [r for r in recs if r["type"] == "result"]
    assert result["tags"] == ["SELECT ²", "SELECT 2"]
    assert result["rows"] == 2


@pytest.mark.parametrize("on_error", ["continue", "deny"])
def test_a_closed_sessions_recording_is_freed(tmp_path: Path, engine: str, on_error: str) -> None:
    # The tap holds the sink's failure callback (a cycle with "continue"), the queue the
    # recorder's wake-up method: the cycle collector must see through the native classes.
    signer = Signer.generate("test.example/sink")
    refs: list[weakref.ref[object]] = []

    async def main() -> None:
        store = SegmentStore.open(tmp_path)
        try:
            rec = Recorder(store, signer, GatewayInfo.new("gw", "0"), hotpath_engine=engine)
            async with rec.running():
                for _ in range(3):
                    sink = SessionRecording(rec.open_session({}), digest_key=KEY, on_error=on_error)
                    sink.event("stmt", {"text": "select 1"})
                    sink.upstream(wire((C, b"SELECT 1\x00"), (Z, b"I")))
                    await sink.close("bye")
                    refs.append(weakref.ref(sink))
                    del sink
            refs.append(weakref.ref(rec))
            del rec
        finally:
            store.close()

    anyio.run(main)
    gc.collect()
    assert [r() for r in refs] == [None] * 4


def test_a_row_count_beyond_exact_json_numbers_does_not_stop_the_recorder(
    tmp_path: Path, engine: str
) -> None:
    def script(sink: SessionRecording) -> None:
        sink.event("stmt", prepared({"text": "update"}))
        sink.upstream(wire((C, b"UPDATE 18446744073709551615\x00"), (Z, b"I")))
        sink.event("stmt", prepared({"text": "select"}))
        sink.upstream(wire((C, b"SELECT 1\x00"), (Z, b"I")))

    recs = run(tmp_path, script, engine)  # written, and verified
    big, small = [r for r in recs if r["type"] == "result"]
    assert big["rows"] == 2**53 - 1 and big["rows_capped"] is True
    assert big["tags"] == ["UPDATE 18446744073709551615"]
    assert small["rows"] == 1 and "rows_capped" not in small
