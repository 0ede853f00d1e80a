"""The verdict: findings, sealing, sessions, inclusion proofs (C2SP tlog-proof), origins."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from regogate.recording.format import jcs
from regogate.recording.format.layout import CHECKPOINTS, SegmentFile, split_checkpoints
from regogate.recording.format.note import Signer, Verifier
from regogate.recording.format.proof import HEADER, ProofError, RecordProof, check_record
from regogate.recording.read import chain, verify
from regogate.recording.read.findings import Finding, Findings, Severity
from regogate.recording.read.verify import Verdict, verify_directory, verify_log
from regogate.recording.write.writer import Recorder
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


def test_a_crash_after_an_earlier_clean_stop_is_a_warning(tmp_path: Path, signer: Signer) -> None:
    """The earlier boot's gateway.stop is sealed; the later boot's unsealed tail is a
    crash's, not an error."""
    live, snapshot = tmp_path / "live", tmp_path / "snap"
    write_log(live, signer, everything())

    async def script(rec: Recorder) -> None:
        s = rec.open_session({})
        await statement(s, 1)
        await rec.checkpoint()
        await statement(s, 2)  # written, not sealed
        shutil.copytree(live, snapshot, ignore=shutil.ignore_patterns(".lock"))

    write_log(live, signer, script, checkpoint_interval=3600)
    verdict = verify_directory(snapshot, [signer.verifier])
    assert verdict.ok and not verdict.sealed
    assert {(f.severity, f.code) for f in verdict.findings} == {
        (Severity.WARNING, "unsealed-tail"),
        (Severity.INFO, "session-open"),
    }


def test_a_stop_whose_checkpoint_was_not_written(tmp_path: Path, signer: Signer) -> None:
    """A writer that died while sealing its stop (or failed to append the checkpoint)
    leaves what a truncated checkpoints.log leaves: an error, until the next start
    seals the log."""
    write_log(tmp_path, signer, everything())
    path = tmp_path / CHECKPOINTS
    entries, _ = split_checkpoints(path.read_bytes(), {})
    path.write_bytes(path.read_bytes()[: entries[-1][0]])
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert [f.code for f in verdict.errors()] == ["unsealed-stop"]
    assert verdict.errors()[0].message.endswith("(or the gateway died while sealing)")
    write_log(tmp_path, signer, everything())
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert verdict.ok and verdict.sealed


def test_a_stop_sealed_while_verify_reads(
    tmp_path: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify reads checkpoints.log before the segments; a gateway stopping in between has
    written gateway.stop but not yet the checkpoint covering it. verify then reads again,
    rather than call it a truncation."""
    write_log(tmp_path, signer, everything())
    data = (tmp_path / CHECKPOINTS).read_bytes()
    entries, _ = split_checkpoints(data, {})
    stale = [data[: entries[-1][0]]]  # read just before the stop's checkpoint is appended
    real = verify.read_checkpoints

    def read(directory: Path) -> bytes:
        return stale.pop() if stale else real(directory)

    monkeypatch.setattr(verify, "read_checkpoints", read)
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert not stale and verdict.ok and verdict.sealed and not verdict.findings


def test_a_stop_sealed_just_after_verify_read_everything(tmp_path: Path, signer: Signer) -> None:
    """A small log is verified within the moment between a stopping gateway's
    gateway.stop and its checkpoint: verify gives the writer a grace period."""
    import threading

    write_log(tmp_path, signer, everything())
    path = tmp_path / CHECKPOINTS
    data = path.read_bytes()
    entries, _ = split_checkpoints(data, {})
    path.write_bytes(data[: entries[-1][0]])  # the stop's checkpoint is not there yet
    late = threading.Timer(0.5, path.write_bytes, (data,))
    late.start()
    try:
        verdict = verify_directory(tmp_path, [signer.verifier])
    finally:
        late.join()
    assert verdict.ok and verdict.sealed and not verdict.findings


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
    assert {f.code for f in verdict.errors()} == {
        "origin-mismatch",
        "checkpoint-origin",
        "checkpoint-missing",  # every checkpoint is for another origin
    }


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
    assert [f.code for f in verdict.errors()] == ["boot-without-start", "checkpoint-missing"]
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


# --- Chunked, run-based and parallel scanning give the verdict of checking each record ---


def one_by_one(data: bytes) -> chain.Chunk:
    """The reference record pass: every line a record of its own, no runs."""
    lines = data.split(b"\n")
    tail = lines.pop()
    recs = [chain.scan_line(line) for line in lines]
    leaves = b"".join(rec[0] for rec in recs)
    return chain.Chunk(leaves, len(lines), len(tail), list(enumerate(recs)))


def summary(verdict: Verdict) -> tuple[object, ...]:
    cps = [(c.line, c.checkpoint.size, c.note) for c in verdict.checkpoints]
    return (
        verdict.findings,
        verdict.records,
        verdict.sessions,
        verdict.origin,
        cps,
        verdict.tree.root(),
    )


@pytest.fixture(scope="module")
def busy_log(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[SegmentFile], bytes, list[Verifier]]:
    """Two boots, a key rotation, interleaved sessions, one left open by the second boot."""
    old, new = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    directory = tmp_path_factory.mktemp("busy")
    write_log(directory, old, everything(rotate_to=new), segment_bytes=3000)

    async def script(rec: Recorder) -> None:
        sessions = [rec.open_session({"subject": {"sub": f"u{i}"}}) for i in range(4)]
        for i in range(12):
            await statement(sessions[i % 4], i, flush=i % 3 == 0)
            if i == 7:
                rec.record("policy.load", {"bundle": {"sha256": "ab" * 32}})
        for s in sessions[:3]:
            await s.close("client exit", {"statements": 3})

    write_log(directory, new, script, segment_bytes=3000)
    segments, checkpoints = load(directory)
    return segments, checkpoints, [old.verifier, new.verifier]


def damaged(segments: list[SegmentFile], how: str) -> list[SegmentFile]:
    lines = [x for seg in segments for x in seg.data.split(b"\n")[:-1]]
    objs = [json.loads(x) for x in lines]
    stmt = next(i for i, o in enumerate(objs) if o["type"] == "stmt" and i > 20)
    if how == "deleted":
        del lines[stmt]
    elif how == "swapped":
        lines[stmt], lines[stmt + 1] = lines[stmt + 1], lines[stmt]
    elif how == "edited":
        objs[stmt]["q"] = {"norm": "SELECT 2"}
        lines[stmt] = jcs.dumps(objs[stmt])
    elif how == "other boot":
        objs[stmt]["gw"] = {**objs[stmt]["gw"], "boot": "b"}
        lines[stmt] = jcs.dumps(objs[stmt])
    elif how == "reopened":
        lines.insert(
            stmt, lines[next(i for i, o in enumerate(objs) if o["type"] == "session.open")]
        )
    elif how == "after close":
        close = max(i for i, o in enumerate(objs) if o["type"] == "session.close")
        objs[close]["n"] += 1
        lines.insert(close + 1, lines[close - 1])
    elif how == "not canonical":
        lines[stmt] = lines[stmt].replace(b'","', b'", "', 1)
    elif how == "float":
        objs[stmt]["x"] = 1.5
        lines[stmt] = jcs.dumps(objs[stmt])
    out, i = [], 0
    for k, seg in enumerate(segments):
        count = len(seg.data.split(b"\n")) - 1
        take = lines[i:] if k == len(segments) - 1 else lines[i : i + count]
        out.append(SegmentFile(seg.name, seg.number, b"".join(x + b"\n" for x in take)))
        i += count
    if how == "torn":
        last = out[-1]
        out[-1] = SegmentFile(last.name, last.number, last.data + b'{"torn')
    return out


DAMAGE = [
    "none",
    "deleted",
    "swapped",
    "edited",
    "other boot",
    "reopened",
    "after close",
    "not canonical",
    "float",
    "torn",
]


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("chunk", [1, 500, 1 << 20])
def test_runs_give_the_verdict_of_checking_each_record(
    busy_log: tuple[list[SegmentFile], bytes, list[Verifier]],
    how: str,
    chunk: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    segments, checkpoints, trusted = busy_log
    log = damaged(segments, how)
    monkeypatch.setattr(verify, "CHUNK_BYTES", chunk)
    got = verify_log(log, checkpoints, trusted)
    monkeypatch.setattr(verify, "scan_chunk", one_by_one)
    want = verify_log(log, checkpoints, trusted)
    assert summary(got) == summary(want)
    assert (how in {"none", "torn"}) == want.ok


def test_parallel_workers_give_the_same_verdict(
    busy_log: tuple[list[SegmentFile], bytes, list[Verifier]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    segments, checkpoints, trusted = busy_log
    spawned: list[int] = []
    in_workers = verify._in_workers

    def counted(tasks: Any, workers: int, idle: Any) -> Any:
        spawned.append(workers)
        return in_workers(tasks, workers, idle)

    for how in ["none", "deleted", "other boot", "torn"]:
        directory = tmp_path / how
        directory.mkdir()
        for seg in damaged(segments, how):
            (directory / seg.name).write_bytes(seg.data)
        (directory / "checkpoints.log").write_bytes(checkpoints)
        with monkeypatch.context() as patch:
            patch.setattr(verify, "CHUNK_BYTES", 700)
            patch.setattr(verify, "_in_workers", counted)
            parallel = verify_directory(directory, trusted, workers=2)
            serial = verify_directory(directory, trusted)
        with monkeypatch.context() as patch:
            patch.setattr(verify, "scan_chunk", one_by_one)
            want = verify_directory(directory, trusted, workers=2)  # one chunk: here
        assert summary(parallel) == summary(serial) == summary(want), how
    assert spawned == [2, 2, 2, 2]


def test_bytes_that_change_between_reads_are_refused(
    busy_log: tuple[list[SegmentFile], bytes, list[Verifier]],
) -> None:
    segments, _, _ = busy_log
    data = segments[0].data
    chunk = chain.scan_chunk(
        data[data.index(b"\n") + 1 :]
    )  # no gateway.start: a run that cannot join
    assert any(isinstance(item, chain.Run) for item in chunk.items)
    records = chain.RecordPass(Findings(), None)
    records.begin(segments[0].name, 1)
    changed = data.replace(b'"stmt"', b'"stmx"')
    with pytest.raises(verify.ChangedDuringVerify, match="changed while it was being verified"):
        records.take(chunk, segments[0].name, 2, lambda lo, hi: changed[lo:hi])


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1234567890123456}',
        b'{"a":9007199254740991}',
        b'{"a":9007199254740992}',
        b'{"a":-9007199254740992}',
        b'{"a":18446744073709551615}',
        b'{"a":100000000000000000000}',
        b'{"a":-9223372036854775809}',
        b'{"a":123456789012345678901234567890}',
        b"[100000000000000000000]",
        b'{"a":"1234567890123456789"}',
        b'{"a":1.5}',
        b'{"a":1e+21}',
        b'{"a":[1,{"b":0.5}]}',
        b'{"a":1,"a":2}',
        b'{"a": 1}',
        b'{"\xf0\x9f\x98\x80":1}',
        b'{"a":"\\u00e9"}',
        b'{"a":-0}',
        b"1.5",
        b'"x"',
    ],
)
def test_the_canonical_check_agrees_with_the_reference(data: bytes) -> None:
    value, canonical = jcs.loads(data)
    want_value, want_canonical = jcs._loads_slow(data)
    assert canonical == want_canonical
    assert json.dumps(value) == json.dumps(want_value)
