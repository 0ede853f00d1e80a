"""Sans-IO framing of the PostgreSQL v3 byte stream into messages (protocol §55.2, §55.7).

Bytes in, frames out: ``MessageReader.feed(data)`` then ``next_frame()`` until it returns
``None`` (need more data). The startup phase has untyped messages (Int32 length first);
afterwards every message is a one-byte tag plus an Int32 length that includes itself.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from regogate.errors import ProtocolViolation

DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024
# A startup packet is small; PostgreSQL itself caps it at 10000 bytes (MAX_STARTUP_PACKET_LENGTH).
MAX_STARTUP_SIZE = 10000

_INT32 = 4


@dataclass(slots=True)
class Frame:
    """One complete message: ``tag`` is b"" for startup-phase (untyped) messages.

    Treated as immutable but not declared frozen: one is made for every message relayed,
    and a frozen dataclass takes five times as long to make (its ``__init__`` goes
    through ``object.__setattr__``); a named tuple is quick to make but slow to read."""

    tag: bytes
    body: bytes

    def encode(self) -> bytes:
        return self.tag + (len(self.body) + _INT32).to_bytes(4, "big") + self.body


_LENGTH = struct.Struct("!I").unpack_from
_TAGS = tuple(bytes((i,)) for i in range(256))  # one-byte tags, never allocated per message


class MessageReader:
    """Splits a byte stream into frames; never touches a socket.

    ``startup=True`` expects untyped messages until ``typed()`` is called (the caller
    knows when the startup phase ends, e.g. after StartupMessage or SSL negotiation).
    """

    __slots__ = ("_buf", "_max", "_pos", "_startup")

    def __init__(self, *, startup: bool = False, max_size: int = DEFAULT_MAX_MESSAGE_SIZE):
        self._buf: bytes | bytearray = b""
        self._pos = 0
        self._startup = startup
        self._max = max_size

    @property
    def in_startup(self) -> bool:
        return self._startup

    def typed(self) -> None:
        """Switch to typed messages (after the StartupMessage)."""
        self._startup = False

    def expect_startup(self) -> None:
        """Switch back to untyped messages (e.g. a StartupMessage after SSL negotiation)."""
        self._startup = True

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        buf = self._buf
        if self._pos >= len(buf):
            # Everything before was framed (the usual case): start over from this chunk,
            # kept as it came so that frames are sliced from it without a copy.
            self._buf = bytes(data) if not isinstance(data, bytes) else data
            self._pos = 0
            return
        # Compact lazily so that many small messages don't cost a copy each.
        if not isinstance(buf, bytearray):
            buf = self._buf = bytearray(buf[self._pos :])
            self._pos = 0
        elif self._pos and (self._pos > 65536 or self._pos * 2 > len(buf)):
            del buf[: self._pos]
            self._pos = 0
        buf += data

    def buffered(self) -> int:
        """Bytes received but not yet returned as frames."""
        return len(self._buf) - self._pos

    def take_buffered(self) -> bytes:
        """Remove and return every unparsed byte (e.g. before a TLS handshake)."""
        out = bytes(self._buf[self._pos :])
        self._buf = b""
        self._pos = 0
        return out

    def next_frame(self) -> Frame | None:
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if self._startup:
            if avail < _INT32:
                return None
            length = int.from_bytes(buf[pos : pos + 4], "big")
            if length < 8 or length > MAX_STARTUP_SIZE:
                raise ProtocolViolation(f"invalid length of startup packet: {length}")
            if avail < length:
                return None
            body = bytes(buf[pos + 4 : pos + length])
            self._pos = pos + length
            return Frame(b"", body)
        if avail < 5:
            return None
        (length,) = _LENGTH(buf, pos + 1)
        if length < _INT32:
            raise ProtocolViolation(
                f"invalid message length {length} for message type {chr(buf[pos])!r}"
            )
        if length > self._max:
            raise ProtocolViolation(
                f"message of type {chr(buf[pos])!r} is {length} bytes, over the maximum message "
                f"size of {self._max} bytes"
            )
        if avail <= length:
            return None
        end = pos + 1 + length
        self._pos = end
        return Frame(_TAGS[buf[pos]], bytes(buf[pos + 5 : end]))
