"""Frontend (client → server) messages after startup (protocol §55.7 "Message Formats").

Every message is a frozen dataclass with ``encode()`` (complete wire bytes) and
``decode(body)``; ``decode_frontend`` dispatches on the tag. 'p' is context dependent,
so it decodes to AuthResponse and the caller picks the concrete auth message.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from regogate.errors import ProtocolViolation
from regogate.wire.codec import INT32, UINT32, Body, EmptyMessage, cstr, frame, int16s, values
from regogate.wire.copy import CopyData, CopyDone
from regogate.wire.framing import Frame

Kind = Literal[b"S", b"P"]


@dataclass(frozen=True, slots=True)
class Query:
    TAG: ClassVar[bytes] = b"Q"
    query: str

    def encode(self) -> bytes:
        return frame(self.TAG, cstr(self.query))

    @classmethod
    def decode(cls, body: bytes) -> Query:
        b = Body(body, "Query")
        q = b.cstr()
        b.end()
        return cls(q)


@dataclass(frozen=True, slots=True)
class Parse:
    TAG: ClassVar[bytes] = b"P"
    name: str
    query: str
    param_types: tuple[int, ...] = ()

    def encode(self) -> bytes:
        n = len(self.param_types)
        body = cstr(self.name) + cstr(self.query) + struct.pack(f"!H{n}I", n, *self.param_types)
        return frame(self.TAG, body)

    @classmethod
    def decode(cls, body: bytes) -> Parse:
        b = Body(body, "Parse")
        name, query = b.cstr(), b.cstr()
        n = b.count(4)
        types = struct.unpack(f"!{n}I", b.raw(4 * n)) if n else ()
        b.end()
        return cls(name, query, types)


@dataclass(frozen=True, slots=True)
class Bind:
    TAG: ClassVar[bytes] = b"B"
    portal: str
    statement: str
    param_formats: tuple[int, ...] = ()
    params: tuple[bytes | None, ...] = ()
    result_formats: tuple[int, ...] = ()

    def encode(self) -> bytes:
        body = (
            cstr(self.portal)
            + cstr(self.statement)
            + int16s(self.param_formats)
            + values(self.params)
            + int16s(self.result_formats)
        )
        return frame(self.TAG, body)

    @classmethod
    def decode(cls, body: bytes) -> Bind:
        b = Body(body, "Bind")
        portal, stmt = b.cstr(), b.cstr()
        pf = b.int16s()
        params = b.values()
        rf = b.int16s()
        b.end()
        return cls(portal, stmt, pf, params, rf)


@dataclass(frozen=True, slots=True)
class Execute:
    TAG: ClassVar[bytes] = b"E"
    portal: str = ""
    max_rows: int = 0

    def encode(self) -> bytes:
        return frame(self.TAG, cstr(self.portal) + INT32.pack(self.max_rows))

    @classmethod
    def decode(cls, body: bytes) -> Execute:
        b = Body(body, "Execute")
        portal, n = b.cstr(), b.int32()
        b.end()
        return cls(portal, n)


def _kind(b: Body) -> Kind:
    k = b.raw(1)
    if k == b"S":
        return b"S"
    if k == b"P":
        return b"P"
    raise b.fail(f"invalid target type {k!r}")


@dataclass(frozen=True, slots=True)
class Describe:
    TAG: ClassVar[bytes] = b"D"
    kind: Kind
    name: str = ""

    def encode(self) -> bytes:
        return frame(self.TAG, self.kind + cstr(self.name))

    @classmethod
    def decode(cls, body: bytes) -> Describe:
        b = Body(body, "Describe")
        kind, name = _kind(b), b.cstr()
        b.end()
        return cls(kind, name)


@dataclass(frozen=True, slots=True)
class Close:
    TAG: ClassVar[bytes] = b"C"
    kind: Kind
    name: str = ""

    def encode(self) -> bytes:
        return frame(self.TAG, self.kind + cstr(self.name))

    @classmethod
    def decode(cls, body: bytes) -> Close:
        b = Body(body, "Close")
        kind, name = _kind(b), b.cstr()
        b.end()
        return cls(kind, name)


@dataclass(frozen=True, slots=True)
class Sync(EmptyMessage):
    TAG: ClassVar[bytes] = b"S"


@dataclass(frozen=True, slots=True)
class Flush(EmptyMessage):
    TAG: ClassVar[bytes] = b"H"


@dataclass(frozen=True, slots=True)
class Terminate(EmptyMessage):
    TAG: ClassVar[bytes] = b"X"


@dataclass(frozen=True, slots=True)
class CopyFail:
    TAG: ClassVar[bytes] = b"f"
    message: str

    def encode(self) -> bytes:
        return frame(self.TAG, cstr(self.message))

    @classmethod
    def decode(cls, body: bytes) -> CopyFail:
        b = Body(body, "CopyFail")
        m = b.cstr()
        b.end()
        return cls(m)


@dataclass(frozen=True, slots=True)
class FunctionCall:
    TAG: ClassVar[bytes] = b"F"
    oid: int
    arg_formats: tuple[int, ...] = ()
    args: tuple[bytes | None, ...] = ()
    result_format: int = 0

    def encode(self) -> bytes:
        body = (
            UINT32.pack(self.oid)
            + int16s(self.arg_formats)
            + values(self.args)
            + struct.pack("!h", self.result_format)
        )
        return frame(self.TAG, body)

    @classmethod
    def decode(cls, body: bytes) -> FunctionCall:
        b = Body(body, "FunctionCall")
        oid = b.uint32()
        fmts = b.int16s()
        args = b.values()
        rf = b.int16()
        b.end()
        return cls(oid, fmts, args, rf)


@dataclass(frozen=True, slots=True)
class AuthResponse:
    """A 'p' message before its meaning is known (password, SASL or GSS data)."""

    TAG: ClassVar[bytes] = b"p"
    data: bytes

    def encode(self) -> bytes:
        return frame(self.TAG, self.data)

    @classmethod
    def decode(cls, body: bytes) -> AuthResponse:
        return cls(bytes(body))


@dataclass(frozen=True, slots=True)
class PasswordMessage:
    TAG: ClassVar[bytes] = b"p"
    password: str

    def encode(self) -> bytes:
        return frame(self.TAG, cstr(self.password))

    @classmethod
    def decode(cls, body: bytes) -> PasswordMessage:
        b = Body(body, "password")
        p = b.cstr()
        b.end()
        return cls(p)


@dataclass(frozen=True, slots=True)
class SASLInitialResponse:
    TAG: ClassVar[bytes] = b"p"
    mechanism: str
    data: bytes | None = None

    def encode(self) -> bytes:
        data = INT32.pack(-1) if self.data is None else INT32.pack(len(self.data)) + self.data
        return frame(self.TAG, cstr(self.mechanism) + data)

    @classmethod
    def decode(cls, body: bytes) -> SASLInitialResponse:
        b = Body(body, "SASLInitialResponse")
        mech, n = b.cstr(), b.int32()
        if n < -1:
            raise b.fail(f"invalid length {n}")
        data = None if n == -1 else b.raw(n)
        b.end()
        return cls(mech, data)


@dataclass(frozen=True, slots=True)
class SASLResponse:
    TAG: ClassVar[bytes] = b"p"
    data: bytes

    def encode(self) -> bytes:
        return frame(self.TAG, self.data)

    @classmethod
    def decode(cls, body: bytes) -> SASLResponse:
        return cls(bytes(body))


@dataclass(frozen=True, slots=True)
class GSSResponse:
    TAG: ClassVar[bytes] = b"p"
    data: bytes

    def encode(self) -> bytes:
        return frame(self.TAG, self.data)

    @classmethod
    def decode(cls, body: bytes) -> GSSResponse:
        return cls(bytes(body))


FrontendMessage = (
    Query
    | Parse
    | Bind
    | Execute
    | Describe
    | Close
    | Sync
    | Flush
    | Terminate
    | CopyData
    | CopyDone
    | CopyFail
    | FunctionCall
    | AuthResponse
)

_DECODERS: dict[bytes, Callable[[bytes], FrontendMessage]] = {
    c.TAG: c.decode
    for c in (
        Query,
        Parse,
        Bind,
        Execute,
        Describe,
        Close,
        Sync,
        Flush,
        Terminate,
        CopyData,
        CopyDone,
        CopyFail,
        FunctionCall,
        AuthResponse,
    )
}


def decode_frontend(f: Frame) -> FrontendMessage:
    decode = _DECODERS.get(f.tag)
    if decode is None:
        raise ProtocolViolation(f"invalid frontend message type {f.tag!r}")
    return decode(f.body)


__all__ = [
    "AuthResponse",
    "Bind",
    "Close",
    "CopyData",
    "CopyDone",
    "CopyFail",
    "Describe",
    "Execute",
    "Flush",
    "FrontendMessage",
    "FunctionCall",
    "GSSResponse",
    "Parse",
    "PasswordMessage",
    "Query",
    "SASLInitialResponse",
    "SASLResponse",
    "Sync",
    "Terminate",
    "decode_frontend",
]
