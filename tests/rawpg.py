"""A raw PostgreSQL protocol client for tests that need exact bytes: pipelines sent in one
write, text in other encodings, messages no driver would send. Messages are encoded and
decoded with regogate's own wire module."""

from __future__ import annotations

import contextlib
import socket
import struct
from dataclasses import dataclass, field

from regogate.wire.backend import DataRow, ErrorResponse
from regogate.wire.framing import Frame, MessageReader
from regogate.wire.frontend import Bind, Execute, Parse, PasswordMessage, Query, Sync


def startup(params: dict[str, str]) -> bytes:
    body = struct.pack("!I", 196608)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def query(sql: str | bytes) -> bytes:
    if isinstance(sql, bytes):
        return b"Q" + struct.pack("!I", len(sql) + 5) + sql + b"\0"
    return Query(sql).encode()


def extended(sql: str, name: str = "", sync: bool = True) -> bytes:
    out = Parse(name, sql).encode() + Bind("", name).encode() + Execute("").encode()
    return out + (Sync().encode() if sync else b"")


@dataclass
class Result:
    """What came back for one request cycle (up to ReadyForQuery)."""

    frames: list[Frame] = field(default_factory=list)

    @property
    def errors(self) -> list[ErrorResponse]:
        return [ErrorResponse.decode(f.body) for f in self.frames if f.tag == b"E"]

    @property
    def rows(self) -> list[tuple[str | None, ...]]:
        return [
            tuple(None if v is None else v.decode() for v in DataRow.decode(f.body).values)
            for f in self.frames
            if f.tag == b"D"
        ]

    @property
    def tags(self) -> list[str]:
        return [f.body.rstrip(b"\0").decode() for f in self.frames if f.tag == b"C"]


class RawClient:
    def __init__(self, port: int, user: str, token: str, dbname: str = "bank", **params: str):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.reader = MessageReader(max_size=1 << 30)
        self.sock.sendall(startup({"user": user, "database": dbname, **params}))
        first = self._frame()
        if first.tag == b"E":
            self.startup_error: ErrorResponse | None = ErrorResponse.decode(first.body)
            return
        self.startup_error = None
        self.sock.sendall(PasswordMessage(token).encode())
        self.startup = self.until_ready()

    def _frame(self) -> Frame:
        while (frame := self.reader.next_frame()) is None:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.reader.feed(data)
        return frame

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def until_ready(self) -> Result:
        result = Result()
        while True:
            frame = self._frame()
            result.frames.append(frame)
            if frame.tag == b"Z":
                return result
            if frame.tag == b"E" and ErrorResponse.decode(frame.body).severity == "FATAL":
                return result

    def run(self, data: bytes, cycles: int = 1) -> list[Result]:
        self.send(data)
        return [self.until_ready() for _ in range(cycles)]

    def closed(self) -> bool:
        try:
            self._frame()
        except (ConnectionError, OSError):
            return True
        return False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"X\0\0\0\4")
        self.sock.close()
