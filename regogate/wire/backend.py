"""Backend (server → client) messages (protocol §55.7 "Message Formats").

Every message is a frozen dataclass with ``encode()`` (complete wire bytes) and
``decode(body)``; ``decode_backend`` dispatches on the tag ('R' by subtype).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Self

from regogate.errors import ProtocolViolation, RegogateError
from regogate.wire.backend_auth import (
    Authentication,
    AuthenticationCleartextPassword,
    AuthenticationGSS,
    AuthenticationGSSContinue,
    AuthenticationKerberosV5,
    AuthenticationMD5Password,
    AuthenticationOk,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    AuthenticationSSPI,
    decode_authentication,
)
from regogate.wire.codec import (
    INT16,
    INT32,
    UINT32,
    Body,
    EmptyMessage,
    cstr,
    frame,
    int16s,
    values,
)
from regogate.wire.copy import CopyData, CopyDone
from regogate.wire.framing import Frame

_FIELD = struct.Struct("!IhIhih")


@dataclass(frozen=True, slots=True)
class BackendKeyData:
    TAG: ClassVar[bytes] = b"K"
    pid: int
    secret: bytes

    def encode(self) -> bytes:
        return frame(self.TAG, UINT32.pack(self.pid) + self.secret)

    @classmethod
    def decode(cls, body: bytes) -> BackendKeyData:
        b = Body(body, "BackendKeyData")
        pid = b.uint32()
        secret = b.rest()
        if not 4 <= len(secret) <= 256:
            raise b.fail(f"invalid secret key length {len(secret)}")
        return cls(pid, secret)


@dataclass(frozen=True, slots=True)
class BindComplete(EmptyMessage):
    TAG: ClassVar[bytes] = b"2"


@dataclass(frozen=True, slots=True)
class CloseComplete(EmptyMessage):
    TAG: ClassVar[bytes] = b"3"


@dataclass(frozen=True, slots=True)
class EmptyQueryResponse(EmptyMessage):
    TAG: ClassVar[bytes] = b"I"


@dataclass(frozen=True, slots=True)
class NoData(EmptyMessage):
    TAG: ClassVar[bytes] = b"n"


@dataclass(frozen=True, slots=True)
class ParseComplete(EmptyMessage):
    TAG: ClassVar[bytes] = b"1"


@dataclass(frozen=True, slots=True)
class PortalSuspended(EmptyMessage):
    TAG: ClassVar[bytes] = b"s"


@dataclass(frozen=True, slots=True)
class CommandComplete:
    TAG: ClassVar[bytes] = b"C"
    tag: str

    def encode(self) -> bytes:
        return frame(self.TAG, cstr(self.tag))

    @classmethod
    def decode(cls, body: bytes) -> CommandComplete:
        b = Body(body, "CommandComplete")
        t = b.cstr()
        b.end()
        return cls(t)


@dataclass(frozen=True, slots=True)
class _CopyResponse:
    TAG: ClassVar[bytes] = b""
    format: int = 0
    column_formats: tuple[int, ...] = ()

    def encode(self) -> bytes:
        return frame(self.TAG, bytes([self.format]) + int16s(self.column_formats))

    @classmethod
    def decode(cls, body: bytes) -> Self:
        b = Body(body, cls.__name__)
        fmt = b.int8()
        if fmt not in (0, 1):
            raise b.fail(f"invalid copy format {fmt}")
        cols = b.int16s()
        b.end()
        return cls(fmt, cols)


@dataclass(frozen=True, slots=True)
class CopyInResponse(_CopyResponse):
    TAG: ClassVar[bytes] = b"G"


@dataclass(frozen=True, slots=True)
class CopyOutResponse(_CopyResponse):
    TAG: ClassVar[bytes] = b"H"


@dataclass(frozen=True, slots=True)
class CopyBothResponse(_CopyResponse):
    TAG: ClassVar[bytes] = b"W"


@dataclass(frozen=True, slots=True)
class DataRow:
    TAG: ClassVar[bytes] = b"D"
    values: tuple[bytes | None, ...]

    def encode(self) -> bytes:
        return frame(self.TAG, values(self.values))

    @classmethod
    def decode(cls, body: bytes) -> DataRow:
        b = Body(body, "DataRow")
        v = b.values()
        b.end()
        return cls(v)


@dataclass(frozen=True, slots=True)
class _Report:
    """ErrorResponse and NoticeResponse: typed fields (protocol §55.8)."""

    TAG: ClassVar[bytes] = b""
    fields: tuple[tuple[str, str], ...]

    def get(self, code: str) -> str | None:
        for c, v in self.fields:
            if c == code:
                return v
        return None

    @property
    def severity(self) -> str:
        return self.get("V") or self.get("S") or ""

    @property
    def sqlstate(self) -> str:
        return self.get("C") or ""

    @property
    def message(self) -> str:
        return self.get("M") or ""

    @property
    def detail(self) -> str | None:
        return self.get("D")

    @property
    def hint(self) -> str | None:
        return self.get("H")

    def encode(self) -> bytes:
        # one byte per field code, as decode reads it (chr of the byte): latin-1, not UTF-8
        return frame(
            self.TAG, b"".join(c.encode("latin-1") + cstr(v) for c, v in self.fields) + b"\0"
        )

    @classmethod
    def decode(cls, body: bytes) -> Self:
        b = Body(body, cls.__name__)
        fields: list[tuple[str, str]] = []
        while True:
            code = b.int8()
            if code == 0:
                break
            fields.append((chr(code), b.cstr()))
        b.end()
        return cls(tuple(fields))

    @classmethod
    def make(
        cls,
        sqlstate: str,
        message: str,
        *,
        severity: str = "ERROR",
        detail: str | None = None,
        hint: str | None = None,
    ) -> Self:
        fields = [("S", severity), ("V", severity), ("C", sqlstate), ("M", message)]
        if detail:
            fields.append(("D", detail))
        if hint:
            fields.append(("H", hint))
        return cls(tuple(fields))

    @classmethod
    def from_error(cls, exc: RegogateError) -> Self:
        return cls.make(
            exc.sqlstate, exc.message, severity=exc.severity, detail=exc.detail, hint=exc.hint
        )


@dataclass(frozen=True, slots=True)
class ErrorResponse(_Report):
    TAG: ClassVar[bytes] = b"E"


@dataclass(frozen=True, slots=True)
class NoticeResponse(_Report):
    TAG: ClassVar[bytes] = b"N"


@dataclass(frozen=True, slots=True)
class FunctionCallResponse:
    TAG: ClassVar[bytes] = b"V"
    value: bytes | None

    def encode(self) -> bytes:
        v = self.value
        return frame(self.TAG, INT32.pack(-1) if v is None else INT32.pack(len(v)) + v)

    @classmethod
    def decode(cls, body: bytes) -> FunctionCallResponse:
        b = Body(body, "FunctionCallResponse")
        n = b.int32()
        if n < -1:
            raise b.fail(f"invalid length {n}")
        v = None if n == -1 else b.raw(n)
        b.end()
        return cls(v)


@dataclass(frozen=True, slots=True)
class NegotiateProtocolVersion:
    TAG: ClassVar[bytes] = b"v"
    newest_minor: int
    unrecognized: tuple[str, ...] = ()

    def encode(self) -> bytes:
        body = (
            UINT32.pack(self.newest_minor)
            + UINT32.pack(len(self.unrecognized))
            + b"".join(cstr(o) for o in self.unrecognized)
        )
        return frame(self.TAG, body)

    @classmethod
    def decode(cls, body: bytes) -> NegotiateProtocolVersion:
        b = Body(body, "NegotiateProtocolVersion")
        minor, n = b.uint32(), b.int32()
        if n < 0 or n > len(body):
            raise b.fail(f"invalid option count {n}")
        opts = tuple(b.cstr() for _ in range(n))
        b.end()
        return cls(minor, opts)


@dataclass(frozen=True, slots=True)
class NotificationResponse:
    TAG: ClassVar[bytes] = b"A"
    pid: int
    channel: str
    payload: str

    def encode(self) -> bytes:
        return frame(self.TAG, UINT32.pack(self.pid) + cstr(self.channel) + cstr(self.payload))

    @classmethod
    def decode(cls, body: bytes) -> NotificationResponse:
        b = Body(body, "NotificationResponse")
        pid, channel, payload = b.uint32(), b.cstr(), b.cstr()
        b.end()
        return cls(pid, channel, payload)


@dataclass(frozen=True, slots=True)
class ParameterDescription:
    TAG: ClassVar[bytes] = b"t"
    type_oids: tuple[int, ...]

    def encode(self) -> bytes:
        n = len(self.type_oids)
        return frame(self.TAG, struct.pack(f"!H{n}I", n, *self.type_oids))

    @classmethod
    def decode(cls, body: bytes) -> ParameterDescription:
        b = Body(body, "ParameterDescription")
        n = b.uint16()
        if n * 4 != len(body) - 2:
            raise b.fail(f"parameter count {n} does not match the length")
        oids = tuple(b.uint32() for _ in range(n))
        b.end()
        return cls(oids)


@dataclass(frozen=True, slots=True)
class ParameterStatus:
    TAG: ClassVar[bytes] = b"S"
    name: str
    value: str

    def encode(self) -> bytes:
        return frame(self.TAG, cstr(self.name) + cstr(self.value))

    @classmethod
    def decode(cls, body: bytes) -> ParameterStatus:
        b = Body(body, "ParameterStatus")
        name, value = b.cstr(), b.cstr()
        b.end()
        return cls(name, value)


@dataclass(frozen=True, slots=True)
class ReadyForQuery:
    TAG: ClassVar[bytes] = b"Z"
    status: bytes = b"I"

    def encode(self) -> bytes:
        return frame(self.TAG, self.status)

    @classmethod
    def decode(cls, body: bytes) -> ReadyForQuery:
        if body not in (b"I", b"T", b"E"):
            raise ProtocolViolation(f"invalid ReadyForQuery message: status {body!r}")
        return cls(bytes(body))


@dataclass(frozen=True, slots=True)
class FieldDescription:
    name: str
    table_oid: int = 0
    column_attnum: int = 0
    type_oid: int = 25
    type_size: int = -1
    type_modifier: int = -1
    format: int = 0


@dataclass(frozen=True, slots=True)
class RowDescription:
    TAG: ClassVar[bytes] = b"T"
    fields: tuple[FieldDescription, ...]

    def encode(self) -> bytes:
        out = bytearray(INT16.pack(len(self.fields)))
        for f in self.fields:
            out += cstr(f.name)
            out += _FIELD.pack(
                f.table_oid, f.column_attnum, f.type_oid, f.type_size, f.type_modifier, f.format
            )
        return frame(self.TAG, bytes(out))

    @classmethod
    def decode(cls, body: bytes) -> RowDescription:
        b = Body(body, "RowDescription")
        n = b.count(_FIELD.size + 1)
        fields = []
        for _ in range(n):
            name = b.cstr()
            fields.append(FieldDescription(name, *_FIELD.unpack(b.raw(_FIELD.size))))
        b.end()
        return cls(tuple(fields))


BackendMessage = (
    Authentication
    | BackendKeyData
    | BindComplete
    | CloseComplete
    | CommandComplete
    | CopyInResponse
    | CopyOutResponse
    | CopyBothResponse
    | CopyData
    | CopyDone
    | DataRow
    | EmptyQueryResponse
    | ErrorResponse
    | NoticeResponse
    | FunctionCallResponse
    | NegotiateProtocolVersion
    | NoData
    | NotificationResponse
    | ParameterDescription
    | ParameterStatus
    | ParseComplete
    | PortalSuspended
    | ReadyForQuery
    | RowDescription
)

_DECODERS: dict[bytes, Callable[[bytes], BackendMessage]] = {
    c.TAG: c.decode
    for c in (
        BackendKeyData,
        BindComplete,
        CloseComplete,
        CommandComplete,
        CopyInResponse,
        CopyOutResponse,
        CopyBothResponse,
        CopyData,
        CopyDone,
        DataRow,
        EmptyQueryResponse,
        ErrorResponse,
        NoticeResponse,
        FunctionCallResponse,
        NegotiateProtocolVersion,
        NoData,
        NotificationResponse,
        ParameterDescription,
        ParameterStatus,
        ParseComplete,
        PortalSuspended,
        ReadyForQuery,
        RowDescription,
    )
}


def decode_backend(f: Frame) -> BackendMessage:
    if f.tag == b"R":
        return decode_authentication(f.body)
    decode = _DECODERS.get(f.tag)
    if decode is None:
        raise ProtocolViolation(f"invalid backend message type {f.tag!r}")
    return decode(f.body)


__all__ = [
    "Authentication",
    "AuthenticationCleartextPassword",
    "AuthenticationGSS",
    "AuthenticationGSSContinue",
    "AuthenticationKerberosV5",
    "AuthenticationMD5Password",
    "AuthenticationOk",
    "AuthenticationSASL",
    "AuthenticationSASLContinue",
    "AuthenticationSASLFinal",
    "AuthenticationSSPI",
    "BackendKeyData",
    "BackendMessage",
    "BindComplete",
    "CloseComplete",
    "CommandComplete",
    "CopyBothResponse",
    "CopyData",
    "CopyDone",
    "CopyInResponse",
    "CopyOutResponse",
    "DataRow",
    "EmptyQueryResponse",
    "ErrorResponse",
    "FieldDescription",
    "FunctionCallResponse",
    "NegotiateProtocolVersion",
    "NoData",
    "NoticeResponse",
    "NotificationResponse",
    "ParameterDescription",
    "ParameterStatus",
    "ParseComplete",
    "PortalSuspended",
    "ReadyForQuery",
    "RowDescription",
    "decode_backend",
]
