"""CopyData and CopyDone: the same wire shape in both directions (protocol §55.2.6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from regogate.wire.codec import EmptyMessage, frame


@dataclass(frozen=True, slots=True)
class CopyData:
    TAG: ClassVar[bytes] = b"d"
    data: bytes

    def encode(self) -> bytes:
        return frame(self.TAG, self.data)

    @classmethod
    def decode(cls, body: bytes) -> CopyData:
        return cls(bytes(body))


@dataclass(frozen=True, slots=True)
class CopyDone(EmptyMessage):
    TAG: ClassVar[bytes] = b"c"
