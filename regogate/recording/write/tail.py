"""The check a writer makes before it signs anything: every record after the last
checkpoint must continue the log as ``regogate verify`` would accept it.

A checkpoint vouches for the records it covers; the records after it (the unsealed tail
of a boot that crashed) are vouched for by nothing, and the next checkpoint would seal
them. So before the first signature the writer runs the verifier's own record checks
(``chain.RecordPass``: canonical form, envelope, seq, boots, session chains) over the
tail, starting at the gateway.start of the boot the last checkpoint ends in, so that the
tail's session chains are followed from their session.open. A tail that follows a sealed
gateway.stop, or that starts a boot of its own, was written while no gateway ran that
could seal it, and is refused too (docs/threat-model.md, "Only the writer signs").

What the check cannot tell: records appended to a crashed boot's tail by someone who
writes the directory, in the form that boot would have written them. verify reports the
records of an earlier boot that a later boot sealed (docs/recording-format.md §7).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from regogate.errors import RecordingUnavailable
from regogate.recording.format.checkpoint import Checkpoint
from regogate.recording.format.layout import boot_of
from regogate.recording.format.note import NoteError
from regogate.recording.read.chain import RecordPass, scan_chunk, scan_line
from regogate.recording.read.findings import Finding, Findings, Severity
from regogate.recording.write.store import SegmentStore

_START = b'"type":"gateway.start"'
_HINT = (
    "records after the last signed checkpoint are not what the gateway wrote; run "
    "`regogate verify` on the directory, and keep it as evidence. To record again, "
    "point [recording] dir at a new directory"
)


def check_tail(store: SegmentStore) -> None:
    """Raise ``RecordingUnavailable`` naming the first record after the last checkpoint
    that does not continue the log (its file and line)."""
    state = store.state
    sealed = state.last_checkpoint.size if state.last_checkpoint is not None else 0
    if state.size <= sealed:
        return
    problem = first_problem(store.directory, state.segments, sealed)
    if problem is not None:
        where = f"{problem.file}:{problem.line}" if problem.file else str(store.directory)
        raise RecordingUnavailable(
            f"recording directory {store.directory}: {where}: {problem.message} "
            f"[{problem.code}]; {state.size - sealed} record(s) after the last checkpoint "
            f"(size {sealed}) were not signed and will not be",
            hint=_HINT,
        )


Segments = list[tuple[int, str, int, int]]  # StoreState.segments


def first_problem(directory: Path, segments: Segments, sealed: int) -> Finding | None:
    """The first error among the records from position ``sealed`` on."""
    segments = _counted(directory, segments)
    first, position, boot = _boot_start(directory, segments, sealed)
    findings = Findings()
    records = RecordPass(findings, None)
    records.resume(position, segments[first][0] if segments else 1, boot)
    for number, name, _, _ in segments[first:]:
        data = (directory / name).read_bytes()
        records.begin(name, number)
        chunk = scan_chunk(data)
        records.take(chunk, name, 1, _reader(data))
        records.end(name, len(data), chunk.tail, chunk.lines)
    records.finish()
    found: list[Finding] = []
    for finding in findings.finish():
        if finding.severity is not Severity.ERROR:
            continue
        tail = finding.seq is not None and finding.seq >= sealed
        if tail or (finding.code == "torn-unacknowledged" and _after(finding, records, sealed)):
            found.append(finding)
    for mark in [*records.stops, *records.rotations]:
        if mark.position >= sealed:
            what = "gateway.stop" if mark in records.stops else "key.rotate"
            found.append(
                Finding(
                    Severity.ERROR,
                    "unsealed-stop" if what == "gateway.stop" else "unsealed-rotate",
                    f"{what} of boot {mark.boot} is not sealed, but the writer seals it "
                    "before anything else: checkpoints were removed",
                    mark.file,
                    mark.line,
                    mark.seq,
                )
            )
    for position in records.boot_starts:
        if position >= sealed:
            file, line = records.where(position)
            found.append(
                Finding(
                    Severity.ERROR,
                    "unsealed-boot",
                    "a gateway boot starts after the last checkpoint and none of it was ever "
                    "sealed: written while no gateway could sign it",
                    file,
                    line,
                    position,
                )
            )
    # the first in the log (a finding without a seq, a torn line: where it is)
    return min(found, key=lambda f: f.seq if f.seq is not None else -1, default=None)


def _reader(data: bytes) -> Callable[[int, int], bytes]:
    return lambda lo, hi: data[lo:hi]


def _after(finding: Finding, records: RecordPass, sealed: int) -> bool:
    if finding.file is None or finding.line is None:
        return True
    if sealed == 0:
        return True
    file, line = records.where(sealed - 1)
    return (finding.file, finding.line) > (file, line)


def _counted(directory: Path, segments: Segments) -> Segments:
    """``segments`` with the positions and line counts of those the scan skipped (before
    the frontier) filled in, from the first known one backwards."""
    out = list(segments)
    for i in range(len(out) - 1, -1, -1):
        number, name, _, lines = out[i]
        if lines >= 0:
            continue
        count = (directory / name).read_bytes().count(b"\n")
        following = out[i + 1][2] if i + 1 < len(out) else 0
        out[i] = (number, name, following - count, count)
    return out


def _boot_start(directory: Path, segments: Segments, sealed: int) -> tuple[int, int, str | None]:
    """Where to start checking: (index in ``segments``, position of its first record,
    boot of the record before it) for the segment holding the gateway.start of the boot
    the record at ``sealed - 1`` belongs to (the first segment if none is found)."""
    if sealed == 0 or not segments:
        return 0, 0, None
    index = max(i for i, seg in enumerate(segments) if seg[2] <= sealed - 1)
    for i in range(index, -1, -1):
        _, name, start, lines = segments[i]
        data = (directory / name).read_bytes()
        limit = min(lines, sealed - start)  # only sealed lines: they are attested
        if _has_start(data, limit):
            return i, start, _last_boot(directory, segments, i)
    return 0, segments[0][2], None


def _has_start(data: bytes, limit: int) -> bool:
    """Whether one of the first ``limit`` lines of ``data`` is a gateway.start."""
    at = data.find(_START)
    while at >= 0:
        line_index = data.count(b"\n", 0, at)
        if line_index >= limit:
            return False
        begin = data.rfind(b"\n", 0, at) + 1
        end = data.find(b"\n", at)
        scanned = scan_line(data[begin:end])
        if scanned.problem is None and scanned.kind == "gateway.start":
            return True
        at = data.find(_START, end)
    return False


def _last_boot(directory: Path, segments: Segments, index: int) -> str | None:
    """The boot of the last record before segment ``index``."""
    for _, name, _, lines in reversed(segments[:index]):
        if lines:
            data = (directory / name).read_bytes()
            body = data[: data.rfind(b"\n")]
            return boot_of(body[body.rfind(b"\n") + 1 :])
    return None


def check_anchor(store: SegmentStore, path: Path, origin: str) -> Checkpoint | None:
    """The log must extend the checkpoint kept at ``path`` (outside the recording
    directory: the last one this deployment's gateway saw signed). Returns it (None when
    there is no file yet: a first start); raises ``RecordingUnavailable`` naming what is
    missing or different.

    Holding every leaf, the writer checks consistency by recomputing the root at the
    anchor's size (what an RFC 6962 consistency proof proves to someone who does not).
    """
    try:
        note = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingUnavailable(f"checkpoint anchor {path}: {exc}") from None
    where = f"the checkpoint kept outside the log ({path})"
    try:
        cp = Checkpoint.parse(note.rpartition("\n\n")[0] + "\n")
    except NoteError as exc:
        raise RecordingUnavailable(f"{where} is malformed: {exc}") from None
    hint = (
        "the recording directory no longer holds what this deployment signed: keep it as "
        "evidence, run `regogate verify --prior` with that file, and record to a new directory"
    )
    if cp.origin != origin:
        raise RecordingUnavailable(
            f"{where} is of log {cp.origin!r}, not {origin!r}: another deployment's log?",
            hint="each deployment keeps its own anchor ([recording] checkpoint_anchor)",
        )
    state = store.state
    if cp.size > state.size:
        raise RecordingUnavailable(
            f"{where} covers {cp.size} records, but the log has {state.size}: "
            f"{cp.size - state.size} signed record(s) were removed",
            hint=hint,
        )
    if store.root_at(cp.size) != cp.root:
        raise RecordingUnavailable(
            f"the records no longer match {where} (size {cp.size}): the log was rewritten",
            hint=hint,
        )
    sealed = state.last_checkpoint.size if state.last_checkpoint is not None else 0
    if sealed < cp.size:
        raise RecordingUnavailable(
            f"checkpoints.log ends at size {sealed}, but {where} is at size {cp.size}: "
            "signed checkpoints were removed",
            hint=hint,
        )
    return cp
