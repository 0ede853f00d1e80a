"""A refused statement counts as refused in every summary, whatever its outcome word:
a policy denial, a decision that needs an approval, a gate refusal (SQLSTATE, no policy
decision), a word a later policy library might use."""

from __future__ import annotations

from pathlib import Path

import pytest

from regogate.recording.format.note import Signer
from regogate.recording.read.sessions import index_sessions, refused
from regogate.recording.write.writer import Recorder
from tests.recording.conftest import write_log
from tests.recording.test_sessions import records

ALLOW = {"outcome": "allow", "revision": "r1"}


@pytest.mark.parametrize(
    ("decision", "is_refused"),
    [
        (ALLOW, False),
        ({"outcome": "allow_masked", "masks": {"ssn": "partial"}}, False),
        ({"outcome": "deny", "reasons": ["no"]}, True),
        ({"outcome": "needs_approval", "approval": True}, True),
        ({"outcome": "quarantine"}, True),  # an unknown word is not an allow
        ({"outcome": None}, True),
        ({}, True),
        ({"outcome": "deny", "input_sha256": None, "sqlstate": "58030"}, True),  # gate refusal
        ({"outcome": "allow", "sqlstate": "42501"}, True),  # a refusal whatever the word
    ],
)
def test_refused(decision: dict[str, object], is_refused: bool) -> None:
    assert refused(decision) is is_refused  # type: ignore[arg-type]


def test_a_statement_counts_once_as_refused(tmp_path: Path, signer: Signer) -> None:
    async def script(rec: Recorder) -> None:
        s = rec.open_session({"connection": {"name": "bank"}})
        s.record("stmt", {"decisions": [ALLOW]})
        s.record("stmt", {"decisions": [ALLOW, {"outcome": "deny"}]})  # a denial ends it
        s.record("stmt", {"decisions": [{"outcome": "needs_approval"}]})
        s.record("stmt", {"decisions": [{"outcome": "deny", "sqlstate": "58030"}]})
        s.record("stmt", {"decisions": []})  # decided nothing (a re-run): not refused
        await s.close("terminate")

    write_log(tmp_path, signer, script)
    (summary,) = index_sessions(records(tmp_path))
    assert (summary.statements, summary.denied) == (5, 3)
    assert summary.to_json()["counts"]["denied"] == 3  # type: ignore[index]
