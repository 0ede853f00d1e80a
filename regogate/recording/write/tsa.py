"""RFC 3161 timestamps for checkpoints, from the gateway side: the latest signed checkpoint
goes to ``[recording] tsa_url`` at most once per ``tsa_interval`` (and at a clean stop),
in the background; each token is appended to ``<dir>/timestamps.log``
(``recording.timestamps``, docs/recording-format.md §5).

A TSA that is slow or down never holds a statement or the writer: ``offer`` only keeps
the note; ``run`` requests, retrying a failure with a growing pause (1 s doubling to
60 s), logging the failure once and the recovery once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.to_thread
import httpx

from regogate.recording.read.timestamps import TIMESTAMPS, Entry, TimestampError, check_response
from regogate.recording.read.timestamps import request as timestamp_request

log = logging.getLogger("regogate.recording")
_RETRY_FIRST, _RETRY_MAX = 1.0, 60.0
QUERY, REPLY = "application/timestamp-query", "application/timestamp-reply"


class CheckpointTimestamper:
    """Timestamps the latest signed checkpoint at a TSA. ``offer`` is a
    ``Recorder.checkpoint_listeners`` callback; run ``run`` in the gateway's task group and
    await ``finish`` after the recorder stopped (its last checkpoint covers gateway.stop).

    ``client``: for tests (``httpx.MockTransport``); by default one of its own.
    """

    def __init__(
        self,
        url: str,
        directory: Path,
        *,
        interval: float = 60.0,
        timeout: float = 5.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = anyio.current_time,
    ):
        self.url, self.path = url, directory / TIMESTAMPS
        self._interval, self._timeout, self._clock = interval, timeout, clock
        self._client = client
        self._pending: str | None = None  # the latest note not yet timestamped
        self._last: float | None = None  # when the last token was taken
        self._wake = anyio.Event()
        self._failing = False
        self._lock = anyio.Lock()  # run and finish never ask for the same note twice
        self.tokens = 0  # tokens appended (metrics, tests)

    def offer(self, note: str) -> None:
        """A new signed checkpoint (on the event loop; never blocks)."""
        self._pending = note
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled: timestamp the latest checkpoint once its interval is up."""
        pause = _RETRY_FIRST
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            if self._last is not None:
                await anyio.sleep(max(0.0, self._last + self._interval - self._clock()))
            while self._pending is not None:
                if await self._stamp():
                    pause = _RETRY_FIRST
                    break
                await anyio.sleep(pause)
                pause = min(pause * 2, _RETRY_MAX)

    async def finish(self, timeout: float | None = None) -> bool:
        """Timestamp the latest checkpoint now if it has none (a clean stop); True if none
        is left without one."""
        with anyio.move_on_after(self._timeout if timeout is None else timeout):
            return self._pending is None or await self._stamp()
        return False

    async def _stamp(self) -> bool:
        async with self._lock:
            return await self._stamp_latest()

    async def _stamp_latest(self) -> bool:
        note = self._pending
        if note is None:
            return True
        try:
            token = await self._request(note)
            await anyio.to_thread.run_sync(self._append, Entry(_size(note), note, token))
        except (httpx.HTTPError, TimestampError, OSError, ImportError) as exc:
            if not self._failing:
                log.warning("timestamping the checkpoint at %s failed: %s", self.url, exc)
                self._failing = True
            return False
        if self._failing:
            log.warning("timestamping checkpoints at %s works again", self.url)
            self._failing = False
        if self._pending is note:
            self._pending = None
        self._last = self._clock()
        self.tokens += 1
        return True

    async def _request(self, note: str) -> bytes:
        body, nonce = timestamp_request(note)
        client = self._client or httpx.AsyncClient(timeout=self._timeout)
        try:
            reply = await client.post(self.url, content=body, headers={"Content-Type": QUERY})
        finally:
            if self._client is None:
                await client.aclose()
        if reply.status_code != 200:
            raise TimestampError(f"the TSA answered HTTP {reply.status_code}")
        check_response(note, reply.content, nonce)
        return reply.content

    def _append(self, entry: Entry) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, entry.line())
            os.fsync(fd)
        finally:
            os.close(fd)


def _size(note: str) -> int:
    return int(note.split("\n", 2)[1])
