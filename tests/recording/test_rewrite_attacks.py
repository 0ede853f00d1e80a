"""Issue 23's rewrite attacks, end to end on real recordings: an attacker who can write
the recording directory but does not hold the signing key rewrites history consistently
(renumbered, re-chained, canonical) and restarts the writer. Each restart is refused
before anything is signed; verify fails with --prior (the exported checkpoint), and the
test states what verify says without it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import orjson
import pytest

from regogate.errors import RecordingUnavailable
from regogate.recording.format.directory import read_checkpoints, read_segments
from regogate.recording.format.layout import CHECKPOINTS, FRONTIER, split_checkpoints
from regogate.recording.format.merkle import leaf_hash
from regogate.recording.format.note import Signer
from regogate.recording.format.records import ENVELOPE, GatewayInfo, Record, encode
from regogate.recording.read.verify import verify_directory
from regogate.recording.write.writer import Recorder, WriterProcess
from tests.recording.conftest import everything, write_log


def records(directory: Path) -> list[Record]:
    return [Record.parse(x) for seg in read_segments(directory) for x in seg.data.splitlines()]


def rewrite(directory: Path, keep: Callable[[Record], bool], edit: Callable[[dict], None]) -> None:
    """Drop the records ``keep`` refuses, ``edit`` the bodies of the rest, and write the
    log again as a writer would have: seqs renumbered, session chains and close heads
    recomputed, gateway.start sizes fixed, canonical bytes; one segment."""
    heads: dict[str, bytes] = {}
    lines: list[bytes] = []
    for rec in (r for r in records(directory) if keep(r)):
        body = {k: v for k, v in orjson.loads(rec.data).items() if k not in ENVELOPE}
        edit(body)
        seq = len(lines)
        prev = heads.get(rec.sid) if rec.sid is not None and rec.n else None
        if rec.type == "gateway.start":
            body["last_seen_tree_size"] = seq
        if rec.type == "session.close":
            body["chain_head"] = None if prev is None else prev.hex()
            body["counts"] = {**body["counts"], "records": (rec.n or 0) + 1}
        line = encode(
            seq=seq, ts=rec.ts, gw=rec.gw, type=rec.type, sid=rec.sid, n=rec.n, prev=prev,
            body=body,
        )  # fmt: skip
        if rec.sid is not None:
            heads[rec.sid] = leaf_hash(line)
        lines.append(line)
    for seg in directory.glob("seg-*.jsonl"):
        seg.unlink()
    (directory / "seg-000001.jsonl").write_bytes(b"".join(x + b"\n" for x in lines))


def checkpoints(directory: Path) -> list[bytes]:
    return [e for _, e in split_checkpoints((directory / CHECKPOINTS).read_bytes(), {})[0]]


def restart(directory: Path, signer: Signer, anchor: Path) -> None:
    async def main() -> None:
        spec = WriterProcess(directory, anchor_file=anchor)
        rec = Recorder(spec, signer, GatewayInfo.new("gw-test", "0.1.0"))
        async with rec.running():
            pytest.fail("the writer started on a rewritten log")

    anyio.run(main)


@pytest.fixture
def log(tmp_path: Path, signer: Signer) -> tuple[Path, Path, Path]:
    """A log of two boots, its anchor (the last checkpoint, beside the key) and a copy of
    the last checkpoint exported off the host."""
    directory = tmp_path / "log"
    write_log(directory, signer, everything())
    write_log(directory, signer, everything())
    last = checkpoints(directory)[-1]
    anchor = tmp_path / "signing.key.checkpoint"
    anchor.write_bytes(last)
    exported = tmp_path / "exported.note"
    exported.write_bytes(last)
    return directory, anchor, exported


def first_session(directory: Path) -> str:
    return next(r.sid for r in records(directory) if r.type == "session.open" and r.sid)


def refused(directory: Path, signer: Signer, anchor: Path, match: str) -> None:
    before = read_checkpoints(directory)
    with pytest.raises(RecordingUnavailable, match=match):
        restart(directory, signer, anchor)
    assert read_checkpoints(directory) == before  # nothing signed


def with_prior(directory: Path, signer: Signer, exported: Path) -> set[str]:
    verdict = verify_directory(directory, [signer.verifier], prior=[exported.read_text()])
    assert not verdict.ok
    return {f.code for f in verdict.errors()}


def test_a_session_deleted_renumbered_rechained_and_checkpoints_cut(
    log: tuple[Path, Path, Path], signer: Signer
) -> None:
    directory, anchor, exported = log
    victim = first_session(directory)
    before = len(records(directory))
    rewrite(directory, lambda r: r.sid != victim, lambda b: None)
    kept = len(records(directory))
    assert kept < before
    # keep the checkpoints that still cover no more records than remain
    data = (directory / CHECKPOINTS).read_bytes()
    entries, _ = split_checkpoints(data, {})
    (directory / CHECKPOINTS).write_bytes(data[: entries[1][0]])  # the first one only
    (directory / FRONTIER).unlink()
    refused(directory, signer, anchor, "removed|rewritten|no longer match")
    assert with_prior(directory, signer, exported) & {"prior-beyond-log", "prior-mismatch"}


def test_checkpoints_deleted_and_every_identity_changed(
    log: tuple[Path, Path, Path], signer: Signer
) -> None:
    directory, anchor, exported = log

    def alias(body: dict) -> None:
        subject = body.get("subject")
        if isinstance(subject, dict):
            subject["sub"] = "someone-else"

    rewrite(directory, lambda r: True, alias)
    (directory / CHECKPOINTS).unlink()
    (directory / FRONTIER).unlink()
    refused(directory, signer, anchor, "removed|unsealed-boot|no longer match")
    # without the anchor, the tail check alone refuses the never-sealed boots
    refused(directory, signer, anchor.with_name("none"), "unsealed-boot")
    verdict = verify_directory(directory, [signer.verifier])
    assert not verdict.ok and "checkpoint-missing" in {f.code for f in verdict.errors()}
    assert with_prior(directory, signer, exported) & {"prior-mismatch", "prior-beyond-log"}


def test_the_last_boot_removed_with_its_checkpoints(
    log: tuple[Path, Path, Path], signer: Signer
) -> None:
    directory, anchor, exported = log
    boots = [r.gw["boot"] for r in records(directory) if r.type == "gateway.start"]
    rewrite(directory, lambda r: r.gw["boot"] != boots[-1], lambda b: None)
    size = len(records(directory))
    data = (directory / CHECKPOINTS).read_bytes()
    entries, _ = split_checkpoints(data, {})
    # checkpoints.log cut after the checkpoint that sealed the first boot's stop
    cut = next(i for i, (_, e) in enumerate(entries) if f"\n{size}\n".encode() in e) + 1
    (directory / CHECKPOINTS).write_bytes(data[: entries[cut][0]])
    (directory / FRONTIER).unlink()
    # On its own, the shortened log is intact and sealed: what the exported copy is for.
    assert verify_directory(directory, [signer.verifier]).ok
    refused(directory, signer, anchor, r"signed record\(s\) were removed")
    assert "prior-beyond-log" in with_prior(directory, signer, exported)


def test_a_record_edited_in_place_before_the_anchor(
    log: tuple[Path, Path, Path], signer: Signer
) -> None:
    directory, anchor, exported = log

    def soften(body: dict) -> None:
        if body.get("dec") == "allow":
            body["rules"] = ["nothing-to-see"]

    rewrite(directory, lambda r: True, soften)
    refused(directory, signer, anchor, "no longer match|rewritten")
    assert with_prior(directory, signer, exported) & {"prior-mismatch", "checkpoint-root-mismatch"}


def test_a_forged_record_appended_after_the_last_stop(
    log: tuple[Path, Path, Path], signer: Signer
) -> None:
    directory, anchor, exported = log
    last = records(directory)[-1]
    forged = encode(
        seq=last.seq + 1, ts=last.ts, gw=last.gw, type="policy.load", sid=None, n=None,
        prev=None, body={"bundle": {"sha256": "00" * 32}},
    )  # fmt: skip
    with (directory / "seg-000001.jsonl").open("ab") as f:
        f.write(forged + b"\n")
    refused(directory, signer, anchor, "record-after-stop")
    assert "record-after-stop" in with_prior(directory, signer, exported)
    verdict = verify_directory(directory, [signer.verifier])
    assert not verdict.ok and "record-after-stop" in {f.code for f in verdict.errors()}
