"""StreamScanner follows message boundaries across any chunking and captures only what's asked."""

from __future__ import annotations

import random
import struct

import pytest

from regogate.wire.scan import StreamScanner


def msg(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("!I", len(body) + 4) + body


STREAM = b"".join(
    [
        msg(b"1", b""),
        msg(b"T", b"\x00\x01id\x00" + b"\x00" * 18),
        *[msg(b"D", b"\x00\x01" + struct.pack("!I", 3) + b"abc") for _ in range(50)],
        msg(b"D", b"\x00\x01" + struct.pack("!I", 70000) + b"x" * 70000),
        msg(b"C", b"SELECT 51\x00"),
        msg(b"E", b"SERROR\x00C42501\x00Mdenied\x00\x00"),
        msg(b"Z", b"T"),
        msg(b"Z", b"I"),
    ]
)
EXPECTED = [
    (ord("E"), b"SERROR\x00C42501\x00Mdenied\x00\x00"),
    (ord("Z"), b"T"),
    (ord("Z"), b"I"),
]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64, 4096, len(STREAM)])
def test_any_chunking(chunk: int) -> None:
    scanner = StreamScanner(b"ZE")
    got = []
    for i in range(0, len(STREAM), chunk):
        got += scanner.feed(STREAM[i : i + chunk])
    assert got == EXPECTED


def test_random_chunking() -> None:
    rng = random.Random(7)
    for _ in range(50):
        scanner = StreamScanner(b"ZE")
        got = []
        i = 0
        while i < len(STREAM):
            n = rng.randint(1, 9000)
            got += scanner.feed(STREAM[i : i + n])
            i += n
        assert got == EXPECTED


def test_empty_body_of_interest() -> None:
    scanner = StreamScanner(b"1")
    assert scanner.feed(msg(b"1", b"") + msg(b"2", b"")) == [(ord("1"), b"")]
