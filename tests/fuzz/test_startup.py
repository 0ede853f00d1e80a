"""Fuzzing the startup phase: startup packets and their parameters (regogate/wire/startup*,
check_startup), and ``proxy/startup.Handshake`` fed what an arbitrary client sends."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given

from regogate.proxy import startup
from regogate.wire.frontend import PasswordMessage
from regogate.wire.startup import CancelRequest, SSLRequest, StartupMessage
from tests.fuzz.case import Case
from tests.fuzz.targets import (
    GOOD_TOKEN,
    TARGETS,
    check_options,
    check_startup_packet,
    check_startup_phase,
    check_startup_roundtrip,
    handshake,
)

LOGIN = StartupMessage({"user": "alice", "database": "app"}).encode()
PASSWORD = PasswordMessage(GOOD_TOKEN).encode()


@given(TARGETS["startup_packet"].inputs)
@example(Case(b"\x00\x00\x00\x08\x00\x03\x00\x00"))  # no terminator
@example(Case(b"\x00\x00\x00\x0c\x00\x03\x00\x00\x00v\x00\x00"))  # empty name, a value
@example(Case(b"\x00\x00\x00\x07\x00\x00\x00"))  # a length under 8
@example(Case(b"\x00\x00\x27\x11"))  # 10001: over the startup limit
def test_startup_packets(case: Case) -> None:
    check_startup_packet(case)


@given(TARGETS["startup_roundtrip"].inputs)
def test_startup_packets_round_trip(packets: list[Any]) -> None:
    check_startup_roundtrip(packets)


@given(TARGETS["options"].inputs)
@example("-c a\\ b=c\\\\")
@example("--a-b=x -cC=y")
def test_options_read_back_the_same(text: str) -> None:
    check_options(text)


@given(TARGETS["startup_phase"].inputs)
@example(Case(SSLRequest().encode() + LOGIN + PASSWORD, (8, 9)))
@example(Case(SSLRequest().encode() + LOGIN, (), {"tls": True}))  # bytes after SSLRequest
@example(Case(CancelRequest(7, b"\x00" * 32).encode()))
@example(Case(LOGIN + b"p\x00\x01\x00\x05"))  # a password message over 64 KiB
def test_startup_phase(case: Case) -> None:
    check_startup_phase(case)


def test_a_login_authenticates() -> None:
    """The harness reaches the end of the phase (the properties are not vacuous)."""
    ended, stream = handshake([LOGIN, PASSWORD], tls=False)
    assert ended[0] == "authenticated"
    assert stream.sent == [startup.AuthenticationCleartextPassword().encode()]
    ended, _ = handshake([LOGIN, PasswordMessage("wrong").encode()], tls=False)
    assert ended[:3] == ("error", "AuthenticationFailed", "28P01")


def test_a_leaking_exception_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def decode(body: bytes) -> Any:
        raise IndexError("leaked")

    monkeypatch.setattr(startup, "decode_startup", decode)
    with pytest.raises(IndexError):
        check_startup_phase(Case(LOGIN))


def test_unbounded_pre_auth_buffering_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(startup, "PRE_AUTH_MAX_MESSAGE", 1 << 30)
    big = b"p" + (200_000).to_bytes(4, "big") + bytes(150_000)
    with pytest.raises(AssertionError, match="buffered"):
        check_startup_phase(Case(LOGIN + big, (len(LOGIN), len(LOGIN) + 70_000)))
