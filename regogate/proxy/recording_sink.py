"""A session's recording, as the session sees it (``hooks.RecordSink``).

Wraps the writer's per-session hash chain (``recording.writer.SessionLog``) and adds the
result summary: per request cycle (up to ReadyForQuery) the command tags, the row count,
the first error's SQLSTATE, the elapsed time and an HMAC-SHA256 (``commit.digest_key``)
of the bytes sent to the client. No row values are recorded (there is no masking stage
yet to take samples from).
``event`` and ``upstream`` run for every statement and response: they are the chain's
``recording.hotpath`` tap itself (native when built), no Python in between; the tap
follows the protocol messages in the bytes sent on its own.

Off the critical path by default: records are queued; the background writer batches,
writes and fsyncs. With ``durability = "statement"`` each ReadyForQuery waits until the
records of its request cycle are written (``boundary``): a crash then loses no statement
whose completion a client saw. With ``on_error = "deny"`` a failed recorder makes the
gate refuse new statements (RecordingUnavailable, SQLSTATE 58030); with ``"continue"`` it
is logged once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from regogate.errors import RecordingUnavailable
from regogate.proxy.hooks import RecordBody
from regogate.recording.core import serialize
from regogate.recording.writer import SessionLog

log = logging.getLogger("regogate.recording")


class SessionRecording:
    observes_results = True
    # A record of the session: raises RecordingUnavailable with on_error = "deny".
    event: Callable[[str, RecordBody], None]
    # Bytes sent to the client (after any rewriting), one call per chunk: the tap follows
    # the messages in them itself.
    upstream: Callable[[bytes], None]

    def __init__(
        self,
        session: SessionLog,
        *,
        digest_key: bytes,
        on_error: str = "deny",
        durability: str = "group",
        write_timeout: float = 5.0,
        counts: Callable[[], Mapping[str, int]] | None = None,
        clock: Callable[[], float] | None = None,
    ):
        """``digest_key``: keys the result digests; ``durability``: ``"statement"`` holds
        each ReadyForQuery until its cycle's records are written, for at most
        ``write_timeout`` seconds (then the recorder counts as stalled); ``clock``:
        monotonic seconds for the elapsed times (tests inject one)."""
        if len(digest_key) < 16:
            raise ValueError("a result digest key of at least 16 bytes is needed")
        self.session = session
        self.on_error = on_error
        self.wants_boundaries = durability == "statement"
        self.write_timeout = write_timeout
        self.counts = counts
        self._warned = False
        tap = session.engine.tap(
            session.chain,
            key=digest_key,
            serialize=serialize,
            failed=None if on_error == "deny" else self._failed,
            clock=clock,
        )
        self.event = tap.event
        self.upstream = tap.upstream

    def _failed(self) -> None:
        if not self._warned:
            self._warned = True
            log.error("session %s: recording failed; continuing unrecorded", self.session.sid)

    async def boundary(self) -> None:
        """Wait until the session's records so far are written (and fsynced, by policy),
        for at most ``write_timeout``. A failed or stalled recorder does not hold the
        response back: the statement has run; with ``on_error = "deny"`` the gate refuses
        the next ones (a stalled writer: until it catches up)."""
        try:
            await self.session.flush_within(self.write_timeout)
        except (RecordingUnavailable, RuntimeError) as exc:
            if not self._warned:
                self._warned = True
                log.error("session %s: recording failed: %s", self.session.sid, exc)

    async def close(self, reason: str) -> None:
        counts = dict(self.counts()) if self.counts is not None else None
        try:
            await self.session.close(reason, counts, timeout=self.write_timeout)
        except (RecordingUnavailable, RuntimeError) as exc:
            log.error("session %s: could not record its close: %s", self.session.sid, exc)
