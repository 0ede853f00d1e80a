"""A second reader of a log's chunks, run where the verifier scans each chunk (a worker
process or the verifying one), on the same bytes and the same parse of each line.

The evidence report aggregates this way (report_scan.py) instead of reading the log a
second time. ``verify_directory(..., reader=ChunkReader(...))``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

from regogate.recording.read.chain import Chunk, scan_chunk


class ChunkPlace(NamedTuple):
    """Where a chunk is: its file and bytes [lo, hi), the leaf index of its first line,
    and its complete lines (each one leaf)."""

    path: Path | None
    lo: int
    hi: int
    position: int
    lines: int


class ChunkReading(Protocol):
    """What ``ChunkReader`` makes for each chunk: it sees each line as the scan parses it."""

    def line(self, line: bytes, value: object) -> None: ...
    def result(self) -> object: ...


@dataclass(frozen=True)
class ChunkReader:
    """A second reading of each chunk, done where the chunk is scanned (a worker process
    or here), from the same bytes and parse: ``module.factory(*args)`` makes a
    ``ChunkReading`` per chunk, which ``scan_chunk`` shows each line. Its result (small,
    picklable) is handed to ``take`` with the chunk's place, in log order. A pass that
    starts again (a gateway sealed meanwhile) starts again at position 0.
    """

    module: str
    factory: str
    args: tuple[object, ...]  # JSON values: they go to the workers' stdin
    take: Callable[[ChunkPlace, object], None]

    def scan(self, data: bytes) -> tuple[Chunk, object]:
        reading = getattr(importlib.import_module(self.module), self.factory)(*self.args)
        return scan_chunk(data, reading.line), reading.result()
