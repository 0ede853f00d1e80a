"""Sessions: the index and its filters, the replay model, times; over real recordings."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from regogate.recording.format.directory import read_segments
from regogate.recording.format.note import Signer
from regogate.recording.format.records import Record
from regogate.recording.read.sessions import (
    SessionFilter,
    TimeError,
    build_replay,
    chain_problem,
    index_sessions,
    match_sessions,
    parse_time,
    ts_micros,
)
from regogate.recording.write.writer import Recorder, SessionLog
from tests.recording.conftest import Script, everything, write_log
from tests.recording.test_layering import IO, closure

T0 = 1_772_355_600_000_000  # 2026-03-01T09:00:00Z in µs


class Clock:
    """The recorder's clock, moved by the script: timings in replays are exact."""

    def __init__(self, start: int = T0):
        self.now = start

    def __call__(self) -> int:
        return self.now

    def tick(self, ms: float) -> None:
        self.now += int(ms * 1000)


def opening(
    sub: str, groups: list[str], conn: str, addr: str, tls: bool = True
) -> dict[str, object]:
    return {
        "identity": {
            "sub": sub,
            "groups": groups,
            "issuer": "https://idp.bank.example",
            "auth": "oidc",
            "token_sha256": "ab" * 32,
            "expires_at": "2026-03-01T10:00:00Z",
        },
        "client": {
            "addr": addr,
            "port": 51234,
            "application_name": "psql",
            "tls": {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384"} if tls else None,
        },
        "connection": {"name": conn, "database": conn},
    }


def statement(
    s: SessionLog,
    clock: Clock,
    sql: str,
    outcome: str,
    *,
    tag: str | None = None,
    rows: int = 0,
    reasons: tuple[str, ...] = (),
    masks: dict[str, str] | None = None,
) -> None:
    s.record(
        "stmt",
        {
            "text": sql,
            "literals_commitment": "cd" * 32,
            "protocol": "extended",
            "fingerprint": "0123456789abcdef",
        },
    )
    clock.tick(1.5)
    s.record(
        "decision",
        {
            "revision": 7,
            "input_sha256": "ef" * 32,
            "outcome": outcome,
            "reasons": list(reasons),
            "rules": ["bank.allow"] if outcome != "deny" else ["bank.no_delete"],
            "masks": masks or {},
            "cached": False,
        },
    )
    clock.tick(10)
    if tag is not None:
        s.record("result", {"tag": tag, "rows": rows, "digest": "12" * 32, "elapsed_ms": 10})
    clock.tick(100)


def gateway_script(clock: Clock) -> Script:
    """Three sessions as the gateway writes them (see the CLI tests for what they hold)."""

    async def script(rec: Recorder) -> None:
        a = rec.open_session(opening("alice", ["analysts"], "bank", "10.0.0.5"), sid="sa-1")
        clock.tick(20)
        statement(
            a, clock, "SELECT id FROM accounts WHERE id = $1", "allow", tag="SELECT 1", rows=1
        )
        statement(
            a,
            clock,
            "SELECT name, ssn FROM customers",
            "allow_masked",
            tag="SELECT 12",
            rows=12,
            masks={"ssn": "partial"},
        )
        statement(
            a, clock, "DELETE FROM accounts", "deny", reasons=("deletes need an approved change",)
        )
        a.record("error", {"sqlstate": "42501", "message": "denied by policy"})
        await a.flush()
        b = rec.open_session(opening("bob", ["dba"], "ledger", "10.0.0.6", tls=False), sid="sb-2")
        statement(b, clock, "UPDATE ledger SET x = $1", "needs_approval")
        b.record(
            "approval",
            {
                "request": "ar-1",
                "status": "consumed",
                "votes": [{"verdict": "approve", "approver": "carol", "comment": "CHG-1"}],
            },
        )
        b.record("result", {"tag": "UPDATE 3", "rows": 3, "digest": "34" * 32, "elapsed_ms": 4})
        b.record("cancel", {})
        b.record("masking.sample", {"cells": 3})
        b.record("result", {"error": "57014", "rows": 0, "elapsed_ms": 2})
        await a.close("client exit", {"statements": 3})
        clock.tick(60_000)
        await b.close("terminate", {"statements": 1})
        clock.tick(2 * 3600 * 1000)
        c = rec.open_session(opening("carol", ["analysts"], "bank", "10.0.0.7"), sid="sc-3")
        statement(c, clock, "SELECT 1", "allow", tag="SELECT 1", rows=1)
        await c.flush()  # left open: gateway.stop closes it

    return script


def records(directory: Path) -> list[Record]:
    return [Record.parse(x) for seg in read_segments(directory) for x in seg.data.splitlines()]


@pytest.fixture
def log(tmp_path: Path, signer: Signer) -> list[Record]:
    clock = Clock()
    write_log(tmp_path, signer, gateway_script(clock), clock=clock)
    return records(tmp_path)


def test_index(log: list[Record]) -> None:
    a, b, c = index_sessions(log)
    assert [a.sid, b.sid, c.sid] == ["sa-1", "sb-2", "sc-3"]
    assert (a.opening.sub, a.opening.groups, a.opening.connection) == (
        "alice",
        ("analysts",),
        "bank",
    )
    assert (
        a.opening.client == "10.0.0.5:51234" and a.opening.tls == "TLSv1.3 TLS_AES_256_GCM_SHA384"
    )
    assert (a.statements, a.denied, a.masked, a.errors) == (3, 1, 1, 1)
    assert (a.status, a.close_reason) == ("closed", "client exit")
    assert a.opened == "2026-03-01T09:00:00.000000Z"
    assert (b.approvals, b.errors, b.opening.tls) == (1, 1, None)
    assert (c.status, c.close_reason) == ("closed", "gateway.stop")
    assert a.records == 11 and a.first_seq == 1
    doc = json.loads(json.dumps(a.to_json()))
    assert doc["identity"]["sub"] == "alice" and doc["counts"]["statements"] == 3


def test_filters(log: list[Record]) -> None:
    every = index_sessions(log)

    def sids(f: SessionFilter) -> list[str]:
        return [s.sid for s in every if f.matches(s)]

    assert sids(SessionFilter(identity="alice")) == ["sa-1"]
    assert sids(SessionFilter(identity="analysts")) == ["sa-1", "sc-3"]  # a group
    assert sids(SessionFilter(identity="b*")) == ["sb-2"]
    assert sids(SessionFilter(connection="ledger")) == ["sb-2"]
    assert sids(SessionFilter(connection="nope")) == []
    assert sids(SessionFilter(since="2026-03-01T10:00:00.000000Z")) == ["sc-3"]
    assert sids(SessionFilter(until="2026-03-01T09:30:00.000000Z")) == ["sa-1", "sb-2"]
    # bob's session runs past 09:00:01 (closed a minute later): active in the window.
    window = SessionFilter(since="2026-03-01T09:00:30.000000Z", until="2026-03-01T09:05:00.000000Z")
    assert sids(window) == ["sb-2"]


def test_unclosed_sessions_of_a_crashed_boot(tmp_path: Path, signer: Signer) -> None:
    async def crash(rec: Recorder) -> None:
        rec.open_session({}, sid="s-open")
        await rec.flush()

    write_log(tmp_path, signer, crash)
    first = records(tmp_path)
    # As if the gateway crashed: its shutdown's session.close and gateway.stop never came.
    crashed = [r for r in first if r.type not in ("session.close", "gateway.stop")]
    (s,) = index_sessions(crashed)
    assert s.status == "open" and s.has_open and s.opening.sub is None  # may still run
    write_log(tmp_path, signer, everything())  # a later boot: the first one has ended
    later = records(tmp_path)[len(first) :]
    assert index_sessions(crashed + later)[0].status == "unclosed"


def test_replay_model(log: list[Record]) -> None:
    replay = build_replay(log, "sa-1")
    assert replay is not None and replay.chain_problem is None
    kinds = [e.type for e in replay.events]
    assert kinds[:4] == ["session.open", "stmt", "decision", "result"]
    assert kinds[-1] == "session.close"
    assert [e.offset_us for e in replay.events[:4]] == [0, 20_000, 21_500, 31_500]
    doc = json.loads(json.dumps(replay.to_json()))
    assert doc["events"][1]["text"] == "SELECT id FROM accounts WHERE id = $1"
    assert doc["events"][2]["offset_ms"] == 21.5 and doc["chain"]["intact"]
    assert doc["open"]["identity"]["sub"] == "alice"
    assert build_replay(log, "nope") is None


def test_chain_problems(log: list[Record]) -> None:
    chain = [r for r in log if r.sid == "sb-2"]
    assert chain_problem(chain) is None
    assert chain_problem(chain[:2] + chain[3:]) == (
        f"record seq {chain[3].seq} has n 3, expected 2: a record is missing or moved"
    )
    forged = replace(chain[2], prev="00" * 32)
    assert "prev does not match the previous record (seq" in (
        chain_problem([*chain[:2], forged, *chain[3:]]) or ""
    )


def test_times() -> None:
    now = T0
    assert parse_time("2026-03-01", now) == "2026-03-01T00:00:00.000000Z"
    assert parse_time("2026-03-01T10:00:00+01:00", now) == "2026-03-01T09:00:00.000000Z"
    assert parse_time("2026-03-01 09:00:00.5", now) == "2026-03-01T09:00:00.500000Z"
    assert parse_time("2h", now) == "2026-03-01T07:00:00.000000Z"
    assert parse_time("now", now) == "2026-03-01T09:00:00.000000Z"
    assert parse_time("1d", now) == "2026-02-28T09:00:00.000000Z"
    with pytest.raises(TimeError, match="bad time 'yesterday'"):
        parse_time("yesterday", now)
    assert ts_micros("2026-03-01T09:00:00.000001Z") == T0 + 1
    assert ts_micros("garbage") == 0


def test_match_sessions() -> None:
    sids = ["0190-aa", "0190-ab", "0191-aa"]
    assert match_sessions(sids, "0190-aa") == ["0190-aa"]
    assert match_sessions(sids, "0190") == ["0190-aa", "0190-ab"]
    assert match_sessions(sids, "0191") == ["0191-aa"]
    assert match_sessions(sids, "x") == []


def test_unknown_types_and_missing_fields_are_tolerated(tmp_path: Path, signer: Signer) -> None:
    async def script(rec: Recorder) -> None:
        s = rec.open_session({"connection": "bank"})  # the proxy's minimal session.open
        s.record("stmt", {})
        s.record("decision", {"outcome": ["not", "a", "string"]})
        s.record("future.thing", {"x": {"y": 1}})
        await s.close("bye")

    write_log(tmp_path, signer, script)
    recs = records(tmp_path)
    (summary,) = index_sessions(recs)
    assert summary.opening.connection == "bank" and summary.opening.sub is None
    # a decision that does not say allow did not let its statement run: refused
    assert summary.statements == 1 and summary.denied == 1
    replay = build_replay(recs, summary.sid)
    assert replay is not None and [e.type for e in replay.events][3] == "future.thing"


def test_sessions_module_is_pure() -> None:
    outside = {m.split(".")[0] for m in closure("read.sessions")}
    assert not outside & IO, sorted(outside)
