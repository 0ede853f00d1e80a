"""Backend (server → client) messages (protocol §55.7 "Message Formats")."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from regogate.errors import ProtocolViolation, RegogateError
from regogate.wire.framing import Frame

_I = struct.Struct("!I")
_II = struct.Struct("!II")


def _frame(tag: bytes, body: bytes) -> bytes:
    return tag + _I.pack(len(body) + 4) + body


def _enc(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape") + b"\0"


@dataclass(frozen=True, slots=True)
class AuthenticationOk:
    def encode(self) -> bytes:
        return _frame(b"R", _I.pack(0))


@dataclass(frozen=True, slots=True)
class AuthenticationCleartextPassword:
    def encode(self) -> bytes:
        return _frame(b"R", _I.pack(3))


@dataclass(frozen=True, slots=True)
class AuthenticationMD5Password:
    salt: bytes

    def encode(self) -> bytes:
        return _frame(b"R", _I.pack(5) + self.salt)


@dataclass(frozen=True, slots=True)
class AuthenticationSASL:
    mechanisms: tuple[str, ...]

    def encode(self) -> bytes:
        return _frame(b"R", _I.pack(10) + b"".join(_enc(m) for m in self.mechanisms) + b"\0")


@dataclass(frozen=True, slots=True)
class AuthenticationSASLContinue:
    data: bytes

    def encode(self) -> bytes:
        return _frame(b"R", _I.pack(11) + self.data)


@dataclass(frozen=True, slots=True)
class AuthenticationSASLFinal:
    data: bytes

    def encode(self) -> bytes:
        return _frame(b"R", _I.pack(12) + self.data)


@dataclass(frozen=True, slots=True)
class AuthenticationOther:
    code: int
    data: bytes


Authentication = (AuthenticationOk | AuthenticationCleartextPassword | AuthenticationMD5Password
                  | AuthenticationSASL | AuthenticationSASLContinue | AuthenticationSASLFinal
                  | AuthenticationOther)


def decode_authentication(body: bytes) -> Authentication:
    if len(body) < 4:
        raise ProtocolViolation("invalid authentication message: truncated")
    (code,) = _I.unpack_from(body)
    rest = bytes(body[4:])
    if code == 0:
        return AuthenticationOk()
    if code == 3:
        return AuthenticationCleartextPassword()
    if code == 5:
        if len(rest) != 4:
            raise ProtocolViolation("invalid MD5 authentication request")
        return AuthenticationMD5Password(rest)
    if code == 10:
        mechs = tuple(m.decode() for m in rest.split(b"\0") if m)
        return AuthenticationSASL(mechs)
    if code == 11:
        return AuthenticationSASLContinue(rest)
    if code == 12:
        return AuthenticationSASLFinal(rest)
    return AuthenticationOther(code, rest)


@dataclass(frozen=True, slots=True)
class BackendKeyData:
    TAG: ClassVar[bytes] = b"K"
    pid: int
    secret: bytes

    def encode(self) -> bytes:
        return _frame(self.TAG, _I.pack(self.pid) + self.secret)

    @classmethod
    def decode(cls, body: bytes) -> BackendKeyData:
        if not 8 <= len(body) <= 260:
            raise ProtocolViolation("invalid BackendKeyData message")
        return cls(_I.unpack_from(body)[0], bytes(body[4:]))


@dataclass(frozen=True, slots=True)
class ReadyForQuery:
    TAG: ClassVar[bytes] = b"Z"
    status: bytes = b"I"

    def encode(self) -> bytes:
        return _frame(self.TAG, self.status)

    @classmethod
    def decode(cls, body: bytes) -> ReadyForQuery:
        if len(body) != 1 or body not in (b"I", b"T", b"E"):
            raise ProtocolViolation("invalid ReadyForQuery message")
        return cls(bytes(body))


@dataclass(frozen=True, slots=True)
class NegotiateProtocolVersion:
    TAG: ClassVar[bytes] = b"v"
    newest_minor: int
    unrecognized: tuple[str, ...] = ()

    def encode(self) -> bytes:
        return _frame(self.TAG, _II.pack(self.newest_minor, len(self.unrecognized))
                      + b"".join(_enc(o) for o in self.unrecognized))


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    TAG: ClassVar[bytes] = b"E"
    fields: tuple[tuple[str, str], ...]

    def _get(self, code: str) -> str | None:
        for c, v in self.fields:
            if c == code:
                return v
        return None

    @property
    def severity(self) -> str:
        return self._get("V") or self._get("S") or "ERROR"

    @property
    def sqlstate(self) -> str:
        return self._get("C") or "XX000"

    @property
    def message(self) -> str:
        return self._get("M") or ""

    def encode(self) -> bytes:
        body = b"".join(c.encode() + _enc(v) for c, v in self.fields) + b"\0"
        return _frame(self.TAG, body)

    @classmethod
    def decode(cls, body: bytes) -> ErrorResponse:
        if not body.endswith(b"\0"):
            raise ProtocolViolation("invalid ErrorResponse: missing terminator")
        fields = []
        for part in body[:-1].split(b"\0"):
            if part:
                fields.append((chr(part[0]), part[1:].decode("utf-8", "surrogateescape")))
        return cls(tuple(fields))

    @classmethod
    def make(cls, sqlstate: str, message: str, *, severity: str = "ERROR",
             detail: str | None = None, hint: str | None = None) -> ErrorResponse:
        fields = [("S", severity), ("V", severity), ("C", sqlstate), ("M", message)]
        if detail:
            fields.append(("D", detail))
        if hint:
            fields.append(("H", hint))
        return cls(tuple(fields))

    @classmethod
    def from_error(cls, exc: RegogateError) -> ErrorResponse:
        return cls.make(exc.sqlstate, exc.message, severity=exc.severity, detail=exc.detail,
                        hint=exc.hint)


def decode_backend(frame: Frame) -> object:
    if frame.tag == b"R":
        return decode_authentication(frame.body)
    if frame.tag == b"E":
        return ErrorResponse.decode(frame.body)
    if frame.tag == b"K":
        return BackendKeyData.decode(frame.body)
    if frame.tag == b"Z":
        return ReadyForQuery.decode(frame.body)
    return frame
