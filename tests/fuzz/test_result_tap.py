"""Fuzzing the recording's result tap (regogate/recording/write/hotpath.py and, when built, its
native twin): arbitrary server byte streams split anywhere, with statements and a chain
that closes in between."""

from __future__ import annotations

import pytest
from hypothesis import example, given

from regogate.recording.write import hotpath
from regogate.wire import backend as be
from tests.fuzz.case import Case
from tests.fuzz.targets import TARGETS, check_result_tap

CYCLE = (
    be.CommandComplete("SELECT 2").encode()
    + be.ErrorResponse.make("42P01", "no such table").encode()
    + be.ReadyForQuery(b"I").encode()
)


@given(TARGETS["result_tap"].inputs)
@example(Case(CYCLE * 2, (3, 20, len(CYCLE) + 1)))
@example(Case(CYCLE, (2,), {"events": [[0, "stmt", "mapping"]], "close_at": 1}))
@example(Case(b"C\x00\x00\x00\x03" + CYCLE))  # a length under 4: the stream is broken
@example(Case(be.CommandComplete("UPDATE " + "9" * 40).encode() + be.ReadyForQuery().encode()))
def test_result_tap(case: Case) -> None:
    check_result_tap(case)


@given(TARGETS["result_tap_oracle"].inputs)
def test_result_tap_agrees_with_the_stream(case: Case) -> None:
    check_result_tap(case)


def test_a_digest_that_depends_on_chunks_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    digest = hotpath.PyResultTap._digest
    monkeypatch.setattr(hotpath.PyResultTap, "_digest", lambda self, part: digest(self, part[1:]))
    with pytest.raises(AssertionError, match="chunking changed"):
        check_result_tap(Case(CYCLE, (5,)))


def test_a_miscount_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tap that reads a row count wrong on every split disagrees with the summaries
    computed apart from it (and, when built, with the native tap)."""
    message = hotpath.PyResultTap._message

    def miscount(self: hotpath.PyResultTap, tag: int, body: bytes, upto: bytes) -> None:
        message(self, tag, body.replace(b"SELECT 2", b"SELECT 3"), upto)

    monkeypatch.setattr(hotpath.PyResultTap, "_message", miscount)
    with pytest.raises(AssertionError, match="summaries differ"):
        check_result_tap(Case(CYCLE))
