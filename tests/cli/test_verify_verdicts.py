"""`regogate verify` exit statuses and JSON: one verdict per status, every finding coded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from regogate.cli.rec_io import ExitStatus
from tests.cli.test_recording_cli import Recorded, recording, run


@pytest.fixture
def rec(tmp_path: Path) -> Recorded:
    return recording(tmp_path)


def verify(rec: Recorded, *extra: object) -> tuple[int, dict[str, object], str]:
    """Exit status, the JSON report and the text run's stderr."""
    text = run("verify", "-d", rec.dir, "--key", rec.key, *extra)
    doc = json.loads(run("verify", "-d", rec.dir, "--key", rec.key, "--json", *extra).stdout)
    assert doc["exit_status"] == text.exit_code
    return text.exit_code, doc, text.stderr


def finding_codes(doc: dict[str, object]) -> set[str]:
    return {f["code"] for f in doc["findings"]}  # type: ignore[attr-defined,index]


def test_the_exit_status_table() -> None:
    assert [(s.name, int(s)) for s in ExitStatus] == [
        ("OK", 0),
        ("NOT_INTACT", 1),
        ("USAGE", 2),
        ("UNSEALED", 3),
        ("NOT_FOUND", 4),
    ]


def test_intact_and_sealed_is_0(rec: Recorded) -> None:
    code, doc, stderr = verify(rec)
    assert (code, doc["status"], doc["ok"], stderr) == (0, "intact-sealed", True, "")


def test_an_unsealed_tail_is_3(rec: Recorded) -> None:
    log = rec.dir / "checkpoints.log"
    entries = log.read_bytes().split(b"\n\n")
    log.write_bytes(b"\n\n".join(entries[:-2]) + b"\n\n")  # the last checkpoint gone
    lines = rec.lines()
    rec.write(lines[:-1])  # and gateway.stop: the log ends as a crash leaves it
    code, doc, stderr = verify(rec)
    assert (code, doc["status"], doc["intact"], doc["sealed"]) == (
        3,
        "intact-unsealed",
        True,
        False,
    )
    assert "unsealed-tail" in finding_codes(doc)
    assert stderr.startswith("regogate: verify: intact, not sealed: ")
    assert verify(rec, "--strict")[0] == 1


def test_a_torn_tail_is_3(rec: Recorded) -> None:
    with (rec.dir / "seg-000001.jsonl").open("ab") as f:
        f.write(b'{"v":"regogate.audit/1","seq":')  # a crash mid-line, after the seal
    code, doc, _ = verify(rec)
    assert (code, doc["status"], doc["sealed"]) == (3, "intact-unsealed", True)
    assert "torn-tail" in finding_codes(doc)
    with (rec.dir / "checkpoints.log").open("ab") as f:
        f.write(b"bank.example")  # and a torn checkpoint entry
    assert "checkpoint-torn" in finding_codes(verify(rec)[1])


@pytest.mark.parametrize("how", ["deleted", "emptied", "untrusted"])
def test_no_valid_checkpoint_at_all_is_1(rec: Recorded, how: str) -> None:
    log = rec.dir / "checkpoints.log"
    if how == "deleted":
        log.unlink()
    elif how == "emptied":
        log.write_bytes(b"")
    trust = rec.dir.parent / "stranger.vkeys"
    if how == "untrusted":
        from regogate.recording.format.note import Signer

        trust.write_text(Signer.generate("x").verifier.vkey() + "\n")
    extra = ("--trust", trust) if how == "untrusted" else ()
    code, doc, stderr = verify(rec, *extra)
    assert (code, doc["status"]) == (1, "not-intact")
    assert "checkpoint-missing" in finding_codes(doc)
    missing = next(f for f in doc["findings"] if f["code"] == "checkpoint-missing")  # type: ignore[attr-defined]
    assert missing["severity"] == "error" and "no valid signed checkpoint" in missing["message"]  # type: ignore[index]
    assert "regogate: error: verification failed:" in stderr


def test_tampering_is_1_and_every_finding_has_a_code(rec: Recorded) -> None:
    lines = rec.lines()
    i = rec.seq_of(b"DELETE FROM")
    lines[i] = lines[i].replace(b"DELETE FROM", b"SELECT FROM")
    rec.write(lines)
    code, doc, _ = verify(rec)
    assert (code, doc["status"]) == (1, "not-intact")
    assert {"chain-broken", "checkpoint-root-mismatch"} <= finding_codes(doc)
    for f in doc["findings"]:  # type: ignore[attr-defined]
        assert set(f) == {"severity", "code", "message", "file", "line", "seq"}
        assert f["code"].replace("-", "").isalpha() and f["code"].islower()


def test_info_findings_are_in_the_json(rec: Recorded) -> None:
    """--json lists every finding; the text report shows info ones with -v."""
    with (rec.dir / "seg-000001.jsonl").open("ab") as f:
        f.write(b"{")  # torn; then a live gateway acknowledges it by starting
    from regogate.recording.write import keys
    from tests.recording.conftest import everything, write_log

    write_log(rec.dir, keys.load_signer(rec.key), everything())
    code, doc, _ = verify(rec)
    assert code == 0 and "torn-acknowledged" in finding_codes(doc)
    assert "torn-acknowledged" not in run("verify", "-d", rec.dir, "--key", rec.key).stdout
    assert "torn-acknowledged" in run("verify", "-d", rec.dir, "--key", rec.key, "-v").stdout


def test_usage_is_2_and_not_found_is_4(rec: Recorded) -> None:
    assert run("verify", "-d", rec.dir).exit_code == 2
    assert run("verify", "-d", rec.dir / "nope", "--key", rec.key).exit_code == 2
    assert run("verify", "no-such-session", "-d", rec.dir, "--key", rec.key).exit_code == 4
    assert run("verify", "-d", rec.dir, "--key", rec.key, "--proof", 1000).exit_code == 4
    window = run("verify", "-d", rec.dir, "--key", rec.key, "--from", "2030-01-01", "--json")
    assert window.exit_code == 4 and json.loads(window.stdout)["status"] == "not-found"


def test_findings_quote_recorded_text_escaped(rec: Recorded) -> None:
    """A tampered record type with a terminal escape is named in a finding: escaped."""
    lines = rec.lines()
    i = rec.seq_of(b"DELETE FROM")
    lines[i] = lines[i].replace(b'"sid":"sa-1"', b'"sid":"sa-1\\u001b[2J\\u202e"')
    rec.write(lines)
    result = run("verify", "-d", rec.dir, "--key", rec.key)
    assert result.exit_code == 1
    assert "sa-1\\x1b[2J\\u202e" in result.stdout  # named, escaped
    assert "\x1b" not in result.output and "\u202e" not in result.output
