"""Segment files and checkpoints.log: append, rotate, read back, torn tails, refusal to extend."""

from __future__ import annotations

import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from regogate.errors import RecordingUnavailable
from regogate.recording.format.directory import list_segments, read_segments
from regogate.recording.format.layout import CHECKPOINTS, FRONTIER, Torn, split_checkpoints
from regogate.recording.format.merkle import CompactTree, leaf_hash
from regogate.recording.format.note import Signer
from regogate.recording.read.verify import verify_directory
from regogate.recording.write.store import FsyncPolicy, SegmentStore
from regogate.recording.write.writer import Recorder
from tests.recording.conftest import ORIGIN, everything, statement, write_log


@pytest.mark.parametrize("fsync", list(FsyncPolicy))
def test_write_read_back_and_rotate_by_size(tmp_path: Path, fsync: FsyncPolicy) -> None:
    lines = [b'{"i":%d,"pad":"%s"}' % (i, b"x" * 30) for i in range(50)]
    store = SegmentStore.open(tmp_path, segment_bytes=200, fsync=fsync)
    try:
        store.write(lines[:20])
        store.flush()
        store.write(lines[20:])
        store.append_checkpoint("note\n\n\u2014 k AAAA\n")
    finally:
        store.close()
    segs = list(read_segments(tmp_path))
    assert [s.number for s in segs] == list(range(1, len(segs) + 1)) and len(segs) > 5
    assert all(len(s.data) <= 200 for s in segs)
    assert b"".join(s.data for s in segs) == b"".join(x + b"\n" for x in lines)
    assert (tmp_path / CHECKPOINTS).read_text() == "note\n\n\u2014 k AAAA\n\n"
    for p in [tmp_path, *tmp_path.iterdir()]:
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, p


def test_a_record_larger_than_a_segment_gets_its_own(tmp_path: Path) -> None:
    store = SegmentStore.open(tmp_path, segment_bytes=10)
    store.write([b"a" * 30, b"b", b"c" * 30])
    store.close()
    assert [s.data for s in read_segments(tmp_path)] == [
        b"a" * 30 + b"\n",
        b"b\n",
        b"c" * 30 + b"\n",
    ]


def test_reopen_rebuilds_the_tree_and_continues(tmp_path: Path) -> None:
    store = SegmentStore.open(tmp_path)
    store.write([b"one", b"two"])
    store.close()
    store = SegmentStore.open(tmp_path)
    tree = CompactTree()
    for x in (b"one", b"two"):
        tree.append(leaf_hash(x))
    assert store.state.size == 2 and store.state.tree.root() == tree.root()
    assert store.state.recovered == []
    store.write([b"three"])
    store.close()
    assert [s.name for s in read_segments(tmp_path)] == ["seg-000001.jsonl"]


def test_a_torn_tail_is_left_in_place_and_reported(tmp_path: Path) -> None:
    store = SegmentStore.open(tmp_path)
    store.write([b"one", b"two"])
    store.close()
    with (tmp_path / "seg-000001.jsonl").open("ab") as f:
        f.write(b'{"half')  # the crash
    store = SegmentStore.open(tmp_path)
    assert store.state.size == 2
    assert store.state.recovered == [Torn("seg-000001.jsonl", 8, 6)]
    store.write([b"three"])
    store.close()
    names = [name for _, name in list_segments(tmp_path)]
    assert names == ["seg-000001.jsonl", "seg-000002.jsonl"]  # never appended after it
    assert (tmp_path / "seg-000001.jsonl").read_bytes() == b'one\ntwo\n{"half'


def test_split_checkpoints() -> None:
    a, b = b"o\n1\nR\n\n\xe2\x80\x94 k S\n", b"o\n2\nR\n\n\xe2\x80\x94 k T\n"
    assert split_checkpoints(a + b"\n" + b + b"\n", {}) == ([(0, a), (len(a) + 1, b)], None)
    torn = a + b"\n" + b"o\n2\nR\n\n\xe2\x80\x94 k"
    assert split_checkpoints(torn, {}) == ([(0, a)], Torn(CHECKPOINTS, len(a) + 1, 12))
    # Acknowledged torn bytes in the middle are skipped; the next entry follows directly.
    data = a + b"\n" + b"o\n2\nR\n" + b + b"\n"
    skip = {len(a) + 1: 6}
    assert split_checkpoints(data, skip) == ([(0, a), (len(a) + 7, b)], None)


def crash_copy(src: Path, dst: Path) -> None:
    """What the disk holds if the machine stops now (the files the writer flushed)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"))


def test_crash_recovery_end_to_end(tmp_path: Path, signer: Signer) -> None:
    live, crashed = tmp_path / "live", tmp_path / "crashed"

    async def script(rec: Recorder) -> None:
        s = rec.open_session({"subject": {"sub": "alice"}})
        await statement(s, 1)
        await rec.checkpoint()
        await statement(s, 2)  # written and flushed, not sealed
        crash_copy(live, crashed)

    write_log(live, signer, script, checkpoint_every=10_000, checkpoint_interval=3600)
    last = max(crashed.glob("seg-*.jsonl"))
    with last.open("ab") as f:
        f.write(b'{"gw":{"boot":"x"},"n":')  # a record torn mid-write
    size = sum(len(p.read_bytes().splitlines()) for p in crashed.glob("seg-*.jsonl")) - 1

    verdict = verify_directory(crashed, [signer.verifier])
    assert verdict.ok and not verdict.sealed
    by_code = {f.code: f for f in verdict.findings}
    assert set(by_code) == {"torn-tail", "unsealed-tail", "session-open"}
    torn = by_code["torn-tail"]
    assert torn.file == last.name and torn.line == size + 1
    assert "truncated line (23 bytes at byte" in torn.message
    unsealed = by_code["unsealed-tail"]
    assert unsealed.seq == verdict.sealed_size == size - 3
    assert f"records seq {size - 3}..{size - 1} (3 records" in unsealed.message

    # The next start acknowledges the torn bytes, seals everything and the log is whole.
    write_log(crashed, signer, everything())
    verdict = verify_directory(crashed, [signer.verifier])
    assert verdict.ok and verdict.sealed, verdict.findings
    codes = {f.code for f in verdict.findings}
    # the crash's unsealed records are sealed by the next boot, and verify says so
    assert codes == {"torn-acknowledged", "session-not-closed", "sealed-by-later-boot"}
    start = next(f for f in verdict.findings if f.code == "torn-acknowledged")
    assert f"gateway.start seq {size}" in start.message


def test_refuses_to_extend_a_log_that_lost_sealed_records(tmp_path: Path, signer: Signer) -> None:
    write_log(tmp_path, signer, everything())
    seg = tmp_path / "seg-000001.jsonl"
    lines = seg.read_bytes().splitlines(keepends=True)
    seg.write_bytes(b"".join(lines[:-1]))
    with pytest.raises(RecordingUnavailable, match="sealed records are missing"):
        SegmentStore.open(tmp_path)
    seg.write_bytes(b"".join(lines[:-1]) + lines[-1].replace(b"stop", b"STOP"))
    frontier = (tmp_path / FRONTIER).read_bytes()
    (tmp_path / FRONTIER).unlink()  # the full scan (with frontier.json: the test below)
    with pytest.raises(RecordingUnavailable, match="no longer match the last checkpoint"):
        SegmentStore.open(tmp_path)
    seg.write_bytes(b"".join(lines))
    SegmentStore.open(tmp_path).close()
    (tmp_path / FRONTIER).write_bytes(frontier)
    SegmentStore.open(tmp_path).close()


# -- frontier.json: a start scans only the records after the last checkpoint --------------


def many_segments(directory: Path, signer: Signer) -> None:
    write_log(directory, signer, everything(), segment_bytes=4096)
    write_log(directory, signer, everything(), segment_bytes=4096)


def summary(directory: Path) -> tuple[int, bytes, int, str | None]:
    store = SegmentStore.open(directory, segment_bytes=4096)
    try:
        st = store.state
        cp = st.last_checkpoint
        return st.size, st.tree.root(), cp.size if cp else -1, store.segment
    finally:
        store.close()


def test_a_start_continues_from_the_frontier_without_reading_old_segments(
    tmp_path: Path, signer: Signer
) -> None:
    many_segments(tmp_path, signer)
    assert len(list(tmp_path.glob("seg-*.jsonl"))) > 3
    full = tmp_path / "copy"
    shutil.copytree(tmp_path, full)
    (full / FRONTIER).unlink()
    assert summary(tmp_path) == summary(full)  # the same state either way
    # The old segments are not read: archived, the start still continues the log.
    archived = tmp_path / "archive"
    archived.mkdir()
    (tmp_path / "seg-000001.jsonl").rename(archived / "seg-000001.jsonl")
    assert summary(tmp_path) == summary(full)
    (tmp_path / FRONTIER).unlink()  # ...but a full scan cannot
    with pytest.raises(RecordingUnavailable, match=r"seg-000001.jsonl is missing \(segments"):
        SegmentStore.open(tmp_path)


@pytest.mark.parametrize(
    "forge",
    [
        lambda f: f.replace(f[f.index('"frontier":["') + 13 : f.index('"frontier":["') + 15], "00"),
        lambda f: f.replace('"offset":', '"offset":1'),
        lambda f: f.replace('"size":', '"size":1'),
        lambda f: "{not json",
        lambda f: f.replace('"checkpoint":[', '"checkpoint":[1'),
    ],
    ids=["hash", "offset", "size", "garbage", "checkpoint"],
)
def test_a_forged_frontier_only_sends_the_start_to_the_full_scan(
    tmp_path: Path, signer: Signer, forge: Callable[[str], str]
) -> None:
    many_segments(tmp_path, signer)
    expected = summary(tmp_path)
    path = tmp_path / FRONTIER
    path.write_text(forge(path.read_text()))
    assert summary(tmp_path) == expected


def test_a_sealed_record_changed_under_the_frontier_is_never_laundered(
    tmp_path: Path, signer: Signer
) -> None:
    """The fast start does not re-read sealed records; it continues from the signed tree,
    so the next checkpoints commit to the records as they were, and verify reports the
    change instead of a writer signing it."""
    write_log(tmp_path, signer, everything())
    seg = tmp_path / "seg-000001.jsonl"
    data = seg.read_bytes()
    seg.write_bytes(data.replace(b'"sub":"alice"', b'"sub":"mallo"', 1))
    write_log(tmp_path, signer, everything())  # a new boot starts on it
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert not verdict.ok
    assert "checkpoint-root-mismatch" in {f.code for f in verdict.errors()}


def test_unwritable_directory_is_a_recording_error(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("not a directory")
    with pytest.raises(RecordingUnavailable, match=str(target)):
        SegmentStore.open(target)


def test_origin_defaults_to_the_key_name(tmp_path: Path, signer: Signer) -> None:
    write_log(tmp_path, signer, everything())
    assert (tmp_path / CHECKPOINTS).read_text().startswith(ORIGIN + "\n")


def test_a_torn_checkpoint_entry_is_acknowledged_and_skipped(
    tmp_path: Path, signer: Signer
) -> None:
    write_log(tmp_path, signer, everything())
    log = tmp_path / CHECKPOINTS
    size = log.stat().st_size
    with log.open("ab") as f:
        f.write(b"bank.example/regogate/test\n99\nAAAA")  # the crash
    store = SegmentStore.open(tmp_path)
    assert store.state.recovered == [Torn(CHECKPOINTS, size, 34)]
    store.close()
    write_log(tmp_path, signer, everything())
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert verdict.ok and verdict.sealed, verdict.findings
    assert [f.code for f in verdict.findings] == ["checkpoint-torn-acknowledged"]
    assert f"(34 bytes at byte {size})" in verdict.findings[0].message


def test_the_lock_is_on_the_directory_not_a_file_one_can_delete(tmp_path: Path) -> None:
    held = SegmentStore.open(tmp_path)
    try:
        for leftover in tmp_path.glob(".*"):
            leftover.unlink()  # whatever a writer of the directory could remove
        with pytest.raises(RecordingUnavailable, match="in use by another process"):
            SegmentStore.open(tmp_path)
    finally:
        held.close()
    SegmentStore.open(tmp_path).close()
