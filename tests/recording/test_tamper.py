"""The tamper matrix: every kind of change to a sealed log is found, with the right message."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from regogate.cli.main import app
from regogate.recording.format import jcs
from regogate.recording.format.checkpoint import Checkpoint
from regogate.recording.format.layout import CHECKPOINTS, SegmentFile, split_checkpoints
from regogate.recording.format.merkle import MerkleTree, leaf_hash
from regogate.recording.format.note import Signer, Verifier
from regogate.recording.read.findings import Severity
from regogate.recording.read.verify import Verdict
from tests.recording.conftest import ORIGIN, check, everything, load, write_log

Log = tuple[list[SegmentFile], bytes]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Log, list[Verifier], Signer]:
    """A sealed log with every record type (and a key rotation) over several segments."""
    old, new = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    directory = tmp_path_factory.mktemp("reference")
    write_log(directory, old, everything(rotate_to=new), segment_bytes=2000)
    segments, checkpoints = load(directory)
    assert len(segments) > 3
    trusted = [old.verifier, new.verifier]
    verdict = check(segments, checkpoints, trusted)
    assert verdict.ok and verdict.sealed and not verdict.findings
    return (segments, checkpoints), trusted, new


def lines(log: Log) -> list[bytes]:
    return [x for seg in log[0] for x in seg.data.split(b"\n")[:-1]]


def with_lines(log: Log, new: list[bytes]) -> Log:
    """Put lines back into segments of the same sizes in lines (the last takes the rest)."""
    out, i = [], 0
    for k, seg in enumerate(log[0]):
        count = len(seg.data.split(b"\n")) - 1
        take = new[i:] if k == len(log[0]) - 1 else new[i : i + count]
        out.append(replace(seg, data=b"".join(x + b"\n" for x in take)))
        i += count
    return out, log[1]


def first(log: Log, kind: str) -> int:
    return next(i for i, x in enumerate(lines(log)) if json.loads(x)["type"] == kind)


def codes(verdict: Verdict) -> set[str]:
    return {f.code for f in verdict.errors()}


FIELD = {  # a type-specific field to edit in each record type
    "gateway.start": ("origin", ORIGIN + "x"),
    "policy.load": ("bundle", {"sha256": "ef" * 32}),
    "session.open": ("subject", {"sub": "mallory"}),
    "stmt": ("q", {"norm": "SELECT 1"}),
    "decision": ("dec", "deny"),
    "approval": ("approver", {"sub": "mallory"}),
    "error": ("sqlstate", "00000"),
    "cancel": ("requested_by", "nobody"),
    "result": ("rows", {"returned": 0, "affected": 0}),
    "key.rotate": ("new", "evil+00000000+AAAA"),
    "session.close": ("reason", "normal"),
    "gateway.stop": ("reason", "crash"),
}


@pytest.mark.parametrize("kind", sorted(FIELD))
def test_editing_any_record_type_is_found(
    reference: tuple[Log, list[Verifier], Signer], kind: str
) -> None:
    log, trusted, _ = reference
    recs = lines(log)
    i = first(log, kind)
    obj = json.loads(recs[i])
    key, value = FIELD[kind]
    obj[key] = value
    recs[i] = jcs.dumps(obj)
    verdict = check(*with_lines(log, recs), trusted)
    assert not verdict.ok
    mismatch = [f for f in verdict.errors() if f.code == "checkpoint-root-mismatch"]
    assert mismatch, verdict.findings
    lo, hi = mismatch[0].message.split("seq ")[1].split(" ")[0].split("..")
    assert int(lo) <= i <= int(hi)
    if obj["sid"] is not None and kind != "session.close":
        broken = [f for f in verdict.errors() if f.code == "chain-broken"]
        assert broken and f"previous record (seq {i})" in broken[0].message


def test_flipping_a_raw_byte_is_found(reference: tuple[Log, list[Verifier], Signer]) -> None:
    log, trusted, _ = reference
    for i in range(0, len(lines(log)), 7):
        recs = lines(log)
        line = bytearray(recs[i])
        line[len(line) // 2] ^= 0x01
        recs[i] = bytes(line)
        verdict = check(*with_lines(log, recs), trusted)
        assert "checkpoint-root-mismatch" in codes(verdict), (i, verdict.findings)


def test_deleting_a_record(reference: tuple[Log, list[Verifier], Signer]) -> None:
    log, trusted, _ = reference
    recs = lines(log)
    i = first(log, "decision")
    del recs[i]
    verdict = check(*with_lines(log, recs), trusted)
    assert {"seq-gap", "chain-broken", "checkpoint-root-mismatch"} <= codes(verdict)
    gap = next(f for f in verdict.errors() if f.code == "seq-gap")
    assert (
        gap.seq == i + 1
        and gap.message == f"seq jumps from {i - 1} to {i + 1}: 1 record(s) missing"
    )


def test_reordering_two_records(reference: tuple[Log, list[Verifier], Signer]) -> None:
    log, trusted, _ = reference
    recs = lines(log)
    i = first(log, "result")
    recs[i], recs[i + 1] = recs[i + 1], recs[i]
    verdict = check(*with_lines(log, recs), trusted)
    assert {"seq-gap", "seq-order", "checkpoint-root-mismatch"} <= codes(verdict)
    order = next(f for f in verdict.errors() if f.code == "seq-order")
    assert order.seq == i and "records reordered or duplicated" in order.message


def test_moving_a_record_to_another_session(reference: tuple[Log, list[Verifier], Signer]) -> None:
    log, trusted, _ = reference
    recs = lines(log)
    stmts = [i for i, x in enumerate(recs) if json.loads(x)["type"] == "stmt"]
    a, b = json.loads(recs[stmts[0]]), json.loads(recs[stmts[1]])
    assert a["sid"] != b["sid"]
    a["sid"], b["sid"] = b["sid"], a["sid"]
    recs[stmts[0]], recs[stmts[1]] = jcs.dumps(a), jcs.dumps(b)
    verdict = check(*with_lines(log, recs), trusted)
    assert {"chain-broken", "checkpoint-root-mismatch"} <= codes(verdict)


def test_a_rewritten_history_is_caught_by_the_checkpoints(
    reference: tuple[Log, list[Verifier], Signer],
) -> None:
    """An attacker without the key swaps two sessions' statements and re-chains everything."""
    log, trusted, _ = reference
    objs = [json.loads(x) for x in lines(log)]
    stmts = [o for o in objs if o["type"] == "stmt"]
    stmts[0]["q"], stmts[1]["q"] = stmts[1]["q"], stmts[0]["q"]
    verdict = check(*with_lines(log, rechain(objs)), trusted)
    assert codes(verdict) <= {"checkpoint-root-mismatch", "checkpoint-missing"}
    assert "checkpoint-root-mismatch" in codes(verdict)


def rechain(objs: list[dict[str, Any]]) -> list[bytes]:
    """The records' bytes, each session's prev (and chain_head) recomputed: what anyone
    can do without the signing key."""
    heads: dict[str, str] = {}
    recs = []
    for o in objs:
        if o["sid"] is not None:
            o["prev"] = heads.get(o["sid"])
            if o["type"] == "session.close":
                o["chain_head"] = o["prev"]
        data = jcs.dumps(o)
        if o["sid"] is not None:
            heads[o["sid"]] = leaf_hash(data).hex()
        recs.append(data)
    return recs


def test_truncating_sealed_records(reference: tuple[Log, list[Verifier], Signer]) -> None:
    log, trusted, _ = reference
    recs = lines(log)
    verdict = check(*with_lines(log, recs[:-3]), trusted)
    assert codes(verdict) == {"checkpoint-beyond-log"}
    last = verdict.errors()[-1]
    assert f"covers {len(recs)} records but the log has only {len(recs) - 3}" in last.message
    assert last.file == "checkpoints.log" and last.line is not None


def checkpoints_up_to(checkpoints: bytes, size: int) -> bytes:
    """checkpoints.log cut back to its entries that cover at most ``size`` records."""
    entries, torn = split_checkpoints(checkpoints, {})
    assert torn is None
    kept = [raw for _, raw in entries if int(raw.split(b"\n")[1]) <= size]
    assert 0 < len(kept) < len(entries)
    return b"".join(raw + b"\n" for raw in kept)


def rewritten_tail(recs: list[bytes]) -> tuple[list[bytes], int]:
    """The last stmt's text rewritten, the session chains re-linked; and its seq."""
    objs = [json.loads(x) for x in recs]
    i = max(k for k, o in enumerate(objs) if o["type"] == "stmt")
    objs[i]["q"]["norm"] = "SELECT 'nothing to see here'"
    return rechain(objs), i


@pytest.mark.parametrize("cut", ["truncated", "deleted"])
def test_a_rewritten_tail_after_a_clean_stop_with_checkpoints_cut(
    reference: tuple[Log, list[Verifier], Signer], cut: str
) -> None:
    """Rewrite the last records (no key needed), then cut checkpoints.log back to an entry
    before them, or delete it. The records alone look intact; but a clean stop always
    seals its gateway.stop, so an unsealed gateway.stop is an error, not a crash's tail."""
    log, trusted, _ = reference
    recs, i = rewritten_tail(lines(log))
    segments, checkpoints = with_lines(log, recs)
    kept = checkpoints_up_to(checkpoints, i) if cut == "truncated" else b""
    verdict = check(segments, kept, trusted)
    stop = len(recs) - 1
    assert json.loads(recs[stop])["type"] == "gateway.stop"
    sealed, rotate = verdict.sealed_size, first(log, "key.rotate")
    if cut == "truncated":
        assert rotate < sealed <= i  # key.rotate stays sealed
        assert codes(verdict) == {"unsealed-stop"}
    else:  # no checkpoint at all: an error of its own
        assert sealed == 0
        assert codes(verdict) == {"unsealed-stop", "unsealed-rotate", "checkpoint-missing"}
    err = next(f for f in verdict.errors() if f.code == "unsealed-stop")
    assert (err.file, err.line, err.seq) == (
        segments[-1].name,
        segments[-1].data.count(b"\n"),
        stop,
    )
    boot = json.loads(recs[stop])["gw"]["boot"]
    if cut == "truncated":
        line = verdict.checkpoints[-1].line
        cover = f"the last valid checkpoint (size {sealed}, checkpoints.log:{line}) ends before it"
    else:
        cover = "checkpoints.log is missing or empty"
    assert err.message == (
        f"gateway.stop of boot {boot} is not sealed: {cover}. A clean stop always publishes a"
        f" checkpoint covering its gateway.stop (here records seq {sealed}..{stop}), so"
        " checkpoints.log was truncated, replaced or deleted (or the gateway died while sealing)"
    )
    tail_code = "unsealed-tail" if cut == "truncated" else "checkpoint-missing"
    tail = next(f for f in verdict.findings if f.code == tail_code)
    severity = Severity.WARNING if cut == "truncated" else Severity.ERROR
    assert tail.severity is severity and tail.seq == sealed
    if cut == "deleted":
        rot = next(f for f in verdict.errors() if f.code == "unsealed-rotate")
        assert rot.seq == rotate and f"(here records seq 0..{rotate})" in rot.message


def test_dropping_gateway_stop_too_takes_a_checkpoint_held_outside(
    reference: tuple[Log, list[Verifier], Signer],
) -> None:
    """With gateway.stop removed as well, the log ends like a crash's: only a checkpoint
    held outside the log (or a witness) shows the truncation."""
    log, trusted, _ = reference
    recs, i = rewritten_tail(lines(log)[:-1])
    segments, checkpoints = with_lines(log, recs)
    kept = checkpoints_up_to(checkpoints, i)
    verdict = check(segments, kept, trusted)
    assert verdict.ok and not verdict.sealed
    assert {f.code for f in verdict.findings} == {"unsealed-tail"}
    held = check(*log, trusted).checkpoints[-1].note
    assert codes(check(segments, kept, trusted, prior=[held])) == {"prior-beyond-log"}


def test_records_after_an_unsealed_key_rotate(
    reference: tuple[Log, list[Verifier], Signer],
) -> None:
    """key.rotate ends its batch, which is sealed before anything more is written: later
    records of its boot mean its checkpoint was removed, even if the log ends like a
    crash. A crash right after key.rotate, before its checkpoint, is only a warning."""
    log, trusted, _ = reference
    rotate = first(log, "key.rotate")
    recs = lines(log)[:-1]  # gateway.stop dropped: the end looks like a crash
    segments, checkpoints = with_lines(log, recs)
    kept = checkpoints_up_to(checkpoints, rotate)
    verdict = check(segments, kept, trusted)
    assert codes(verdict) == {"unsealed-rotate"}
    err = verdict.errors()[0]
    assert err.seq == rotate and err.message.startswith("key.rotate of boot ")
    assert (
        f"(here records seq {verdict.sealed_size}..{rotate}), so checkpoints.log was" in err.message
    )
    crashed = check(with_lines(log, recs[: rotate + 1])[0], kept, trusted)
    warnings = {f.code for f in crashed.findings if f.severity is Severity.WARNING}
    assert crashed.ok and warnings == {"unsealed-tail"}


@pytest.mark.parametrize("cut", ["truncated", "deleted"])
def test_verify_fails_on_a_stopped_log_with_checkpoints_cut(tmp_path: Path, cut: str) -> None:
    """The same on disk, through `regogate verify`: exit status 1, the gateway.stop named."""
    signer = Signer.generate(ORIGIN)
    directory, trust = tmp_path / "rec", tmp_path / "trust.vkeys"
    trust.write_text(signer.verifier.vkey() + "\n")
    write_log(directory, signer, everything())
    (segment,) = directory.glob("seg-*.jsonl")
    recs, i = rewritten_tail(segment.read_bytes().splitlines())
    segment.write_bytes(b"".join(x + b"\n" for x in recs))
    if cut == "truncated":
        path = directory / CHECKPOINTS
        path.write_bytes(checkpoints_up_to(path.read_bytes(), i))
    else:
        (directory / CHECKPOINTS).unlink()
    result = CliRunner().invoke(app, ["verify", "-d", str(directory), "--trust", str(trust)])
    assert result.exit_code == 1, result.output
    stop = json.loads(recs[-1])
    assert stop["type"] == "gateway.stop"
    named = f"{segment.name}:{len(recs)}: seq {stop['seq']}: error: gateway.stop of boot"
    assert named in result.stdout and "[unsealed-stop]" in result.stdout
    tail = "[unsealed-tail]" if cut == "truncated" else "[checkpoint-missing]"
    assert tail in result.stdout and "OK:" not in result.stdout
    first = named if cut == "truncated" else "seg-000001.jsonl:1: seq 0: error: no valid signed"
    assert f"verification failed: {first}" in result.stderr


def test_truncating_mid_line(reference: tuple[Log, list[Verifier], Signer]) -> None:
    log, trusted, _ = reference
    segments, checkpoints = log
    cut = [*segments[:-1], replace(segments[-1], data=segments[-1].data[:-10])]
    verdict = check(cut, checkpoints, trusted)
    assert codes(verdict) == {"checkpoint-beyond-log"}
    assert any(f.code == "torn-tail" for f in verdict.findings)


def test_cutting_a_middle_segment_short(reference: tuple[Log, list[Verifier], Signer]) -> None:
    log, trusted, _ = reference
    segments, checkpoints = log
    cut = [segments[0], replace(segments[1], data=segments[1].data[:-10]), *segments[2:]]
    verdict = check(cut, checkpoints, trusted)
    assert {"torn-unacknowledged", "seq-gap", "checkpoint-root-mismatch"} <= codes(verdict)
    torn = next(f for f in verdict.errors() if f.code == "torn-unacknowledged")
    assert torn.file == segments[1].name and "bytes were removed here" in torn.message


def test_removing_a_segment(reference: tuple[Log, list[Verifier], Signer]) -> None:
    log, trusted, _ = reference
    segments, checkpoints = log
    verdict = check([segments[0], *segments[2:]], checkpoints, trusted)
    assert {"segment-missing", "seq-gap"} <= codes(verdict)


def test_a_checkpoint_forged_with_another_key(
    reference: tuple[Log, list[Verifier], Signer],
) -> None:
    log, trusted, _ = reference
    segments, checkpoints = log
    mallory = Signer.generate(ORIGIN)
    tree = MerkleTree()
    for x in lines(log):
        tree.append(leaf_hash(x))
    forged = mallory.sign(Checkpoint(ORIGIN, tree.size, tree.root()).text())
    verdict = check(segments, checkpoints + forged.encode() + b"\n", trusted)
    assert codes(verdict) == {"checkpoint-untrusted"}
    bad = verdict.errors()[0]
    assert bad.message == "checkpoint: no signature by a trusted key"
    assert bad.file == "checkpoints.log" and bad.line == checkpoints.count(b"\n") + 1


def test_an_edited_checkpoint(reference: tuple[Log, list[Verifier], Signer]) -> None:
    log, trusted, _ = reference
    segments, checkpoints = log
    text = checkpoints.decode()
    size = text.split("\n")[1]
    edited = text.replace(f"\n{size}\n", f"\n{int(size) + 1}\n", 1).encode()
    verdict = check(segments, edited, trusted)
    assert codes(verdict) == {"checkpoint-signature-invalid"}
    assert verdict.errors()[0].message.startswith("checkpoint: invalid signature by " + ORIGIN)


def test_rewriting_everything_and_resigning_with_another_key(
    reference: tuple[Log, list[Verifier], Signer],
) -> None:
    log, trusted, _ = reference
    mallory = Signer.generate(ORIGIN)
    recs = lines(log)
    tree = MerkleTree()
    for x in recs:
        tree.append(leaf_hash(x))
    note = mallory.sign(Checkpoint(ORIGIN, tree.size, tree.root()).text())
    verdict = check(with_lines(log, recs)[0], note.encode() + b"\n", trusted)
    assert codes(verdict) == {"checkpoint-untrusted", "checkpoint-missing"}
    assert not verdict.sealed
    assert "no valid signed checkpoint" in next(
        f.message for f in verdict.findings if f.code == "checkpoint-missing"
    )


def test_a_checkpoint_signed_by_a_retired_key(
    reference: tuple[Log, list[Verifier], Signer],
) -> None:
    """After key.rotate is sealed, the old key (trusted, but retired) may not sign."""
    log, trusted, new = reference
    segments, checkpoints = log
    old_text = checkpoints.decode().split("\n\n")
    # Re-sign the last checkpoint with a third, trusted key the log never announced.
    stranger = Signer.generate(ORIGIN)
    body = old_text[-3] + "\n"
    forged = stranger.sign(body)
    verdict = check(segments, checkpoints + forged.encode() + b"\n", [*trusted, stranger.verifier])
    assert codes(verdict) == {"checkpoint-wrong-key"}
    assert new.verifier.vkey() in verdict.errors()[0].message


def test_prior_checkpoints_held_by_the_examiner(
    reference: tuple[Log, list[Verifier], Signer],
) -> None:
    log, trusted, _ = reference
    good = check(*log, trusted)
    held = good.checkpoints[len(good.checkpoints) // 2].note
    assert any(f.code == "prior-consistent" for f in check(*log, trusted, prior=[held]).findings)
    recs = lines(log)
    truncated = with_lines(log, recs[:5])
    kept = [c.note for c in good.checkpoints if c.checkpoint.size <= 5]
    verdict = check(truncated[0], "\n".join(kept).encode() + b"\n", trusted, prior=[held])
    assert "prior-beyond-log" in codes(verdict)


MUTATORS: list[tuple[str, Callable[[list[bytes]], list[bytes]]]] = [
    ("duplicate", lambda r: [*r[:4], r[4], *r[4:]]),
    ("blank line", lambda r: [*r[:4], b"", *r[4:]]),
    ("not json", lambda r: [*r[:4], b"{oops", *r[5:]]),
    ("whitespace", lambda r: [*r[:4], r[4].replace(b'","', b'", "', 1), *r[5:]]),
]


@pytest.mark.parametrize(("name", "mutate"), MUTATORS, ids=[m[0] for m in MUTATORS])
def test_structural_damage(
    reference: tuple[Log, list[Verifier], Signer],
    name: str,
    mutate: Callable[[list[bytes]], list[bytes]],
) -> None:
    log, trusted, _ = reference
    verdict = check(*with_lines(log, mutate(lines(log))), trusted)
    expected = {
        "duplicate": "seq-order",
        "blank line": "record-not-json",
        "not json": "record-not-json",
        "whitespace": "record-not-canonical",
    }[name]
    assert expected in codes(verdict) and "checkpoint-root-mismatch" in codes(verdict)
