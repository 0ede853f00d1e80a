"""Offline verification of a recording: records, chains, checkpoints, consistency, proofs.

Depends only on ``cryptography`` and ``rfc8785``. ``verify_log`` takes bytes;
``verify_directory`` reads a recording directory. The algorithm is in
docs/recording-format.md ("Verification").
"""

from __future__ import annotations

import gc
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import cast

from regogate.recording.chain import KeyEvent, RecordPass, Scanned, scan_segment
from regogate.recording.checkpoint import Checkpoint
from regogate.recording.findings import Finding, Findings, Severity
from regogate.recording.layout import CHECKPOINTS, SegmentFile, split_checkpoints
from regogate.recording.merkle import MerkleTree, verify_consistency
from regogate.recording.note import NoteError, Verifier, open_note
from regogate.recording.proof import RecordProof
from regogate.recording.store import list_segments, read_checkpoints, read_segments

__all__ = ["Finding", "Severity", "Verdict", "verify_directory", "verify_log"]


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: str
    line: int  # in checkpoints.log
    signers: tuple[Verifier, ...]


@dataclass
class Verdict:
    """The outcome: ``ok`` means no error; ``sealed`` means every record is covered."""

    findings: list[Finding]
    records: int
    sessions: int
    origin: str | None
    checkpoints: list[SignedCheckpoint]  # signature-valid and matching the records
    tree: MerkleTree = field(repr=False)

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)

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
) -> Verdict:
    """Verify a recording directory (see ``verify_log``), even while a gateway writes it.

    ``workers`` > 1 scans segments in that many processes ("spawn": the calling
    program's main module must be import-safe, as a console script is).
    """
    if not directory.is_dir():
        raise FileNotFoundError(f"no recording directory {directory}")
    # Checkpoints first: the writer syncs records before the checkpoint covering them,
    # so every checkpoint read now covers only records already on disk.
    checkpoints = read_checkpoints(directory)
    listing = list_segments(directory)
    workers = min(workers, len(listing))

    def feed(records: RecordPass) -> int:
        if workers <= 1:
            return _feed(records, read_segments(directory))
        for scanned in _scan_in_parallel(directory, listing, workers):
            records.scanned(*scanned)
        return len(listing)

    return _verify(feed, checkpoints, trusted, origin, prior)


def verify_log(
    segments: Iterable[SegmentFile],
    checkpoints: bytes,
    trusted: Sequence[Verifier],
    *,
    origin: str | None = None,
    prior: Sequence[str] = (),
) -> Verdict:
    """Verify a log from its segments (in order) and checkpoints.log.

    ``trusted`` are the examiner's verifier keys (never keys read from the log);
    ``origin`` pins the log's name (else the first trusted checkpoint's is used);
    ``prior`` are signed checkpoints held outside the log, e.g. from the last report.
    """
    return _verify(lambda records: _feed(records, segments), checkpoints, trusted, origin, prior)


def _feed(records: RecordPass, segments: Iterable[SegmentFile]) -> int:
    count = 0
    for seg in segments:
        records.segment(seg)
        count += 1
    return count


_Scanned = tuple[str, int, int, list[Scanned], int]  # name, number, size, lines, torn tail


def _scan_file(path: Path, number: int) -> _Scanned:
    """Worker process: scan one segment; plain tuples pickle twice as fast."""
    gc.disable()  # nothing cyclic is made here; collections only cost time
    data = path.read_bytes()
    lines, tail = scan_segment(data)
    return path.name, number, len(data), cast("list[Scanned]", [tuple(x) for x in lines]), tail


def _scan_in_parallel(
    directory: Path, listing: list[tuple[int, str]], workers: int
) -> Iterator[_Scanned]:
    """Scan segments in worker processes, in order, at most 2 per worker in flight."""
    context = multiprocessing.get_context("spawn")  # no fork of a threaded process
    collecting = gc.isenabled()
    gc.disable()  # results are acyclic; the collector would rescan them on every batch
    try:
        yield from _scan_with(directory, listing, workers, context)
    finally:
        if collecting:
            gc.enable()


def _scan_with(
    directory: Path, listing: list[tuple[int, str]], workers: int, context: BaseContext
) -> Iterator[_Scanned]:
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque[Future[_Scanned]] = deque()
        for number, name in listing:
            pending.append(pool.submit(_scan_file, directory / name, number))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _verify(
    feed: Callable[[RecordPass], int],
    checkpoints: bytes,
    trusted: Sequence[Verifier],
    origin: str | None,
    prior: Sequence[str],
) -> Verdict:
    findings = Findings()
    records = RecordPass(findings, origin)
    if feed(records) == 0:
        findings.error("no-records", "no segment files (seg-NNNNNN.jsonl)")
    records.finish()
    good, origin = _checkpoints(records, checkpoints, trusted, findings, origin)
    if records.origin_at is not None and origin is not None and records.origin != origin:
        file, line, seq = records.origin_at
        msg = f"gateway.start names origin {records.origin!r}, but the signed checkpoints are"
        msg += f" for {origin!r}"
        findings.error("origin-mismatch", msg, file=file, line=line, seq=seq)
    origin = origin or records.origin
    for number, note in enumerate(prior, 1):
        _prior(records, note, number, trusted, findings, origin)
    _sealing(records, good, findings)
    return Verdict(
        findings.finish(), records.tree.size, len(records.sessions), origin, good, records.tree
    )


def _checkpoints(
    records: RecordPass,
    data: bytes,
    trusted: Sequence[Verifier],
    findings: Findings,
    origin: str | None,
) -> tuple[list[SignedCheckpoint], str | None]:
    """Check every entry of checkpoints.log; the good ones and the log's origin.

    Unless pinned, the origin is that of the first checkpoint a trusted key signed.
    """
    skips = {t.offset: t.bytes for t in records.acks if t.file == CHECKPOINTS}
    for t, seq in records.acks.items():
        if t.file == CHECKPOINTS:
            msg = f"an entry torn by a crash ({t.bytes} bytes at byte {t.offset}), acknowledged"
            findings.info("checkpoint-torn-acknowledged", f"{msg} by gateway.start seq {seq}")
    entries, torn = split_checkpoints(data, skips)
    tree, size = records.tree, records.tree.size
    keys = _KeySchedule(records.key_events)
    good: list[SignedCheckpoint] = []
    previous: Checkpoint | None = None
    line, scanned = 1, 0
    for offset, raw in entries:
        line += data.count(b"\n", scanned, offset)
        scanned = offset
        try:
            note = raw.decode("utf-8")
            text, signers = open_note(note, list(trusted))
            cp = Checkpoint.parse(text)
        except (UnicodeDecodeError, NoteError) as exc:
            findings.error("checkpoint-invalid", f"checkpoint: {exc}", file=CHECKPOINTS, line=line)
            continue
        at = f"checkpoint (size {cp.size})"
        origin = origin or cp.origin
        if cp.origin != origin:
            msg = f"{at} is for origin {cp.origin!r}, not {origin!r}"
            findings.error("checkpoint-origin", msg, file=CHECKPOINTS, line=line)
            continue
        expected = keys.signer_for(cp.size)
        if expected is not None and expected not in {v.vkey() for v in signers}:
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
            continue
        if tree.root(cp.size) != cp.root:
            since = 0 if previous is None else previous.size
            msg = (
                f"{at}: root hash does not match the records; a record in seq {since}.."
                f"{cp.size - 1} was changed, removed, inserted or reordered"
            )
            findings.error("checkpoint-root-mismatch", msg, file=CHECKPOINTS, line=line)
            continue
        if previous is not None and 0 < previous.size <= cp.size:
            # Implied by both roots matching the records; checked as a witness would.
            proof = tree.consistency_proof(previous.size, cp.size)
            if not verify_consistency(previous.size, cp.size, previous.root, cp.root, proof):
                msg = f"{at} is not consistent with the previous checkpoint ({previous.size})"
                findings.error("checkpoint-inconsistent", msg, file=CHECKPOINTS, line=line)
        previous = cp
        good.append(SignedCheckpoint(cp, note, line, tuple(signers)))
    if torn is not None:
        msg = (
            f"checkpoints.log ends with an incomplete entry ({torn.bytes} bytes at byte"
            f" {torn.offset}): a crash while writing a checkpoint"
        )
        findings.warning("checkpoint-torn", msg, file=CHECKPOINTS)
    return good, origin


class _KeySchedule:
    """Which key must sign a checkpoint of a given size, from gateway.start / key.rotate.

    key.rotate is sealed by the old key: the first checkpoint covering it is signed by
    the old key, later ones by the new key. Sizes must be asked in increasing order.
    """

    def __init__(self, events: list[KeyEvent]):
        self._events, self._i = events, 0
        self._current: str | None = None
        self._pending: str | None = None

    def signer_for(self, size: int) -> str | None:
        if self._pending is not None:
            self._current, self._pending = self._pending, None
        while self._i < len(self._events) and self._events[self._i].seq < size:
            event = self._events[self._i]
            if event.rotated_from is None:
                self._current, self._pending = event.vkey, None
            else:
                self._pending = event.vkey
            self._i += 1
        return self._current


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
        msg = f"no valid signed checkpoint: none of the {size} records is sealed ({span})"
    else:
        msg = (
            f"the log ends unsealed: records seq {sealed}..{size - 1} ({size - sealed} records,"
            f" {span}) are after the last valid checkpoint (size {sealed}, checkpoints.log:"
            f"{good[-1].line})"
        )
    findings.warning("unsealed-tail", msg, file=first[0], line=first[1], seq=sealed)
