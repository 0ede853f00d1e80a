"""C2SP tlog-checkpoint bodies: origin, tree size and root hash (no extension lines)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from regogate.recording.note import NoteError


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("malformed checkpoint: want origin, size and root lines")
        origin, size, root = lines[0], lines[1], lines[2]
        if not origin:
            raise NoteError("malformed checkpoint: empty origin")
        if not size.isdigit() or (len(size) > 1 and size[0] == "0"):
            raise NoteError(f"malformed checkpoint: bad tree size {size!r}")
        try:
            raw = base64.b64decode(root, validate=True)
        except binascii.Error:
            raise NoteError("malformed checkpoint: root is not base64") from None
        if len(raw) != 32:
            raise NoteError("malformed checkpoint: root is not 32 bytes")
        return cls(origin, int(size), raw)
