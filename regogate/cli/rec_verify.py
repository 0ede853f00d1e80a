"""`regogate verify`: the offline verifier run over a directory, narrowed to a session or
a time window, with a report (text or JSON) and inclusion proofs for single records.

The whole log is always verified (every checkpoint root covers every earlier record); a
session or window narrows what the report details and what must be sealed. The exit
status says which verdict it is (``rec_io.ExitStatus``); recorded text is printed through
``display.escape``.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import typer

from regogate.cli.rec_io import CommandError, ExitStatus, Located, RecordReader, line_at
from regogate.recording.format.jcs import JSONValue
from regogate.recording.format.note import Verifier
from regogate.recording.format.proof import ProofError, check_record
from regogate.recording.format.records import Record, RecordError
from regogate.recording.read.display import TEXT_LIMIT, escape, json_text
from regogate.recording.read.findings import Finding, Severity
from regogate.recording.read.sessions import SessionFilter, match_sessions
from regogate.recording.read.timestamps import TsaTrust
from regogate.recording.read.verify import (
    TAIL_CODES,
    ChangedDuringVerify,
    TrustHistory,
    Verdict,
    VerdictStatus,
    spanned,
    verify_directory,
)


@dataclass(frozen=True)
class VerifyOptions:
    directory: Path
    trusted: Sequence[Verifier]
    trust_from: Sequence[str] = ()  # where the trusted keys came from (for the report)
    histories: Sequence[TrustHistory] = ()  # signed key histories among them
    origin: str | None = None
    prior: Sequence[str] = ()
    tsa: TsaTrust | None = None  # the TSA's certificates, to check timestamps.log
    session: str | None = None
    window: SessionFilter | None = None
    proof: int | None = None
    proof_out: Path | None = None
    save_checkpoint: Path | None = None
    workers: int = 1
    archives: Sequence[Path] = ()  # directories of archived segments (regogate archive)
    verbose: bool = False
    strict: bool = False
    as_json: bool = False


@dataclass
class Scope:
    """The part of the log the user asked about: its records' seqs and what failed."""

    label: str
    seqs: list[int]
    sessions: int
    failures: list[str]  # records of the scope not sealed, or no records at all
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
        raise CommandError(f"no session {wanted!r} in {directory}", code=ExitStatus.NOT_FOUND)
    if len(found) > 1:
        some = ", ".join(sid[:64] for sid in found[:4])  # the error line escapes them
        some += f" and {len(found) - 4} more" if len(found) > 4 else ""
        raise CommandError(
            f"session id {wanted!r} is ambiguous: {len(found)} sessions start with it ({some})",
            code=ExitStatus.NOT_FOUND,
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
        reason = close.body.get("reason")
        notes.append(f"closed at {close.ts} ({escape(reason if isinstance(reason, str) else '?')})")
    label = f"session {escape(sid)}: {len(seqs)} records (seq {seqs[0]}..{seqs[-1]})"
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
class SessionCheck:
    """Whether a session's records verify: ``status`` is a ``VerdictStatus`` value, or
    ``not-verified`` when no key was trusted (only its hash chain was looked at)."""

    status: str
    detail: str
    findings: list[Finding]  # errors about the session's own records

    @classmethod
    def unverified(cls, chain_problem: str | None) -> SessionCheck:
        chain = "holds" if chain_problem is None else f"is BROKEN: {chain_problem}"
        detail = (
            "no trusted keys, so no signature was checked (pass --trust FILE or --key FILE);"
            f" the session's hash chain alone {chain}"
        )
        return cls("not-verified", detail, [])

    def line(self) -> str:
        head = {
            VerdictStatus.INTACT_SEALED.value: "OK",
            VerdictStatus.INTACT_UNSEALED.value: "INTACT, NOT SEALED",
            VerdictStatus.NOT_INTACT.value: "FAILED",
        }.get(self.status, "NOT VERIFIED")
        return f"{head}: {self.detail}"

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "status": self.status,
            "detail": self.detail,
            "findings": [finding_json(f) for f in self.findings],
        }


def check_session(verdict: Verdict, sid: str, located: list[Located]) -> SessionCheck:
    """The verification result for one session, from the verdict on the whole log: its
    records' chain and envelopes, and the signed checkpoints that cover them."""
    scope = session_scope(verdict, sid, located)
    seqs = set(scope.seqs)
    mine = [f for f in verdict.errors() if f.seq in seqs]
    if mine:
        detail = f"its records fail verification: {_finding_text(mine[0])}"
        if len(mine) > 1:
            detail += f" ({len(mine) - 1} more)"
        return SessionCheck(VerdictStatus.NOT_INTACT.value, detail, mine)
    if not verdict.ok:
        errors = verdict.errors()
        detail = (
            f"the log is not intact ({len(errors)} errors elsewhere; first:"
            f" {_finding_text(errors[0])}): run regogate verify"
        )
        return SessionCheck(VerdictStatus.NOT_INTACT.value, detail, [])
    if scope.failures:
        return SessionCheck(VerdictStatus.INTACT_UNSEALED.value, scope.failures[0], [])
    cover = next(c for c in verdict.checkpoints if c.checkpoint.size > scope.seqs[-1])
    signers = ", ".join(f"{v.name}+{v.id:08x}" for v in cover.signers)
    detail = (
        f"its hash chain holds and all {len(seqs)} records are sealed by the checkpoint of"
        f" size {cover.checkpoint.size} (checkpoints.log:{cover.line}), signed by"
        f" {escape(signers)}"
    )
    return SessionCheck(VerdictStatus.INTACT_SEALED.value, detail, [])


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
        raise CommandError(f"no record {seq} in the log ({have})", code=ExitStatus.NOT_FOUND)
    try:
        proof = verdict.inclusion_proof(seq)
    except ValueError:
        msg = f"record {seq} is not covered by a valid signed checkpoint"
        msg += f" (the log is sealed to size {verdict.sealed_size})"
        raise CommandError(msg, code=ExitStatus.UNSEALED) from None
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
        check_record(data, proof, verdict.trusted, verdict.origin or "")
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
    """Verify, print the report; the exit status (``ExitStatus``)."""
    located: tuple[str, list[Located]] | None = None
    if opts.session is not None:  # before the long part: an unknown id fails at once
        located = find_session(opts.directory, opts.session)
    segments = len(spanned(opts.directory, opts.archives)) if opts.directory.is_dir() else 0
    started = time.perf_counter()
    verdict = verify(opts)
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
    outcome = judge(opts, verdict, scope, proof)
    report = _Report(opts, verdict, segments, elapsed, scope, proof, outcome)
    if opts.as_json:
        typer.echo(json_text(report.to_json()))
    else:
        report.print()
    if outcome.reasons and outcome.status is not ExitStatus.OK:
        first = outcome.reasons[0]  # recorded text in it is escaped already
        more = len(outcome.reasons) - 1
        more_text = f" ({more} more problems above)" if more else ""
        if outcome.status is ExitStatus.UNSEALED:
            typer.echo(f"regogate: verify: intact, not sealed: {first}{more_text}", err=True)
        elif outcome.status is ExitStatus.NOT_FOUND:
            typer.echo(f"regogate: error: {first}", err=True)
        else:
            typer.echo(f"regogate: error: verification failed: {first}{more_text}", err=True)
    return int(outcome.status)


def verify(opts: VerifyOptions) -> Verdict:
    """The verdict on the whole log, with the trusted keys and histories of ``opts``."""
    try:
        return verify_directory(
            opts.directory,
            opts.trusted,
            origin=opts.origin,
            prior=opts.prior,
            workers=max(1, opts.workers),
            histories=opts.histories,
            archives=opts.archives,
            tsa=opts.tsa,
        )
    except FileNotFoundError:
        raise CommandError(f"no recording directory {opts.directory}") from None
    except ChangedDuringVerify as exc:
        raise CommandError(f"{exc}: run verify again") from None


@dataclass(frozen=True)
class Outcome:
    """The exit status and, unless it is OK, why (most important first)."""

    status: ExitStatus
    reasons: list[str]

    @property
    def name(self) -> str:
        """The verdict as a stable word: intact-sealed, intact-unsealed, not-intact, …"""
        return {
            ExitStatus.OK: VerdictStatus.INTACT_SEALED.value,
            ExitStatus.UNSEALED: VerdictStatus.INTACT_UNSEALED.value,
            ExitStatus.NOT_FOUND: "not-found",
        }.get(self.status, VerdictStatus.NOT_INTACT.value)


def judge(
    opts: VerifyOptions, verdict: Verdict, scope: Scope | None, proof: ProofReport | None
) -> Outcome:
    """The verdict for what was asked: the whole log, or a session, window or record.

    Any error anywhere fails (the log is not intact). Otherwise a scope (or a proved
    record) is judged by its own sealing; the whole log by its tail.
    """
    errors = [_finding_text(f) for f in verdict.errors()]
    if proof is not None and proof.problem is not None:
        errors.append(f"the inclusion proof for record {proof.seq} does not check: {proof.problem}")
    if opts.strict:
        errors += [_finding_text(f) for f in verdict.findings if f.severity is Severity.WARNING]
    if errors:
        return Outcome(ExitStatus.NOT_INTACT, errors)
    if scope is not None:
        if not scope.seqs:
            return Outcome(ExitStatus.NOT_FOUND, list(scope.failures))
        if scope.failures:
            return Outcome(ExitStatus.UNSEALED, list(scope.failures))
        return Outcome(ExitStatus.OK, [])
    if proof is not None:  # the record is sealed: make_proof raises for one that is not
        return Outcome(ExitStatus.OK, [])
    if verdict.status is VerdictStatus.INTACT_UNSEALED:
        tail = [_finding_text(f) for f in verdict.findings if f.code in TAIL_CODES]
        return Outcome(ExitStatus.UNSEALED, tail or ["the log is not sealed"])
    return Outcome(ExitStatus.OK, [])


def _finding_text(f: Finding) -> str:
    """A finding as one line, with every value from the recording escaped."""
    where = ""
    if f.file is not None:
        where = escape(f.file) if f.line is None else f"{escape(f.file)}:{f.line}"
        where += ": "
    seq = "" if f.seq is None else f"seq {f.seq}: "
    return f"{where}{seq}{f.severity}: {escape(f.message, TEXT_LIMIT)} [{escape(f.code)}]"


@dataclass
class _Report:
    opts: VerifyOptions
    verdict: Verdict
    segments: int
    elapsed: float
    scope: Scope | None
    proof: ProofReport | None
    outcome: Outcome

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
            "status": self.outcome.name,
            "exit_status": int(self.outcome.status),
            "ok": self.outcome.status is ExitStatus.OK,
            "intact": v.ok,
            "sealed": v.sealed,
            "origin": v.origin,
            "records": v.records,
            "segments": self.segments,
            "sessions": v.sessions,
            "checkpoints": len(v.checkpoints),
            "sealed_size": v.sealed_size,
            "latest_checkpoint": v.checkpoints[-1].note if v.checkpoints else None,
            "trusted_keys": [f"{k.name}+{k.id:08x}" for k in v.trusted],
            "elapsed_s": round(self.elapsed, 4),
            "records_per_s": self.rate,
            "findings": [finding_json(f) for f in v.findings],  # every one, info too
            "scope": self.scope.to_json() if self.scope else None,
            "proof": self.proof.to_json() if self.proof else None,
            "failures": list(self.outcome.reasons),
        }

    def print(self) -> None:
        v, echo = self.verdict, typer.echo
        echo(f"regogate verify: {self.opts.directory}")
        origin = escape(v.origin) if v.origin else "(unknown: no valid checkpoint)"
        echo(f"  origin       {origin}")
        echo(f"  records      {v.records:,} in {self.segments} segment(s)")
        echo(f"  sessions     {v.sessions:,}")
        unsealed = v.records - v.sealed_size
        sealing = "all records sealed" if v.sealed else f"{unsealed:,} records not yet sealed"
        valid = f"{len(v.checkpoints):,} valid"
        echo(f"  checkpoints  {valid}, sealed to size {v.sealed_size:,}: {sealing}")
        source = f" ({', '.join(self.opts.trust_from)})" if self.opts.trust_from else ""
        signed = ", signed key history checked" if self.opts.histories else ""
        echo(f"  trusted keys {len(v.trusted)}{source}{signed}")
        echo(f"  speed        {self.elapsed:.2f} s, {self.rate:,} records/s")
        if self.scope is not None:
            echo(f"  scope        {self.scope.label}")
            for line in self.scope.notes:
                echo(f"               {line}")
        findings = self.shown()
        if findings:
            echo("")
            for f in findings:
                echo(f"  {_finding_text(f)}")
        if self.proof is not None:
            echo("")
            _print_proof(self.proof, self.opts.proof_out)
        echo("")
        echo(self.verdict_line())

    def verdict_line(self) -> str:
        v, status = self.verdict, self.outcome.status
        if status is ExitStatus.OK and v.status is VerdictStatus.INTACT_SEALED:
            return "OK: the log is intact and sealed."
        if status is ExitStatus.OK:
            what = "the session" if self.opts.session else "what was asked for"
            return (
                f"OK: the log is intact and {what} is sealed (the newest records of the log"
                " are not sealed yet)."
            )
        if status is ExitStatus.UNSEALED:
            return (
                "INTACT, NOT SEALED (exit status 3): no record was changed, but the newest are"
                " not covered by a signed checkpoint yet (a running gateway, or a crash)."
            )
        if status is ExitStatus.NOT_FOUND:
            return "NOT FOUND (exit status 4): what was asked for is not in the log."
        return "FAILED (exit status 1): the log is not intact."


def finding_json(f: Finding) -> dict[str, JSONValue]:
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
    session = f", session {escape(p.sid)}" if p.sid else ""
    echo(f"inclusion proof for record seq {p.seq} ({p.where}, {escape(p.kind)}{session})")
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
