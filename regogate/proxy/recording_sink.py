"""A session's recording, as the session sees it (``hooks.RecordSink``).

Wraps the writer's per-session hash chain (``recording.writer.SessionLog``) and adds the
result summary: per request cycle (up to ReadyForQuery) the command tags, the row count,
the first error's SQLSTATE, the elapsed time and a SHA-256 of the bytes sent to the
client. No row values are recorded (there is no masking stage yet to take samples from).

Never on the critical path: records are queued; the background writer batches, writes
and fsyncs. With ``on_error = "deny"`` a failed recorder makes the gate refuse new
statements (RecordingUnavailable, SQLSTATE 58030); with ``"continue"`` it is logged once.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence

import orjson

from regogate.errors import RecordingUnavailable
from regogate.proxy.hooks import RecordBody
from regogate.recording.writer import SessionLog

log = logging.getLogger("regogate.recording")

_C, _E, _I, _Z, _S = 0x43, 0x45, 0x49, 0x5A, 0x73
# keys in canonical (RFC 8785) order: the native writer copies the body as it is
_RESULT = b'{"bytes":%d,"digest":"%b","elapsed_us":%b,"error":%b,"rows":%d%b,"tags":%b}'


class SessionRecording:
    wants_boundaries = False
    observes_results = True

    def __init__(
        self,
        session: SessionLog,
        *,
        on_error: str = "deny",
        counts: Callable[[], Mapping[str, int]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.session = session
        self.on_error = on_error
        self.counts = counts
        self._clock = clock
        self._warned = False
        self._reset()

    def _reset(self) -> None:
        # The digest of a cycle's bytes: most responses arrive in one chunk, hashed once
        # at the end of the cycle; a hash object only for longer ones (memory stays flat).
        self._first: bytes | None = None
        self._sha: hashlib._Hash | None = None
        self._sent = 0
        self._tags: list[str] = []
        self._rows = 0
        self._error: str | None = None
        self._started: float | None = None
        self._suspended = False

    # -- records --------------------------------------------------------------------------
    def event(self, kind: str, body: RecordBody) -> None:
        if kind == "stmt" and self._started is None:
            self._started = self._clock()
        try:
            self.session.record(kind, body)
        except RecordingUnavailable:
            if self.on_error == "deny":
                raise
            self._failed()

    def _failed(self) -> None:
        if not self._warned:
            self._warned = True
            log.error("session %s: recording failed; continuing unrecorded", self.session.sid)

    async def boundary(self) -> None:
        return None

    async def close(self, reason: str) -> None:
        counts = dict(self.counts()) if self.counts is not None else None
        try:
            await self.session.close(reason, counts)
        except (RecordingUnavailable, RuntimeError) as exc:
            log.error("session %s: could not record its close: %s", self.session.sid, exc)

    # -- result summaries (called by the upstream pump) --------------------------------------
    def upstream(self, data: bytes, messages: Sequence[tuple[int, bytes]]) -> None:
        """Bytes sent to the client (after any rewriting) and the messages that end
        commands and cycles in them. Runs for every response: kept lean."""
        if self._first is None:
            self._first = data
        elif self._sha is None:
            self._sha = hashlib.sha256(self._first)
            self._sha.update(data)
        else:
            self._sha.update(data)
        self._sent += len(data)
        for tag, body in messages:
            if tag == _Z:
                self._cycle_done()
            elif tag == _C:
                text = body.rstrip(b"\x00")
                self._tags.append(text.decode("utf-8", "replace"))
                last = text.rpartition(b" ")[2]
                if last.isdigit():  # ASCII digits only ("²" is not), so int() accepts it
                    self._rows += int(last)
            elif tag == _E:
                if self._error is None:
                    self._error = _sqlstate(body)
            elif tag == _I:
                self._tags.append("EMPTY")
            elif tag == _S:
                self._suspended = True

    def _cycle_done(self) -> None:
        if self._tags or self._error is not None or self._suspended:
            started = self._started
            sha = self._sha
            digest = (sha or hashlib.sha256(self._first or b"")).hexdigest()
            # serialized here, once: the recorder frames it as it is (core.prepared's form)
            body: bytes = _RESULT % (
                self._sent,
                digest.encode(),
                b"null" if started is None else b"%d" % ((self._clock() - started) * 1e6),
                b"null" if self._error is None else orjson.dumps(self._error),
                self._rows,
                b',"suspended":true' if self._suspended else b"",
                orjson.dumps(self._tags),
            )
            try:
                self.session.record("result", body)
            except RecordingUnavailable:
                if self.on_error != "deny":
                    self._failed()
                # with "deny", the gate refuses the statements that follow
        self._reset()


def _sqlstate(body: bytes) -> str | None:
    for part in body.split(b"\x00"):
        if part[:1] == b"C":
            return part[1:].decode("ascii", "replace")
    return None
