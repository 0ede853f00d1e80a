"""Offline verification of a recording: records, chains, checkpoints, consistency, proofs.

Depends only on ``cryptography``, ``rfc8785`` and ``orjson``. ``verify_log`` takes
bytes; ``verify_directory`` reads a recording directory. The algorithm is in
docs/recording-format.md ("Verification").

Segments are cut into chunks of whole lines (about ``CHUNK_BYTES``), scanned here or
by worker processes (``chain.scan_chunk``), and taken in log order
(``chain.RecordPass.take``). While workers scan, the main process checks the
signatures of checkpoints.log and the roots and consistency of consecutive
checkpoints the records read so far cover (``_Ahead``).
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import pickle
import selectors
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, cast

from regogate.recording.format.checkpoint import Checkpoint
from regogate.recording.format.directory import list_segments, read_checkpoints
from regogate.recording.format.layout import CHECKPOINTS, SegmentFile, split_checkpoints
from regogate.recording.format.merkle import MerkleTree, verify_consistency
from regogate.recording.format.note import NoteError, Verifier, open_note
from regogate.recording.format.proof import RecordProof
from regogate.recording.read.chain import (
    ChangedDuringVerify,
    Chunk,
    RecordPass,
    scan_chunk,
)
from regogate.recording.read.checkpoint_time import Signed, SigningTimes, check_times
from regogate.recording.read.chunk_reader import ChunkPlace, ChunkReader
from regogate.recording.read.findings import Finding, Findings, Severity
from regogate.recording.read.key_schedule import (
    KeySchedule,
    TrustHistory,
    history_vs_log,
    trusted_keys,
)
from regogate.recording.read.timestamps import TIMESTAMPS, TsaTrust, check_timestamps

__all__ = [
    "TAIL_CODES",
    "ChangedDuringVerify",
    "Finding",
    "Severity",
    "TrustHistory",
    "Verdict",
    "VerdictStatus",
    "verify_directory",
    "verify_log",
]

CHUNK_BYTES = 1 << 20  # the unit of work: about this many bytes of whole lines
_PARALLEL_CHUNKS = 16  # fewer chunks are scanned in this process, whatever ``workers``


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: str
    line: int  # in checkpoints.log
    signers: tuple[Verifier, ...]


class VerdictStatus(StrEnum):
    """The verdict in one word (docs/recording-format.md §8, "Verdicts")."""

    INTACT_SEALED = "intact-sealed"  # no error; every record sealed; no torn tail
    INTACT_UNSEALED = "intact-unsealed"  # no error; an unsealed or torn tail (a crash, live)
    NOT_INTACT = "not-intact"  # an error: tampering, loss, a broken writer, no valid seal


# Warnings about the end of the log: what a running gateway or a crash leaves.
TAIL_CODES = frozenset({"unsealed-tail", "torn-tail", "checkpoint-torn"})


@dataclass
class Verdict:
    """The outcome: ``ok`` means no error; ``sealed`` means every record is covered."""

    findings: list[Finding]
    records: int
    sessions: int
    origin: str | None
    checkpoints: list[SignedCheckpoint]  # signature-valid and matching the records
    tree: MerkleTree = field(repr=False)
    trusted: list[Verifier] = field(default_factory=list)  # keys given, and histories' sound part

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)

    @property
    def status(self) -> VerdictStatus:
        if not self.ok:
            return VerdictStatus.NOT_INTACT
        if not self.sealed or any(f.code in TAIL_CODES for f in self.findings):
            return VerdictStatus.INTACT_UNSEALED
        return VerdictStatus.INTACT_SEALED

    @property
    def sealed_size(self) -> int:
        return self.checkpoints[-1].checkpoint.size if self.checkpoints else 0

    @property
    def sealed(self) -> bool:
        return self.sealed_size == self.records

    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    def inclusion_proof(self, seq: int) -> RecordProof:
        """A tlog-proof for record ``seq`` under the latest good checkpoint covering it."""
        if not 0 <= seq < self.sealed_size:
            raise ValueError(f"record {seq} is not covered by a valid signed checkpoint")
        signed = self.checkpoints[-1]
        hashes = self.tree.inclusion_proof(seq, signed.checkpoint.size)
        return RecordProof(seq, tuple(hashes), signed.note)


def verify_directory(
    directory: Path,
    trusted: Sequence[Verifier],
    *,
    origin: str | None = None,
    prior: Sequence[str] = (),
    workers: int = 1,
    histories: Sequence[TrustHistory] = (),
    archives: Sequence[Path] = (),
    tsa: TsaTrust | None = None,
    reader: ChunkReader | None = None,
) -> Verdict:
    """Verify a recording directory (see ``verify_log``), even while a gateway writes it.

    ``tsa``: the certificates of the TSA whose tokens (``timestamps.log``) are checked.

    ``archives``: directories holding segments moved out of it (``regogate archive``);
    the log is their segments and the directory's, in number order.

    ``workers`` > 1 scans chunks of the segments in up to that many worker processes
    (fresh interpreters that import only the record pass), unless the log is small.
    Raises ``ChangedDuringVerify`` if bytes already read change meanwhile (segments
    are only ever appended to). ``reader``: see ``ChunkReader``.
    """
    trust = _Trust(trusted, histories, tsa)
    verdict, checkpoints = _verify_directory(
        directory, trust, origin, prior, workers, archives, reader
    )
    if any(f.code in _SEALED_SOON for f in verdict.findings) and _sealed_meanwhile(
        directory, checkpoints
    ):
        # A gateway sealed while this ran: it writes gateway.stop (or key.rotate) and then
        # the checkpoint covering it, which this pass may have missed. Once more.
        verdict, _ = _verify_directory(directory, trust, origin, prior, workers, archives, reader)
    return verdict


# Errors for records whose checkpoint a live writer appends right after them.
_SEALED_SOON = frozenset({"unsealed-stop", "unsealed-rotate"})
# How long verify gives a live writer to append that checkpoint (its fsync of the
# segment comes first) before the finding stands.
_SEAL_GRACE = 2.0


def spanned(directory: Path, archives: Sequence[Path] = ()) -> list[tuple[int, Path]]:
    """(number, path) of every segment of a log kept in ``directory`` and ``archives``, in
    number order. A segment found twice is taken once: the first found, in the order
    archives, then directory (``regogate archive`` moves a copy it checked byte for byte)."""
    found: dict[int, Path] = {}
    for d in (*archives, directory):
        for number, name in list_segments(d):
            found.setdefault(number, d / name)
    return sorted(found.items())


def _sealed_meanwhile(directory: Path, checkpoints: bytes) -> bool:
    deadline = time.monotonic() + _SEAL_GRACE
    while read_checkpoints(directory) == checkpoints:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _verify_directory(
    directory: Path,
    trusted: _Trust,
    origin: str | None,
    prior: Sequence[str],
    workers: int,
    archives: Sequence[Path] = (),
    reader: ChunkReader | None = None,
) -> tuple[Verdict, bytes]:
    """The verdict, and the bytes of checkpoints.log it took."""
    for d in (directory, *archives):
        if not d.is_dir():
            raise FileNotFoundError(f"no recording directory {d}")
    # Checkpoints first: the writer syncs records before the checkpoint covering them,
    # so every checkpoint read now covers only records already on disk.
    checkpoints = read_checkpoints(directory)
    segments = [_file_segment(path, number) for number, path in spanned(directory, archives)]
    chunks = -(-sum(seg.size for seg in segments) // CHUNK_BYTES)
    if chunks < _PARALLEL_CHUNKS or not sys.executable:
        workers = 1  # starting processes would take longer than scanning here
    workers = min(workers, chunks)
    stamps = directory / TIMESTAMPS
    timestamps = stamps.read_bytes() if stamps.is_file() else b""
    verdict = _verify(
        lambda r, idle: _feed(r, segments, workers, idle, reader),
        checkpoints,
        trusted,
        origin,
        prior,
        timestamps,
    )
    return verdict, checkpoints


def verify_log(
    segments: Iterable[SegmentFile],
    checkpoints: bytes,
    trusted: Sequence[Verifier],
    *,
    origin: str | None = None,
    prior: Sequence[str] = (),
    histories: Sequence[TrustHistory] = (),
) -> Verdict:
    """Verify a log from its segments (in order) and checkpoints.log.

    ``trusted`` are the examiner's verifier keys (never keys read from the log);
    ``histories`` are signed key histories the examiner trusts: each is checked, its
    sound part trusted, and the log's key announcements checked against it;
    ``origin`` pins the log's name (else the first trusted checkpoint's is used);
    ``prior`` are signed checkpoints held outside the log, e.g. from the last report.
    """
    in_memory = (_memory_segment(seg) for seg in segments)
    trust = _Trust(trusted, histories)
    return _verify(lambda r, _: _feed(r, in_memory), checkpoints, trust, origin, prior)


@dataclass(frozen=True)
class _Segment:
    name: str
    number: int
    size: int
    read: Callable[[int, int], bytes]  # its bytes [lo, hi)
    path: Path | None = None  # where workers read it


def _memory_segment(seg: SegmentFile) -> _Segment:
    data = seg.data
    return _Segment(seg.name, seg.number, len(data), lambda lo, hi: data[lo:hi])


def _file_segment(path: Path, number: int) -> _Segment:
    return _Segment(
        path.name, number, path.stat().st_size, lambda lo, hi: _read(path, lo, hi), path
    )


def _read(path: Path, lo: int, hi: int) -> bytes:
    with path.open("rb") as f:
        f.seek(lo)
        data = f.read(hi - lo)
    if len(data) != hi - lo:
        raise ChangedDuringVerify(f"{path.name} got shorter while it was being verified")
    return data


def _bounds(seg: _Segment) -> list[int]:
    """Where the segment's chunks start (each at a line start, about ``CHUNK_BYTES``
    apart), then its size."""
    bounds, at = [0], CHUNK_BYTES
    while at < seg.size:
        newline, lo = -1, at - 1  # a line starts at ``at`` if byte ``at - 1`` ends one
        while newline < 0 and lo < seg.size:
            window = seg.read(lo, min(lo + (1 << 16), seg.size))
            newline = window.find(b"\n")
            lo = lo + len(window) if newline < 0 else lo + newline
        if newline < 0 or lo + 1 >= seg.size:
            break
        bounds.append(lo + 1)
        at = lo + 1 + CHUNK_BYTES
    bounds.append(seg.size)
    return bounds


_Task = tuple[_Segment, int, int]  # a chunk: segment, its bytes [lo, hi)


def _tasks(segments: Iterable[_Segment]) -> Iterator[_Task]:
    for seg in segments:
        bounds = _bounds(seg)
        for lo, hi in itertools.pairwise(bounds):
            yield seg, lo, hi


def _feed(
    records: RecordPass,
    segments: Iterable[_Segment],
    workers: int = 1,
    idle: Callable[[], bool] = lambda: False,
    reader: ChunkReader | None = None,
) -> int:
    """Scan every chunk (here, or in ``workers`` processes) and take them in order.

    While waiting for workers, call ``idle()`` until it returns False.
    """
    tasks = _tasks(segments)
    if workers <= 1:
        scanned = _here(tasks, reader)
    elif reader is None:
        scanned = _in_workers(tasks, workers, idle)
    else:
        scanned = _in_workers(tasks, workers, idle, reader)
    count = lines = position = 0
    collecting = gc.isenabled()
    gc.disable()  # nothing cyclic is made; collections would only rescan what is kept
    try:
        for (seg, lo, hi), chunk, extra in scanned:
            if lo == 0:
                records.begin(seg.name, seg.number)
                count, lines = count + 1, 0
            records.take(chunk, seg.name, lines + 1, _shifted(seg.read, lo))
            if reader is not None:
                reader.take(ChunkPlace(seg.path, lo, hi, position, chunk.lines), extra)
            lines += chunk.lines
            position += chunk.lines
            if hi == seg.size:
                records.end(seg.name, seg.size, chunk.tail, lines)
    finally:
        if collecting:
            gc.enable()
    return count


def _shifted(read: Callable[[int, int], bytes], at: int) -> Callable[[int, int], bytes]:
    return lambda lo, hi: read(at + lo, at + hi)


_Scanned = tuple[_Task, Chunk, object]  # a chunk, its scan, the reader's result (or None)


def _here(tasks: Iterator[_Task], reader: ChunkReader | None = None) -> Iterator[_Scanned]:
    for task in tasks:
        seg, lo, hi = task
        data = seg.read(lo, hi)
        yield (task, scan_chunk(data), None) if reader is None else (task, *reader.scan(data))


_DEPTH = 2  # chunks queued per worker
# A worker process: a fresh interpreter that imports only the pure record pass. It reads
# sys.path, then the chunk reader ([module, factory, args] or null; ChunkReader), then
# one chunk per line ("[path, lo, hi]"), and answers each with a length-prefixed pickle:
# ("ok", Chunk, reader's result), ("os", errno, strerror, filename) or ("short",).
_WORKER = """
import gc, importlib, json, pickle, sys
sys.path[:] = json.loads(sys.stdin.buffer.readline())
from regogate.recording.read.chain import scan_chunk
reader = json.loads(sys.stdin.buffer.readline())
if reader is not None:
    module, factory, args = reader
    reading = getattr(importlib.import_module(module), factory)
gc.disable()
out = sys.stdout.buffer
for task in sys.stdin.buffer:
    path, lo, hi = json.loads(task)
    try:
        with open(path, "rb") as f:
            f.seek(lo)
            data = f.read(hi - lo)
        if len(data) != hi - lo:
            result = ("short",)
        elif reader is None:
            result = ("ok", scan_chunk(data), None)
        else:
            one = reading(*args)
            result = ("ok", scan_chunk(data, one.line), one.result())
    except OSError as exc:
        result = ("os", exc.errno, exc.strerror, exc.filename)
    blob = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(len(blob).to_bytes(8, "big") + blob)
    out.flush()
"""


def _receive(pipe: BinaryIO, task: _Task) -> tuple[Chunk, object]:
    size = int.from_bytes(_read_exactly(pipe, 8), "big")
    result = pickle.loads(_read_exactly(pipe, size))
    if result[0] == "ok":
        return cast(Chunk, result[1]), result[2]
    if result[0] == "os":
        raise OSError(*result[1:])
    raise ChangedDuringVerify(f"{task[0].name} got shorter while it was being verified")


def _read_exactly(pipe: BinaryIO, size: int) -> bytearray:
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        n = pipe.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            raise RuntimeError("a verify worker process ended unexpectedly")
        got += n
    return buf


def _in_workers(
    tasks: Iterator[_Task],
    workers: int,
    idle: Callable[[], bool],
    reader: ChunkReader | None = None,
) -> Iterator[_Scanned]:
    """Scan chunks in worker processes, ``_DEPTH`` queued on each; yield them in order."""
    procs: list[subprocess.Popen[bytes]] = []
    finished = False
    try:
        path = (json.dumps([os.fspath(p) for p in sys.path]) + "\n").encode()
        spec = None if reader is None else [reader.module, reader.factory, list(reader.args)]
        path += (json.dumps(spec) + "\n").encode()
        for _ in range(workers):
            proc = subprocess.Popen(
                [sys.executable, "-c", _WORKER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,
            )
            procs.append(proc)
            assert proc.stdin is not None
            proc.stdin.write(path)
        yield from _dispatch(tasks, procs, idle)
        finished = True
    finally:
        for proc in procs:
            if not finished:
                proc.kill()  # it may be busy, or blocked writing a result no one reads
            if proc.stdin is not None:
                proc.stdin.close()  # its end of input: an idle worker exits
        for proc in procs:
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def _dispatch(
    tasks: Iterator[_Task], procs: list[subprocess.Popen[bytes]], idle: Callable[[], bool]
) -> Iterator[_Scanned]:
    queued: list[deque[int]] = [deque() for _ in procs]  # task numbers sent to each
    sent: dict[int, _Task] = {}
    done: dict[int, tuple[Chunk, object]] = {}
    issued = taken = 0

    def issue(worker: int) -> None:
        nonlocal issued
        task = next(tasks, None)
        if task is None:
            return
        seg, lo, hi = task
        assert seg.path is not None
        stdin = procs[worker].stdin
        assert stdin is not None
        stdin.write((json.dumps([os.fspath(seg.path), lo, hi]) + "\n").encode())
        sent[issued] = task
        queued[worker].append(issued)
        issued += 1

    with selectors.DefaultSelector() as selector:
        for worker, proc in enumerate(procs):
            assert proc.stdout is not None
            selector.register(proc.stdout, selectors.EVENT_READ, worker)
            for _ in range(_DEPTH):
                issue(worker)
        busy = True  # idle() has more to do
        while taken < issued:
            ready = selector.select(0 if busy else None)
            if not ready:
                busy = idle()
            for key, _ in ready:
                worker = key.data
                number = queued[worker].popleft()
                done[number] = _receive(cast(BinaryIO, key.fileobj), sent[number])
                issue(worker)
            while taken in done:
                yield (sent.pop(taken), *done.pop(taken))
                taken += 1
                busy = True  # more records: idle() may have more to do


@dataclass(frozen=True)
class _Trust:
    keys: Sequence[Verifier]
    histories: Sequence[TrustHistory]
    tsa: TsaTrust | None = None


def _verify(
    feed: Callable[[RecordPass, Callable[[], bool]], int],
    checkpoints: bytes,
    trust: _Trust,
    origin: str | None,
    prior: Sequence[str],
    timestamps: bytes = b"",
) -> Verdict:
    findings = Findings()
    trusted, histories = trusted_keys(trust.keys, trust.histories, findings)
    records = RecordPass(findings, origin)
    times = SigningTimes(trusted)
    records.watch(times.deadlines(checkpoints))
    ahead = _Ahead(checkpoints, trusted, records.tree)
    if feed(records, ahead.step) == 0:
        findings.error("no-records", "no segment files (seg-NNNNNN.jsonl)")
    records.finish()
    good, rejected, origin = _checkpoints(records, checkpoints, ahead, findings, origin)
    signed = [Signed(g.checkpoint.size, g.note.encode(), g.line, g.signers) for g in good]
    check_times(records, signed, times, findings)
    if records.origin_at is not None and origin is not None and records.origin != origin:
        file, line, seq = records.origin_at
        msg = f"gateway.start names origin {records.origin!r}, but the signed checkpoints are"
        msg += f" for {origin!r}"
        findings.error("origin-mismatch", msg, file=file, line=line, seq=seq)
    origin = origin or records.origin
    for number, note in enumerate(prior, 1):
        _prior(records, note, number, trusted, findings, origin)
    for history in histories:
        history_vs_log(history, records.key_events, origin, findings)
    if timestamps or trust.tsa is not None:
        tree = records.tree
        check_timestamps(timestamps, trusted, tree.size, tree.root, trust.tsa, findings)
    _sealing(records, good, findings)
    _must_be_sealed(records, good, rejected, bool(checkpoints), findings)
    return Verdict(
        findings.finish(),
        records.tree.size,
        len(records.sessions),
        origin,
        good,
        records.tree,
        trusted,
    )


class _Ahead:
    """Work on checkpoints.log done ahead, while workers scan (``step``): the entries
    opened (signatures checked) and parsed, as they are without any skipped range; then
    the roots and consistency checks of consecutive ones, as far as the records read so
    far go. ``_checkpoints`` takes what was done for the same bytes, sizes and roots."""

    def __init__(self, data: bytes, trusted: Sequence[Verifier], tree: MerkleTree):
        self._trusted, self._tree = list(trusted), tree
        self._todo = deque(raw for _, raw in split_checkpoints(data, {})[0])
        self._opened: dict[bytes, tuple[str, list[Verifier], Checkpoint] | Exception] = {}
        self._parsed: list[Checkpoint] = []  # those that opened, in order
        self._next = 0  # the first of them whose root is not yet known
        self._roots: dict[int, bytes] = {}
        self._consistent: dict[tuple[int, int, bytes, bytes], bool] = {}

    def step(self) -> bool:
        """Do a little; False if nothing is left to do until more records are read."""
        if self._todo:
            raw = self._todo.popleft()
            if raw not in self._opened:
                opened = self._opened[raw] = self._open(raw)
                if not isinstance(opened, Exception):
                    self._parsed.append(opened[2])
            return True
        if self._next == len(self._parsed) or self._parsed[self._next].size > self._tree.size:
            return False
        cp = self._parsed[self._next]
        if self._next and self.root(cp.size) == cp.root:
            previous = self._parsed[self._next - 1]
            if 0 < previous.size <= cp.size and self.root(previous.size) == previous.root:
                self.consistent(previous.size, cp.size, previous.root, cp.root)
        self._next += 1
        return True

    def open(self, raw: bytes) -> tuple[str, list[Verifier], Checkpoint]:
        """(note, signers, checkpoint); raises ``NoteError`` or ``UnicodeDecodeError``."""
        opened = self._opened.get(raw)
        if opened is None:
            opened = self._open(raw)
        if isinstance(opened, Exception):
            raise opened
        return opened

    def _open(self, raw: bytes) -> tuple[str, list[Verifier], Checkpoint] | Exception:
        try:
            note = raw.decode("utf-8")
            text, signers = open_note(note, self._trusted)
            return note, signers, Checkpoint.parse(text)
        except (UnicodeDecodeError, NoteError) as exc:
            return exc

    def root(self, size: int) -> bytes:
        """The records' root at ``size`` (at most the records read)."""
        root = self._roots.get(size)
        if root is None:
            root = self._roots[size] = self._tree.root(size)
        return root

    def consistent(self, old: int, new: int, old_root: bytes, new_root: bytes) -> bool:
        """Whether the consistency proof built from the records verifies the two roots."""
        key = (old, new, old_root, new_root)
        ok = self._consistent.get(key)
        if ok is None:
            proof = self._tree.consistency_proof(old, new)
            ok = self._consistent[key] = verify_consistency(old, new, old_root, new_root, proof)
        return ok


def _checkpoints(
    records: RecordPass,
    data: bytes,
    ahead: _Ahead,
    findings: Findings,
    origin: str | None,
) -> tuple[list[SignedCheckpoint], int, str | None]:
    """Check every entry of checkpoints.log; the good ones, how many entries after the
    last good one were rejected, and the log's origin.

    Unless pinned, the origin is that of the first checkpoint a trusted key signed.
    """
    skips = {t.offset: t.bytes for t in records.acks if t.file == CHECKPOINTS}
    for t, seq in records.acks.items():
        if t.file == CHECKPOINTS:
            msg = f"an entry torn by a crash ({t.bytes} bytes at byte {t.offset}), acknowledged"
            findings.info("checkpoint-torn-acknowledged", f"{msg} by gateway.start seq {seq}")
    entries, torn = split_checkpoints(data, skips)
    size = records.tree.size
    keys = KeySchedule(records.key_events)
    good: list[SignedCheckpoint] = []
    previous: Checkpoint | None = None
    rejected = 0  # entries rejected since the last good one
    line, scanned = 1, 0
    for offset, raw in entries:
        line += data.count(b"\n", scanned, offset)
        scanned = offset
        try:
            note, signers, cp = ahead.open(raw)
        except (UnicodeDecodeError, NoteError) as exc:
            findings.error(_rejected(exc), f"checkpoint: {exc}", file=CHECKPOINTS, line=line)
            rejected += 1
            continue
        at = f"checkpoint (size {cp.size})"
        origin = origin or cp.origin
        if cp.origin != origin:
            msg = f"{at} is for origin {cp.origin!r}, not {origin!r}"
            findings.error("checkpoint-origin", msg, file=CHECKPOINTS, line=line)
            rejected += 1
            continue
        expected = keys.signer_for(cp.size)
        retired = [(v, keys.retired[v.vkey()]) for v in signers if v.vkey() in keys.retired]
        if retired:
            v, seq = retired[0]
            msg = (
                f"{at} is signed by {v.name}+{v.id:08x}, which key.rotate (seq {seq}) retired:"
                " a retired key never signs again (a copy of it was kept, or stolen)"
            )
            findings.error("checkpoint-retired-key", msg, file=CHECKPOINTS, line=line)
        elif expected is not None and expected not in {v.vkey() for v in signers}:
            names = ", ".join(f"{v.name}+{v.id:08x}" for v in signers)
            msg = f"{at} is signed by {names}, but the log's signing key then was {expected}"
            findings.error("checkpoint-wrong-key", msg, file=CHECKPOINTS, line=line)
        if previous is not None and cp.size < previous.size:
            msg = f"{at} is smaller than the previous checkpoint ({previous.size}): a rollback"
            findings.error("checkpoint-rollback", msg, file=CHECKPOINTS, line=line)
        if cp.size > size:
            msg = (
                f"{at} covers {cp.size} records but the log has only {size}: sealed records"
                " are missing (deleted or truncated)"
            )
            findings.error("checkpoint-beyond-log", msg, file=CHECKPOINTS, line=line)
            rejected += 1
            continue
        if ahead.root(cp.size) != cp.root:
            since = 0 if previous is None else previous.size
            msg = (
                f"{at}: root hash does not match the records; a record in seq {since}.."
                f"{cp.size - 1} was changed, removed, inserted or reordered"
            )
            findings.error("checkpoint-root-mismatch", msg, file=CHECKPOINTS, line=line)
            rejected += 1
            continue
        # Implied by both roots matching the records; checked as a witness would.
        if (
            previous is not None
            and 0 < previous.size <= cp.size
            and not ahead.consistent(previous.size, cp.size, previous.root, cp.root)
        ):
            msg = f"{at} is not consistent with the previous checkpoint ({previous.size})"
            findings.error("checkpoint-inconsistent", msg, file=CHECKPOINTS, line=line)
        previous = cp
        good.append(SignedCheckpoint(cp, note, line, tuple(signers)))
        rejected = 0
    if torn is not None:
        msg = (
            f"checkpoints.log ends with an incomplete entry ({torn.bytes} bytes at byte"
            f" {torn.offset}): a crash while writing a checkpoint"
        )
        findings.warning("checkpoint-torn", msg, file=CHECKPOINTS)
    return good, rejected, origin


def _prior(
    records: RecordPass,
    note: str,
    number: int,
    trusted: Sequence[Verifier],
    findings: Findings,
    origin: str | None,
) -> None:
    where = f"prior checkpoint #{number}"
    try:
        text, _ = open_note(note, list(trusted))
        cp = Checkpoint.parse(text)
    except NoteError as exc:
        findings.error("prior-invalid", f"{where}: {exc}")
        return
    if cp.origin != origin:
        findings.error("prior-origin", f"{where} is for origin {cp.origin!r}")
    elif cp.size > records.tree.size:
        msg = f"{where} covers {cp.size} records but the log has only {records.tree.size}"
        findings.error("prior-beyond-log", msg + ": the log was truncated since")
    elif records.tree.root(cp.size) != cp.root:
        msg = f"{where} (size {cp.size}) does not match the records: the log was rewritten"
        findings.error("prior-mismatch", msg)
    else:
        findings.info("prior-consistent", f"{where} (size {cp.size}) is a prefix of this log")


def _sealing(records: RecordPass, good: list[SignedCheckpoint], findings: Findings) -> None:
    size = records.tree.size
    sealed = good[-1].checkpoint.size if good else 0
    if sealed >= size:
        return
    first, last = records.where(sealed), records.where(size - 1)
    span = f"{first[0]}:{first[1]} to {last[0]}:{last[1]}"
    if not good:
        msg = (
            f"no valid signed checkpoint: none of the {size} records is sealed ({span});"
            " checkpoints.log is missing or empty, or no trusted key signed an entry of it"
        )
        findings.error("checkpoint-missing", msg, file=first[0], line=first[1], seq=0)
        return
    msg = (
        f"the log ends unsealed: records seq {sealed}..{size - 1} ({size - sealed} records,"
        f" {span}) are after the last valid checkpoint (size {sealed}, checkpoints.log:"
        f"{good[-1].line})"
    )
    findings.warning("unsealed-tail", msg, file=first[0], line=first[1], seq=sealed)


def _must_be_sealed(
    records: RecordPass,
    good: list[SignedCheckpoint],
    rejected: int,
    published: bool,
    findings: Findings,
) -> None:
    """Unsealed records that the writer always seals: the tail was not left by a crash.

    A clean stop writes gateway.stop and then the checkpoint covering it; key.rotate ends
    its batch, which is sealed before anything else is written (a writer that fails to
    seal writes nothing more). docs/recording-format.md §8, step 7. Not when entries
    after the last good checkpoint were rejected: those are errors already, and the
    missing checkpoint is likely among them.
    """
    if rejected:
        return
    sealed = good[-1].checkpoint.size if good else 0
    if good:
        cover = (
            f"the last valid checkpoint (size {sealed}, checkpoints.log:{good[-1].line})"
            " ends before it"
        )
    elif published:
        cover = "checkpoints.log holds no complete checkpoint"
    else:
        cover = "checkpoints.log is missing or empty"
    for stop in records.stops:
        if stop.position < sealed:
            continue
        msg = (
            f"gateway.stop of boot {stop.boot} is not sealed: {cover}. A clean stop always"
            f" publishes a checkpoint covering its gateway.stop (here records seq {sealed}.."
            f"{stop.position}), so checkpoints.log was truncated, replaced or deleted (or the"
            " gateway died while sealing)"
        )
        findings.error("unsealed-stop", msg, file=stop.file, line=stop.line, seq=stop.seq)
    for rotate in records.rotations:
        if rotate.position < sealed or not records.continues_boot(rotate.position):
            continue
        msg = (
            f"key.rotate of boot {rotate.boot} is not sealed, yet later records of its boot"
            f" follow it: {cover}. The writer seals key.rotate (under the old key) before it"
            f" writes anything more (here records seq {sealed}..{rotate.position}), so"
            " checkpoints.log was truncated, replaced or deleted"
        )
        findings.error("unsealed-rotate", msg, file=rotate.file, line=rotate.line, seq=rotate.seq)


def _rejected(exc: Exception) -> str:
    """The finding code of a checkpoints.log entry that did not open (note.open_note)."""
    text = str(exc)
    if isinstance(exc, NoteError) and text.startswith("invalid signature by "):
        return "checkpoint-signature-invalid"  # a trusted key's signature does not verify
    if isinstance(exc, NoteError) and text == "no signature by a trusted key":
        return "checkpoint-untrusted"
    return "checkpoint-invalid"  # not a signed note, or not a checkpoint
