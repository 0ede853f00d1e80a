"""`regogate keys | verify | sessions list | replay` over recordings made by the real writer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from regogate.cli.recording import register, resolve_paths
from regogate.recording.format.directory import read_segments
from regogate.recording.format.note import Signer
from regogate.recording.format.proof import RecordProof, check_record
from regogate.recording.format.records import Record
from regogate.recording.write import keys
from regogate.recording.write.store import SegmentStore
from regogate.recording.write.writer import Recorder
from tests.recording.conftest import ORIGIN, everything, write_log
from tests.recording.test_sessions import Clock, gateway_script


def make_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

    @app.command()
    def version() -> None:
        """A stand-in for the main app's other commands."""

    register(app)
    return app


APP = make_app()


def run(*args: object, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(APP, [str(a) for a in args], env=env)
    # Never a traceback: every failure is a SystemExit with a message.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


@dataclass
class Recorded:
    dir: Path
    key: Path
    history: Path

    def lines(self, name: str = "seg-000001.jsonl") -> list[bytes]:
        return (self.dir / name).read_bytes().splitlines(keepends=True)

    def write(self, lines: list[bytes], name: str = "seg-000001.jsonl") -> None:
        (self.dir / name).write_bytes(b"".join(lines))

    def seq_of(self, needle: bytes) -> int:
        return next(i for i, x in enumerate(self.lines()) if needle in x)

    @property
    def origin(self) -> str:
        """The log's origin: the key's name, ORIGIN with the deployment identifier."""
        return keys.load_signer(self.key).name


def recording(tmp_path: Path, **kw: object) -> Recorded:
    key, history = tmp_path / "keys" / "signing.key", tmp_path / "keys" / "signing.vkeys"
    assert run("keys", "generate", "--key", key, "--name", ORIGIN).exit_code == 0
    clock = Clock()
    write_log(tmp_path / "log", keys.load_signer(key), gateway_script(clock), clock=clock, **kw)
    return Recorded(tmp_path / "log", key, history)


@pytest.fixture
def rec(tmp_path: Path) -> Recorded:
    return recording(tmp_path)


def secret_of(key: Path) -> str:
    return keys.load_signer(key).skey().split("+", 4)[4]


# -- keys ---------------------------------------------------------------------------------


def test_keys_generate_writes_0600_and_refuses_to_overwrite(tmp_path: Path) -> None:
    key = tmp_path / "k" / "signing.key"
    old = os.umask(0)
    try:
        first = run("keys", "generate", "--key", key, "--name", ORIGIN)
    finally:
        os.umask(old)
    assert first.exit_code == 0, first.output
    assert key.stat().st_mode & 0o777 == 0o600
    signer = keys.load_signer(key)
    assert f"public key  {signer.verifier.vkey()}" in first.stdout
    assert secret_of(key) not in first.output
    history = keys.read_history(tmp_path / "k" / "signing.vkeys")
    assert [e.verifier for e in history] == [signer.verifier]
    again = run("keys", "generate", "--key", key, "--name", ORIGIN)
    assert again.exit_code == 2
    assert f"signing key file {key} already exists: refusing to overwrite it" in again.stderr
    assert keys.load_signer(key).verifier == signer.verifier
    names = sorted(p.name for p in key.parent.iterdir())
    assert names == ["signing.key", "signing.key.mac", "signing.vkeys"]
    mac = key.parent / "signing.key.mac"  # the MAC root secret, as private as the key
    assert mac.stat().st_mode & 0o777 == 0o600
    assert mac.read_text().strip() not in first.output
    bad = run("keys", "generate", "--key", tmp_path / "x.key", "--name", "has space")
    assert bad.exit_code == 2 and "signing key name" in bad.stderr
    assert run("keys", "generate", "--name", ORIGIN).exit_code == 2


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o604])
def test_a_key_others_can_read_is_refused(rec: Recorded, mode: int) -> None:
    rec.key.chmod(mode)
    result = run("keys", "rotate", "-d", rec.dir, "--key", rec.key)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"regogate: error: signing key file {rec.key} has mode {mode:04o}: it must not be"
        " accessible to group or others",
        f"hint: chmod 600 {rec.key}",
    ]
    rec.key.chmod(0o600)
    assert secret_of(rec.key) not in result.output


def test_keys_rotate_installs_a_new_key_and_records_it(rec: Recorded) -> None:
    old = keys.load_signer(rec.key)
    result = run("keys", "rotate", "-d", rec.dir, "--key", rec.key)
    assert result.exit_code == 0, result.output
    new = keys.load_signer(rec.key)
    assert new.verifier != old.verifier and rec.key.stat().st_mode & 0o777 == 0o600
    assert new.verifier.vkey() in result.stdout and secret_of(rec.key) not in result.output
    assert [e.verifier for e in keys.read_history(rec.history)] == [old.verifier, new.verifier]
    recs = [Record.parse(x) for s in read_segments(rec.dir) for x in s.data.splitlines()]
    rotate = next(r for r in recs if r.type == "key.rotate")
    assert rotate.body == {"old": old.verifier.vkey(), "new": new.verifier.vkey()}
    assert f"key.rotate seq {rotate.seq}, sealed by the old key" in result.stdout
    assert recs[-1].type == "gateway.stop" and recs[rotate.seq - 1].type == "gateway.start"
    ok = run("verify", "-d", rec.dir, "--trust", rec.history)
    assert ok.exit_code == 0, ok.output
    trust_old = rec.dir.parent / "old.vkeys"
    trust_old.write_text(old.verifier.vkey() + "\n")
    only_old = run("verify", "-d", rec.dir, "--trust", trust_old)
    assert only_old.exit_code == 1 and "no signature by a trusted key" in only_old.stderr
    # The gateway restarts with the new key file: the log goes on verifying.
    write_log(rec.dir, new, everything())
    assert run("verify", "-d", rec.dir, "--key", rec.key).exit_code == 0


def test_keys_rotate_with_a_key_from_the_environment(rec: Recorded) -> None:
    old = keys.load_signer(rec.key)
    env = {keys.ENV_VAR: old.skey()}
    new_key = rec.dir.parent / "new.key"
    refused = run("keys", "rotate", "-d", rec.dir, env=env)
    assert refused.exit_code == 2 and "pass --new-key FILE" in refused.stderr
    args = ("keys", "rotate", "-d", rec.dir, "--new-key", new_key, "--history", rec.history)
    result = run(*args, env=env)
    assert result.exit_code == 0, result.output
    assert new_key.stat().st_mode & 0o777 == 0o600
    assert f"put the key from {new_key} into ${keys.ENV_VAR}" in result.stdout
    assert old.skey() not in result.output and secret_of(new_key) not in result.output
    assert keys.load_signer(rec.key).verifier == old.verifier  # untouched
    assert len(keys.read_history(rec.history)) == 2
    assert run("verify", "-d", rec.dir, "--trust", rec.history).exit_code == 0
    again = run(*args, env=env)
    assert again.exit_code == 2 and "already exists" in again.stderr


def test_keys_rotate_refuses_while_the_log_is_in_use(rec: Recorded) -> None:
    store = SegmentStore.open(rec.dir)  # what a running gateway holds
    try:
        result = run("keys", "rotate", "-d", rec.dir, "--key", rec.key)
    finally:
        store.close()
    assert result.exit_code == 2
    assert "is in use by another process" in result.stderr
    assert "hint: stop the gateway first" in result.stderr
    assert len(keys.read_history(rec.history)) == 1  # nothing changed: no history entry,
    assert keys.interrupted_rotation(rec.key) is None  # no pending key left behind
    missing = run("keys", "rotate", "-d", rec.dir.parent / "absent", "--key", rec.key)
    assert missing.exit_code == 2 and "no recording directory" in missing.stderr


def test_keys_export(rec: Recorded, tmp_path: Path) -> None:
    assert run("keys", "rotate", "-d", rec.dir, "--key", rec.key).exit_code == 0
    printed = run("keys", "export", "--key", rec.key, "-d", rec.dir)
    assert printed.exit_code == 0, printed.output
    assert printed.stdout == rec.history.read_text()
    assert len(keys.read_history(rec.history)) == 2
    out = tmp_path / "for-examiners.vkeys"
    written = run("keys", "export", "--history", rec.history, "-o", out)
    assert written.exit_code == 0 and "wrote 2 public key(s)" in written.stderr
    assert run("verify", "-d", rec.dir, "--trust", out).exit_code == 0
    doc = json.loads(run("keys", "export", "--history", rec.history, "--json").stdout)
    assert [d["vkey"] for d in doc] == [e.verifier.vkey() for e in keys.read_history(rec.history)]
    assert set(doc[0]) == {"vkey", "name", "key_id", "activated", "signature"}
    # A history that lacks a key the log announces is caught.
    partial = tmp_path / "partial.vkeys"
    other = tmp_path / "other.key"
    assert (
        run("keys", "generate", "--key", other, "--history", partial, "--name", ORIGIN).exit_code
        == 0
    )
    lacking = run("keys", "export", "--history", partial, "-d", rec.dir)
    assert lacking.exit_code == 1 and "announces keys that" in lacking.stderr
    # A history cut to its second entry no longer checks: that entry is not self-signed.
    lines = [x for x in rec.history.read_text().splitlines(keepends=True) if x[0] != "#"]
    cut = tmp_path / "cut.vkeys"
    cut.write_text(lines[1])
    broken = run("keys", "export", "--history", cut)
    assert broken.exit_code == 2 and "is not signed by its own key" in broken.stderr
    none = run("keys", "export", "--history", tmp_path / "none.vkeys")
    assert none.exit_code == 2 and "no key history at" in none.stderr


# -- verify -------------------------------------------------------------------------------


def test_verify_ok(rec: Recorded) -> None:
    result = run("verify", "-d", rec.dir, "--trust", rec.history)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for want in (
        f"origin       {ORIGIN}",
        "records      27 in 1 segment(s)",
        "sessions     3",
        "all records sealed",
        "records/s",
        "OK: the log is intact and sealed.",
    ):
        assert want in out, out
    assert result.stderr == ""
    doc = json.loads(run("verify", "-d", rec.dir, "--trust", rec.history, "--json").stdout)
    assert doc["ok"] and doc["sealed"] and doc["records"] == 27 and doc["sessions"] == 3
    assert doc["checkpoints"] >= 1 and doc["records_per_s"] > 0 and doc["findings"] == []


def test_verify_needs_trusted_keys(rec: Recorded) -> None:
    result = run("verify", "-d", rec.dir)
    assert result.exit_code == 2 and "no trusted keys: pass --trust FILE" in result.stderr
    assert run("verify", "-d", rec.dir, "--key", rec.key).exit_code == 0  # its .vkeys
    bad = rec.dir.parent / "bad.vkeys"
    bad.write_text("nonsense\n")
    broken = run("verify", "-d", rec.dir, "--trust", bad)
    assert broken.exit_code == 2 and f"trust file {bad}: line 1" in broken.stderr
    absent = run("verify", "-d", rec.dir.parent / "absent", "--trust", rec.history)
    assert absent.exit_code == 2 and "no recording directory" in absent.stderr


def flip(rec: Recorded) -> tuple[str, ...]:
    i = rec.seq_of(b"DELETE FROM")
    lines = rec.lines()
    line = bytearray(lines[i])
    line[line.index(b"DELETE")] ^= 0x01  # "EELETE": still JSON, another statement
    lines[i] = bytes(line)
    rec.write(lines)
    return (f"seg-000001.jsonl:{i + 2}: seq {i + 1}", f"previous record (seq {i})")


def garble(rec: Recorded) -> tuple[str, ...]:
    lines = rec.lines()
    lines[5] = b"[" + lines[5][1:]
    rec.write(lines)
    return ("seg-000001.jsonl:6: error: not a JSON record", "[record-not-json]")


def delete(rec: Recorded) -> tuple[str, ...]:
    lines = rec.lines()
    del lines[7]
    rec.write(lines)
    return ("seg-000001.jsonl:8: seq 8", "seq jumps from 6 to 8: 1 record(s) missing")


def truncate(rec: Recorded) -> tuple[str, ...]:
    path = rec.dir / "seg-000001.jsonl"
    path.write_bytes(path.read_bytes()[:-40])
    return ("checkpoints.log:", "covers 27 records but the log has only 26", "seg-000001.jsonl:27")


@pytest.mark.parametrize("tamper", [flip, garble, delete, truncate])
def test_verify_finds_tampering(rec: Recorded, tamper: object) -> None:
    assert callable(tamper)
    wants = tamper(rec)
    result = run("verify", "-d", rec.dir, "--trust", rec.history)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("regogate: error: verification failed: ")
    assert len(result.stderr.splitlines()) == 1
    for want in wants:
        assert want in result.stdout, (want, result.stdout)
    assert wants[0] in result.stderr
    assert "OK:" not in result.stdout


def test_verify_one_session(rec: Recorded) -> None:
    result = run("verify", "sa-1", "-d", rec.dir, "--trust", rec.history)
    assert result.exit_code == 0, result.output
    assert "scope        session sa-1: 11 records (seq 1..19)" in result.stdout
    assert "all 11 records of the session are sealed" in result.stdout
    assert "closed at 2026-03-01T09:00:00.466000Z (client exit)" in result.stdout
    prefix = run("verify", "sb", "-d", rec.dir, "--trust", rec.history)
    assert prefix.exit_code == 0 and "session sb-2:" in prefix.stdout
    unknown = run("verify", "nope", "-d", rec.dir, "--trust", rec.history)
    assert unknown.exit_code == 4
    assert unknown.stderr == f"regogate: error: no session 'nope' in {rec.dir}\n"
    flip(rec)
    broken = run("verify", "sa-1", "-d", rec.dir, "--trust", rec.history, "--json")
    assert broken.exit_code == 1
    doc = json.loads(broken.stdout)
    assert not doc["ok"] and doc["scope"]["seq"] == [1, 19]
    assert "not covered by a valid signed checkpoint" in doc["scope"]["failures"][0]
    chain = next(f for f in doc["findings"] if f["code"] == "chain-broken")
    assert chain["file"] == "seg-000001.jsonl" and 1 <= chain["seq"] <= 19


def test_verify_a_time_window(rec: Recorded) -> None:
    args = ("verify", "-d", rec.dir, "--trust", rec.history)
    window = run(*args, "--from", "2026-03-01T11:00:00Z", "--to", "2026-03-01T12:00:00Z")
    assert window.exit_code == 0, window.output
    assert "6 records (seq 21..26)" in window.stdout
    doc = json.loads(run(*args, "--from", "2026-03-01T09:00:00.3Z", "--json").stdout)
    assert doc["scope"]["sessions"] == 3
    empty = run(*args, "--from", "2026-03-02")
    assert empty.exit_code == 4
    assert "no records from 2026-03-02T00:00:00.000000Z to the end" in empty.stderr
    both = run(*args, "sa-1", "--from", "2h")
    assert both.exit_code == 2 and "not both" in both.stderr
    bad = run(*args, "--to", "yesterday")
    assert bad.exit_code == 2 and "bad time 'yesterday'" in bad.stderr


def test_verify_prints_an_inclusion_proof(rec: Recorded, tmp_path: Path) -> None:
    seq = rec.seq_of(b"SELECT name, ssn")
    args = ("verify", "-d", rec.dir, "--trust", rec.history, "--proof", seq)
    result = run(*args)
    assert result.exit_code == 0, result.output
    record = rec.lines()[seq].rstrip(b"\n")
    out = result.stdout
    assert f"inclusion proof for record seq {seq} (seg-000001.jsonl:{seq + 1}, stmt" in out
    from regogate.recording.format.merkle import leaf_hash

    assert f"leaf hash   {leaf_hash(record).hex()}" in out
    assert "tree size   27" in out and "root        " in out and "path        5 hashes" in out
    assert "check       OK" in out
    text = out[out.index("c2sp.org/tlog-proof@v1") :]
    text = text[: text.index("\n\nOK:")] + "\n"
    trusted = [e.verifier for e in keys.read_history(rec.history)]
    assert check_record(record, RecordProof.parse(text), trusted, rec.origin).size == 27
    saved = tmp_path / "proof.txt"
    assert run(*args, "--proof-out", saved).exit_code == 0
    assert check_record(record, RecordProof.parse(saved.read_text()), trusted, rec.origin)
    doc = json.loads(run(*args, "--json").stdout)["proof"]
    assert doc["leaf_hash"] == leaf_hash(record).hex() and doc["valid"] and doc["tree_size"] == 27
    assert len(doc["path"]) == 5
    beyond = run("verify", "-d", rec.dir, "--trust", rec.history, "--proof", 99)
    assert beyond.exit_code == 4 and "no record 99 in the log (seq 0..26)" in beyond.stderr


def test_an_unsealed_tail(tmp_path: Path) -> None:
    signer = Signer.generate(ORIGIN)
    live, snap = tmp_path / "live", tmp_path / "snap"
    trust = tmp_path / "trust.vkeys"
    trust.write_text(signer.verifier.vkey() + "\n")

    async def script(rec: Recorder) -> None:
        s = rec.open_session({}, sid="s-1")
        await rec.checkpoint()
        s.record("stmt", {"text": "SELECT 1"})
        await s.flush()
        shutil.copytree(live, snap, ignore=shutil.ignore_patterns(".lock"))

    write_log(live, signer, script, checkpoint_interval=3600)
    result = run("verify", "-d", snap, "--trust", trust)
    assert result.exit_code == 3, result.output  # intact, with an unsealed tail
    assert "1 records not yet sealed" in result.stdout and "[unsealed-tail]" in result.stdout
    assert "INTACT, NOT SEALED (exit status 3)" in result.stdout and "OK:" not in result.stdout
    assert result.stderr.startswith("regogate: verify: intact, not sealed: seg-000001.jsonl:3")
    doc = json.loads(run("verify", "-d", snap, "--trust", trust, "--json").stdout)
    assert (doc["status"], doc["exit_status"], doc["ok"]) == ("intact-unsealed", 3, False)
    assert run("verify", "-d", snap, "--trust", trust, "--strict").exit_code == 1
    proof = run("verify", "-d", snap, "--trust", trust, "--proof", 2)
    assert proof.exit_code == 3 and "record 2 is not covered by a valid signed" in proof.stderr
    sealed = run("verify", "-d", snap, "--trust", trust, "--proof", 1)
    assert sealed.exit_code == 0 and "check       OK" in sealed.stdout  # record 1 is sealed
    session = run("verify", "s-1", "-d", snap, "--trust", trust)
    assert session.exit_code == 3
    assert "1 of the session's 2 records (seq 2..2) are not covered" in session.stderr
    # A checkpoint saved now, held outside the log, catches a later truncation.
    held = tmp_path / "held.note"
    assert run("verify", "-d", live, "--trust", trust, "--save-checkpoint", held).exit_code == 0
    path = live / "seg-000001.jsonl"
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:-2]))
    (live / "checkpoints.log").write_bytes(b"")  # and the attacker drops the checkpoints
    cut = run("verify", "-d", live, "--trust", trust, "--prior", held)
    assert cut.exit_code == 1 and "[prior-beyond-log]" in cut.stdout


def test_verify_in_a_process_with_parallel_workers(tmp_path: Path) -> None:
    rec = recording(tmp_path, segment_bytes=2000)
    assert len(list(rec.dir.glob("seg-*.jsonl"))) > 3
    code = (
        "import typer, sys\n"
        "from regogate.cli.recording import register\n"
        "app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)\n"
        "app.command('version')(lambda: None)\n"
        "register(app)\n"
        "app()\n"
    )

    def verify(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = ["verify", "-d", str(rec.dir), "--trust", str(rec.history), "--workers", "3"]
        return subprocess.run(
            [sys.executable, "-c", code, *argv, *extra],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    ok = verify()
    assert ok.returncode == 0, ok.stderr
    assert "records      27 in" in ok.stdout
    lines = (rec.dir / "seg-000002.jsonl").read_bytes().splitlines(keepends=True)
    (rec.dir / "seg-000002.jsonl").write_bytes(b"".join(lines[1:]))
    bad = verify()
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("regogate: error: verification failed: seg-000002.jsonl:1: seq")


# -- sessions, replay ---------------------------------------------------------------------


def test_sessions_list(rec: Recorded) -> None:
    result = run("sessions", "list", "-d", rec.dir)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["SESSION", "OPENED", "(UTC)", "DURATION"]
    assert [x.split()[0] for x in lines[1:4]] == ["sa-1", "sb-2", "sc-3"]
    assert lines[1].split() == [
        "sa-1", "2026-03-01", "09:00:00Z", "0.466s", "alice", "bank", "10.0.0.5:51234",
        "3", "1", "closed", "(client", "exit)",
    ]  # fmt: skip
    assert lines[-1] == "3 of 3 sessions"

    def listed(*args: str) -> list[str]:
        out = run("sessions", "list", "-d", rec.dir, *args)
        assert out.exit_code == 0, out.output
        return [x.split()[0] for x in out.stdout.splitlines()[1:-1]]

    assert listed("--identity", "alice") == ["sa-1"]
    assert listed("--identity", "analysts") == ["sa-1", "sc-3"]
    assert listed("--connection", "ledger") == ["sb-2"]
    assert listed("--from", "2026-03-01T10:00:00Z") == ["sc-3"]
    assert listed("--to", "2026-03-01T09:30:00Z", "--identity", "b*") == ["sb-2"]
    none = run("sessions", "list", "-d", rec.dir, "--identity", "mallory")
    assert none.stdout == "no sessions match (3 in the recording)\n"
    doc = json.loads(
        run("sessions", "list", "-d", rec.dir, "--connection", "bank", "--json").stdout
    )
    assert doc["total"] == 3 and [s["sid"] for s in doc["sessions"]] == ["sa-1", "sc-3"]
    first = doc["sessions"][0]
    assert first["identity"]["sub"] == "alice" and first["counts"]["denied"] == 1
    assert first["client"]["tls"] == "TLSv1.3 TLS_AES_256_GCM_SHA384"
    absent = run("sessions", "list", "-d", rec.dir.parent / "absent")
    assert absent.exit_code == 2 and "no recording directory" in absent.stderr
    assert run("sessions", "list").exit_code == 2


def test_sessions_list_skips_damage_with_a_warning(rec: Recorded) -> None:
    garble(rec)
    result = run("sessions", "list", "-d", rec.dir)
    assert result.exit_code == 0
    assert "warning: 1 lines are not records (run regogate verify)" in result.stderr


def test_replay(rec: Recorded) -> None:
    result = run("replay", "sa-1", "-d", rec.dir)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "session     sa-1  closed (client exit)"
    assert lines[1].startswith(
        "identity    alice  groups analysts  issuer https://idp.bank.example"
    )
    assert "client      10.0.0.5:51234  application psql  TLS TLSv1.3" in result.stdout
    assert "records     11 (seq 1..19)" in result.stdout
    assert "verified    NOT VERIFIED: no trusted keys" in result.stdout  # no --trust given
    assert "hash chain alone holds" in result.stdout
    verified = run("replay", "sa-1", "-d", rec.dir, "--trust", rec.history).stdout
    assert "verified    OK: its hash chain holds and all 11 records are sealed by the" in verified
    assert run("replay", "sa-1", "-d", rec.dir, "--key", rec.key).stdout == verified
    events = lines[lines.index("") + 1 :]
    assert events == [
        "   +0.000s  session.open",
        "   +0.020s  stmt          SELECT id FROM accounts WHERE id = $1   [extended, fp 0123456789ab]",
        "   +0.021s  decision      ALLOW  (policy rev 7)  rules: bank.allow",
        "   +0.032s  result        SELECT 1  1 row  in 10 ms  digest 121212121212…",
        "   +0.132s  stmt          SELECT name, ssn FROM customers   [extended, fp 0123456789ab]",
        "   +0.133s  decision      ALLOW_MASKED  (policy rev 7)  rules: bank.allow  masks: ssn=partial",
        "   +0.143s  result        SELECT 12  12 rows  in 10 ms  digest 121212121212…  (masked: ssn)",
        "   +0.243s  stmt          DELETE FROM accounts   [extended, fp 0123456789ab]",
        "   +0.244s  decision      DENY  (policy rev 7)  reasons: deletes need an approved change  rules: bank.no_delete",
        "   +0.354s  error         42501 denied by policy",
        "   +0.466s  session.close client exit  (records 11, statements 3)",
    ]
    bob = run("replay", "sb", "-d", rec.dir).stdout
    for want in (
        "approval      request ar-1  consumed  approve by carol (CHG-1)",
        "result        UPDATE 3  3 rows  in 4 ms",
        "+0.112s  cancel\n",
        "masking.sample cells=3",  # a type replay does not know: shown as it is
        "result        error 57014  0 rows  in 2 ms",
        "+1m00.1s  session.close terminate",
        "no TLS",
    ):
        assert want in bob, (want, bob)


def test_replay_json(rec: Recorded) -> None:
    result = run("replay", "sa-1", "-d", rec.dir, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["session"]["sid"] == "sa-1" and doc["chain"] == {"intact": True, "problem": None}
    assert doc["open"]["client"]["application_name"] == "psql"
    events = doc["events"]
    assert [e["type"] for e in events[:4]] == ["session.open", "stmt", "decision", "result"]
    assert [e["offset_ms"] for e in events[:4]] == [0, 20, 21.5, 31.5]
    assert events[2]["outcome"] == "allow" and events[3]["tag"] == "SELECT 1"
    assert events[1]["literals_commitment"] == "cd" * 32


def test_replay_errors(rec: Recorded) -> None:
    unknown = run("replay", "nope", "-d", rec.dir)
    assert unknown.exit_code == 4
    assert unknown.stderr == f"regogate: error: no session 'nope' in {rec.dir}\n"
    ambiguous = run("replay", "s", "-d", rec.dir)
    assert ambiguous.exit_code == 4
    assert "session id 's' is ambiguous: 3 sessions start with it (sa-1, sb-2, sc-3)" in (
        ambiguous.stderr
    )
    assert run("replay", "sa-1").exit_code == 2
    flip(rec)
    broken = run("replay", "sa-1", "-d", rec.dir)
    assert broken.exit_code == 0  # replay shows what is there, and says the chain broke
    assert "hash chain alone is BROKEN: record seq 9: prev does not match" in broken.stdout
    checked = run("replay", "sa-1", "-d", rec.dir, "--trust", rec.history)
    assert checked.exit_code == 0
    assert "verified    FAILED: its records fail verification: seg-000001.jsonl:10: seq 9:" in (
        checked.stdout
    )
    doc = json.loads(run("replay", "sa-1", "-d", rec.dir, "--key", rec.key, "--json").stdout)
    assert doc["verification"]["status"] == "not-intact"
    assert {f["code"] for f in doc["verification"]["findings"]} >= {"chain-broken"}


# -- configuration --------------------------------------------------------------------------


class _Recording:
    dir = Path("/rec")
    key_file = Path("/keys/signing.key")


class _WithRecording:
    recording = _Recording()


def test_resolve_paths_prefers_options_then_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "regogate.toml"

    def load(path: Path) -> object:
        assert path == cfg
        return _WithRecording()

    assert resolve_paths(None, None, None, load) == (None, None)
    assert resolve_paths(cfg, None, None, load) == (Path("/rec"), Path("/keys/signing.key"))
    assert resolve_paths(cfg, Path("d"), None, load) == (Path("d"), Path("/keys/signing.key"))
    assert resolve_paths(cfg, Path("d"), Path("k"), load) == (Path("d"), Path("k"))
    assert resolve_paths(cfg, None, None, lambda p: object()) == (None, None)


def test_config_file_supplies_the_directory(rec: Recorded, tmp_path: Path) -> None:
    cfg = tmp_path / "regogate.toml"
    cfg.write_text(
        f'[recording]\nenabled = false\ndir = "{rec.dir}"\nkey_file = "{rec.key}"\n'
        '[policy]\nmode = "off"\n[connections.bank]\nhost = "127.0.0.1"\nuser = "u"\n'
    )
    assert resolve_paths(cfg, None, None) == (rec.dir, rec.key)
    assert run("sessions", "list", "-c", cfg).exit_code == 0
    assert run("verify", "-c", cfg).exit_code == 0  # trusts the key file's .vkeys
    broken = tmp_path / "broken.toml"
    broken.write_text("[recording\n")
    bad = run("sessions", "list", "-c", broken)
    assert bad.exit_code == 2 and "invalid TOML" in bad.stderr


def test_replay_of_what_the_gateway_writes(tmp_path: Path) -> None:
    """The shapes of runtime.open_body, gate._record_* and recording_sink results."""
    signer = Signer.generate(ORIGIN)
    clock = Clock()

    async def script(rec: Recorder) -> None:
        s = rec.open_session(
            {
                "identity": {
                    "sub": "alice",
                    "email": "alice@bank.example",
                    "groups": ["analysts"],
                    "issuer": None,
                    "auth": "token",
                    "token_sha256": "ab" * 32,
                    "expires_at": 1_772_359_200,
                },
                "client": {
                    "addr": "127.0.0.1",
                    "port": 40000,
                    "user": "alice",
                    "application_name": None,
                    "tls": None,
                },
                "connection": {"name": "bank", "database": "bank"},
                "upstream": {"pid": 4242, "user": "gateway"},
            },
            sid="sg-1",
        )
        s.record(
            "stmt",
            {
                "text": "SELECT * FROM t WHERE id = $1",
                "literals": 1,
                "literals_commitment": "cd" * 32,
                "protocol": "simple",
                "fingerprint": "fedcba9876543210",
            },
        )
        decision = {
            "index": 0,
            "revision": "r-12",
            "input_sha256": None,
            "outcome": "deny",
            "reasons": ["policy unavailable"],
            "rules": [],
            "masks": {},
            "approval": False,
            "cached": False,
            "sqlstate": "42501",
        }
        s.record("decision", decision)
        s.record(
            "decision", {**decision, "index": 1, "outcome": "needs_approval", "approval": True}
        )
        clock.tick(2)
        result = {"tags": ["SELECT 5"], "rows": 5, "error": None, "bytes": 812}
        s.record("result", {**result, "digest": "12" * 32, "elapsed_ms": 1.234})
        s.record(
            "result",
            {
                "tags": [],
                "rows": 0,
                "error": "42P01",
                "bytes": 90,
                "digest": "34" * 32,
                "elapsed_ms": None,
                "suspended": True,
            },
        )
        big = {**result, "rows": 2**53 - 1, "rows_capped": True, "digest": "56" * 32}
        s.record("result", big)
        await s.close("terminate", {"statements": 1})

    write_log(tmp_path, signer, script, clock=clock)
    out = run("replay", "sg-1", "-d", tmp_path).stdout
    for want in (
        "identity    alice  <alice@bank.example>  groups analysts  auth token  expires 2026-03-01T10:00:00Z",
        "client      127.0.0.1:40000  user alice  no TLS",
        'other       upstream={"pid":4242,"user":"gateway"}',
        "SELECT * FROM t WHERE id = $1   [simple, fp fedcba987654, 1 literal]",
        "decision      DENY  (policy rev r-12, sqlstate 42501)  reasons: policy unavailable\n",
        "decision      NEEDS_APPROVAL  (statement 2, policy rev r-12, sqlstate 42501)  approval required",
        "result        SELECT 5  5 rows  in 1.234 ms  812 bytes sent  digest 121212121212…\n",
        "result        error 42P01  0 rows  suspended (row limit)  90 bytes sent  digest 343434343434…\n",
        "result        SELECT 5  more than 9007199254740991 rows  812 bytes sent  digest 565656565656…\n",
    ):
        assert want in out, (want, out)
    listed = run("sessions", "list", "-d", tmp_path, "--identity", "*@bank.example", "--json")
    (summary,) = json.loads(listed.stdout)["sessions"]
    assert summary["counts"]["errors"] == 1 and summary["identity"]["email"] == "alice@bank.example"
