"""Frontend (client → server) messages after startup (protocol §55.7 "Message Formats")."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from regogate.errors import ProtocolViolation

_I = struct.Struct("!I")
_i = struct.Struct("!i")


def _frame(tag: bytes, body: bytes) -> bytes:
    return tag + _I.pack(len(body) + 4) + body


def _cstr(body: bytes, pos: int) -> tuple[str, int]:
    end = body.find(b"\0", pos)
    if end < 0:
        raise ProtocolViolation("invalid message format: missing string terminator")
    return body[pos:end].decode("utf-8", "surrogateescape"), end + 1


def _enc(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape") + b"\0"


@dataclass(frozen=True, slots=True)
class Query:
    TAG: ClassVar[bytes] = b"Q"
    query: str

    def encode(self) -> bytes:
        return _frame(self.TAG, _enc(self.query))

    @classmethod
    def decode(cls, body: bytes) -> Query:
        text, pos = _cstr(body, 0)
        if pos != len(body):
            raise ProtocolViolation("invalid Query message: trailing bytes")
        return cls(text)


@dataclass(frozen=True, slots=True)
class Parse:
    TAG: ClassVar[bytes] = b"P"
    name: str
    query: str
    param_types: tuple[int, ...] = ()

    def encode(self) -> bytes:
        body = _enc(self.name) + _enc(self.query) + struct.pack(
            f"!H{len(self.param_types)}I", len(self.param_types), *self.param_types)
        return _frame(self.TAG, body)

    @classmethod
    def decode(cls, body: bytes) -> Parse:
        name, pos = _cstr(body, 0)
        query, pos = _cstr(body, pos)
        if len(body) < pos + 2:
            raise ProtocolViolation("invalid Parse message: truncated")
        (n,) = struct.unpack_from("!H", body, pos)
        pos += 2
        if len(body) != pos + 4 * n:
            raise ProtocolViolation("invalid Parse message: parameter type count mismatch")
        return cls(name, query, struct.unpack_from(f"!{n}I", body, pos))


@dataclass(frozen=True, slots=True)
class PasswordMessage:
    TAG: ClassVar[bytes] = b"p"
    password: str

    def encode(self) -> bytes:
        return _frame(self.TAG, _enc(self.password))

    @classmethod
    def decode(cls, body: bytes) -> PasswordMessage:
        text, pos = _cstr(body, 0)
        if pos != len(body):
            raise ProtocolViolation("invalid password packet: trailing bytes")
        return cls(text)


@dataclass(frozen=True, slots=True)
class SASLInitialResponse:
    TAG: ClassVar[bytes] = b"p"
    mechanism: str
    data: bytes | None

    def encode(self) -> bytes:
        data = _i.pack(-1) if self.data is None else _i.pack(len(self.data)) + self.data
        return _frame(self.TAG, _enc(self.mechanism) + data)


@dataclass(frozen=True, slots=True)
class SASLResponse:
    TAG: ClassVar[bytes] = b"p"
    data: bytes

    def encode(self) -> bytes:
        return _frame(self.TAG, self.data)
