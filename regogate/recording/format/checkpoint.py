"""C2SP tlog-checkpoint note bodies: origin, tree size, base64 root, extension lines.

regogate writes no extension lines (C2SP: NOT RECOMMENDED); parsing keeps any it finds.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from regogate.recording.format.note import NoteError


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("malformed checkpoint: want origin, size and root lines")
        origin, size, root, extensions = lines[0], lines[1], lines[2], lines[3:-1]
        if not origin:
            raise NoteError("malformed checkpoint: empty origin")
        if not (size.isascii() and size.isdigit()) or (len(size) > 1 and size[0] == "0"):
            raise NoteError(f"malformed checkpoint: bad tree size {size[:24]!r}")
        try:
            raw = base64.b64decode(root, validate=True)
        except binascii.Error:
            raise NoteError("malformed checkpoint: root is not base64") from None
        if len(raw) != 32:
            raise NoteError("malformed checkpoint: root is not 32 bytes")
        if any(not x for x in extensions):
            raise NoteError("malformed checkpoint: empty extension line")
        return cls(origin, int(size), raw, tuple(extensions))
