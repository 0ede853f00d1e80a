"""The verdict: findings, sealing, sessions, inclusion proofs (C2SP tlog-proof), origins."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from regogate.recording.findings import Finding, Findings, Severity
from regogate.recording.layout import SegmentFile
from regogate.recording.note import Signer
from regogate.recording.proof import HEADER, ProofError, RecordProof, check_record
from regogate.recording.verify import verify_directory
from regogate.recording.writer import Recorder
from tests.recording.conftest import ORIGIN, check, everything, load, statement, write_log


def test_inclusion_proofs_for_every_record(tmp_path: Path, signer: Signer) -> None:
    write_log(tmp_path, signer, everything())
    verdict = verify_directory(tmp_path, [signer.verifier])
    records = [x for seg in load(tmp_path)[0] for x in seg.data.splitlines()]
    for seq, record in enumerate(records):
        text = verdict.inclusion_proof(seq).text()
        assert text.startswith(f"{HEADER}\nindex {seq}\n")
        proof = RecordProof.parse(text)
        cp = check_record(record, proof, [signer.verifier], ORIGIN)
        assert cp.size == len(records)
    proof = RecordProof.parse(verdict.inclusion_proof(3).text())
    with pytest.raises(ProofError, match="record 4 cannot be proved by a proof for index 3"):
        check_record(records[4], proof, [signer.verifier], ORIGIN)
    forged = records[3].replace(b'"seq":3', b'"seq":3 ')
    with pytest.raises(ProofError, match="not leaf 3 of the tree"):
        check_record(forged, proof, [signer.verifier], ORIGIN)
    with pytest.raises(ProofError, match="not 'other'"):
        check_record(records[3], proof, [signer.verifier], "other")
    with pytest.raises(ProofError, match="no signature by a trusted key"):
        check_record(records[3], proof, [Signer.generate(ORIGIN).verifier], ORIGIN)
    with pytest.raises(ValueError, match="not covered"):
        verdict.inclusion_proof(len(records))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope\n\n", "not a tlog-proof"),
        (f"{HEADER}\nindex 01\n\n", "bad index"),
        (f"{HEADER}\n\n", "missing 'index N'"),
        (f"{HEADER}\nindex 1\n!!\n\n", "not base64"),
        (f"{HEADER}\nindex 1\nAAAA\n\n", "not 32 bytes"),
    ],
)
def test_malformed_tlog_proofs(text: str, message: str) -> None:
    with pytest.raises(ProofError, match=message):
        RecordProof.parse(text)


def test_tlog_proof_extra_line_is_ignored() -> None:
    proof = RecordProof.parse(f"{HEADER}\nextra AAAA\nindex 7\n\nnote\n")
    assert proof.index == 7 and proof.hashes == () and proof.note == "note\n"


def test_sessions_left_open_by_a_crash_are_warned(tmp_path: Path, signer: Signer) -> None:
    live, snapshot = tmp_path / "live", tmp_path / "snap"

    async def script(rec: Recorder) -> None:
        s = rec.open_session({})
        await statement(s, 1)
        await rec.checkpoint()
        shutil.copytree(live, snapshot, ignore=shutil.ignore_patterns(".lock"))

    write_log(live, signer, script)
    verdict = verify_directory(snapshot, [signer.verifier])
    assert [(f.severity, f.code) for f in verdict.findings] == [(Severity.INFO, "session-open")]
    assert verdict.ok and verdict.sealed
    write_log(snapshot, signer, everything())  # the gateway restarts
    verdict = verify_directory(snapshot, [signer.verifier])
    warning = next(f for f in verdict.findings if f.code == "session-not-closed")
    assert warning.severity is Severity.WARNING and "ended without closing it" in warning.message


def test_unknown_record_types_are_accepted(tmp_path: Path, signer: Signer) -> None:
    async def script(rec: Recorder) -> None:
        rec.record("review", {"reviewer": "audit"})
        s = rec.open_session({})
        s.record("masking.sample", {"cells": 3})
        await s.close("bye")

    write_log(tmp_path, signer, script)
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert verdict.ok and verdict.sealed and not verdict.findings


def test_a_pinned_origin(tmp_path: Path, signer: Signer) -> None:
    write_log(tmp_path, signer, everything())
    verdict = verify_directory(tmp_path, [signer.verifier], origin="bank.example/other")
    assert {f.code for f in verdict.errors()} == {"origin-mismatch", "checkpoint-origin"}


def test_empty_and_missing(tmp_path: Path, signer: Signer) -> None:
    verdict = check([], b"", [signer.verifier])
    assert [f.code for f in verdict.errors()] == ["no-records"]
    with pytest.raises(FileNotFoundError):
        verify_directory(tmp_path / "absent", [signer.verifier])


def test_a_log_that_does_not_start_with_gateway_start(signer: Signer) -> None:
    line = json.dumps(
        {
            "gw": {"boot": "b", "id": "g", "ver": "1"},
            "n": None,
            "prev": None,
            "seq": 0,
            "sid": None,
            "ts": "2026-01-01T00:00:00.000000Z",
            "type": "policy.load",
            "v": "regogate.audit/1",
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    verdict = check([SegmentFile("seg-000001.jsonl", 1, line + b"\n")], b"", [signer.verifier])
    assert [f.code for f in verdict.errors()] == ["boot-without-start"]
    assert not verdict.sealed


def test_findings_render_and_are_capped() -> None:
    f = Finding(Severity.ERROR, "chain-broken", "prev does not match", "seg-000001.jsonl", 4, 3)
    assert str(f) == "seg-000001.jsonl:4: seq 3: error: prev does not match [chain-broken]"
    assert str(Finding(Severity.INFO, "x", "m")) == "info: m [x]"
    findings = Findings(limit=2)
    for i in range(5):
        findings.error("seq-gap", f"gap {i}", seq=i)
    out = findings.finish()
    assert [x.message for x in out] == ["gap 0", "gap 1", "3 more seq-gap findings not shown"]
    assert out[-1].severity is Severity.ERROR


def test_a_torn_checkpoint_entry_is_a_warning(tmp_path: Path, signer: Signer) -> None:
    write_log(tmp_path, signer, everything())
    segments, checkpoints = load(tmp_path)
    verdict = check(segments, checkpoints + b"bank.example/regogate/test\n12", [signer.verifier])
    assert verdict.ok and verdict.sealed
    torn = next(f for f in verdict.findings if f.code == "checkpoint-torn")
    assert f"(29 bytes at byte {len(checkpoints)})" in torn.message


def test_parallel_scanning_gives_the_same_verdict(tmp_path: Path, signer: Signer) -> None:
    write_log(tmp_path, signer, everything(), segment_bytes=1500)
    write_log(tmp_path, signer, everything(), segment_bytes=1500)
    segments = sorted(tmp_path.glob("seg-*.jsonl"))
    assert len(segments) > 6
    lines = segments[3].read_bytes().splitlines(keepends=True)
    segments[3].write_bytes(b"".join(lines[:1] + lines[2:]))  # a record removed
    with segments[-1].open("ab") as f:
        f.write(b'{"torn')
    serial = verify_directory(tmp_path, [signer.verifier])
    parallel = verify_directory(tmp_path, [signer.verifier], workers=3)
    assert {"seq-gap", "checkpoint-root-mismatch"} <= {f.code for f in serial.errors()}
    assert parallel.findings == serial.findings
    assert parallel.records == serial.records and parallel.tree.root() == serial.tree.root()
