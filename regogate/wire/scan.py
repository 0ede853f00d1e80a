"""Sans-IO scanner for a byte stream that is forwarded untouched (backend → client).

The fast path of the proxy forwards upstream bytes as they come; this scanner follows
the message boundaries (§55.7) so the session still sees the messages it cares about
(e.g. ReadyForQuery, ErrorResponse) without framing or copying the others.
"""

from __future__ import annotations

from regogate.errors import ProtocolViolation


class StreamScanner:
    """Follows tagged messages across chunks; captures bodies of tags in ``interest``."""

    __slots__ = ("_capture", "_hdr", "_interest", "_max", "_remaining", "_tag")

    def __init__(self, interest: bytes, max_size: int = 0):
        self._interest = frozenset(interest)
        self._max = max_size
        self._hdr = bytearray()
        self._remaining = 0
        self._tag = 0
        self._capture: bytearray | None = None

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Return ``(tag, body)`` for every interesting message completed in ``data``."""
        out: list[tuple[int, bytes]] = []
        pos = 0
        end = len(data)
        interest = self._interest
        while pos < end:
            if self._remaining:
                take = min(self._remaining, end - pos)
                if self._capture is not None:
                    self._capture += data[pos : pos + take]
                pos += take
                self._remaining -= take
                if not self._remaining and self._capture is not None:
                    out.append((self._tag, bytes(self._capture)))
                    self._capture = None
                continue
            if self._hdr or end - pos < 5:
                need = 5 - len(self._hdr)
                self._hdr += data[pos : pos + need]
                pos += min(need, end - pos)
                if len(self._hdr) < 5:
                    break
                hdr = bytes(self._hdr)
                self._hdr.clear()
                tag = hdr[0]
                length = int.from_bytes(hdr[1:5], "big") - 4
            else:
                tag = data[pos]
                length = int.from_bytes(data[pos + 1 : pos + 5], "big") - 4
                pos += 5
            if length < 0 or (self._max and length + 4 > self._max):
                raise ProtocolViolation(
                    f"invalid message length {length + 4} for message type {chr(tag)!r}"
                    if length < 0
                    else f"message of type {chr(tag)!r} is {length + 4} bytes, over the maximum "
                    f"message size of {self._max} bytes"
                )
            self._tag = tag
            if tag in interest:
                if length <= end - pos:
                    out.append((tag, bytes(data[pos : pos + length])))
                    pos += length
                    continue
                self._capture = bytearray()
            self._remaining = length
            if not length and self._capture is not None:
                out.append((tag, b""))
                self._capture = None
        return out
