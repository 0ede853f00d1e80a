"""Verification of checkpoints' signing times (docs/recording-format.md §5, "The signing
time"): signed by the checkpoint's key, never going back within a boot, never before the
records a checkpoint covers. Pure code over the notes and the record pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from regogate.recording.format.checkpoint import Checkpoint
from regogate.recording.format.layout import CHECKPOINTS, split_checkpoints
from regogate.recording.format.note import NoteError, Verifier, signing_times
from regogate.recording.read.chain import RecordPass
from regogate.recording.read.findings import Findings


def second(time: int) -> str:
    """POSIX seconds as the first 19 characters of a record's ts."""
    return datetime.fromtimestamp(time, UTC).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class SigningTimes:
    """The signing times of checkpoints.log's entries by trusted keys, read before the
    records (so the record pass can keep the ts each must not precede)."""

    trusted: Sequence[Verifier]
    by_entry: dict[bytes, dict[Verifier, int] | NoteError] = field(default_factory=dict)

    def of(self, raw: bytes) -> dict[Verifier, int] | NoteError:
        found = self.by_entry.get(raw)
        if found is None:
            try:
                found = signing_times(raw.decode("utf-8"), list(self.trusted))
            except (UnicodeDecodeError, NoteError) as exc:
                found = exc if isinstance(exc, NoteError) else NoteError(str(exc))
            self.by_entry[raw] = found
        return found

    def deadlines(self, data: bytes) -> dict[int, str]:
        """For each entry of a size with a signing time: the position of the last record
        it covers, and the second it was signed (the earliest, where entries share it)."""
        out: dict[int, str] = {}
        for _, raw in split_checkpoints(data, {})[0]:
            times = self.of(raw)
            if isinstance(times, NoteError) or not times:
                continue
            try:
                text = raw.decode("utf-8").rpartition("\n\n")[0] + "\n"
                size = Checkpoint.parse(text).size
            except (UnicodeDecodeError, NoteError):
                continue
            if size:
                stamp = second(min(times.values()))
                out[size - 1] = min(stamp, out.get(size - 1, stamp))
        return out


@dataclass(frozen=True)
class Signed:
    """A valid checkpoint as the time check needs it."""

    size: int
    raw: bytes
    line: int
    signers: tuple[Verifier, ...]


def check_times(
    records: RecordPass, good: Sequence[Signed], times: SigningTimes, findings: Findings
) -> None:
    """Findings for the signing times of the valid checkpoints, in log order."""
    untimed = 0
    previous: tuple[int, int, int] | None = None  # (time, boot, size) of the last timed one
    for cp in good:
        found = times.of(cp.raw)
        at = f"checkpoint (size {cp.size})"
        if isinstance(found, NoteError):
            msg = f"{at}: its signing time does not verify: {found}"
            findings.error("checkpoint-time-invalid", msg, file=CHECKPOINTS, line=cp.line)
            continue
        mine = [found[v] for v in cp.signers if v in found]
        if not mine:
            untimed += 1
            continue
        time = min(mine)
        boot = records.boot_of(cp.size - 1) if cp.size else -1
        if previous is not None and time < previous[0]:
            msg = (
                f"{at} was signed at {second(time)}Z, before the checkpoint of size "
                f"{previous[2]} ({second(previous[0])}Z)"
            )
            if boot == previous[1]:
                msg += ": the writer never signs a time earlier than its previous one"
                findings.error("checkpoint-time-backwards", msg, file=CHECKPOINTS, line=cp.line)
            else:
                msg += " of the boot before: a clock set back between the two boots"
                findings.warning(
                    "boot-dated-before-predecessor", msg, file=CHECKPOINTS, line=cp.line
                )
        ts = records.ts_at.get(cp.size - 1)
        if ts is not None and ts[:19] > second(time):
            msg = (
                f"{at} was signed at {second(time)}Z, before its last record (seq "
                f"{cp.size - 1}, ts {ts}): the writer never signs before the records it seals"
            )
            findings.error("checkpoint-time-before-records", msg, file=CHECKPOINTS, line=cp.line)
        if previous is None or boot != previous[1] or time >= previous[0]:
            previous = (time, boot, cp.size)
    if untimed:
        msg = (
            f"{untimed} of {len(good)} checkpoints carry no signing time (written before "
            "regogate signed one, or the line was removed: it is not covered by the "
            "checkpoint's own signature)"
        )
        findings.info("checkpoint-untimed", msg, file=CHECKPOINTS)
