"""What a client sends cannot mislead whoever reads the recording: a real session through
`regogate serve` whose statement and startup parameters carry terminal escapes, bidi
overrides and newlines, read back with `replay`, `sessions list` and `verify`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from regogate.recording.format.directory import read_segments
from regogate.recording.format.records import Record
from regogate.recording.write import keys
from tests.cli.test_recording_cli import run
from tests.fix_gateway import GatewayFixture
from tests.policy.test_enforce_e2e import policy_dir, policy_section

# Printed raw, this erases the line and moves the cursor to its start, so that what follows
# the identifier is drawn over the DELETE: the reader would see "SELECT id FROM accounts".
REDRAW = "\x1b[2K\x1b[1G   +0.000s  stmt          SELECT id FROM accounts"
STATEMENT = f'DELETE FROM transactions WHERE "{REDRAW}" = 1'
# A newline in application_name would start a forged header line; U+2067 (right-to-left
# isolate) and U+202E (right-to-left override) reorder what follows; \x9b is the C1 CSI.
APPLICATION = "psql\nidentity    admin  groups dba\u2067\u202e\x9b2J"


@pytest.fixture
def hostile(make_gateway: Callable[..., GatewayFixture], tmp_path: Path) -> tuple[Path, Path]:
    """A recording of one session that tries its best, and the key (its .vkeys beside it)."""
    key = tmp_path / "keys" / "signing.key"
    assert run("keys", "generate", "--key", key, "--name", "test.example/regogate").exit_code == 0
    rec_dir = tmp_path / "recordings"
    section = (
        f'[recording]\ndir = "{rec_dir}"\nkey_file = "{key}"\ncheckpoint_interval = 0.5\n'
        "commit_interval = 0.02\n"
    )
    gw = make_gateway(extra=policy_section(policy_dir(tmp_path)) + section)
    with psycopg.connect(gw.dsn("analyst"), application_name=APPLICATION, autocommit=True) as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(STATEMENT.encode())
        c.execute("select 1")
    assert gw.process is not None and gw.process.stop() == 0
    return rec_dir, key


def _records(rec_dir: Path) -> list[Record]:
    return [Record.parse(x) for s in read_segments(rec_dir) for x in s.data.splitlines() if x]


def test_the_recording_keeps_what_the_client_sent(hostile: tuple[Path, Path]) -> None:
    """The threat is real: the bytes are in the log as sent (a test that can fail)."""
    rec_dir, _ = hostile
    recs = _records(rec_dir)
    opened = next(r for r in recs if r.type == "session.open")
    assert opened.body["client"]["application_name"] == APPLICATION  # type: ignore[index,call-overload]
    stmt = next(r for r in recs if r.type == "stmt" and "DELETE" in str(r.body["text"]))
    assert REDRAW in str(stmt.body["text"])


def _printable(text: str) -> None:
    """No raw control, C1, bidi or separator character reaches the terminal."""
    bad = [c for c in text if c != "\n" and (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F)]
    bad += [c for c in text if c in "\u061c\u200e\u200f\u2028\u2029"]
    bad += [c for c in text if "\u202a" <= c <= "\u202e" or "\u2066" <= c <= "\u2069"]
    assert not bad, [hex(ord(c)) for c in bad]


def test_replay_shows_them_escaped(hostile: tuple[Path, Path]) -> None:
    rec_dir, key = hostile
    sid = next(r.sid for r in _records(rec_dir) if r.type == "session.open")
    assert sid is not None
    result = run("replay", sid, "-d", rec_dir, "--key", key)
    assert result.exit_code == 0, result.output
    out = result.stdout
    _printable(out)
    lines = out.splitlines()
    # The forged header line is not a line of its own: the newline is shown as \n.
    assert not [x for x in lines if x.startswith("identity    admin")]
    assert "application psql\\nidentity    admin  groups dba\\u2067\\u202e\\x9b2J" in out
    # The DELETE is shown as a DELETE, with the escape sequence spelled out.
    delete = next(x for x in lines if "stmt" in x and "DELETE" in x)
    assert '\\x1b[2K\\x1b[1G   +0.000s  stmt          SELECT id FROM accounts"' in delete
    assert "DENY" in out and "DELETE is not allowed" in out
    # And replay says what verifying the session's records found, from a real verification.
    assert "verified    OK: its hash chain holds and all" in out
    raw = run("replay", sid, "-d", rec_dir, "--key", key, "--json").stdout
    _printable(raw)  # JSON escapes (\u2067) instead of the characters
    assert "\\u2067\\u202e\\u009b2J" in raw and "\\u001b[2K" in raw
    doc = json.loads(raw)
    assert doc["open"]["client"]["application_name"] == APPLICATION  # the data is unchanged
    assert doc["verification"]["status"] == "intact-sealed"
    unverified = run("replay", sid, "-d", rec_dir).stdout  # no trusted key: says so
    assert "verified    NOT VERIFIED: no trusted keys" in unverified


def test_sessions_list_and_verify_show_them_escaped(hostile: tuple[Path, Path]) -> None:
    rec_dir, key = hostile
    listed = run("sessions", "list", "-d", rec_dir)
    assert listed.exit_code == 0, listed.output
    _printable(listed.stdout)
    as_json = run("sessions", "list", "-d", rec_dir, "--json").stdout
    _printable(as_json)
    (session,) = json.loads(as_json)["sessions"]
    assert session["client"]["application_name"] == APPLICATION
    verified = run("verify", "-d", rec_dir, "--key", key, "-v")
    assert verified.exit_code == 0, verified.output
    _printable(verified.stdout + verified.stderr)
    assert keys.deployment_of(keys.load_signer(key).name) is not None


def test_every_part_of_a_record_is_escaped_and_capped(tmp_path: Path) -> None:
    """Record types, field names and values the gateway does not summarize, written by
    the writer API: shown escaped, and a long statement is cut with a marker."""
    from regogate.recording.format.note import Signer
    from regogate.recording.write.writer import Recorder
    from tests.recording.conftest import ORIGIN, write_log

    async def script(rec: Recorder) -> None:
        s = rec.open_session(
            {"client": {"addr": "10.0.0.1\u2066", "user": "bob\x85"}}, sid="s-\x1b]0;x\x07"
        )
        s.record("stmt", {"text": "SELECT " + "x" * 5000, "protocol": "simple\u202e"})
        s.record("note\x1b[2J", {"\u202eevil": "\x9b31m", "why\u2028": ["\u200b"]})
        await s.close("client exit\r\nsession     forged")

    write_log(tmp_path, Signer.generate(ORIGIN), script)
    out = run("replay", "s-", "-d", tmp_path).stdout
    _printable(out)
    for want in (
        "session     s-\\x1b]0;x\\x07  closed (client exit\\r\\nsession     forged)",
        "client      10.0.0.1\\u2066  user bob\\x85",
        "note\\x1b[2J   why",
        'why\\u2028=["\\u200b"]  \\u202eevil=\\x9b31m',
        "…[+3007 chars]   [simple\\u202e]",
    ):
        assert want in out, (want, out)
    listed = run("sessions", "list", "-d", tmp_path).stdout
    _printable(listed)
    assert "s-\\x1b]0;x\\x07" in listed and "10.0.0.1\\u2066" in listed
