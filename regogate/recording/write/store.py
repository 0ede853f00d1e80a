"""The recording directory on disk: append-only segments and checkpoints.log (all file I/O).

Files are only ever appended to, never truncated or rewritten: a crash leaves at most
a torn final line, which the next start acknowledges (``recovered``) and writes past.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from regogate.errors import RecordingUnavailable
from regogate.recording.format.checkpoint import Checkpoint
from regogate.recording.format.directory import (
    list_segments,
    read_checkpoints,
    read_frontier,
    read_segments,
)
from regogate.recording.format.layout import (
    CHECKPOINTS,
    FRONTIER,
    Torn,
    acknowledged,
    boot_of,
    segment_name,
    split_checkpoints,
)
from regogate.recording.format.merkle import CompactTree, Hash, leaf_hash
from regogate.recording.format.note import NoteError

DEFAULT_SEGMENT_BYTES = 64 << 20


class FsyncPolicy(StrEnum):
    """When appended bytes are forced to stable storage."""

    ALWAYS = "always"  # every batch before flush() returns: a crash loses nothing flushed
    CHECKPOINT = "checkpoint"  # before each checkpoint: an OS crash may lose the unsealed tail
    NEVER = "never"  # leave it to the OS (tests, tmpfs)


@dataclass
class StoreState:
    """What the writer needs to continue the log where it ends."""

    size: int = 0
    tree: CompactTree = field(default_factory=CompactTree)
    last_boot: str | None = None  # gw.boot of the last complete record
    recovered: list[Torn] = field(default_factory=list)
    last_checkpoint: Checkpoint | None = None
    # (number, file name, position of its first record, complete lines) of each segment
    # found at start; -1, -1 for a segment before the frontier (not read)
    segments: list[tuple[int, str, int, int]] = field(default_factory=list)


class SegmentStore:
    """Exclusive owner of one recording directory while open (an flock on the directory)."""

    def __init__(
        self,
        directory: Path,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        fsync: FsyncPolicy = FsyncPolicy.ALWAYS,
    ):
        """Use ``SegmentStore.open``; this only sets fields."""
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self.state = StoreState()
        self._lock_fd = -1
        self._seg_fd = -1
        self._seg_number = 0
        self._seg_size = 0
        self._dirty = False
        # (size, frontier, segment, offset) the scan continued from (FRONTIER), if any
        self._frontier: tuple[int, tuple[Hash, ...], int, int] | None = None

    def __repr__(self) -> str:
        return f"SegmentStore({str(self.directory)!r}, segment {self._seg_number})"

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        fsync: FsyncPolicy = FsyncPolicy.ALWAYS,
    ) -> SegmentStore:
        """Lock, scan and check the directory (created 0700 if missing)."""
        store = cls(directory, segment_bytes=segment_bytes, fsync=fsync)
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            store._lock()
            store._scan()
        except OSError as exc:
            store.close()
            raise RecordingUnavailable(f"recording directory {directory}: {exc}") from None
        except RecordingUnavailable:
            store.close()
            raise
        return store

    def _lock(self) -> None:
        # The lock is on the directory itself, not on a file in it that anyone who writes
        # the directory could delete (and a second writer then lock afresh).
        self._lock_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RecordingUnavailable(
                f"recording directory {self.directory} is in use by another process"
            ) from None

    def _scan(self) -> None:
        if not self._scan_from_frontier():
            self._scan_all()

    def _scan_all(self) -> None:
        state = self.state
        state.tree, state.segments, self._frontier = CompactTree(), [], None
        torn: list[Torn] = []
        acks: set[Torn] = set()
        last_number, last_torn, last_line, position = 0, False, b"", 0
        for seg in read_segments(self.directory):
            if seg.number != last_number + 1:
                missing = segment_name(last_number + 1)
                raise RecordingUnavailable(
                    f"recording directory {self.directory}: {missing} is missing (segments "
                    f"archived without a valid {FRONTIER}?); refusing to append",
                    hint=f"restore the segments, or the {FRONTIER} written with the last "
                    "checkpoint (docs/recording-format.md §1)",
                )
            lines = seg.data.split(b"\n")
            tail = lines.pop()
            for line in lines:
                state.tree.append(leaf_hash(line))
                acks.update(acknowledged(line))
            state.segments.append((seg.number, seg.name, position, len(lines)))
            position += len(lines)
            if lines:
                last_line = lines[-1]
            if tail:
                torn.append(Torn(seg.name, len(seg.data) - len(tail), len(tail)))
            last_number, last_torn = seg.number, bool(tail)
        state.size = state.tree.size
        state.last_boot = boot_of(last_line)
        data = read_checkpoints(self.directory)
        entries, cp_torn = split_checkpoints(data, {t.offset: t.bytes for t in acks})
        if cp_torn is not None:
            torn.append(cp_torn)
        state.recovered = [t for t in torn if t not in acks]
        if entries:
            self._check_last_checkpoint(entries[-1])
        # Never append after a torn line: continue in a fresh segment.
        self._open_segment(last_number + 1 if last_torn or last_number == 0 else last_number)

    def _scan_from_frontier(self) -> bool:
        """Continue from frontier.json: scan only the records after the checkpoint it was
        written with. False (scan everything) unless it matches that checkpoint: its
        tree's root is the checkpoint's root, and the line before its offset is the
        record with the checkpoint's last seq. A forged file can only send the start to
        the full scan (or, pointing at other bytes, to a refusal there)."""
        saved = read_frontier(self.directory)
        if saved is None:
            return False
        tree, number, offset, cp_at, cp_end = saved
        data = read_checkpoints(self.directory)
        try:
            note = data[cp_at:cp_end].decode()
            cp = Checkpoint.parse(note.rpartition("\n\n")[0] + "\n")
        except (UnicodeDecodeError, NoteError):
            return False
        if cp.size != tree.size or cp.root != tree.root() or data[cp_end : cp_end + 1] != b"\n":
            return False
        names = dict(list_segments(self.directory))
        if number not in names or any(
            n > number + 1 + i for i, n in enumerate(sorted(n for n in names if n > number))
        ):
            return False
        head = (self.directory / names[number]).read_bytes()
        if offset > len(head) or (offset and head[offset - 1 : offset] != b"\n"):
            return False
        if tree.size and seq_of(last_line_of(head[:offset])) != tree.size - 1:
            return False
        before = head[:offset].count(b"\n")
        state = self.state
        state.tree = tree
        self._frontier = (tree.size, tree.frontier, number, offset)
        # Segments before this one are not read: their line counts are unknown (-1).
        state.segments = [(n, name, -1, -1) for n, name in sorted(names.items()) if n < number]
        torn: list[Torn] = []
        acks: set[Torn] = set()
        last_line = last_line_of(head[:offset])
        last_torn, position, last_number = False, tree.size - before, number
        for seg_number, name in sorted(names.items()):
            if seg_number < number:
                continue
            raw = head if seg_number == number else (self.directory / name).read_bytes()
            lines = raw.split(b"\n")
            tail = lines.pop()
            skip = before if seg_number == number else 0
            for line in lines[skip:]:
                tree.append(leaf_hash(line))
                acks.update(acknowledged(line))
            state.segments.append((seg_number, name, position, len(lines)))
            position += len(lines)
            if len(lines) > skip:
                last_line = lines[-1]
            if tail:
                torn.append(Torn(name, len(raw) - len(tail), len(tail)))
            last_number, last_torn = seg_number, bool(tail)
        state.size = tree.size
        state.last_boot = boot_of(last_line)
        after = cp_end + 1  # past the blank line that ends the entry
        skips = {t.offset - after: t.bytes for t in acks if t.file == CHECKPOINTS}
        entries, cp_torn = split_checkpoints(data[after:], skips)
        if cp_torn is not None:
            torn.append(Torn(CHECKPOINTS, cp_torn.offset + after, cp_torn.bytes))
        state.recovered = [t for t in torn if t not in acks]
        if entries:
            at, last = entries[-1]
            self._check_last_checkpoint((at + after, last))
        else:
            state.last_checkpoint = cp
        self._open_segment(last_number + 1 if last_torn else last_number)
        return True

    def _check_last_checkpoint(self, entry: tuple[int, bytes]) -> None:
        """Refuse to extend a log that no longer matches the last checkpoint it signed."""
        offset, note = entry
        where = f"{self.directory / CHECKPOINTS} at byte {offset}"
        try:
            text = note.decode().rpartition("\n\n")[0] + "\n"
            cp = Checkpoint.parse(text)
        except (UnicodeDecodeError, NoteError) as exc:
            raise RecordingUnavailable(f"last checkpoint in {where} is malformed: {exc}") from None
        size = self.state.size
        if cp.size > size:
            raise RecordingUnavailable(
                f"the log has {size} records but its last checkpoint ({where}) covers {cp.size}:"
                " sealed records are missing; refusing to append (run regogate verify)"
            )
        if self.root_at(cp.size) != cp.root:
            raise RecordingUnavailable(
                f"the records no longer match the last checkpoint ({where}, size {cp.size}):"
                " refusing to append (run regogate verify)"
            )
        self.state.last_checkpoint = cp

    def root_at(self, size: int) -> Hash:
        """The Merkle root of the log's first ``size`` records (at most its size)."""
        if size == self.state.size:
            return self.state.tree.root()
        tree, number, offset = CompactTree(), 1, 0
        if self._frontier is not None:
            count, frontier, number, offset = self._frontier
            if size >= count:
                tree = CompactTree.restore(count, list(frontier))
            else:  # older than the frontier: the segments before it may be archived
                number, offset = 1, 0
        for seg in read_segments(self.directory):
            if seg.number < number:
                continue
            data = seg.data[offset:] if seg.number == number else seg.data
            for line in data.split(b"\n")[:-1]:
                if tree.size == size:
                    return tree.root()
                tree.append(leaf_hash(line))
        return tree.root()

    def _open_segment(self, number: int) -> None:
        path = self.directory / segment_name(number)
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if self._seg_fd >= 0:
            os.close(self._seg_fd)
        self._seg_fd, self._seg_number, self._seg_size = fd, number, os.fstat(fd).st_size
        if created:
            self._sync_directory()

    def _sync_directory(self) -> None:
        if self.fsync is FsyncPolicy.NEVER:
            return
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @property
    def segment_number(self) -> int:
        return self._seg_number

    def keep_lock_across_exec(self) -> None:
        """Let the directory's lock pass to a program this process execs (the native writer)."""
        os.set_inheritable(self._lock_fd, True)

    @property
    def segment(self) -> str:
        """The segment being appended to."""
        return segment_name(self._seg_number)

    def write(self, lines: Sequence[bytes]) -> None:
        """Append records (one per line), starting a new segment when this one is full."""
        chunk: list[bytes] = []
        size = self._seg_size
        for line in lines:
            if size and size + len(line) + 1 > self.segment_bytes:
                self._write_all(b"".join(chunk))
                chunk, size = [], 0
                if self.fsync is not FsyncPolicy.NEVER:
                    os.fsync(self._seg_fd)
                self._open_segment(self._seg_number + 1)
            chunk += (line, b"\n")
            size += len(line) + 1
        self._write_all(b"".join(chunk))

    def _write_all(self, data: bytes) -> None:
        self._seg_size += _write_fd(self._seg_fd, data)
        self._dirty = True

    def flush(self) -> None:
        """End of a batch: fsync under ``FsyncPolicy.ALWAYS``."""
        if self.fsync is FsyncPolicy.ALWAYS:
            self._sync_segment()

    def _sync_segment(self) -> None:
        if self._dirty and self.fsync is not FsyncPolicy.NEVER:
            os.fsync(self._seg_fd)
        self._dirty = False

    def append_checkpoint(self, note: str) -> None:
        """Append a signed note, after the records it covers are on stable storage."""
        self._sync_segment()
        path = self.directory / CHECKPOINTS
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            at = os.fstat(fd).st_size
            entry = note.encode()
            _write_fd(fd, entry + b"\n")
            if self.fsync is not FsyncPolicy.NEVER:
                os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            self._sync_directory()
        self._write_frontier(at, at + len(entry))

    def _write_frontier(self, cp_at: int, cp_end: int) -> None:
        """frontier.json for the checkpoint just appended at [cp_at, cp_end) of
        checkpoints.log: the tree, and where its records end (segment, byte offset)."""
        tree = self.state.tree
        body = {
            "v": 1,
            "size": tree.size,
            "frontier": [h.hex() for h in tree.frontier],
            "segment": self._seg_number,
            "offset": self._seg_size,
            "checkpoint": [cp_at, cp_end],
        }
        scratch = self.directory / f".{FRONTIER}.tmp"
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_fd(fd, json.dumps(body, separators=(",", ":")).encode() + b"\n")
            if self.fsync is not FsyncPolicy.NEVER:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(scratch, self.directory / FRONTIER)  # lost in a crash: a full scan

    def close(self) -> None:
        for fd in (self._seg_fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._seg_fd = self._lock_fd = -1


def last_line_of(data: bytes) -> bytes:
    """The last complete line of ``data`` (which ends with a newline), or b"" if none."""
    body = data[:-1] if data.endswith(b"\n") else b""
    return body[body.rfind(b"\n") + 1 :]


def seq_of(line: bytes) -> int | None:
    try:
        seq = json.loads(line)["seq"]
    except (ValueError, KeyError, TypeError):
        return None
    return seq if type(seq) is int else None


def _write_fd(fd: int, data: bytes) -> int:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    return len(data)
