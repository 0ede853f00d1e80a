"""Moving old segments out of a live recording directory (``regogate archive``).

A log grows for ever; its old segments can move to other storage (a WORM bucket, tape)
while the gateway runs. A segment may move when the writer will never read it again:
every record in it is covered by the checkpoint that frontier.json was written with (a
start continues from there and reads no earlier segment), and it is not the segment the
writer appends to. Each one is copied, synced and compared byte for byte before the
original is removed; checkpoints.log is copied along (the live one keeps every entry).
``regogate verify -d LIVE --archive ARCHIVE`` verifies the log across both.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from regogate.errors import RecordingUnavailable
from regogate.recording.format.checkpoint import Checkpoint
from regogate.recording.format.directory import list_segments, read_checkpoints, read_frontier
from regogate.recording.format.layout import CHECKPOINTS, FRONTIER
from regogate.recording.format.note import NoteError


@dataclass(frozen=True)
class Archived:
    moved: list[str]
    kept_from: str | None  # the first segment left in the live directory


def archivable(directory: Path, keep: int = 1) -> list[str]:
    """The segments that may move out of ``directory`` now: those before the segment
    frontier.json points at, less the last ``keep`` of them."""
    saved = read_frontier(directory)
    if saved is None:
        raise RecordingUnavailable(
            f"{directory}: no valid {FRONTIER}: nothing can be archived yet (a gateway of "
            "this version writes it with each checkpoint)"
        )
    tree, number, _, cp_at, cp_end = saved
    try:
        note = read_checkpoints(directory)[cp_at:cp_end].decode()
        cp = Checkpoint.parse(note.rpartition("\n\n")[0] + "\n")
    except (UnicodeDecodeError, NoteError):
        cp = None
    if cp is None or cp.size != tree.size or cp.root != tree.root():
        raise RecordingUnavailable(
            f"{directory}: {FRONTIER} does not match checkpoints.log: nothing is archived",
            hint="run `regogate verify`",
        )
    before = [name for n, name in list_segments(directory) if n < number]
    return before[: max(0, len(before) - keep)]


def archive(directory: Path, target: Path, keep: int = 1) -> Archived:
    """Move the archivable segments to ``target`` (created 0700), with a copy of
    checkpoints.log. Safe while a gateway writes ``directory``."""
    names = archivable(directory, keep)
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    moved = []
    for name in names:
        source, copy = directory / name, target / name
        if copy.exists():
            if copy.read_bytes() != source.read_bytes():
                raise RecordingUnavailable(
                    f"{copy} exists and differs from {source}: refusing to replace it"
                )
        else:
            _copy_synced(source, copy)
        if copy.read_bytes() != source.read_bytes():
            raise RecordingUnavailable(f"{copy} does not match {source} after copying")
        source.unlink()
        moved.append(name)
    _copy_synced(directory / CHECKPOINTS, target / CHECKPOINTS)
    _sync_dir(directory)
    left = [name for _, name in list_segments(directory)]
    return Archived(moved, left[0] if left else None)


def _copy_synced(source: Path, copy: Path) -> None:
    scratch = copy.with_name(f".{copy.name}.tmp")
    with source.open("rb") as src, open(scratch, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.flush()
        os.fsync(dst.fileno())
    os.chmod(scratch, 0o600)
    os.replace(scratch, copy)
    _sync_dir(copy.parent)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
