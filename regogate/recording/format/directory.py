"""Reading the recording directory: its segments, checkpoints.log and frontier.json.

Plain file reads shared by the writer (a start) and every reader; nothing here writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from regogate.recording.format.layout import CHECKPOINTS, FRONTIER, SEGMENT_NAME, SegmentFile
from regogate.recording.format.merkle import CompactTree


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


def read_frontier(directory: Path) -> tuple[CompactTree, int, int, int, int] | None:
    """frontier.json: (tree, segment, offset, checkpoint start, checkpoint end), or None
    if there is none or it is malformed (nothing in it is trusted before it is checked)."""
    try:
        obj = json.loads((directory / FRONTIER).read_bytes())
        tree = CompactTree.restore(obj["size"], [bytes.fromhex(h) for h in obj["frontier"]])
        number, offset = obj["segment"], obj["offset"]
        cp_at, cp_end = obj["checkpoint"]
        values = (number, offset, cp_at, cp_end)
        if obj["v"] != 1 or not all(type(v) is int and v >= 0 for v in values):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return tree, number, offset, cp_at, cp_end
