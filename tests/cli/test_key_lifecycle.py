"""Keys have a lifecycle: a deployment identifier in the origin, rotation that retires the
old key (destroyed or archived, never left beside the new one), a signed key history, and
verify catching a retired key that signs again or a history that was tampered with."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from regogate.cli.rec_keys import now_ts
from regogate.recording.format.checkpoint import Checkpoint
from regogate.recording.format.directory import read_segments
from regogate.recording.format.key_history import entry_line, sign_entry
from regogate.recording.format.merkle import MerkleTree, leaf_hash
from regogate.recording.format.note import Signer
from regogate.recording.format.records import Record
from regogate.recording.write import keys
from tests.cli.test_recording_cli import Recorded, recording, run
from tests.recording.conftest import ORIGIN, everything, write_log


def codes(result_stdout: str) -> set[str]:
    return {f["code"] for f in json.loads(result_stdout)["findings"]}


def verify_json(rec: Recorded, *trust: Path) -> tuple[int, dict[str, object]]:
    args = [a for t in trust for a in ("--trust", t)] or ["--key", rec.key]
    result = run("verify", "-d", rec.dir, *args, "--json")
    return result.exit_code, json.loads(result.stdout)


def records(directory: Path) -> list[bytes]:
    return [x for s in read_segments(directory) for x in s.data.splitlines()]


def sign_whole_log(directory: Path, *signers: Signer, size: int | None = None) -> str:
    """A checkpoint over the log's first ``size`` records, signed by each of ``signers``."""
    tree = MerkleTree()
    for line in records(directory)[:size]:
        tree.append(leaf_hash(line))
    text = Checkpoint(signers[0].name, tree.size, tree.root()).text()
    # each with its signing time, as the writer signs (docs/recording-format.md §5)
    signatures = [s.sign(text, int(time.time())).split("\n\n", 1)[1] for s in signers]
    return text + "\n" + "".join(signatures)


@pytest.fixture
def rotated(tmp_path: Path) -> tuple[Recorded, Signer, Signer]:
    """A recording whose key was rotated once: (recording, old signer, new signer)."""
    rec = recording(tmp_path)
    old = keys.load_signer(rec.key)
    result = run("keys", "rotate", "-d", rec.dir, "--key", rec.key)
    assert result.exit_code == 0, result.output
    return rec, old, keys.load_signer(rec.key)


# -- the deployment identifier ----------------------------------------------------------------


def test_two_deployments_never_share_an_origin(tmp_path: Path) -> None:
    a, b = recording(tmp_path / "a"), recording(tmp_path / "b")  # the same --name
    origin_a, origin_b = a.origin, b.origin
    assert origin_a != origin_b
    for origin in (origin_a, origin_b):
        assert origin.startswith(ORIGIN + "/dep-") and keys.deployment_of(origin)
    assert json.loads(run("verify", "-d", a.dir, "--key", a.key, "--json").stdout)["origin"] == (
        origin_a
    )
    # b's trust file for a's log: a swapped trust file, caught.
    code, doc = verify_json(a, b.history)
    assert code == 1
    assert {"history-mismatch", "checkpoint-untrusted", "checkpoint-missing"} <= {
        f["code"]  # type: ignore[index]
        for f in doc["findings"]  # type: ignore[attr-defined]
    }
    out = run("keys", "generate", "--key", tmp_path / "c.key", "--name", origin_a)
    assert out.exit_code == 2 and "already ends with a deployment identifier" in out.stderr


def test_generate_prints_the_deployment(tmp_path: Path) -> None:
    key = tmp_path / "signing.key"
    result = run("keys", "generate", "--key", key, "--name", ORIGIN)
    signer = keys.load_signer(key)
    assert f"deployment  {keys.deployment_of(signer.name)}  (log origin {signer.name})" in (
        result.stdout
    )
    history = tmp_path / "signing.vkeys"
    again = run(
        "keys", "generate", "--key", tmp_path / "o.key", "--history", history, "--name", "x"
    )
    assert again.exit_code == 2 and "a new deployment starts a new history" in again.stderr


# -- rotation retires the old key ---------------------------------------------------------------


def test_rotate_destroys_the_retired_key(rotated: tuple[Recorded, Signer, Signer]) -> None:
    rec, old, new = rotated
    names = sorted(p.name for p in rec.key.parent.iterdir())
    assert names == ["signing.key", "signing.key.mac", "signing.vkeys"]  # the MAC root stays
    assert old.skey() not in b"".join(p.read_bytes() for p in rec.key.parent.iterdir()).decode()
    history = keys.read_history(rec.history)
    assert [e.verifier for e in history] == [old.verifier, new.verifier]
    assert run("verify", "-d", rec.dir, "--key", rec.key).exit_code == 0


def test_destroying_overwrites_the_key_before_unlinking(tmp_path: Path) -> None:
    key, other_name = tmp_path / "signing.key", tmp_path / "another-name"
    keys.install_signer(key, Signer.generate(ORIGIN))
    size = key.stat().st_size
    os.link(key, other_name)  # a second name for the same bytes: what the overwrite reaches
    keys.destroy_key_file(key)
    assert not key.exists()
    assert other_name.read_bytes() == b"\0" * size


def test_rotate_archives_the_retired_key_when_asked(tmp_path: Path) -> None:
    rec = recording(tmp_path)
    old = keys.load_signer(rec.key)
    archive = tmp_path / "offline"
    beside = run("keys", "rotate", "-d", rec.dir, "--key", rec.key, "--archive", rec.key.parent)
    assert beside.exit_code == 2 and "must not stay beside the key in use" in beside.stderr
    assert keys.load_signer(rec.key).verifier == old.verifier  # nothing happened
    result = run("keys", "rotate", "-d", rec.dir, "--key", rec.key, "--archive", archive)
    assert result.exit_code == 0, result.output
    kept = archive / f"signing.key.retired-{old.verifier.id:08x}"
    assert f"old key    archived to {kept} (mode 0600)" in result.stdout
    assert kept.stat().st_mode & 0o777 == 0o600 and archive.stat().st_mode & 0o777 == 0o700
    assert keys.load_signer(kept).verifier == old.verifier
    names = sorted(p.name for p in rec.key.parent.iterdir())
    assert names == ["signing.key", "signing.key.mac", "signing.vkeys"]  # the MAC root stays
    assert old.skey() not in result.output


def test_an_interrupted_rotation_is_finished_by_running_it_again(tmp_path: Path) -> None:
    rec = recording(tmp_path)
    old = keys.load_signer(rec.key)
    # A crash right after the new key was written and entered in the history.
    new = keys.begin_rotation(rec.key, old)
    keys.append_history(rec.history, new.verifier, now_ts(), old)
    with pytest.raises(Exception, match="a key rotation was interrupted"):
        keys.load_signer(rec.key)  # the gateway refuses to start with the old key
    code, doc = verify_json(rec)
    assert code == 1 and "history-mismatch" in codes(json.dumps(doc))  # the history is ahead
    again = run("keys", "rotate", "-d", rec.dir, "--key", rec.key)
    assert again.exit_code == 0, again.output
    assert keys.load_signer(rec.key).verifier == new.verifier  # the same new key, installed
    assert [e.verifier for e in keys.read_history(rec.history)] == [old.verifier, new.verifier]
    assert run("verify", "-d", rec.dir, "--key", rec.key).exit_code == 0
    # A crash after installing the new key, before retiring the old one.
    newer = keys.begin_rotation(rec.key, new)
    keys.append_history(rec.history, newer.verifier, now_ts(), new)
    assert run("keys", "rotate", "-d", rec.dir, "--key", rec.key).exit_code == 0  # log part
    os.link(rec.key, keys.retiring_key(rec.key))  # as if the old key had not been retired
    with pytest.raises(Exception, match="a key rotation was interrupted"):
        keys.load_signer(rec.key)
    finish = run("keys", "rotate", "-d", rec.dir, "--key", rec.key)
    assert finish.exit_code == 0 and "finished an interrupted rotation" in finish.stdout
    assert keys.interrupted_rotation(rec.key) is None
    assert len(keys.read_history(rec.history)) == 3  # finishing did not rotate once more


# -- verify: retired keys and the signed history ----------------------------------------------


def test_a_retired_key_signing_again_is_an_error(
    rotated: tuple[Recorded, Signer, Signer],
) -> None:
    rec, old, new = rotated
    log = rec.dir / "checkpoints.log"
    good = log.read_bytes()
    for signers in ((old,), (new, old)):  # alone, or cosigning with the key in use
        log.write_bytes(good + sign_whole_log(rec.dir, *signers).encode() + b"\n")
        code, doc = verify_json(rec)
        assert code == 1 and "checkpoint-retired-key" in codes(json.dumps(doc)), doc
        msg = next(f["message"] for f in doc["findings"] if f["code"] == "checkpoint-retired-key")  # type: ignore[attr-defined,index]
        assert f"{old.name}+{old.verifier.id:08x}, which key.rotate (seq" in msg
    log.write_bytes(good + sign_whole_log(rec.dir, new).encode() + b"\n")
    assert verify_json(rec)[0] == 0  # the key in use may sign again


def test_the_gateway_restarted_with_a_retired_key(
    rotated: tuple[Recorded, Signer, Signer],
) -> None:
    """Someone kept the old key and starts a gateway with it after the rotation."""
    rec, old, _ = rotated
    write_log(rec.dir, old, everything())
    code, doc = verify_json(rec)
    found = codes(json.dumps(doc))
    assert code == 1 and {"checkpoint-retired-key", "history-mismatch"} <= found


def test_truncated_after_a_rotation_and_resigned_with_the_retired_key(
    rotated: tuple[Recorded, Signer, Signer],
) -> None:
    """Cut the log back to before key.rotate and seal it with the old key: the records and
    checkpoints agree, but the signed history knows the key was retired."""
    rec, old, new = rotated
    lines = records(rec.dir)
    start = next(
        i for i, x in enumerate(lines) if Record.parse(x).body.get("tool") == "regogate keys rotate"
    )
    rec.write([x + b"\n" for x in lines[:start]])
    (rec.dir / "checkpoints.log").write_text(sign_whole_log(rec.dir, old) + "\n")
    trust_old = rec.dir.parent / "old.vkeys"
    trust_old.write_text(old.verifier.vkey() + "\n")
    assert verify_json(rec, trust_old)[0] == 0  # with only the old key, nothing to see
    code, doc = verify_json(rec)
    assert code == 1 and codes(json.dumps(doc)) == {"history-mismatch"}
    msg = doc["findings"][0]["message"]  # type: ignore[index]
    assert f"activated {new.name}+{new.verifier.id:08x}" in msg and "truncated" in msg


def test_a_forged_history_entry_is_caught(rotated: tuple[Recorded, Signer, Signer]) -> None:
    rec, _, new = rotated
    text = rec.history.read_text()
    mallory = Signer.generate(new.name)
    # Mallory adds her key, signed by herself (she does not hold the key in use).
    index = len(keys.read_history(rec.history))
    forged = sign_entry(mallory, index, None, mallory.verifier, "2026-12-01T00:00:00.000000Z")
    rec.history.write_text(text + entry_line(forged))
    # ... and seals the log with it.
    log = rec.dir / "checkpoints.log"
    log.write_bytes(log.read_bytes() + sign_whole_log(rec.dir, mallory).encode() + b"\n")
    code, doc = verify_json(rec)
    found = codes(json.dumps(doc))
    assert code == 1 and {"history-invalid", "checkpoint-untrusted"} <= found
    assert mallory.verifier.id not in {int(k.split("+")[1], 16) for k in doc["trusted_keys"]}  # type: ignore[attr-defined]
    # Swapping the key of an existing entry (keeping its signature) is caught the same way.
    lines = text.splitlines(keepends=True)
    last = lines[-1].split()
    lines[-1] = f"{mallory.verifier.vkey()} {last[1]} {last[2]}\n"
    rec.history.write_text("".join(lines))
    code, doc = verify_json(rec)
    assert code == 1 and "history-invalid" in codes(json.dumps(doc))
    broken = next(f for f in doc["findings"] if f["code"] == "history-invalid")  # type: ignore[attr-defined]
    assert broken["file"] == str(rec.history) and broken["line"] == len(lines)  # type: ignore[index]
    # `keys export` refuses to hand out a broken history.
    export = run("keys", "export", "--history", rec.history)
    assert export.exit_code == 2 and "is not signed by the key of the entry before it" in (
        export.stderr
    )


def test_a_plain_key_list_is_still_a_trust_file(rotated: tuple[Recorded, Signer, Signer]) -> None:
    rec, old, new = rotated
    history_text = rec.history.read_text()
    plain = rec.dir.parent / "plain.vkeys"
    plain.write_text(f"{old.verifier.vkey()}\n{new.verifier.vkey()}\n")
    assert verify_json(rec, plain)[0] == 0
    # But the history beside the key is always a signed one: a plain list there was put there.
    rec.history.write_text(plain.read_text())
    swapped = run("verify", "-d", rec.dir, "--key", rec.key)
    assert swapped.exit_code == 1 and "not a signed key history" in swapped.stderr
    mixed = rec.dir.parent / "mixed.vkeys"
    mixed.write_text(history_text + new.verifier.vkey() + "\n")
    result = run("verify", "-d", rec.dir, "--trust", mixed)
    assert result.exit_code == 2 and "mixes signed history entries and plain keys" in (
        result.stderr
    )


def test_rotate_refuses_another_keys_history_and_changes_nothing(tmp_path: Path) -> None:
    rec, other = recording(tmp_path / "a"), recording(tmp_path / "b")
    old = keys.load_signer(rec.key)
    before = other.history.read_text()
    result = run("keys", "rotate", "-d", rec.dir, "--key", rec.key, "--history", other.history)
    assert result.exit_code == 2 and "not with the key in use" in result.stderr
    assert keys.interrupted_rotation(rec.key) is None  # no pending key: the gateway starts
    assert keys.load_signer(rec.key).verifier == old.verifier
    assert other.history.read_text() == before and len(records(rec.dir)) == 27
