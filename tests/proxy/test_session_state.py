"""The gate's model of PostgreSQL's session: parameter stack (guc.c semantics),
transactions and savepoints, and the response tracker that applies effects in order."""

from __future__ import annotations

import pytest

from regogate.policy.setting_change import SettingChange
from regogate.proxy.responses import ResponseTracker
from regogate.proxy.session_state import (
    UNKNOWN,
    ParameterStack,
    SessionModel,
    StatementEffect,
)


def _set(value: str, local: bool = False) -> StatementEffect:
    return StatementEffect(
        changes=(SettingChange("search_path", value, "local" if local else "set"),)
    )


def _txn(op: str, name: str | None = None) -> StatementEffect:
    return StatementEffect(txn=op, savepoint=name)  # type: ignore[arg-type]


RESET_PATH = StatementEffect(changes=(SettingChange("search_path", None, "reset"),))
OTHER = StatementEffect()


def model() -> SessionModel:
    return SessionModel.start({"search_path": "start"}, {"search_path": "reset"})


def run(m: SessionModel, steps: list[tuple[str, StatementEffect | bytes | None]]) -> None:
    for kind, arg in steps:
        if kind == "ok":
            assert isinstance(arg, StatementEffect)
            m.complete(arg)
        elif kind == "fail":
            m.failed()
        elif kind == "z":
            assert isinstance(arg, bytes)
            m.ready(arg)


# (steps, search_path PostgreSQL has afterwards); each step as PostgreSQL reports it.
CASES = [
    ("set outside a block", [("ok", _set("a")), ("z", b"I")], "a"),
    ("set local outside a block", [("ok", _set("a", True)), ("z", b"I")], "start"),
    ("set then error, same query", [("ok", _set("a")), ("fail", None), ("z", b"I")], "start"),
    (
        "set, commit, error in one query",
        [("ok", _set("a")), ("ok", _txn("commit")), ("fail", None), ("z", b"I")],
        "a",
    ),
    (
        "begin set commit",
        [
            ("ok", _txn("begin")),
            ("z", b"T"),
            ("ok", _set("a")),
            ("z", b"T"),
            ("ok", _txn("commit")),
            ("z", b"I"),
        ],
        "a",
    ),
    (
        "begin set rollback",
        [("ok", _txn("begin")), ("ok", _set("a")), ("ok", _txn("rollback")), ("z", b"I")],
        "start",
    ),
    (
        "begin set local commit",
        [("ok", _txn("begin")), ("ok", _set("a", True)), ("ok", _txn("commit")), ("z", b"I")],
        "start",
    ),
    (
        "set then set local in a block: commit keeps the set",
        [
            ("ok", _txn("begin")),
            ("ok", _set("a")),
            ("ok", _set("b", True)),
            ("ok", _txn("commit")),
            ("z", b"I"),
        ],
        "a",
    ),
    (
        "error in a block reverts at once",
        [("ok", _txn("begin")), ("ok", _set("a")), ("z", b"T"), ("fail", None), ("z", b"E")],
        "start",
    ),
    (
        "commit of a failed block rolls back",
        [
            ("ok", _txn("begin")),
            ("ok", _set("a")),
            ("fail", None),
            ("ok", _txn("commit")),
            ("z", b"I"),
        ],
        "start",
    ),
    (
        "rollback to savepoint",
        [
            ("ok", _txn("begin")),
            ("ok", _set("a")),
            ("ok", _txn("savepoint", "s")),
            ("ok", _set("b")),
            ("ok", _txn("rollback_to", "s")),
            ("ok", _txn("commit")),
            ("z", b"I"),
        ],
        "a",
    ),
    (
        "release savepoint keeps",
        [
            ("ok", _txn("begin")),
            ("ok", _txn("savepoint", "s")),
            ("ok", _set("b")),
            ("ok", _txn("release", "s")),
            ("ok", _txn("commit")),
        ],
        "b",
    ),
    (
        "error in a savepoint, rollback to it, commit",
        [
            ("ok", _txn("begin")),
            ("ok", _set("a")),
            ("ok", _txn("savepoint", "s")),
            ("ok", _set("b")),
            ("fail", None),
            ("ok", _txn("rollback_to", "s")),
            ("ok", _txn("commit")),
        ],
        "a",
    ),
    (
        "set local in a savepoint survives release until commit",
        [
            ("ok", _txn("begin")),
            ("ok", _txn("savepoint", "s")),
            ("ok", _set("b", True)),
            ("ok", _txn("release", "s")),
            ("ok", _txn("commit")),
        ],
        "start",
    ),
    ("reset", [("ok", _set("a")), ("z", b"I"), ("ok", RESET_PATH), ("z", b"I")], "reset"),
    (
        "reset rolled back",
        [
            ("ok", _set("a")),
            ("z", b"I"),
            ("ok", _txn("begin")),
            ("ok", RESET_PATH),
            ("ok", _txn("rollback")),
        ],
        "a",
    ),
    (
        "user code makes the path unknown",
        [("ok", StatementEffect(user_code=True)), ("z", b"I")],
        UNKNOWN,
    ),
    (
        "user code rolled back with its transaction",
        [("ok", _txn("begin")), ("ok", StatementEffect(user_code=True)), ("ok", _txn("rollback"))],
        "start",
    ),
    (
        "uncertain set_config",
        [
            (
                "ok",
                StatementEffect(changes=(SettingChange("search_path", "x", "set", certain=False),)),
            ),
            ("z", b"I"),
        ],
        UNKNOWN,
    ),
    (
        "computed name",
        [("ok", StatementEffect(changes=(SettingChange(None, "x", "set"),))), ("z", b"I")],
        UNKNOWN,
    ),
    (
        "role default is not this session",
        [
            ("ok", StatementEffect(changes=(SettingChange("search_path", "x", "role_default"),))),
            ("z", b"I"),
        ],
        "start",
    ),
    (
        "reset all",
        [
            ("ok", _set("a")),
            ("ok", StatementEffect(changes=(SettingChange(None, None, "reset_all"),))),
        ],
        "reset",
    ),
]


@pytest.mark.parametrize(("steps", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_search_path_follows_postgresql(
    steps: list[tuple[str, StatementEffect | bytes | None]], expected: str | None
) -> None:
    m = model()
    run(m, steps)
    assert m.value("search_path") == expected


def test_status_mismatch_forgets_everything() -> None:
    m = model()
    m.complete(_set("a"))
    m.ready(b"T")  # the model thought the implicit transaction ended
    assert m.lost
    assert m.value("search_path") is UNKNOWN


def test_stack_masked_value_across_levels() -> None:
    # guc.c: SET in a savepoint, SET LOCAL in the outer level, then RELEASE: commit keeps
    # the SET of the inner level.
    p = ParameterStack({"x": "0"}, {})
    p.push()
    p.set("x", "1", local=True)
    p.push()
    p.set("x", "2", local=False)
    p.pop(commit=True)
    p.pop(commit=True)
    assert p.get("x") == "2"


# -- the response tracker -------------------------------------------------------------------


def tracker() -> tuple[ResponseTracker, list[str]]:
    failed: list[str] = []
    return ResponseTracker(model(), on_parse_failed=lambda n, s: failed.append(n)), failed


def test_pipeline_error_skips_to_sync() -> None:
    t, failed = tracker()
    t.sent("parse", name="s1", added=True)
    t.sent("bind")
    t.sent("execute", (_set("a"),))
    t.sent("parse", name="s2", added=True)
    t.sent("bind")
    t.sent("execute", (_set("b"),))
    t.sent("sync")
    for tag in b"12":
        t.received(tag, b"")
    t.received(ord("C"), b"SET\x00")
    assert t.model.value("search_path") == "a"
    t.received(ord("E"), b"")  # the second Parse fails: all up to Sync is skipped
    assert failed == ["s2"]
    assert t.model.value("search_path") == "start"  # the implicit transaction aborted
    t.received(ord("Z"), b"I")
    assert t.idle and not t.model.lost
    assert t.model.value("search_path") == "start"


def test_simple_query_statements_complete_one_by_one() -> None:
    t, _ = tracker()
    t.sent("query", (_txn("begin"), _set("a"), _txn("commit"), OTHER))
    t.received(ord("C"), b"BEGIN\x00")
    t.received(ord("C"), b"SET\x00")
    t.received(ord("C"), b"COMMIT\x00")
    t.received(ord("E"), b"")
    t.received(ord("Z"), b"I")
    assert t.model.value("search_path") == "a"


def test_commit_reported_as_rollback() -> None:
    t, _ = tracker()
    t.sent("query", (_txn("begin"), _set("a")))
    t.received(ord("C"), b"BEGIN\x00")
    t.received(ord("C"), b"SET\x00")
    t.received(ord("Z"), b"T")
    t.sent("query", (_txn("commit"),))
    t.received(ord("C"), b"ROLLBACK\x00")  # e.g. a deferred constraint failed
    t.received(ord("Z"), b"I")
    assert t.model.value("search_path") == "start"


def test_unexpected_message_loses_step() -> None:
    t, _ = tracker()
    t.received(ord("C"), b"SELECT 1\x00")
    assert t.model.lost


def test_describe_and_close() -> None:
    closed: list[str] = []
    t = ResponseTracker(model(), on_close=lambda n, s: closed.append(n))
    t.sent("describe")
    t.sent("close", name="Sfoo")
    t.sent("sync")
    t.received(ord("t"), b"")
    t.received(ord("T"), b"")
    t.received(ord("3"), b"")
    t.received(ord("Z"), b"I")
    assert closed == ["Sfoo"] and t.idle and not t.model.lost


def test_in_flight_questions() -> None:
    t, _ = tracker()
    t.sent("parse")
    assert not t.runs_unsynced() and t.needs_flush()
    t.sent("bind")
    t.sent("execute", (OTHER,))
    assert t.runs_unsynced() and t.last_mattering() == 0
    t.sent("execute", (_set("a"),))
    assert t.last_mattering() == t.seq
    t.sent("sync")
    assert not t.runs_unsynced() and not t.needs_flush()


def test_messages_after_an_extended_error_are_never_answered() -> None:
    # postgres.c ignore_till_sync: after an error in the extended protocol every message
    # (a simple Query too) is skipped until a Sync; nothing must wait for their answers.
    t, failed = tracker()
    t.sent("parse", name="a", added=True)
    t.sent("bind")
    t.sent("execute", (_txn("release", "b"),))
    t.received(ord("1"), b"")
    t.received(ord("2"), b"")
    t.received(ord("E"), b"")  # RELEASE outside a block
    assert t.idle and t.discarding
    seq = t.sent("execute", (_set("x"),))
    t.sent("query", (_set("y"),))
    t.sent("parse", name="p", added=True)
    assert t.done >= seq and t.idle and failed == ["p"]
    t.sent("sync")
    t.received(ord("Z"), b"I")
    assert t.idle and not t.model.lost and t.model.value("search_path") == "start"


def test_lost_step_logs_once_and_resyncs_at_ready(caplog: pytest.LogCaptureFixture) -> None:
    t, _ = tracker()
    t.sent("parse")
    t.sent("sync")
    for _ in range(50):
        t.received(ord("C"), b"SELECT 1\x00")  # answers nothing that was sent
    t.received(ord("Z"), b"I")
    assert t.model.lost and t.idle
    assert len([r for r in caplog.records if "lost step" in r.getMessage()]) == 1
