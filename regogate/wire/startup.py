"""Startup-phase packets (untyped): StartupMessage, SSLRequest, GSSENCRequest, CancelRequest.

Protocol §55.7 "Message Formats"; the body is what follows the Int32 length.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar

from regogate.errors import ProtocolViolation

PROTOCOL_3_0 = 196608
SSL_REQUEST_CODE = 80877103
GSSENC_REQUEST_CODE = 80877104
CANCEL_REQUEST_CODE = 80877102

_I = struct.Struct("!I")
_II = struct.Struct("!II")


@dataclass(frozen=True, slots=True)
class StartupMessage:
    params: dict[str, str] = field(default_factory=dict)
    protocol: int = PROTOCOL_3_0

    def encode(self) -> bytes:
        body = (
            _I.pack(self.protocol)
            + b"".join(
                k.encode("utf-8", "surrogateescape")
                + b"\0"
                + v.encode("utf-8", "surrogateescape")
                + b"\0"
                for k, v in self.params.items()
            )
            + b"\0"
        )
        return _I.pack(len(body) + 4) + body


@dataclass(frozen=True, slots=True)
class SSLRequest:
    CODE: ClassVar[int] = SSL_REQUEST_CODE

    def encode(self) -> bytes:
        return _II.pack(8, self.CODE)


@dataclass(frozen=True, slots=True)
class GSSENCRequest:
    CODE: ClassVar[int] = GSSENC_REQUEST_CODE

    def encode(self) -> bytes:
        return _II.pack(8, self.CODE)


@dataclass(frozen=True, slots=True)
class CancelRequest:
    pid: int
    secret: bytes

    def encode(self) -> bytes:
        return (
            _II.pack(12 + len(self.secret), CANCEL_REQUEST_CODE) + _I.pack(self.pid) + self.secret
        )


StartupPacket = StartupMessage | SSLRequest | GSSENCRequest | CancelRequest


def decode_startup(body: bytes) -> StartupPacket:
    if len(body) < 4:
        raise ProtocolViolation("invalid length of startup packet")
    (code,) = _I.unpack_from(body)
    if code == SSL_REQUEST_CODE:
        return SSLRequest()
    if code == GSSENC_REQUEST_CODE:
        return GSSENCRequest()
    if code == CANCEL_REQUEST_CODE:
        if not 8 <= len(body) - 4 <= 260:
            raise ProtocolViolation("invalid length of cancel request packet")
        (pid,) = _I.unpack_from(body, 4)
        return CancelRequest(pid, bytes(body[8:]))
    major, minor = code >> 16, code & 0xFFFF
    if major != 3:
        raise ProtocolViolation(
            f"unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.0"
        )
    parts = body[4:].split(b"\0")
    if len(parts) < 2 or parts[-1] != b"" or parts[-2] != b"":
        raise ProtocolViolation("invalid startup packet layout: expected terminator as last byte")
    items = parts[:-2]
    if len(items) % 2:
        raise ProtocolViolation("invalid startup packet layout: a parameter has no value")
    params: dict[str, str] = {}
    for i in range(0, len(items), 2):
        params[items[i].decode("utf-8", "surrogateescape")] = items[i + 1].decode(
            "utf-8", "surrogateescape"
        )
    return StartupMessage(params, code)
