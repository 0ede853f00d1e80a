"""Issue 23 item 6 end to end: with a MAC root secret (separate from the signing key)
each session's literals are committed one by one with the session's own key; `regogate
keys disclose --session` hands over that session's keys, and `regogate verify --literal`
confirms a literal with them and refuses a wrong value and another session's keys."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path

import psycopg

from regogate.recording.format.mac import MacRoot
from regogate.recording.write import keys
from tests.cli.test_recording_cli import run
from tests.fix_gateway import GatewayFixture
from tests.policy.test_enforce_e2e import policy_dir, policy_section
from tests.recording.test_gateway_recording import recording_setup, records


def test_one_sessions_literals_are_confirmed_with_its_keys_alone(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> None:
    section, signer, rec_dir = recording_setup(tmp_path)
    key_file = tmp_path / "rec.key"
    root = MacRoot.generate()
    keys.write_mac_root(keys.mac_file_for(key_file), root)
    gw = make_gateway(extra=policy_section(policy_dir(tmp_path)) + section)
    with psycopg.connect(gw.dsn("analyst"), autocommit=True) as c:
        c.execute("select id from customers where full_name = 'O''Brien' and id > 7")
    with psycopg.connect(gw.dsn("analyst"), autocommit=True) as c:
        c.execute("select id from customers where full_name = 'Someone Else'")
    assert gw.process is not None and gw.process.stop() == 0
    assert "no MAC root secret" not in gw.process.log.read_text()

    recs = records(rec_dir)
    opens = [r for r in recs if r.type == "session.open"]
    assert len(opens) == 2
    for o in opens:
        scheme = {"scheme": "session-v2", "root": root.id}
        assert o.body["literal_commitments"] == scheme == o.body["result_digests"]
    first, second = (str(o.sid) for o in opens)
    stmt = next(
        r for r in recs if r.type == "stmt" and r.sid == first and "O''Brien" not in r.data.decode()
    )
    assert stmt.body["text"] == "select id from customers where full_name = $1 and id > $2"
    macs = stmt.body["literal_macs"]
    assert isinstance(macs, dict) and set(macs) == {"1", "2"}
    assert "literals_commitment" not in stmt.body
    # result digests are keyed with the session's digest key
    result = next(r for r in recs if r.type == "result" and r.sid == first)
    assert isinstance(result.body["digest"], str)
    assert root.digest_key(first) != root.digest_key(second)

    out = tmp_path / "session.keys"
    disclosed = run(
        "keys", "disclose", "--session", first[:13], "-d", rec_dir, "--key", key_file, "--out", out
    )
    assert disclosed.exit_code == 0, disclosed.output
    assert (out.stat().st_mode & 0o777) == 0o600
    doc = json.loads(out.read_text())
    assert doc["session"] == first and doc["literal_key"] == root.literal_key(first).hex()
    assert root.text() not in out.read_text()

    trust = tmp_path / "trust.vkeys"
    trust.write_text(signer.verifier.vkey() + "\n")
    verify = ["verify", "-d", rec_dir, "--trust", trust, "--session-keys", out]
    ok = run(*verify, "--literal", f"{stmt.seq}:1='O''Brien'", "--literal", f"{stmt.seq}:$2=7")
    assert ok.exit_code == 0, ok.output
    assert "literal $1 of record" in ok.output and "confirmed" in ok.output
    wrong = run(*verify, "--literal", f"{stmt.seq}:1='OBrien'")
    assert wrong.exit_code == 1 and "is NOT" in wrong.output
    unquoted = run(*verify, "--literal", f"{stmt.seq}:1=O'Brien")  # the token, as written
    assert unquoted.exit_code == 1
    other = next(r for r in recs if r.type == "stmt" and r.sid == second)
    foreign = run(*verify, "--literal", f"{other.seq}:1='Someone Else'")
    assert foreign.exit_code != 0 and f"of session {second}" in foreign.output
    # the keys of one session cannot recompute another session's commitments
    key = bytes.fromhex(doc["literal_key"])
    expected = hmac.new(key, b"[1,\"'Someone Else'\"]", hashlib.sha256).hexdigest()[:32]
    assert other.body["literal_macs"] == {
        "1": hmac.new(
            root.literal_key(second), b"[1,\"'Someone Else'\"]", hashlib.sha256
        ).hexdigest()[:32]
    }
    assert other.body["literal_macs"]["1"] != expected
