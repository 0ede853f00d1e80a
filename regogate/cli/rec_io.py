"""Reading a recording directory for the CLI: records with their file and line, leniently.

Listing and replay read what is there; lines that are not records (torn tails, damage)
are counted and skipped. Only ``regogate verify`` judges the log.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from regogate.recording.format.directory import read_segments
from regogate.recording.format.records import Record, RecordError


class ExitStatus(IntEnum):
    """Exit statuses of the recording commands (docs/cli-recording.md, "Exit status")."""

    OK = 0  # verify: intact and sealed (or what was asked for is)
    NOT_INTACT = 1  # the recording fails a check (verify --strict: a warning too)
    USAGE = 2  # usage, files or keys: nothing was checked
    UNSEALED = 3  # verify: intact, but an unsealed or torn tail (what was asked for is in it)
    NOT_FOUND = 4  # what was asked for is not in the recording: a session, a record, a window


class CommandError(Exception):
    """A readable one-line failure of a recording command; ``code`` is the exit status."""

    def __init__(self, message: str, *, hint: str | None = None, code: int = ExitStatus.USAGE):
        super().__init__(message)
        self.message, self.hint, self.code = message, hint, code


@dataclass(frozen=True)
class Located:
    file: str
    line: int
    record: Record


class RecordReader:
    """Iterate a directory's records in log order; lines holding none of ``needles`` are
    skipped unparsed (that only saves time: callers still check the parsed record).
    """

    def __init__(self, directory: Path, *needles: bytes):
        if not directory.is_dir():
            raise FileNotFoundError(f"no recording directory {directory}")
        self.directory = directory
        self.needles = needles
        self.skipped = 0  # complete lines that are not records
        self.torn = 0  # incomplete last lines of segments

    def __iter__(self) -> Iterator[Located]:
        needles = self.needles
        for seg in read_segments(self.directory):
            lines = seg.data.split(b"\n")
            if lines.pop():
                self.torn += 1
            for number, line in enumerate(lines, 1):
                if needles and not any(n in line for n in needles):
                    continue
                try:
                    record = Record.parse(line)
                except RecordError:
                    self.skipped += 1
                    continue
                yield Located(seg.name, number, record)

    def records(self) -> Iterator[Record]:
        return (x.record for x in self)


def line_at(directory: Path, position: int) -> tuple[str, int, bytes] | None:
    """(segment, line number, bytes) of the log's leaf at ``position`` (0-based)."""
    for seg in read_segments(directory):
        count = seg.data.count(b"\n")
        if position < count:
            lines = seg.data.split(b"\n", position + 1)
            return seg.name, position + 1, lines[position]
        position -= count
    return None
