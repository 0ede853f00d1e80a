"""A writer signs nothing it cannot vouch for: the records after the last checkpoint are
checked before the first signature, and a tail no gateway wrote stops the start with the
file and line (issue 19, "Only the writer can sign")."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anyio
import orjson
import pytest

from regogate.errors import RecordingUnavailable
from regogate.recording.format.checkpoint import Checkpoint
from regogate.recording.format.directory import read_segments
from regogate.recording.format.layout import CHECKPOINTS, split_checkpoints
from regogate.recording.format.note import Signer
from regogate.recording.format.records import GatewayInfo, Record, encode, format_ts
from regogate.recording.read.verify import verify_directory
from regogate.recording.write.store import FsyncPolicy, SegmentStore, StoreState
from regogate.recording.write.tail import check_anchor, check_tail
from regogate.recording.write.writer import Recorder, WriterProcess
from tests.recording.conftest import everything, statement, write_log


class CrashBeforeSeal:
    """A store whose checkpoints stop after the first and that never writes gateway.stop:
    the boot's records are written, the stop and the seal never are (a crash)."""

    def __init__(self, store: SegmentStore):
        self.store = store
        self.state: StoreState = store.state
        self.checkpoints = 0

    def write(self, lines: Sequence[bytes]) -> None:
        if any(b'"type":"gateway.stop"' in line for line in lines):
            raise OSError("the gateway was killed")  # before it could stop
        self.store.write(lines)

    def flush(self) -> None:
        self.store.flush()

    def append_checkpoint(self, note: str) -> None:
        if self.checkpoints:
            raise OSError("the gateway was killed")
        self.checkpoints += 1
        self.store.append_checkpoint(note)


def crashed(directory: Path, signer: Signer) -> None:
    """A log whose last boot crashed: gateway.start sealed, statements after it not."""

    async def main() -> None:
        store = SegmentStore.open(directory, fsync=FsyncPolicy.NEVER)
        try:
            rec = Recorder(CrashBeforeSeal(store), signer, GatewayInfo.new("gw-test", "0.1.0"))
            async with rec.running():
                await rec.checkpoint()
                session = rec.open_session({"subject": {"sub": "alice"}})
                for i in range(3):
                    await statement(session, i)
        finally:
            store.close()

    anyio.run(main)


def open_and_check(directory: Path) -> None:
    store = SegmentStore.open(directory, fsync=FsyncPolicy.NEVER)
    try:
        check_tail(store)
    finally:
        store.close()


def last_segment(directory: Path) -> Path:
    return sorted(directory.glob("seg-*.jsonl"))[-1]


def lines_of(directory: Path) -> list[bytes]:
    return [line for seg in read_segments(directory) for line in seg.data.splitlines()]


def forged(directory: Path, type: str = "policy.load", **body: object) -> bytes:
    """A well-formed gateway record that continues the log's seq and last boot."""
    last = Record.parse(lines_of(directory)[-1])
    seq = last.seq + 1
    return encode(
        seq=seq,
        ts=format_ts(4_000_000_000_000_000),
        gw=last.gw,
        type=type,
        sid=None,
        n=None,
        prev=None,
        body=body or {"bundle": {"sha256": "ee" * 32}},
    )


def refused(directory: Path) -> str:
    with pytest.raises(RecordingUnavailable) as err:
        open_and_check(directory)
    assert err.value.hint and "regogate verify" in err.value.hint
    return err.value.message


def test_a_cleanly_stopped_log_starts(tmp_path: Path, signer: Signer) -> None:
    write_log(tmp_path, signer, everything())
    open_and_check(tmp_path)


def test_the_tail_of_a_crashed_boot_is_accepted_and_sealed_by_the_next(
    tmp_path: Path, signer: Signer
) -> None:
    crashed(tmp_path, signer)
    store = SegmentStore.open(tmp_path)
    sealed = store.state.last_checkpoint
    assert sealed is not None and store.state.size > sealed.size  # there is a tail
    store.close()
    open_and_check(tmp_path)
    write_log(tmp_path, signer, everything(), process="python")  # a writer starts on it
    assert verify_directory(tmp_path, [signer.verifier]).ok


def test_a_record_appended_after_a_sealed_stop_is_refused(tmp_path: Path, signer: Signer) -> None:
    write_log(tmp_path, signer, everything())
    segment = last_segment(tmp_path)
    line = len(segment.read_bytes().splitlines()) + 1
    with segment.open("ab") as f:
        f.write(forged(tmp_path) + b"\n")
    message = refused(tmp_path)
    assert f"{segment.name}:{line}" in message
    assert "record-after-stop" in message and "were not signed" in message


def test_a_boot_appended_while_no_gateway_ran_is_refused(tmp_path: Path, signer: Signer) -> None:
    write_log(tmp_path, signer, everything())
    size = len(lines_of(tmp_path))
    last = Record.parse(lines_of(tmp_path)[-1])
    start = encode(
        seq=size,
        ts=format_ts(4_000_000_000_000_000),
        gw={**last.gw, "boot": "forged-boot"},
        type="gateway.start",
        sid=None,
        n=None,
        prev=None,
        body={
            "origin": signer.name,
            "vkey": signer.verifier.vkey(),
            "last_seen_tree_size": size,
            "prev_boot": last.gw["boot"],
            "recovered": [],
        },
    )
    with last_segment(tmp_path).open("ab") as f:
        f.write(start + b"\n")
    assert "unsealed-boot" in refused(tmp_path)


def test_deleting_every_checkpoint_is_refused_at_the_first_line(
    tmp_path: Path, signer: Signer
) -> None:
    write_log(tmp_path, signer, everything())
    (tmp_path / CHECKPOINTS).unlink()
    message = refused(tmp_path)
    assert "seg-000001.jsonl:1:" in message and "unsealed-boot" in message


def test_cutting_checkpoints_back_is_refused(tmp_path: Path, signer: Signer) -> None:
    write_log(tmp_path, signer, everything())
    data = (tmp_path / CHECKPOINTS).read_bytes()
    entries, _ = split_checkpoints(data, {})
    assert len(entries) >= 2
    # keep the first checkpoint only: what follows it looks like a crashed boot's tail,
    # but the boot's gateway.stop is in it, and a stopping gateway seals that first
    (tmp_path / CHECKPOINTS).write_bytes(data[: entries[1][0]])
    assert "unsealed-stop" in refused(tmp_path)


def test_a_broken_chain_in_a_crash_tail_is_refused_with_its_line(
    tmp_path: Path, signer: Signer
) -> None:
    crashed(tmp_path, signer)
    segment = last_segment(tmp_path)
    lines = segment.read_bytes().splitlines()
    # the last stmt record: a different statement, re-encoded canonically (its own
    # envelope is fine; the next record's prev no longer matches it)
    index = max(i for i, line in enumerate(lines) if b'"type":"stmt"' in line)
    obj = orjson.loads(lines[index])
    obj["q"]["norm"] = "DELETE FROM public.t"
    record = Record.parse(lines[index])
    lines[index] = encode(
        seq=record.seq,
        ts=record.ts,
        gw=record.gw,
        type=record.type,
        sid=record.sid,
        n=record.n,
        prev=bytes.fromhex(record.prev) if record.prev else None,
        body={
            k: v
            for k, v in obj.items()
            if k not in {"v", "seq", "ts", "gw", "type", "sid", "n", "prev"}
        },
    )
    segment.write_bytes(b"\n".join(lines) + b"\n")
    message = refused(tmp_path)
    assert f"{segment.name}:{index + 2}:" in message and "chain-broken" in message


def test_a_refused_tail_stops_a_writer_process_before_it_signs(
    tmp_path: Path, signer: Signer
) -> None:
    write_log(tmp_path, signer, everything())
    with last_segment(tmp_path).open("ab") as f:
        f.write(forged(tmp_path) + b"\n")
    before = (tmp_path / CHECKPOINTS).read_bytes()

    async def main() -> None:
        rec = Recorder(WriterProcess(tmp_path), signer, GatewayInfo.new("gw-test", "0.1.0"))
        with pytest.raises(RecordingUnavailable, match="record-after-stop"):
            async with rec.running():
                pytest.fail("a writer started on a forged tail")

    anyio.run(main)
    assert (tmp_path / CHECKPOINTS).read_bytes() == before  # nothing was signed


# -- the anchor: the last checkpoint, kept outside the log --------------------------------


def anchor_of(directory: Path, tmp: Path, index: int = -1) -> Path:
    """A copy of checkpoint ``index`` of the log, kept outside it."""
    entries, _ = split_checkpoints((directory / CHECKPOINTS).read_bytes(), {})
    path = tmp / "anchor.note"
    path.write_bytes(entries[index][1])
    return path


def anchored(directory: Path, anchor: Path, origin: str) -> object:
    store = SegmentStore.open(directory, fsync=FsyncPolicy.NEVER)
    try:
        return check_anchor(store, anchor, origin)
    finally:
        store.close()


def test_a_log_that_extends_its_anchor_starts(tmp_path: Path, signer: Signer) -> None:
    log = tmp_path / "log"
    write_log(log, signer, everything())
    early = anchor_of(log, tmp_path, 0)
    cp = anchored(log, early, signer.name)
    assert cp is not None and cp.size >= 1  # type: ignore[attr-defined]
    assert anchored(log, tmp_path / "absent.note", signer.name) is None  # a first start


def test_a_log_cut_back_with_its_checkpoints_is_refused(tmp_path: Path, signer: Signer) -> None:
    log = tmp_path / "log"
    write_log(log, signer, everything())
    anchor = anchor_of(log, tmp_path)
    entries, _ = split_checkpoints((log / CHECKPOINTS).read_bytes(), {})
    first = entries[0][1]
    keep = Checkpoint.parse(first.decode().rpartition("\n\n")[0] + "\n").size
    segment = last_segment(log)
    segment.write_bytes(b"".join(segment.read_bytes().splitlines(keepends=True)[:keep]))
    (log / CHECKPOINTS).write_bytes(first + b"\n")
    open_and_check(log)  # on its own the cut log passes the tail check
    with pytest.raises(RecordingUnavailable, match=r"signed record\(s\) were removed"):
        anchored(log, anchor, signer.name)


def test_checkpoints_removed_but_records_kept_are_refused(tmp_path: Path, signer: Signer) -> None:
    log = tmp_path / "log"
    write_log(log, signer, everything())
    anchor = anchor_of(log, tmp_path)
    data = (log / CHECKPOINTS).read_bytes()
    entries, _ = split_checkpoints(data, {})
    (log / CHECKPOINTS).write_bytes(data[: entries[-1][0]])
    with pytest.raises(RecordingUnavailable, match="signed checkpoints were removed"):
        anchored(log, anchor, signer.name)


def test_a_rewritten_log_does_not_match_its_anchor(tmp_path: Path, signer: Signer) -> None:
    log, other = tmp_path / "log", tmp_path / "other"
    write_log(log, signer, everything())
    write_log(other, signer, everything())  # same shape, other sessions and times
    anchor = anchor_of(log, tmp_path)
    with pytest.raises(RecordingUnavailable, match="the log was rewritten"):
        anchored(other, anchor, signer.name)
    with pytest.raises(RecordingUnavailable, match="another deployment"):
        anchored(log, anchor, "bank.example/regogate/other")


def test_a_writer_process_refuses_a_log_behind_its_anchor_before_signing(
    tmp_path: Path, signer: Signer
) -> None:
    log = tmp_path / "log"
    write_log(log, signer, everything())
    anchor = anchor_of(log, tmp_path)
    data = (log / CHECKPOINTS).read_bytes()
    entries, _ = split_checkpoints(data, {})
    (log / CHECKPOINTS).write_bytes(data[: entries[-1][0]])
    cut = (log / CHECKPOINTS).read_bytes()

    async def main() -> None:
        spec = WriterProcess(log, anchor_file=anchor)
        rec = Recorder(spec, signer, GatewayInfo.new("gw-test", "0.1.0"))
        with pytest.raises(RecordingUnavailable, match="signed checkpoints were removed"):
            async with rec.running():
                pytest.fail("a writer started behind its anchor")

    anyio.run(main)
    assert (log / CHECKPOINTS).read_bytes() == cut


def test_gateway_start_records_what_it_found_sealed_and_its_anchor(
    tmp_path: Path, signer: Signer
) -> None:
    log = tmp_path / "log"
    write_log(log, signer, everything())
    anchor = anchor_of(log, tmp_path)
    note = anchor.read_text()
    cp = Checkpoint.parse(note.rpartition("\n\n")[0] + "\n")

    async def main() -> None:
        rec = Recorder(WriterProcess(log, anchor_file=anchor), signer, GatewayInfo.new("g", "0"))
        async with rec.running():
            pass

    anyio.run(main)
    starts = [Record.parse(x) for x in lines_of(log) if b'"type":"gateway.start"' in x]
    body = starts[-1].body
    assert body["sealed"] == {"size": cp.size, "root": cp.root.hex()}
    assert body["anchor"] == {"size": cp.size, "root": cp.root.hex()}
    assert verify_directory(log, [signer.verifier]).ok


def test_verify_reports_a_crash_tail_sealed_by_the_next_boot(
    tmp_path: Path, signer: Signer
) -> None:
    crashed(tmp_path, signer)
    write_log(tmp_path, signer, everything(), process="python")
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert verdict.ok
    found = [f for f in verdict.findings if f.code == "sealed-by-later-boot"]
    assert len(found) == 1 and found[0].severity == "warning"
