"""The Authentication ('R') family of backend messages (protocol §55.7), by subtype code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from regogate.wire.codec import UINT32, Body, cstr, frame


@dataclass(frozen=True, slots=True)
class _AuthNoData:
    TAG: ClassVar[bytes] = b"R"
    CODE: ClassVar[int] = -1

    def encode(self) -> bytes:
        return frame(self.TAG, UINT32.pack(self.CODE))


@dataclass(frozen=True, slots=True)
class AuthenticationOk(_AuthNoData):
    CODE: ClassVar[int] = 0


@dataclass(frozen=True, slots=True)
class AuthenticationKerberosV5(_AuthNoData):
    CODE: ClassVar[int] = 2


@dataclass(frozen=True, slots=True)
class AuthenticationCleartextPassword(_AuthNoData):
    CODE: ClassVar[int] = 3


@dataclass(frozen=True, slots=True)
class AuthenticationGSS(_AuthNoData):
    CODE: ClassVar[int] = 7


@dataclass(frozen=True, slots=True)
class AuthenticationSSPI(_AuthNoData):
    CODE: ClassVar[int] = 9


@dataclass(frozen=True, slots=True)
class AuthenticationMD5Password:
    TAG: ClassVar[bytes] = b"R"
    CODE: ClassVar[int] = 5
    salt: bytes

    def encode(self) -> bytes:
        return frame(self.TAG, UINT32.pack(self.CODE) + self.salt)


@dataclass(frozen=True, slots=True)
class AuthenticationSASL:
    TAG: ClassVar[bytes] = b"R"
    CODE: ClassVar[int] = 10
    mechanisms: tuple[str, ...]

    def encode(self) -> bytes:
        body = UINT32.pack(self.CODE) + b"".join(cstr(m) for m in self.mechanisms) + b"\0"
        return frame(self.TAG, body)


@dataclass(frozen=True, slots=True)
class _AuthData:
    TAG: ClassVar[bytes] = b"R"
    CODE: ClassVar[int] = -1
    data: bytes

    def encode(self) -> bytes:
        return frame(self.TAG, UINT32.pack(self.CODE) + self.data)


@dataclass(frozen=True, slots=True)
class AuthenticationGSSContinue(_AuthData):
    CODE: ClassVar[int] = 8


@dataclass(frozen=True, slots=True)
class AuthenticationSASLContinue(_AuthData):
    CODE: ClassVar[int] = 11


@dataclass(frozen=True, slots=True)
class AuthenticationSASLFinal(_AuthData):
    CODE: ClassVar[int] = 12


Authentication = (
    AuthenticationOk
    | AuthenticationKerberosV5
    | AuthenticationCleartextPassword
    | AuthenticationMD5Password
    | AuthenticationGSS
    | AuthenticationGSSContinue
    | AuthenticationSSPI
    | AuthenticationSASL
    | AuthenticationSASLContinue
    | AuthenticationSASLFinal
)

_NO_DATA = {
    c.CODE: c
    for c in (
        AuthenticationOk,
        AuthenticationKerberosV5,
        AuthenticationCleartextPassword,
        AuthenticationGSS,
        AuthenticationSSPI,
    )
}
_DATA = {
    c.CODE: c
    for c in (AuthenticationGSSContinue, AuthenticationSASLContinue, AuthenticationSASLFinal)
}


def decode_authentication(body: bytes) -> Authentication:
    b = Body(body, "Authentication")
    code = b.uint32()
    if code in _NO_DATA:
        b.end()
        return _NO_DATA[code]()
    if code in _DATA:
        return _DATA[code](b.rest())
    if code == AuthenticationMD5Password.CODE:
        salt = b.raw(4)
        b.end()
        return AuthenticationMD5Password(salt)
    if code == AuthenticationSASL.CODE:
        mechs: list[str] = []
        while True:
            m = b.cstr()
            if not m:
                break
            mechs.append(m)
        b.end()
        return AuthenticationSASL(tuple(mechs))
    raise b.fail(f"unknown authentication request code {code}")
