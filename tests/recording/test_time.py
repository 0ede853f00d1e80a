"""Time in the recording, end to end on real recordings: each checkpoint's signing time
(a timestamped signature by the log's key), a gateway clock that goes back (clock.step),
and a boot dated before the boot it follows (docs/recording-format.md §2, §5, §8)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from regogate.recording.format.checkpoint import Checkpoint
from regogate.recording.format.directory import read_segments
from regogate.recording.format.layout import CHECKPOINTS, split_checkpoints
from regogate.recording.format.note import Signer, open_note, signing_times
from regogate.recording.format.records import format_ts
from regogate.recording.read.checkpoint_time import second
from regogate.recording.read.verify import Verdict, verify_directory
from regogate.recording.write.writer import Recorder
from tests.recording.conftest import everything, statement, write_log

HOUR = 3600 * 10**6
Y2100 = 4_102_444_800 * 10**6  # records dated here: later than any clock running the test


def records(directory: Path) -> list[dict[str, object]]:
    return [
        json.loads(line) for seg in read_segments(directory) for line in seg.data.split(b"\n")[:-1]
    ]


def notes(directory: Path) -> list[str]:
    data = (directory / CHECKPOINTS).read_bytes()
    return [raw.decode() for _, raw in split_checkpoints(data, {})[0]]


def rewrite(directory: Path, change: Callable[[int, str], str]) -> None:
    """Replace each entry of checkpoints.log with ``change(index, note)``."""
    out = [change(i, note) for i, note in enumerate(notes(directory))]
    (directory / CHECKPOINTS).write_text("".join(note + "\n" for note in out))


def body(note: str) -> str:
    return note.rpartition("\n\n")[0] + "\n"


def codes(verdict: Verdict, severity: str | None = None) -> set[str]:
    return {f.code for f in verdict.findings if severity is None or f.severity == severity}


def stepping(values: list[int]) -> Callable[[], int]:
    """A wall clock (µs) that reads ``values`` in turn, then goes on from the last."""
    it: Iterator[int] = iter(values)
    last = [values[0]]

    def read() -> int:
        last[0] = next(it, last[0] + 1)
        return last[0]

    return read


def test_every_checkpoint_carries_its_signing_time(
    tmp_path: Path, signer: Signer, process: str | None
) -> None:
    write_log(tmp_path, signer, everything(), process=process)
    recs = records(tmp_path)
    times = []
    for note in notes(tmp_path):
        text, signers = open_note(note, [signer.verifier])  # the plain signature still holds
        assert signers == [signer.verifier]
        signed = signing_times(note, [signer.verifier])
        assert list(signed) == [signer.verifier]
        size = Checkpoint.parse(text).size
        assert second(signed[signer.verifier]) >= str(recs[size - 1]["ts"])[:19]
        times.append(signed[signer.verifier])
    assert times == sorted(times) and len(times) > 3
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert verdict.ok and verdict.sealed and not verdict.findings


def test_a_checkpoint_is_never_signed_before_its_records(
    tmp_path: Path, signer: Signer, process: str | None
) -> None:
    """Records dated after the writer's clock: the signing time is their second."""

    async def script(rec: Recorder) -> None:
        s = rec.open_session({})
        await statement(s, 1)
        await s.close("bye")

    write_log(tmp_path, signer, script, process=process, clock=stepping([Y2100]))
    last = notes(tmp_path)[-1]
    assert signing_times(last, [signer.verifier])[signer.verifier] >= Y2100 // 10**6
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert verdict.ok and not verdict.findings


@pytest.mark.parametrize("hotpath", ["python", "native"])
def test_a_clock_that_goes_back_is_recorded(tmp_path: Path, signer: Signer, hotpath: str) -> None:
    t0 = 1_800_000_000 * 10**6
    clock = stepping([t0, t0 + 10, t0 + 20, t0 - HOUR, t0 - HOUR + 5])

    async def script(rec: Recorder) -> None:
        rec.record("policy.load", {"revision": "r1"})  # t0 + 10
        rec.record("policy.load", {"revision": "r2"})  # t0 + 20
        rec.record("policy.load", {"revision": "r3"})  # the clock is back an hour
        rec.record("policy.load", {"revision": "r4"})

    write_log(tmp_path, signer, script, clock=clock, hotpath_engine=hotpath)
    recs = records(tmp_path)
    kinds = [r["type"] for r in recs]
    assert kinds[:6] == ["gateway.start", "policy.load", "policy.load", "clock.step",
                         "policy.load", "policy.load"]  # fmt: skip
    step = recs[3]
    assert step["clock"] == format_ts(t0 - HOUR) and step["previous"] == format_ts(t0 + 20)
    assert step["sid"] is None and step["ts"] == format_ts(t0 + 20)
    assert [r["ts"] for r in recs] == sorted(str(r["ts"]) for r in recs)  # never back
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert verdict.ok and verdict.sealed
    assert codes(verdict) == {"clock-step"}
    (found,) = verdict.findings
    assert found.severity == "warning" and found.seq == 3
    assert format_ts(t0 - HOUR) in found.message and format_ts(t0 + 20) in found.message


def test_a_forged_clock_step_is_malformed(tmp_path: Path, signer: Signer) -> None:
    """A clock.step whose times do not describe a step back is not one."""
    t0 = 1_800_000_000 * 10**6

    async def script(rec: Recorder) -> None:
        rec.record("policy.load", {"revision": "r1"})

    write_log(tmp_path, signer, script, clock=stepping([t0, t0 + 5, t0 - 5]))
    seg = tmp_path / "seg-000001.jsonl"
    data = seg.read_bytes()
    forged = data.replace(
        format_ts(t0 - 5).encode(), format_ts(t0 + 6).encode(), 1
    )  # clock after previous: no step back
    assert forged != data
    seg.write_bytes(forged)
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert "record-malformed" in codes(verdict, "error")


def test_a_boot_dated_before_its_predecessor(
    tmp_path: Path, signer: Signer, process: str | None
) -> None:
    """A second boot whose clock is an hour behind the first's last record."""
    first = Y2100 + 2 * HOUR
    write_log(tmp_path, signer, everything(), process=process, clock=stepping([first]))
    write_log(tmp_path, signer, everything(), process=process, clock=stepping([first - HOUR]))
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert verdict.ok and verdict.sealed
    assert codes(verdict) == {"boot-dated-before-predecessor"}
    starts = [f for f in verdict.findings if f.file != CHECKPOINTS]
    (start,) = starts
    recs = records(tmp_path)
    assert recs[start.seq or 0]["type"] == "gateway.start" and start.severity == "warning"
    # and the second boot's first checkpoint was signed before the first boot's last one
    assert any(f.file == CHECKPOINTS for f in verdict.findings)


def test_a_log_without_signing_times_still_verifies(tmp_path: Path, signer: Signer) -> None:
    """Logs written before signing times (or with the lines removed: they are outside the
    checkpoint's own signature) verify, with an info finding."""
    write_log(tmp_path, signer, everything())
    rewrite(tmp_path, lambda _, note: signer.sign(body(note)))
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert verdict.ok and verdict.sealed
    assert codes(verdict) == {"checkpoint-untimed"}
    assert verdict.findings[0].severity == "info"


def test_an_edited_signing_time(tmp_path: Path, signer: Signer) -> None:
    write_log(tmp_path, signer, everything())

    def edit(i: int, note: str) -> str:
        if i != 1:
            return note
        other = signer.sign(body(note), 1_000)  # a valid signature, of another time
        return note.rpartition("\n")[0].rpartition("\n")[0] + "\n" + other.split("\n")[-2] + "\n"

    rewrite(tmp_path, edit)
    data = (tmp_path / CHECKPOINTS).read_text()
    verdict = verify_directory(tmp_path, [signer.verifier])
    # the key's own signature, of a time before the previous checkpoint's (and the records)
    assert codes(verdict, "error") == {
        "checkpoint-time-backwards",
        "checkpoint-time-before-records",
    }
    # an edited time under the original signature
    line = data.split("\n\n")[1].split("\n")[-1]  # the first checkpoint's time line
    blob = line.rsplit(" ", 1)[1]
    raw = bytearray(base64.b64decode(blob))
    raw[11] ^= 1  # the time's last byte
    tampered = data.replace(blob, base64.b64encode(bytes(raw)).decode())
    (tmp_path / CHECKPOINTS).write_text(tampered)
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert "checkpoint-time-invalid" in codes(verdict, "error")


def test_a_signing_time_before_the_records(tmp_path: Path, signer: Signer) -> None:
    """The key holder signs a checkpoint dated before the records it covers."""
    write_log(tmp_path, signer, everything(), clock=stepping([Y2100]))
    last = len(notes(tmp_path)) - 1

    def backdate(i: int, note: str) -> str:
        return signer.sign(body(note), Y2100 // 10**6 - 60) if i == last else note

    rewrite(tmp_path, backdate)
    verdict = verify_directory(tmp_path, [signer.verifier])
    errors = codes(verdict, "error")
    assert "checkpoint-time-before-records" in errors
    found = next(f for f in verdict.findings if f.code == "checkpoint-time-before-records")
    assert found.file == CHECKPOINTS and format_ts(Y2100)[:19] in found.message


def test_every_checkpoint_signed_before_its_records_is_found(
    tmp_path: Path, signer: Signer
) -> None:
    """Wherever the last covered record is (alone, or inside a run of records the
    verifier takes as a summary), a time before it is found."""
    write_log(tmp_path, signer, everything(), clock=stepping([Y2100]))
    count = len(notes(tmp_path))
    rewrite(tmp_path, lambda _, note: signer.sign(body(note), Y2100 // 10**6 - 1))
    verdict = verify_directory(tmp_path, [signer.verifier])
    late = [f for f in verdict.findings if f.code == "checkpoint-time-before-records"]
    assert len(late) == count > 3
    assert codes(verdict, "error") == {"checkpoint-time-before-records"}
