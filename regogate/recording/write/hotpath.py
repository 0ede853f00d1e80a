"""The recording's hot path on the event loop: frames, their queue, session counters, and
the per-cycle result summary.

Every statement passes here twice (its ``stmt`` record and its ``result`` summary), on
the gateway's one event-loop thread. The same classes exist twice: ``regogate._native``
(Rust, ``native/hotpath``) when it is built, and the Python ones below, which are the
fallback and the reference the native ones are tested against byte for byte
(``tests/recording/test_hotpath.py``; docs/decisions/0009). ``REGOGATE_HOTPATH=python``
keeps the native module out (``recording.native``).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import orjson

from regogate.errors import RecordingUnavailable
from regogate.recording.format.records import GATEWAY_TYPES, RecordType, format_ts
from regogate.recording.write import native
from regogate.recording.write.core import frame

NOT_BY_SESSIONS = GATEWAY_TYPES | {RecordType.SESSION_OPEN.value, RecordType.SESSION_CLOSE.value}

_C, _E, _I, _Z, _S = 0x43, 0x45, 0x49, 0x5A, 0x73
# ReadyForQuery, ErrorResponse, CommandComplete, EmptyQueryResponse, PortalSuspended
_INTEREST = frozenset((_Z, _E, _C, _I, _S))
# keys in canonical (RFC 8785) order: the native writer copies the body as it is
_RESULT = b'{"bytes":%d,"digest":"%b","elapsed_us":%b,"error":%b,"rows":%d%b%b,"tags":[%b]}'
# Row counts above this have no exact JSON number (RFC 8785): recorded capped, and flagged.
MAX_ROWS = 2**53 - 1
_CLOCK_STEP = RecordType.CLOCK_STEP.value
_SESSION_CLOSE = RecordType.SESSION_CLOSE.value


class Queue(Protocol):
    """The frames queued for the writer, and the log's next seq."""

    @property
    def size(self) -> int: ...

    @property
    def last_ts(self) -> int: ...

    @property
    def pending_bytes(self) -> int: ...

    @property
    def queued(self) -> int: ...

    accepting: bool
    draining: bool
    idle: bool  # the writer task waits: the next append calls ``wake``
    failure: RecordingUnavailable | None  # set once the writer failed: appends raise it

    def append(self, rtype: str, sid: str | None, n: int | None, body: bytes) -> int: ...

    def take(self, count: int) -> tuple[bytes, int, int]: ...

    def release(self, nbytes: int) -> None: ...

    def clear(self) -> None: ...


class SessionChain(Protocol):
    """One session's record counter (its hash chain is computed by the writer)."""

    @property
    def sid(self) -> str: ...

    @property
    def n(self) -> int: ...

    @property
    def last_seq(self) -> int: ...

    closed: bool

    def append(self, rtype: str, body: bytes) -> int: ...


class Tap(Protocol):
    """A session's stmt records and result summaries (``proxy.recording_sink``)."""

    def event(self, kind: str, body: Mapping[str, object] | bytes | None = None) -> None: ...

    def upstream(self, data: bytes) -> None:
        """Bytes sent to the client, one call per chunk as sent: MACed, and followed
        message by message (headers and bodies may span chunks)."""
        ...


class PyFrameQueue:
    """``Queue`` in Python: each frame is ``core.frame``'s bytes."""

    def __init__(
        self,
        size: int,
        *,
        wake: Callable[[], object],
        max_record: int,
        max_pending: int,
        clock: Callable[[], int] | None = None,
    ):
        self.size, self.last_ts, self.pending_bytes = size, 0, 0
        self.accepting = self.draining = self.idle = False
        self.failure: RecordingUnavailable | None = None
        self._wake, self._clock = wake, clock or _now_micros
        self._last_clock = 0  # the clock's previous reading: one below it is a step back
        self._max_record, self._max_pending = max_record, max_pending
        self._frames: list[bytes] = []

    @property
    def queued(self) -> int:
        return len(self._frames)

    def append(self, rtype: str, sid: str | None, n: int | None, body: bytes) -> int:
        """Queue one record; return its seq. A clock that went back since the previous
        record is recorded first, in a clock.step record (docs/recording-format.md §2,
        "Time"); ts itself never goes back within a boot."""
        if not self.accepting or self.failure is not None:
            if self.failure is not None:  # the same error each time: a fresh traceback
                raise self.failure.with_traceback(None)
            raise RecordingUnavailable("the recorder is not running")
        now = self._clock()
        if now < self._last_clock:
            step = b'{"clock":"%b","previous":"%b"}' % (
                format_ts(max(now, 0)).encode(),
                format_ts(max(self._last_clock, 0)).encode(),
            )
            self._push(_CLOCK_STEP, None, None, step, now)
        self._last_clock = now
        return self._push(rtype, sid, n, body, now)

    def _push(self, rtype: str, sid: str | None, n: int | None, body: bytes, now: int) -> int:
        ts = self.last_ts = max(now, self.last_ts)  # never back within a boot
        seq = self.size
        data = frame(seq, ts, rtype, sid, n, body)
        size = len(data)
        if size > self._max_record:
            raise RecordingUnavailable(
                f"a {rtype} record of {size} bytes exceeds the {self._max_record}-byte limit"
            )
        if (
            self.pending_bytes + size > self._max_pending
            and self._frames
            and not self.draining
            and rtype != _SESSION_CLOSE  # one per session: never lose a chain's end
        ):
            raise RecordingUnavailable(
                f"the recording queue is full ({self.pending_bytes} bytes not yet written):"
                " the recording disk is too slow or stalled",
                hint="statements resume when the writer catches up",
            )
        self.size = seq + 1
        self._frames.append(data)
        self.pending_bytes += size
        if self.idle:
            self.idle = False
            self._wake()
        return seq

    def take(self, count: int) -> tuple[bytes, int, int]:
        """The first ``count`` frames, each followed by a newline; how many; their bytes
        without the newlines (to ``release`` once written)."""
        batch = self._frames[:count]
        del self._frames[:count]
        blob = b"\n".join(batch) + b"\n" if batch else b""
        return blob, len(batch), len(blob) - len(batch)

    def release(self, nbytes: int) -> None:
        self.pending_bytes = max(0, self.pending_bytes - nbytes)

    def clear(self) -> None:
        self._frames.clear()
        self.pending_bytes = 0


class PyChain:
    """``SessionChain`` in Python."""

    def __init__(self, queue: Queue, sid: str):
        self.queue, self.sid = queue, sid
        self.n = self.last_seq = -1
        self.closed = False

    def append(self, rtype: str, body: bytes) -> int:
        if self.closed:
            raise RuntimeError(f"session {self.sid} is closed")
        n = self.n + 1
        seq = self.last_seq = self.queue.append(rtype, self.sid, n, body)
        self.n = n
        return seq


class PyResultTap:
    """``Tap`` in Python. ``key``: of the result digests (``commit.digest_key``);
    ``failed``: called when a record could not be queued (``on_error = "continue"``);
    without it, a stmt record's failure is raised."""

    def __init__(
        self,
        chain: SessionChain,
        *,
        key: bytes,
        serialize: Callable[[str, Mapping[str, object]], bytes],
        failed: Callable[[], object] | None = None,
        clock: Callable[[], float] | None = None,
    ):
        self._chain, self._serialize, self._failed = chain, serialize, failed
        self._clock = clock or time.monotonic
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)  # keyed once, copied per cycle
        # following the messages across chunks: the header so far, the body bytes left,
        # the body of a message of interest being captured
        self._hdr = b""
        self._remaining = 0
        self._tag = 0
        self._capture: bytearray | None = None
        self._broken = False  # a malformed stream: the relay reports it
        self._reset()

    def _reset(self) -> None:
        # The digest of a cycle's bytes: most responses arrive in one chunk, hashed once
        # at the end of the cycle; a MAC object only for longer ones (memory stays flat).
        self._first: bytes | None = None
        self._mac: hmac.HMAC | None = None
        self._sent = 0
        self._tags: list[bytes] = []
        self._rows = 0
        self._error: str | None = None
        self._started: float | None = None
        self._suspended = False

    def event(self, kind: str, body: Mapping[str, object] | bytes | None = None) -> None:
        if kind == "stmt" and self._started is None:
            self._started = self._clock()
        if kind in NOT_BY_SESSIONS:
            raise ValueError(f"{kind} records are written by the recorder itself")
        data = record_body(kind, body, self._serialize)
        try:
            self._chain.append(kind, data)
        except RecordingUnavailable:
            if self._failed is None:
                raise
            self._failed()

    def _digest(self, part: bytes) -> None:
        if not part:
            return
        if self._first is None:
            self._first = part
        elif self._mac is None:
            self._mac = self._keyed.copy()
            self._mac.update(self._first)
            self._mac.update(part)
        else:
            self._mac.update(part)
        self._sent += len(part)

    def upstream(self, data: bytes) -> None:
        """Bytes sent to the client, one call per chunk as sent. Each cycle's digest
        covers exactly its own bytes: the chunk is cut after each ReadyForQuery in it (a
        pipelined client's cycles may arrive in one read). Runs for every response:
        kept lean."""
        if self._broken:
            self._digest(data)
            return
        cut = 0  # where this chunk's bytes not yet digested begin
        pos, end = 0, len(data)
        # A message that raises (a closed chain) skips the rest of the chunk's messages,
        # as the native tap does; the scan goes on, so the next chunk starts in step.
        failure: Exception | None = None
        while pos < end:
            if self._remaining:
                take = min(self._remaining, end - pos)
                if self._capture is not None:
                    self._capture += data[pos : pos + take]
                pos += take
                self._remaining -= take
                if not self._remaining and self._capture is not None:
                    body, self._capture = bytes(self._capture), None
                    if failure is None:
                        cut, failure = self._at(self._tag, body, data, cut, pos)
                continue
            need = 5 - len(self._hdr)
            self._hdr += data[pos : pos + need]
            pos += min(need, end - pos)
            if len(self._hdr) < 5:
                break
            tag, length = self._hdr[0], int.from_bytes(self._hdr[1:5], "big") - 4
            self._hdr = b""
            if length < 0:
                self._broken = True  # the relay reports the malformed stream
                break
            if tag not in _INTEREST:
                self._remaining = length
            elif length <= end - pos:
                pos += length
                if failure is None:
                    cut, failure = self._at(tag, data[pos - length : pos], data, cut, pos)
            else:
                self._tag, self._remaining, self._capture = tag, length, bytearray()
        self._digest(data[cut:] if cut else data)
        if failure is not None:
            raise failure

    def _at(
        self, tag: int, body: bytes, data: bytes, cut: int, pos: int
    ) -> tuple[int, Exception | None]:
        """The message ending at ``data[pos]``; the new cut, and what it raised."""
        try:
            self._message(tag, body, data[cut:pos] if tag == _Z else b"")
        except Exception as exc:
            return (pos if tag == _Z else cut), exc
        return (pos if tag == _Z else cut), None

    def _message(self, tag: int, body: bytes, upto: bytes) -> None:
        """One message of interest; ``upto``: the chunk's undigested bytes through its
        end (digested first when it ends a cycle)."""
        if tag == _Z:
            self._digest(upto)
            self._cycle_done()
        elif tag == _C:
            text = body.rstrip(b"\x00")
            self._tags.append(_jstr(text.decode("utf-8", "replace")))
            last = text.rpartition(b" ")[2]
            if last.isdigit():  # ASCII digits only ("²" is not), so int() accepts it
                self._rows += int(last)
        elif tag == _E:
            if self._error is None:
                self._error = _sqlstate(body)
        elif tag == _I:
            self._tags.append(b'"EMPTY"')
        elif tag == _S:
            self._suspended = True

    def _cycle_done(self) -> None:
        if not (self._tags or self._error is not None or self._suspended):
            self._reset()
            return
        started = self._started
        mac = self._mac
        if mac is None:
            mac = self._keyed.copy()
            mac.update(self._first or b"")
        digest = mac.hexdigest()
        # serialized here, once: the recorder frames it as it is (core.prepared's form)
        body: bytes = _RESULT % (
            self._sent,
            digest.encode(),
            b"null" if started is None else b"%d" % ((self._clock() - started) * 1e6),
            b"null" if self._error is None else _jstr(self._error),
            min(self._rows, MAX_ROWS),
            b',"rows_capped":true' if self._rows > MAX_ROWS else b"",
            b',"suspended":true' if self._suspended else b"",
            b",".join(self._tags),
        )
        self._reset()
        try:
            self._chain.append("result", body)
        except RecordingUnavailable:
            if self._failed is not None:
                self._failed()
            # with "deny", the gate refuses the statements that follow


def record_body(
    rtype: str,
    body: Mapping[str, object] | bytes | None,
    serialize: Callable[[str, Mapping[str, object]], bytes],
) -> bytes:
    """A record body as bytes: bytes as they are (serialized once), a mapping serialized,
    nothing as ``{}``."""
    if isinstance(body, bytes):
        return body or b"{}"
    return serialize(rtype, body) if body else b"{}"


def _jstr(text: str) -> bytes:
    # a JSON string as orjson writes it (the frame and the native module write the same)
    return orjson.dumps(text)


def _sqlstate(body: bytes) -> str | None:
    for part in body.split(b"\x00"):
        if part[:1] == b"C":
            return part[1:].decode("ascii", "replace")
    return None


def _now_micros() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True)
class Engine:
    """One implementation of the hot path: its queue, chains and taps belong together."""

    name: str  # "native" or "python"
    queue: Callable[..., Queue]
    chain: Callable[[Queue, str], SessionChain]
    tap: Callable[..., Tap]


PYTHON = Engine("python", PyFrameQueue, PyChain, PyResultTap)


def select(choice: str = "auto") -> Engine:
    """``"auto"``: native when built (and ``$REGOGATE_HOTPATH`` is not ``python``);
    ``"native"``: native or ``RuntimeError``; ``"python"``: the Python classes."""
    if not native.use_native(choice):
        return PYTHON
    from regogate import _native

    return Engine("native", _native.FrameQueue, _native.Chain, _native.ResultTap)
