"""Fuzzing the sans-IO wire codec (regogate/wire): arbitrary client and server byte
streams, split anywhere, framed and decoded; messages made with the codec round-trip."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given

from regogate.wire import backend as be
from regogate.wire import framing
from regogate.wire.codec import Body
from regogate.wire.scan import StreamScanner
from tests.fuzz.case import Case
from tests.fuzz.targets import (
    TARGETS,
    check_backend,
    check_framing,
    check_frontend,
    check_roundtrip,
)


@given(TARGETS["frontend"].inputs)
@example(Case(b"Q\x00\x00\x00\x04"))  # an empty Query body: no terminator
@example(Case(b"B\x00\x00\x00\x0ap\x00s\x00\xff\xff", (3, 7)))  # a negative count
@example(Case(b"p\x00\x00\x00\x0eSCRAM\x00\xff\xff\xff\xfe"))  # SASL length -2
def test_client_streams(case: Case) -> None:
    check_frontend(case)


@given(TARGETS["backend"].inputs)
@example(Case(b"E\x00\x00\x00\x06\xe9\x00"))  # a field code above 0x7f, then the end
@example(Case(b"R\x00\x00\x00\x0c\x00\x00\x00\x0a\x00\x00"))  # SASL with no mechanism
@example(Case(b"t\x00\x00\x00\x06\xff\xff"))  # 65535 parameters announced, none sent
def test_server_streams(case: Case) -> None:
    check_backend(case)


@given(TARGETS["frontend_roundtrip"].inputs)
def test_frontend_messages_round_trip(messages: list[Any]) -> None:
    check_roundtrip(messages, backend=False)


@given(TARGETS["backend_roundtrip"].inputs)
@example([be.ErrorResponse((("\xe9", "x"),))])
def test_backend_messages_round_trip(messages: list[Any]) -> None:
    check_roundtrip(messages, backend=True)


def test_a_decoder_that_loses_a_byte_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(be._DECODERS, b"C", lambda body: be.CommandComplete(body[:-2].decode()))
    with pytest.raises(AssertionError, match="re-encode"):
        check_backend(Case(be.CommandComplete("SELECT 1").encode()))


def test_a_foreign_exception_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def cstr(self: Body) -> str:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setattr(Body, "cstr", cstr)
    with pytest.raises(UnicodeDecodeError):
        check_frontend(Case(b"Q\x00\x00\x00\x05\xff"))


def test_unbounded_buffering_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(framing, "MAX_STARTUP_SIZE", 1 << 30)
    with pytest.raises(AssertionError, match="buffered"):
        check_framing(Case(b"\x00\x01\x00\x00" + bytes(20000)), startup=True, max_size=64)


def test_a_scanner_out_of_step_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    feed = StreamScanner.feed
    monkeypatch.setattr(StreamScanner, "feed", lambda self, data: feed(self, data)[1:])
    with pytest.raises(AssertionError, match="disagree"):
        check_backend(Case(be.ReadyForQuery().encode() * 2))
