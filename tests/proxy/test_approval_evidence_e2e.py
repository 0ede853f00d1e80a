"""Approvals leave evidence: every request, decision, expiry and withdrawal is a signed
record in the session's chain; `regogate replay` shows who approved what and when, and
`sessions list` counts the approvals (docs/recording-format.md, "Approval records")."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from regogate.pgserver import free_port
from regogate.recording.format.directory import read_segments
from regogate.recording.format.records import Record
from tests.cli.test_recording_cli import run
from tests.fix_gateway import GatewayFixture
from tests.proxy.test_approval_hold_e2e import UPDATE, Approvals, approvals_extra, in_thread


def test_requests_decisions_and_withdrawals_are_recorded(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> None:
    key = tmp_path / "keys" / "signing.key"
    assert run("keys", "generate", "--key", key, "--name", "test.example/regogate").exit_code == 0
    rec_dir = tmp_path / "recordings"
    port = free_port()
    section = (
        f'[recording]\ndir = "{rec_dir}"\nkey_file = "{key}"\ncheckpoint_interval = 0.5\n'
        "commit_interval = 0.02\n"
    )
    gw = make_gateway(extra=approvals_extra(tmp_path, port, section))
    appr = Approvals(gw, f"http://127.0.0.1:{port}", tmp_path)

    def session() -> object:
        with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
            assert conn.execute(UPDATE).rowcount == 1  # approved
            with pytest.raises(psycopg.Error) as denied:
                conn.execute(UPDATE)
            assert denied.value.sqlstate == "RA002"
            return conn.info.backend_pid

    thread, out = in_thread(session)
    first = appr.pending()
    appr.approve(first["id"], "ticket 9")
    second = appr.pending()
    appr.deny(second["id"], "not today")
    thread.join(15)
    assert "error" not in out, out
    assert gw.process is not None and gw.process.stop() == 0

    records = [Record.parse(x) for s in read_segments(rec_dir) for x in s.data.splitlines() if x]
    kinds = [(r.type, r.body.get("request")) for r in records if r.type.startswith("approval")]
    assert kinds == [
        ("approval.request", first["id"]),
        ("approval", first["id"]),
        ("approval.request", second["id"]),
        ("approval.denied", second["id"]),
    ]
    approved = next(r for r in records if r.type == "approval")
    assert approved.body["status"] == "consumed"
    votes = approved.body["votes"]
    assert isinstance(votes, list) and isinstance(votes[0], dict)
    assert votes[0]["approver"] == "approver"
    assert "ticket 9" in json.dumps(approved.body)
    assert "bound_digest" not in approved.body
    sid = approved.sid
    assert sid is not None

    verified = run("verify", "-d", rec_dir, "--key", key)
    assert verified.exit_code == 0, verified.output
    shown = run("replay", sid, "-d", rec_dir, "--key", key)
    assert shown.exit_code == 0, shown.output
    line = next(x for x in shown.output.splitlines() if f"request {first['id']}  consumed" in x)
    assert "approve by approver at " in line and "ticket 9" in line
    assert "deny by approver" in shown.output and "not today" in shown.output
    listed = run("sessions", "list", "-d", rec_dir, "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    mine = [r for r in (rows if isinstance(rows, list) else rows["sessions"]) if r["sid"] == sid]
    assert mine and mine[0]["counts"]["approvals"] == 1
