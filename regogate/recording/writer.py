"""The gateway-facing recorder: sessions append records, one background task writes them.

``record()`` never blocks: it assigns seq, n and ts, serializes the body into a frame
(``core.frame``) and queues it. The writer task hands batches to a backend
(``recording.backend``) where ``core.LogCore`` canonicalizes, chains, appends, fsyncs and
signs checkpoints: the writer process under ``regogate serve``, a worker thread for an
injected store.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import anyio

from regogate.errors import RecordingUnavailable
from regogate.recording.backend import Backend, ThreadBackend, WriterProcess
from regogate.recording.core import Body, RecordStore, frame
from regogate.recording.note import Signer, Verifier
from regogate.recording.records import (
    GATEWAY_TYPES,
    SESSION_TYPES,
    GatewayInfo,
    RecordType,
    new_session_id,
)

__all__ = ["RecordStore", "Recorder", "SessionLog", "WriterProcess"]

log = logging.getLogger("regogate.recording")


_CHAIN_ENDS = frozenset({RecordType.SESSION_OPEN.value, RecordType.SESSION_CLOSE.value})
_NOT_BY_SESSIONS = GATEWAY_TYPES | _CHAIN_ENDS
_EMPTY: Mapping[str, object] = {}


def _now_micros() -> int:
    return time.time_ns() // 1000


class SessionLog:
    """One session's hash chain. Satisfies ``proxy.hooks.RecordSink``."""

    wants_boundaries = True

    def __init__(self, recorder: Recorder, sid: str):
        """Use ``Recorder.open_session``."""
        self.sid = sid
        self._recorder = recorder
        self._n = -1
        self._last_seq = -1
        self.closed = False

    def __repr__(self) -> str:
        return f"SessionLog({self.sid!r}, n={self._n}, closed={self.closed})"

    def record(self, type: str, body: Body | None = None) -> int:
        """Queue one record of this session; return its seq. Never blocks.

        ``body``: a mapping, or the bytes of one serialized once (``core.prepared``).
        Raises ``RecordingUnavailable`` (fail closed) if the recorder has failed or
        stopped, or its queue is full; then nothing was recorded.
        """
        if type in _NOT_BY_SESSIONS:
            raise ValueError(f"{type} records are written by the recorder itself")
        return self._record(type, body)

    def _record(self, type: str, body: Body | None) -> int:
        if self.closed:
            raise RuntimeError(f"session {self.sid} is closed")
        n = self._n + 1
        seq = self._last_seq = self._recorder._append(type, self.sid, n, body or _EMPTY)
        self._n = n
        return seq

    def event(self, kind: str, body: Mapping[str, object]) -> None:
        self.record(kind, body)

    async def flush(self) -> None:
        """Wait until this session's records are written (and fsynced, by policy)."""
        await self._recorder._wait_written(self._last_seq + 1)

    async def boundary(self) -> None:
        await self.flush()

    def _close_record(self, reason: str, counts: Mapping[str, int] | None) -> None:
        body: dict[str, object] = {
            "reason": reason,
            "counts": {**(counts or {}), "records": self._n + 2},
            "chain_head": None,  # the writer puts this session's prev here
        }
        self._record(RecordType.SESSION_CLOSE, body)
        self.closed = True
        self._recorder._sessions.pop(self.sid, None)
        self._recorder._request_seal(self._last_seq + 1)

    async def close(self, reason: str, counts: Mapping[str, int] | None = None) -> None:
        """Write session.close (chain_head = prev), ask for a checkpoint, flush."""
        if not self.closed:
            self._close_record(reason, counts)
        await self.flush()


class Recorder:
    """The recording log of one gateway process (docs/recording-format.md §7, §9).

    Call it from the event loop's thread. ``store``: a ``WriterProcess`` (the directory is
    opened and written by a child process) or an open ``RecordStore``, written from a
    worker thread and the caller's to close.
    """

    def __init__(
        self,
        store: RecordStore | WriterProcess,
        signer: Signer,
        gateway: GatewayInfo,
        *,
        origin: str | None = None,
        checkpoint_every: int = 1000,
        checkpoint_interval: float = 10.0,
        max_pending_bytes: int = 16 << 20,
        max_record_bytes: int = 1 << 20,
        start_body: Mapping[str, object] | None = None,
        stop_timeout: float = 10.0,
        clock: Callable[[], int] = _now_micros,
        linger: float = 0.002,
        busy_linger: float = 0.010,
        batch_records: int = 512,
    ):
        self.origin = origin or signer.name
        self._backend: Backend = (
            store.backend() if isinstance(store, WriterProcess) else ThreadBackend(store)
        )
        self._signer, self._gw = signer, gateway.to_json()
        self._every, self._interval = checkpoint_every, checkpoint_interval
        self._max_pending, self._max_record = max_pending_bytes, max_record_bytes
        self._start_body, self._stop_timeout, self._clock = start_body or {}, stop_timeout, clock
        # Group commit: after a wake-up the writer lingers ``linger`` (unless a batch is
        # already full) so that one pipe write, one append and one fsync carry many records;
        # while batches follow each other (load), ``busy_linger``: fewer, larger batches.
        self._linger, self._busy_linger = linger, max(linger, busy_linger)
        self._batch_records = batch_records
        self._size = self._written = self._sealed = 0  # set by running()
        self._seal_target = 0
        self._force_seal = False
        self._draining = False
        self._queue: deque[bytes] = deque()  # core.frame()s
        self._rotations: dict[int, Signer] = {}  # seq of a key.rotate -> the new key
        self._writer_idle = False  # the writer task waits for _wake
        self._pending_bytes = 0
        self._last_ts = 0
        self._sessions: dict[str, SessionLog] = {}
        self._accepting = False
        self._stopping = False
        self._failure: RecordingUnavailable | None = None
        self._wake = anyio.Event()
        self._progress = anyio.Event()
        self._waiters = 0  # tasks in _wait
        self._last_seal_time = 0.0
        self.latest_checkpoint: str | None = None

    @property
    def healthy(self) -> bool:
        """False once a write failed or the recorder stopped: refuse new statements."""
        return self._accepting and self._failure is None

    @property
    def failure(self) -> RecordingUnavailable | None:
        return self._failure

    @property
    def verifier(self) -> Verifier:
        """The public key of the key signing checkpoints now."""
        return self._signer.verifier

    @property
    def writer_engine(self) -> str | None:
        """What writes the log: "native" or "python" (a writer process), "thread"."""
        return self._backend.engine

    @property
    def writer_pid(self) -> int | None:
        """The writer process's pid while running (None for a thread writer)."""
        return self._backend.pid

    @property
    def size(self) -> int:
        """Records assigned a seq so far (the next record's seq)."""
        return self._size

    @property
    def sealed_size(self) -> int:
        """Records covered by the latest signed checkpoint."""
        return self._sealed

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Recorder]:
        """Write gateway.start, run the writer; on exit close sessions, gateway.stop, seal.

        An exception from the body propagates as it is (not in an ExceptionGroup).
        """
        error: BaseException | None = None
        state = await self._backend.start(self._signer, self._gw, self.origin)
        self._size = self._written = state.size
        self._sealed = state.sealed
        async with anyio.create_task_group() as tg:
            self._accepting = True
            self._last_seal_time = anyio.current_time()
            start = {
                **self._start_body,
                "origin": self.origin,
                "vkey": self._signer.verifier.vkey(),
                "last_seen_tree_size": self._size,
                "prev_boot": state.last_boot,
                "recovered": state.recovered,
            }
            seq = self._append(RecordType.GATEWAY_START, None, None, start)
            self._request_seal(seq + 1)
            tg.start_soon(self._run)
            try:
                yield self
            except BaseException as exc:  # re-raised below, outside the task group
                error = exc
            finally:
                with anyio.CancelScope(shield=True):
                    with anyio.move_on_after(self._stop_timeout):
                        await self._shutdown()
                    tg.cancel_scope.cancel()
                    await self._backend.stop()
        if error is not None:
            raise error

    def open_session(
        self, body: Mapping[str, object] | None = None, sid: str | None = None
    ) -> SessionLog:
        """Start a session chain with its session.open record (identity evidence)."""
        sid = sid or new_session_id()
        if sid in self._sessions:
            raise ValueError(f"session {sid} is already open")
        session = SessionLog(self, sid)
        session._record(RecordType.SESSION_OPEN, body)
        self._sessions[sid] = session
        return session

    def record(self, type: str, body: Mapping[str, object] | None = None) -> int:
        """Queue a gateway-scoped record (sid null), e.g. policy.load; return its seq."""
        if type in SESSION_TYPES or type in GATEWAY_TYPES:
            raise ValueError(f"{type} records are written by the recorder itself")
        return self._append(type, None, None, body or {})

    async def flush(self) -> None:
        """Wait until every record queued so far is written."""
        await self._wait_written(self._size)

    async def checkpoint(self) -> str:
        """Seal everything queued so far with a signed checkpoint; return the note."""
        target = self._size
        self._force_seal = True
        self._request_seal(target)
        await self._wait(lambda: self._sealed >= target and not self._force_seal)
        assert self.latest_checkpoint is not None
        return self.latest_checkpoint

    async def rotate_key(self, new: Signer) -> None:
        """key.rotate (old and new vkey), sealed under the old key; then sign with ``new``."""
        body = {"old": self._signer.verifier.vkey(), "new": new.verifier.vkey()}
        seq = self._append(RecordType.KEY_ROTATE, None, None, body, new)
        self._request_seal(seq + 1)
        await self._wait(lambda: self._sealed > seq)

    # -- the producer side (event loop thread) ------------------------------------------

    def _append(
        self,
        type: str,
        sid: str | None,
        n: int | None,
        body: Body,
        signer: Signer | None = None,
    ) -> int:
        # The hot path: every statement passes here twice (stmt, result).
        if not self._accepting or self._failure is not None:
            raise self._failure or RecordingUnavailable("the recorder is not running")
        ts = self._last_ts = max(self._clock(), self._last_ts)  # never back within a boot
        seq = self._size
        data = frame(seq, ts, type, sid, n, body)
        size = len(data)
        if size > self._max_record:
            raise RecordingUnavailable(
                f"a {type} record of {size} bytes exceeds the {self._max_record}-byte limit"
            )
        if self._pending_bytes + size > self._max_pending and self._queue and not self._draining:
            raise RecordingUnavailable(
                f"the recording queue is full ({self._pending_bytes} bytes not yet written):"
                " the recording disk is too slow or stalled",
                hint="statements resume when the writer catches up",
            )
        self._size = seq + 1
        self._queue.append(data)
        self._pending_bytes += size
        if signer is not None:
            self._rotations[seq] = signer
        if self._writer_idle:
            self._writer_idle = False
            self._wake.set()
        return seq

    def _request_seal(self, size: int) -> None:
        self._seal_target = max(self._seal_target, size)
        self._writer_idle = False
        self._wake.set()

    async def _wait(self, done: Callable[[], bool]) -> None:
        while not done():
            if self._failure is not None:
                raise self._failure
            self._waiters += 1
            self._wake.set()  # the writer task writes now instead of lingering
            try:
                await self._progress.wait()
            finally:
                self._waiters -= 1

    async def _wait_written(self, size: int) -> None:
        await self._wait(lambda: self._written >= size)

    # -- the writer task ----------------------------------------------------------------

    def _seal_due(self, end: int) -> bool:
        if self._force_seal:
            return True
        unsealed = end - self._sealed
        if unsealed <= 0:
            return False
        elapsed = anyio.current_time() - self._last_seal_time
        return (
            self._seal_target > self._sealed
            or unsealed >= self._every
            or (elapsed >= self._interval)
        )

    async def _run(self) -> None:
        busy = False  # the last turn wrote a batch
        lingered = False  # the records queued now have had their linger
        while True:
            if not self._queue and not self._seal_due(self._written):
                if self._stopping:
                    return
                if busy and self._linger > 0:
                    # Under load the next records are on their way: one more linger
                    # instead of an idle round trip (producers need not wake the task).
                    busy = False
                    await self._linger_for(self._busy_linger)
                    lingered = True
                    continue
                lingered = False
                wait = math.inf
                if self._written > self._sealed:
                    wait = self._last_seal_time + self._interval - anyio.current_time()
                self._writer_idle = True
                with anyio.move_on_after(max(wait, 0)):
                    await self._wake.wait()
                self._writer_idle = False
                self._wake = anyio.Event()
                continue
            if (
                self._linger > 0
                and not lingered
                and not self._stopping
                and not self._draining
                and not self._force_seal
                and not self._waiters  # a flush or checkpoint waits: write now
                and len(self._queue) < self._batch_records
            ):
                await self._linger_for(self._busy_linger if busy else self._linger)
            lingered = False
            batch = self._take()
            end = self._written + len(batch)
            seal = self._seal_due(end)
            rotate_to = self._rotations.pop(end - 1, None) if batch else None
            try:
                size, note = await self._backend.commit(batch, seal, rotate_to)
            except Exception as exc:  # disk full, permissions, I/O error: fail closed
                self._fail(exc)
                return
            if size != end:
                self._fail(RuntimeError(f"the writer's log has {size} records, expected {end}"))
                return
            busy = True
            self._written = end
            self._pending_bytes -= sum(map(len, batch))
            if note is not None:
                self._sealed, self.latest_checkpoint, self._force_seal = end, note, False
                self._last_seal_time = anyio.current_time()
            if rotate_to is not None:
                self._signer = rotate_to
            self._notify()

    async def _linger_for(self, seconds: float) -> None:
        """Wait ``seconds`` for more records; a flush, checkpoint or stop cuts it short."""
        with anyio.move_on_after(seconds):
            await self._wake.wait()
        if self._wake.is_set():
            self._wake = anyio.Event()

    def _take(self) -> list[bytes]:
        """Everything queued, up to and including a key rotation (sealed under the old key)."""
        queue = self._queue
        if not self._rotations:
            batch = list(queue)
            queue.clear()
            return batch
        rotation = min(self._rotations) - self._written  # its index in the queue
        return [queue.popleft() for _ in range(min(rotation + 1, len(queue)))]

    def _notify(self) -> None:
        if self._waiters:  # most batches: nobody waits (flush, checkpoint, stop do)
            progress, self._progress = self._progress, anyio.Event()
            progress.set()

    def _fail(self, exc: Exception) -> None:
        log.error("recording failed, refusing new statements: %s", exc)
        self._failure = RecordingUnavailable(
            f"recording failed: {exc}", hint="free disk space or fix permissions, then restart"
        )
        self._accepting = False
        self._queue.clear()
        self._rotations.clear()
        self._pending_bytes = 0
        self._notify()

    async def _shutdown(self) -> None:
        self._draining = True  # the last records must not be refused for a full queue
        if self.healthy:
            for session in list(self._sessions.values()):
                session._close_record("gateway.stop", None)
            seq = self._append(RecordType.GATEWAY_STOP, None, None, {"reason": "stop"})
            self._request_seal(seq + 1)
        self._accepting = False
        self._stopping = True
        self._wake.set()
        if self._failure is None:
            await self._wait(lambda: self._sealed >= self._size or self._failure is not None)
