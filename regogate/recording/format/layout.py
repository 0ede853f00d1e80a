"""The recording directory's file layout: names, torn regions, checkpoints.log framing.

Pure code over bytes, shared by the store (writer side) and the verifier.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SEGMENT_NAME = re.compile(r"seg-([0-9]{6,})\.jsonl")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
CHECKPOINTS = "checkpoints.log"
# the compact tree at the last checkpoint, written by the writer after each one so that a
# start scans only the records after it (docs/recording-format.md §1)
FRONTIER = "frontier.json"


@dataclass(frozen=True)
class Torn:
    """Bytes a crash left at the end of a file, never part of any record or checkpoint."""

    file: str
    offset: int
    bytes: int

    def to_json(self) -> dict[str, str | int]:
        return {"file": self.file, "offset": self.offset, "bytes": self.bytes}


@dataclass(frozen=True)
class SegmentFile:
    name: str
    number: int
    data: bytes


def segment_name(number: int) -> str:
    return f"seg-{number:06d}.jsonl"


def split_checkpoints(
    data: bytes, skips: Mapping[int, int]
) -> tuple[list[tuple[int, bytes]], Torn | None]:
    """Cut checkpoints.log into (offset, signed note) entries; the torn tail, if any.

    Each entry is a signed note and then an empty line, so it ends at the second
    blank line. ``skips`` maps offsets of acknowledged torn bytes to their length.
    """
    entries: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        if pos in skips:
            pos += skips[pos]
            continue
        mid = data.find(b"\n\n", pos)
        end = data.find(b"\n\n", mid + 2) if mid >= 0 else -1
        if end < 0:
            return entries, Torn(CHECKPOINTS, pos, len(data) - pos)
        entries.append((pos, data[pos : end + 1]))
        pos = end + 2
    return entries, None


def acknowledged(line: bytes) -> list[Torn]:
    """The torn regions a gateway.start record's ``recovered`` field lists (else [])."""
    if b'"type":"gateway.start"' not in line:
        return []
    try:
        obj = json.loads(line)
        if obj.get("type") != "gateway.start":
            return []
        return [Torn(str(t["file"]), int(t["offset"]), int(t["bytes"])) for t in obj["recovered"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []  # malformed: the verifier says so


def boot_of(line: bytes) -> str | None:
    try:
        boot = json.loads(line)["gw"]["boot"]
    except (ValueError, KeyError, TypeError):
        return None
    return boot if isinstance(boot, str) else None


def file_stem(origin: str) -> str:
    """A file name for a log origin, for files kept outside the recording directory
    (``bank.example/regogate/prod`` -> ``bank.example_regogate_prod``)."""
    return _UNSAFE.sub("_", origin).strip("._") or "log"


def latest_note(directory: Path, origin: str) -> Path:
    """Where a checkpoint export directory keeps a log's latest checkpoint."""
    return directory / f"{file_stem(origin)}.latest.note"
