"""One fuzz input (bytes, the points they are split at, a target's extras) and the corpus
kept in the repo: ``corpus/<target>/<name>.bin``, with ``<name>.json`` beside it when the
input needs its split points or extras to reproduce."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "corpus"
BYTEWISE_LIMIT = 4096  # longer inputs are replayed at random split points only


@dataclass(frozen=True)
class Case:
    data: bytes
    cuts: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def chunks(self) -> list[bytes]:
        """``data`` split at ``cuts`` (points outside it are ignored); never empty."""
        points = [0, *sorted({c for c in self.cuts if 0 < c < len(self.data)}), len(self.data)]
        return [self.data[a:b] for a, b in itertools.pairwise(points)] or [b""]

    def whole(self) -> Case:
        return Case(self.data, (), self.extra)


def corpus_files(target: str) -> list[Path]:
    return sorted((CORPUS / target).glob("*.bin"))


def load(path: Path) -> Case:
    data = path.read_bytes()
    side = path.with_suffix(".json")
    if side.exists():
        meta = json.loads(side.read_text())
        return Case(data, tuple(meta.get("cuts", ())), meta.get("extra", {}))
    return Case(data)


def replays(case: Case) -> Iterator[Case]:
    """A corpus input as stored, then split into single bytes (up to a size) and at seeded
    random points (a ``.bin`` without split points still meets chunk boundaries)."""
    yield case
    if case.cuts or len(case.data) < 2:
        return
    if len(case.data) <= BYTEWISE_LIMIT:
        yield Case(case.data, tuple(range(1, len(case.data))), case.extra)
    rnd = random.Random(case.data)
    for _ in range(3):
        points = rnd.sample(range(1, len(case.data)), min(len(case.data) - 1, 6))
        yield Case(case.data, tuple(sorted(points)), case.extra)


def save(target: str, case: Case, prefix: str = "crash") -> Path:
    """Keep an input (a failure the fuzzer found) in the corpus; returns its path."""
    meta = {"cuts": list(case.cuts), "extra": case.extra}
    digest = hashlib.sha256(case.data + json.dumps(meta, sort_keys=True).encode()).hexdigest()
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{prefix}-{digest[:12]}.bin"
    path.write_bytes(case.data)
    if case.cuts or case.extra:
        path.with_suffix(".json").write_text(json.dumps(meta, sort_keys=True) + "\n")
    return path
