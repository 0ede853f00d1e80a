"""Primitive field codecs shared by every message (protocol §55.6 "Message Data Types").

``Body`` reads Int8/16/32, C strings and byte runs from a message body and raises
ProtocolViolation — never IndexError or struct.error — on anything malformed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Self

from regogate.errors import ProtocolViolation

INT16 = struct.Struct("!h")
UINT16 = struct.Struct("!H")
INT32 = struct.Struct("!i")
UINT32 = struct.Struct("!I")


def frame(tag: bytes, body: bytes) -> bytes:
    return tag + UINT32.pack(len(body) + 4) + body


def cstr(text: str) -> bytes:
    data = text.encode("utf-8", "surrogateescape")
    if b"\0" in data:
        raise ValueError("strings in the PostgreSQL protocol cannot contain NUL")
    return data + b"\0"


def values(items: tuple[bytes | None, ...]) -> bytes:
    """Int16 count + (Int32 length | -1, bytes) per value, as in Bind / DataRow. Counts
    are unsigned, as PostgreSQL reads them (up to 65535 parameters)."""
    out = bytearray(UINT16.pack(len(items)))
    for v in items:
        if v is None:
            out += INT32.pack(-1)
        else:
            out += INT32.pack(len(v))
            out += v
    return bytes(out)


def int16s(items: tuple[int, ...]) -> bytes:
    return UINT16.pack(len(items)) + struct.pack(f"!{len(items)}h", *items)


class Body:
    """A cursor over one message body; ``what`` names the message in error texts."""

    __slots__ = ("data", "pos", "what")

    def __init__(self, data: bytes, what: str):
        self.data = data
        self.pos = 0
        self.what = what

    def fail(self, problem: str) -> ProtocolViolation:
        return ProtocolViolation(f"invalid {self.what} message: {problem}")

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail("truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def int8(self) -> int:
        return self._take(1)[0]

    def int16(self) -> int:
        value: int = INT16.unpack(self._take(2))[0]
        return value

    def uint16(self) -> int:
        value: int = UINT16.unpack(self._take(2))[0]
        return value

    def int32(self) -> int:
        value: int = INT32.unpack(self._take(4))[0]
        return value

    def uint32(self) -> int:
        value: int = UINT32.unpack(self._take(4))[0]
        return value

    def raw(self, n: int) -> bytes:
        return self._take(n)

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out

    def cstr(self) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise self.fail("missing string terminator")
        text = self.data[self.pos : end].decode("utf-8", "surrogateescape")
        self.pos = end + 1
        return text

    def count(self, item_size: int) -> int:
        """An Int16 count whose items (of at least ``item_size`` bytes) must fit. Read
        unsigned, as PostgreSQL does (pq_getmsgint): a Bind may carry 65535 values."""
        n = self.uint16()
        if n * item_size > len(self.data) - self.pos:
            raise self.fail(f"invalid count {n}")
        return n

    def int16s(self) -> tuple[int, ...]:
        n = self.count(2)
        return tuple(self.int16() for _ in range(n))

    def values(self) -> tuple[bytes | None, ...]:
        n = self.count(4)
        out: list[bytes | None] = []
        for _ in range(n):
            length = self.int32()
            if length == -1:
                out.append(None)
            elif length < 0:
                raise self.fail(f"invalid value length {length}")
            else:
                out.append(self._take(length))
        return tuple(out)

    def end(self) -> None:
        if self.pos != len(self.data):
            raise self.fail(f"{len(self.data) - self.pos} unexpected trailing bytes")


@dataclass(frozen=True, slots=True)
class EmptyMessage:
    """Base of every message whose body is empty (Sync, Flush, BindComplete, …)."""

    TAG: ClassVar[bytes] = b""

    def encode(self) -> bytes:
        return frame(self.TAG, b"")

    @classmethod
    def decode(cls, body: bytes) -> Self:
        Body(body, cls.__name__).end()
        return cls()
