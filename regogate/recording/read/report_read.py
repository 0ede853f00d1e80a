"""Reading the report's logs: verify each (the verifier's workers), then stream its sealed
records through the aggregation, checking each against the leaf hash verify computed.

The figures therefore come only from records a valid signed checkpoint covers (all of
them when the log fails, marked as such), read in one streaming pass per log.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from regogate.recording.format.note import Verifier
from regogate.recording.read import report_sample, report_scan
from regogate.recording.read.chunk_reader import ChunkPlace, ChunkReader
from regogate.recording.read.findings import Finding, Severity
from regogate.recording.read.report_aggregate import Aggregator, JSONObject, Window
from regogate.recording.read.report_figures import (
    Checkpointed,
    KeyPrint,
    OriginCheck,
    evidence,
    report_id,
)
from regogate.recording.read.report_pii import PiiValues, scan_args
from regogate.recording.read.verify import (
    ChangedDuringVerify,
    TrustHistory,
    Verdict,
    verify_directory,
)

Progress = Callable[[str, int, int], None]  # (what, done, total)


def quiet(_what: str, _done: int, _total: int) -> None:
    """No progress shown."""


@dataclass(frozen=True)
class LogSource:
    directory: Path
    label: str  # the directory as the user gave it (for the reproducing command)
    archives: tuple[Path, ...] = ()


@dataclass(frozen=True)
class ReportInputs:
    logs: Sequence[LogSource]
    trusted: Sequence[Verifier]
    histories: Sequence[TrustHistory]
    trust_files: Sequence[str]  # as given, for the reproducing command
    prior: Sequence[tuple[str, str]]  # (file as given, signed note)
    window: Window
    workers: int = 1
    sample_size: int = 5
    report_id: str | None = None
    pii: PiiValues | None = None  # the classified values to scan the records for


def build(inputs: ReportInputs, progress: Progress = quiet) -> JSONObject:
    """The evidence document (report_figures.evidence) for ``inputs``."""
    checks: list[OriginCheck] = []
    verdicts: list[Verdict | None] = []
    summaries: list[_Summaries] = []
    for number, log in enumerate(inputs.logs, 1):
        progress(f"verifying log {number}/{len(inputs.logs)}", 0, 1)
        chunks = _Summaries()
        check, verdict = _verify(log, inputs, chunks)
        checks.append(check)
        verdicts.append(verdict)
        summaries.append(chunks)
        progress(f"verifying log {number}/{len(inputs.logs)}", 1, 1)
    agg = Aggregator(inputs.window, inputs.pii)
    for index, (check, verdict) in enumerate(zip(checks, verdicts, strict=True)):
        agg.begin(index)
        if verdict is not None:
            what = f"counting log {index + 1}"
            _aggregate(agg, summaries[index], check, verdict, progress, what)
    rid = inputs.report_id or report_id(inputs.window, checks)
    for index, (check, verdict) in enumerate(zip(checks, verdicts, strict=True)):
        if verdict is not None and check.last is not None:
            _sample(agg, index, check, verdict, rid, inputs.sample_size)
    described: JSONObject = {
        "logs": [
            {"directory": log.label, "archives": [str(a) for a in log.archives]}
            for log in inputs.logs
        ],
        "trust": list(inputs.trust_files),
        "prior": [name for name, _ in inputs.prior],
        "sample_size": inputs.sample_size,
    }
    return evidence(agg, checks, inputs.window, rid, described)


def _origin_hint(log: LogSource) -> str | None:
    """The origin line of the log's first checkpoint (to pair logs with their files)."""
    path = log.directory / "checkpoints.log"
    if not path.is_file():
        return None
    with path.open("rb") as f:
        return f.readline().decode("utf-8", "replace").rstrip("\n")


@dataclass(frozen=True)
class _ForLog:
    """What one log of several is verified with: its own histories and prior files."""

    histories: list[TrustHistory]
    trust_files: list[str]
    prior: list[tuple[str, str]]


def _for_log(log: LogSource, inputs: ReportInputs) -> _ForLog:
    if len(inputs.logs) == 1:
        return _ForLog(list(inputs.histories), list(inputs.trust_files), list(inputs.prior))
    origin = _origin_hint(log)
    histories = [h for h in inputs.histories if any(e.verifier.name == origin for e in h.entries)]
    others = {h.source for h in inputs.histories} - {h.source for h in histories}
    trust = [t for t in inputs.trust_files if t not in others]
    prior = [(n, note) for n, note in inputs.prior if note.split("\n", 1)[0] == origin]
    return _ForLog(histories, trust, prior)


@dataclass
class _Summaries:
    """One log's chunks as the verifier's workers summarized them (report_scan), in order."""

    chunks: list[tuple[ChunkPlace, list[report_scan.Item]]] = field(default_factory=list)
    same: dict[object, object] = field(default_factory=dict)  # report_scan.shared

    def take(self, place: ChunkPlace, summary: object) -> None:
        if place.position == 0:
            self.chunks.clear()  # the verifier started a pass again
        assert isinstance(summary, list)
        if len(self.same) > 100_000:
            self.same.clear()  # texts that do not repeat: keep the table small
        self.chunks.append((place, report_scan.shared(summary, self.same)))


def _verify(
    log: LogSource, inputs: ReportInputs, chunks: _Summaries
) -> tuple[OriginCheck, Verdict | None]:
    own = _for_log(log, inputs)
    command = _command(log, own.trust_files, [name for name, _ in own.prior])
    w = inputs.window
    args = (w.since, w.until, list(w.protected), scan_args(inputs.pii))
    reader = ChunkReader(report_scan.__name__, "ChunkSummary", args, chunks.take)
    try:
        verdict = verify_directory(
            log.directory,
            inputs.trusted,
            prior=[note for _, note in own.prior],
            workers=inputs.workers,
            histories=own.histories,
            archives=log.archives,
            reader=reader,
        )
    except (ChangedDuringVerify, OSError) as exc:
        error: JSONObject = {"code": "unreadable", "message": str(exc), "seq": None}
        check = OriginCheck(
            log.label, None, "not-intact", False, 0, 0, 0, 0, None, None, [], [error], [], command
        )
        return check, None
    cps = verdict.checkpoints
    signers = sorted({v.vkey() for c in cps for v in c.signers})
    first = cps[0] if cps else None
    last = cps[-1] if cps else None
    check = OriginCheck(
        directory=log.label,
        origin=verdict.origin,
        status=verdict.status.value,
        passed=verdict.ok,
        records=verdict.records,
        sealed=verdict.sealed_size,
        sessions=verdict.sessions,
        checkpoints=len(cps),
        first=None if first is None else _checkpointed(first.checkpoint.size, first.note),
        last=None if last is None else _checkpointed(last.checkpoint.size, last.note),
        keys=[KeyPrint.of(v) for v in signers],
        errors=[_finding(f) for f in verdict.findings if f.severity is Severity.ERROR],
        warnings=[_finding(f) for f in verdict.findings if f.severity is Severity.WARNING],
        command=command,
    )
    return check, verdict


def _checkpointed(size: int, note: str) -> Checkpointed:
    import base64

    root = base64.b64decode(note.split("\n")[2]).hex()
    return Checkpointed(size, root, note)


def _finding(f: Finding) -> JSONObject:
    return {"code": f.code, "message": f.message, "seq": f.seq}


def _command(log: LogSource, trust: Sequence[str], prior: Sequence[str]) -> str:
    words = ["regogate", "verify", "-d", log.label]
    for archive in log.archives:
        words += ["--archive", str(archive)]
    for t in trust:
        words += ["--trust", t]
    for p in prior:
        words += ["--prior", p]
    return shlex.join(words)


def _aggregate(
    agg: Aggregator,
    summaries: _Summaries,
    check: OriginCheck,
    verdict: Verdict,
    progress: Progress,
    what: str,
) -> None:
    """Count the log's records from its chunks' summaries, which the verifier's workers
    made from the very bytes they hashed. A log that verifies contributes its sealed
    records; one that fails, every record the verifier read (the FAIL banner says the
    figures cannot be relied on)."""
    limit = verdict.sealed_size if verdict.ok else verdict.records
    total = len(summaries.chunks)
    for number, (place, items) in enumerate(summaries.chunks):
        if place.position + place.lines <= limit:
            report_scan.apply(agg, items)
            check.aggregated += place.lines
        elif place.position < limit:
            _partly(agg, place, limit, verdict, check)
        progress(what, number, total)
    progress(what, total, total)


def _partly(
    agg: Aggregator, place: ChunkPlace, limit: int, verdict: Verdict, check: OriginCheck
) -> None:
    """The chunk the seal ends in: its records up to ``limit``, read again, each checked
    against the leaf hash the verifier computed (a file changed since is not counted)."""
    assert place.path is not None
    with place.path.open("rb") as f:
        f.seek(place.lo)
        lines = f.read(place.hi - place.lo).split(b"\n")[: limit - place.position]
    for seq, line in enumerate(lines, place.position):
        if hashlib.sha256(b"\x00" + line).digest() != verdict.tree.leaf(seq):
            check.mismatched += 1
            continue
        check.aggregated += 1
        record = report_scan.record_of(line)
        if record is not None:
            agg.add(record)


def _sample(
    agg: Aggregator, origin: int, check: OriginCheck, verdict: Verdict, rid: str, size: int
) -> None:
    assert check.last is not None
    seed = report_sample.seed(bytes.fromhex(check.last.root), rid)
    check.sample_seed = seed.hex()
    candidates = {
        sid: s
        for (o, sid), s in agg.sessions.items()
        if o == origin and s.counted and s.close_seq is not None and s.close_seq < check.sealed
    }
    for sid in report_sample.choose(seed, candidates, size):
        s = candidates[sid]
        assert s.close_seq is not None
        check.sample.append(
            {
                "sid": sid,
                "identity": s.identity.name,
                "connection": s.connection,
                "opened": s.opened,
                "statements": s.statements,
                "close_seq": s.close_seq,
                "proof": verdict.inclusion_proof(s.close_seq).text(),
            }
        )
