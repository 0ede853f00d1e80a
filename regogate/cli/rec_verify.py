"""`regogate verify`: the offline verifier run over a directory, narrowed to a session or
a time window, with a report (text or JSON) and inclusion proofs for single records.

The whole log is always verified (every checkpoint root covers every earlier record); a
session or window narrows what the report details and what must be sealed.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import typer

from regogate.cli.rec_io import CommandError, Located, RecordReader, line_at
from regogate.recording.findings import Finding, Severity
from regogate.recording.jcs import JSONValue
from regogate.recording.note import Verifier
from regogate.recording.proof import ProofError, check_record
from regogate.recording.records import Record, RecordError
from regogate.recording.sessions import SessionFilter, match_sessions
from regogate.recording.store import list_segments
from regogate.recording.verify import ChangedDuringVerify, Verdict, verify_directory


@dataclass(frozen=True)
class VerifyOptions:
    directory: Path
    trusted: Sequence[Verifier]
    trust_from: Sequence[str] = ()  # where the trusted keys came from (for the report)
    origin: str | None = None
    prior: Sequence[str] = ()
    session: str | None = None
    window: SessionFilter | None = None
    proof: int | None = None
    proof_out: Path | None = None
    save_checkpoint: Path | None = None
    workers: int = 1
    verbose: bool = False
    strict: bool = False
    as_json: bool = False


@dataclass
class Scope:
    """The part of the log the user asked about: its records' seqs and what failed."""

    label: str
    seqs: list[int]
    sessions: int
    failures: list[str]
    notes: list[str]

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "label": self.label,
            "records": len(self.seqs),
            "seq": [self.seqs[0], self.seqs[-1]] if self.seqs else None,
            "sessions": self.sessions,
            "failures": list(self.failures),
            "notes": list(self.notes),
        }


def find_session(directory: Path, wanted: str) -> tuple[str, list[Located]]:
    """The session whose id is ``wanted`` or starts with it, and its records."""
    if not wanted:
        raise CommandError("empty session id")
    by_sid: dict[str, list[Located]] = {}
    for loc in RecordReader(directory, b'"sid":"' + wanted.encode()):
        sid = loc.record.sid
        if sid is not None and sid.startswith(wanted):
            by_sid.setdefault(sid, []).append(loc)
    found = match_sessions(by_sid, wanted)
    if not found:
        raise CommandError(f"no session {wanted!r} in {directory}", code=1)
    if len(found) > 1:
        some = ", ".join(found[:4]) + (", …" if len(found) > 4 else "")
        raise CommandError(
            f"session id {wanted!r} is ambiguous: {len(found)} sessions start with it ({some})",
            code=1,
        )
    return found[0], by_sid[found[0]]


def _sealing(verdict: Verdict, seqs: list[int], what: str) -> tuple[list[str], list[str]]:
    """Failures and notes about whether ``seqs`` are covered by a valid checkpoint."""
    if not seqs:
        return [], []
    sealed = verdict.sealed_size
    late = [s for s in seqs if s >= sealed]
    if late:
        return [
            f"{len(late)} of {what}'s {len(seqs)} records (seq {late[0]}..{late[-1]}) are not"
            f" covered by a valid signed checkpoint (the log is sealed to size {sealed})"
        ], []
    cover = next(c for c in verdict.checkpoints if c.checkpoint.size > seqs[-1])
    at = f"{cover.checkpoint.size} (checkpoints.log:{cover.line})"
    return [], [
        f"all {len(seqs)} records of {what} are sealed, first by the checkpoint of size {at}"
    ]


def session_scope(verdict: Verdict, sid: str, located: list[Located]) -> Scope:
    records = [x.record for x in located]
    seqs = sorted(r.seq for r in records)
    failures, notes = _sealing(verdict, seqs, "the session")
    close = next((r for r in records if r.type == "session.close"), None)
    if close is None:
        notes.append("no session.close: still open, or its gateway stopped without closing it")
    else:
        notes.append(f"closed at {close.ts} ({close.body.get('reason')})")
    label = f"session {sid}: {len(seqs)} records (seq {seqs[0]}..{seqs[-1]})"
    return Scope(label, seqs, 1, failures, notes)


def window_scope(verdict: Verdict, directory: Path, window: SessionFilter) -> Scope:
    seqs: list[int] = []
    sids: set[str] = set()
    for record in RecordReader(directory).records():
        if window.in_window(record.ts):
            seqs.append(record.seq)
            if record.sid is not None:
                sids.add(record.sid)
    seqs.sort()
    span = f"from {window.since or 'the start'} to {window.until or 'the end'}"
    if not seqs:
        return Scope(f"records {span}", [], 0, [f"no records {span}"], [])
    failures, notes = _sealing(verdict, seqs, "the window")
    label = f"records {span}: {len(seqs)} records (seq {seqs[0]}..{seqs[-1]})"
    return Scope(label, seqs, len(sids), failures, notes)


@dataclass(frozen=True)
class ProofReport:
    seq: int
    where: str  # segment:line
    kind: str
    sid: str | None
    leaf: bytes
    size: int
    root: bytes
    path: tuple[bytes, ...]
    checkpoint_line: int
    signers: tuple[str, ...]
    text: str  # the C2SP tlog-proof
    problem: str | None  # None: the proof checks against the trusted keys

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "seq": self.seq,
            "where": self.where,
            "type": self.kind,
            "sid": self.sid,
            "leaf_hash": self.leaf.hex(),
            "tree_size": self.size,
            "root": self.root.hex(),
            "path": [h.hex() for h in self.path],
            "checkpoint_line": self.checkpoint_line,
            "signed_by": list(self.signers),
            "valid": self.problem is None,
            "problem": self.problem,
            "tlog_proof": self.text,
        }


def make_proof(opts: VerifyOptions, verdict: Verdict) -> ProofReport:
    seq = opts.proof
    assert seq is not None
    if not 0 <= seq < verdict.records:
        have = f"seq 0..{verdict.records - 1}" if verdict.records else "no records"
        raise CommandError(f"no record {seq} in the log ({have})", code=1)
    try:
        proof = verdict.inclusion_proof(seq)
    except ValueError:
        msg = f"record {seq} is not covered by a valid signed checkpoint"
        msg += f" (the log is sealed to size {verdict.sealed_size})"
        raise CommandError(msg, code=1) from None
    found = line_at(opts.directory, seq)
    assert found is not None
    file, line, data = found
    try:
        record: Record | None = Record.parse(data)
    except RecordError:
        record = None
    signed = verdict.checkpoints[-1]
    problem = None
    try:
        check_record(data, proof, opts.trusted, verdict.origin or "")
    except ProofError as exc:
        problem = str(exc)
    return ProofReport(
        seq,
        f"{file}:{line}",
        record.type if record else "(not a record)",
        record.sid if record else None,
        verdict.tree.leaf(seq),
        signed.checkpoint.size,
        signed.checkpoint.root,
        proof.hashes,
        signed.line,
        tuple(f"{v.name}+{v.id:08x}" for v in signed.signers),
        proof.text(),
        problem,
    )


def run(opts: VerifyOptions) -> int:
    """Verify, print the report; the exit status (0 intact, 1 not)."""
    located: tuple[str, list[Located]] | None = None
    if opts.session is not None:  # before the long part: an unknown id fails at once
        located = find_session(opts.directory, opts.session)
    segments = len(list_segments(opts.directory)) if opts.directory.is_dir() else 0
    started = time.perf_counter()
    try:
        verdict = verify_directory(
            opts.directory,
            opts.trusted,
            origin=opts.origin,
            prior=opts.prior,
            workers=max(1, opts.workers),
        )
    except FileNotFoundError:
        raise CommandError(f"no recording directory {opts.directory}") from None
    except ChangedDuringVerify as exc:
        raise CommandError(f"{exc}: run verify again") from None
    elapsed = time.perf_counter() - started
    scope = None
    if located is not None:
        scope = session_scope(verdict, *located)
    elif opts.window is not None:
        scope = window_scope(verdict, opts.directory, opts.window)
    proof = make_proof(opts, verdict) if opts.proof is not None else None
    if proof is not None and opts.proof_out is not None:
        opts.proof_out.write_text(proof.text)
    if opts.save_checkpoint is not None and verdict.checkpoints:
        opts.save_checkpoint.write_text(verdict.checkpoints[-1].note)
    failures = _failures(opts, verdict, scope, proof)
    report = _Report(opts, verdict, segments, elapsed, scope, proof, failures)
    if opts.as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        report.print()
    if failures:
        more = f" ({len(failures) - 1} more problems above)" if len(failures) > 1 else ""
        typer.echo(f"regogate: error: verification failed: {failures[0]}{more}", err=True)
        return 1
    return 0


def _failures(
    opts: VerifyOptions, verdict: Verdict, scope: Scope | None, proof: ProofReport | None
) -> list[str]:
    out = [str(f) for f in verdict.errors()]
    if scope is not None:
        out += scope.failures
    if proof is not None and proof.problem is not None:
        out.append(f"the inclusion proof for record {proof.seq} does not check: {proof.problem}")
    if opts.strict:
        out += [str(f) for f in verdict.findings if f.severity is Severity.WARNING]
    return out


@dataclass
class _Report:
    opts: VerifyOptions
    verdict: Verdict
    segments: int
    elapsed: float
    scope: Scope | None
    proof: ProofReport | None
    failures: list[str]

    @property
    def rate(self) -> int:
        return int(self.verdict.records / self.elapsed) if self.elapsed > 0 else 0

    def shown(self) -> list[Finding]:
        """Errors and warnings; info findings with --verbose."""
        keep = {Severity.ERROR, Severity.WARNING} | (
            {Severity.INFO} if self.opts.verbose else set()
        )
        return [f for f in self.verdict.findings if f.severity in keep]

    def to_json(self) -> dict[str, JSONValue]:
        v = self.verdict
        return {
            "directory": str(self.opts.directory),
            "ok": not self.failures,
            "intact": v.ok,
            "sealed": v.sealed,
            "origin": v.origin,
            "records": v.records,
            "segments": self.segments,
            "sessions": v.sessions,
            "checkpoints": len(v.checkpoints),
            "sealed_size": v.sealed_size,
            "latest_checkpoint": v.checkpoints[-1].note if v.checkpoints else None,
            "trusted_keys": [f"{k.name}+{k.id:08x}" for k in self.opts.trusted],
            "elapsed_s": round(self.elapsed, 4),
            "records_per_s": self.rate,
            "findings": [_finding_json(f) for f in self.shown()],
            "scope": self.scope.to_json() if self.scope else None,
            "proof": self.proof.to_json() if self.proof else None,
            "failures": list(self.failures),
        }

    def print(self) -> None:
        v, echo = self.verdict, typer.echo
        echo(f"regogate verify: {self.opts.directory}")
        echo(f"  origin       {v.origin or '(unknown: no valid checkpoint)'}")
        echo(f"  records      {v.records:,} in {self.segments} segment(s)")
        echo(f"  sessions     {v.sessions:,}")
        unsealed = v.records - v.sealed_size
        sealing = "all records sealed" if v.sealed else f"{unsealed:,} records not yet sealed"
        valid = f"{len(v.checkpoints):,} valid"
        echo(f"  checkpoints  {valid}, sealed to size {v.sealed_size:,}: {sealing}")
        source = f" ({', '.join(self.opts.trust_from)})" if self.opts.trust_from else ""
        echo(f"  trusted keys {len(self.opts.trusted)}{source}")
        echo(f"  speed        {self.elapsed:.2f} s, {self.rate:,} records/s")
        if self.scope is not None:
            echo(f"  scope        {self.scope.label}")
            for line in self.scope.notes:
                echo(f"               {line}")
        findings = self.shown()
        if findings:
            echo("")
            for f in findings:
                echo(f"  {f}")
        if self.proof is not None:
            echo("")
            _print_proof(self.proof, self.opts.proof_out)
        if not self.failures:
            echo("")
            state = "and sealed" if v.sealed else "(the newest records are not sealed yet)"
            echo(f"OK: the log is intact {state}.")


def _finding_json(f: Finding) -> dict[str, JSONValue]:
    return {
        "severity": str(f.severity),
        "code": f.code,
        "message": f.message,
        "file": f.file,
        "line": f.line,
        "seq": f.seq,
    }


def _print_proof(p: ProofReport, out: Path | None) -> None:
    echo = typer.echo
    session = f", session {p.sid}" if p.sid else ""
    echo(f"inclusion proof for record seq {p.seq} ({p.where}, {p.kind}{session})")
    echo(f"  leaf hash   {p.leaf.hex()}  = SHA-256(0x00 || record bytes)")
    signed = f"checkpoints.log:{p.checkpoint_line}, signed by {', '.join(p.signers)}"
    echo(f"  tree size   {p.size:,}  ({signed})")
    echo(f"  root        {p.root.hex()}  = {base64.b64encode(p.root).decode()}")
    echo(f"  path        {len(p.path)} hashes, the leaf's sibling first (RFC 9162 §2.1.3)")
    for i, h in enumerate(p.path):
        echo(f"    {i:3}  {h.hex()}")
    status = "OK: the path leads from the leaf hash to the signed root"
    echo(f"  check       {status if p.problem is None else 'FAILED: ' + p.problem}")
    if out is not None:
        echo(f"  tlog-proof  written to {out}")
    else:
        echo("")
        echo(p.text.rstrip("\n"))
