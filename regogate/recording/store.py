"""The recording directory on disk: append-only segments and checkpoints.log (all file I/O).

Files are only ever appended to, never truncated or rewritten: a crash leaves at most
a torn final line, which the next start acknowledges (``recovered``) and writes past.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from regogate.errors import RecordingUnavailable
from regogate.recording.checkpoint import Checkpoint
from regogate.recording.layout import (
    CHECKPOINTS,
    SEGMENT_NAME,
    SegmentFile,
    Torn,
    acknowledged,
    boot_of,
    segment_name,
    split_checkpoints,
)
from regogate.recording.merkle import CompactTree, Hash, leaf_hash
from regogate.recording.note import NoteError

LOCK = ".lock"
DEFAULT_SEGMENT_BYTES = 64 << 20


class FsyncPolicy(StrEnum):
    """When appended bytes are forced to stable storage."""

    ALWAYS = "always"  # every batch before flush() returns: a crash loses nothing flushed
    CHECKPOINT = "checkpoint"  # before each checkpoint: an OS crash may lose the unsealed tail
    NEVER = "never"  # leave it to the OS (tests, tmpfs)


def list_segments(directory: Path) -> list[tuple[int, str]]:
    """(number, file name) of every segment, in number order."""
    found = []
    for entry in os.scandir(directory):
        m = SEGMENT_NAME.fullmatch(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name))
    return sorted(found)


def read_segments(directory: Path) -> Iterator[SegmentFile]:
    """Every segment's bytes, in order, one file in memory at a time."""
    for number, name in list_segments(directory):
        yield SegmentFile(name, number, (directory / name).read_bytes())


def read_checkpoints(directory: Path) -> bytes:
    path = directory / CHECKPOINTS
    return path.read_bytes() if path.exists() else b""


@dataclass
class StoreState:
    """What the writer needs to continue the log where it ends."""

    size: int = 0
    tree: CompactTree = field(default_factory=CompactTree)
    last_boot: str | None = None  # gw.boot of the last complete record
    recovered: list[Torn] = field(default_factory=list)
    last_checkpoint: Checkpoint | None = None
    # (number, file name, complete lines) of each segment found at start
    segments: list[tuple[int, str, int]] = field(default_factory=list)


class SegmentStore:
    """Exclusive owner of one recording directory while open (an flock on ``.lock``)."""

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
        self._lock_fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RecordingUnavailable(
                f"recording directory {self.directory} is in use by another process"
            ) from None

    def _scan(self) -> None:
        state = self.state
        torn: list[Torn] = []
        acks: set[Torn] = set()
        last_number, last_torn, last_line = 0, False, b""
        for seg in read_segments(self.directory):
            lines = seg.data.split(b"\n")
            tail = lines.pop()
            for line in lines:
                state.tree.append(leaf_hash(line))
                acks.update(acknowledged(line))
            state.segments.append((seg.number, seg.name, len(lines)))
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
        """The Merkle root of the log's first ``size`` records."""
        if size == self.state.size:
            return self.state.tree.root()
        tree = CompactTree()  # a checkpoint older than the tail (after a crash): rescan
        for seg in read_segments(self.directory):
            for line in seg.data.split(b"\n")[:-1]:
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
            _write_fd(fd, note.encode() + b"\n")
            if self.fsync is not FsyncPolicy.NEVER:
                os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            self._sync_directory()

    def close(self) -> None:
        for fd in (self._seg_fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._seg_fd = self._lock_fd = -1


def _write_fd(fd: int, data: bytes) -> int:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    return len(data)
