"""The gateway-facing recorder: sessions append records, one background task writes them.

``record()`` never blocks: it assigns seq, n and ts, serializes the body into a frame
(``core.frame``'s bytes) and queues it, in ``recording.hotpath`` (native when built). The
writer task hands batches to a backend
(``recording.backend``) where ``core.LogCore`` canonicalizes, chains, appends, fsyncs and
signs checkpoints: the writer process under ``regogate serve``, a worker thread for an
injected store.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import anyio

from regogate.errors import RecordingUnavailable
from regogate.recording.format.key_info import KeyInfo
from regogate.recording.format.note import Signer, Verifier
from regogate.recording.format.records import (
    GATEWAY_TYPES,
    SESSION_TYPES,
    GatewayInfo,
    RecordType,
    new_session_id,
)
from regogate.recording.write import hotpath
from regogate.recording.write.backend import Backend, ThreadBackend, WriterProcess
from regogate.recording.write.core import Body, RecordStore, serialize
from regogate.recording.write.hotpath import NOT_BY_SESSIONS, Queue, SessionChain, record_body

__all__ = ["RecordStore", "Recorder", "SessionLog", "WriterProcess"]

log = logging.getLogger("regogate.recording")
# A linger looks at the queue's size this often (seconds).
_LINGER_SLICE = 0.01


class SessionLog:
    """One session's hash chain. Satisfies ``proxy.hooks.RecordSink``."""

    wants_boundaries = True

    def __init__(self, recorder: Recorder, chain: SessionChain):
        """Use ``Recorder.open_session``."""
        self.sid = chain.sid
        self.chain = chain
        self._recorder = recorder

    def __repr__(self) -> str:
        return f"SessionLog({self.sid!r}, n={self.chain.n}, closed={self.closed})"

    @property
    def closed(self) -> bool:
        return self.chain.closed

    @property
    def engine(self) -> hotpath.Engine:
        """The hot path the chain belongs to (``proxy.recording_sink`` taps it)."""
        return self._recorder.hotpath

    def record(self, type: str, body: Body | None = None) -> int:
        """Queue one record of this session; return its seq. Never blocks.

        ``body``: a mapping, or the bytes of one serialized once (``core.prepared``).
        Raises ``RecordingUnavailable`` (fail closed) if the recorder has failed or
        stopped, or its queue is full; then nothing was recorded.
        """
        if type in NOT_BY_SESSIONS:
            raise ValueError(f"{type} records are written by the recorder itself")
        return self._record(type, body)

    def _record(self, type: str, body: Body | None) -> int:
        return self.chain.append(type, record_body(type, body, serialize))

    def event(self, kind: str, body: Mapping[str, object]) -> None:
        self.record(kind, body)

    async def flush(self) -> None:
        """Wait until this session's records are written (and fsynced, by policy)."""
        await self._recorder._wait_written(self.chain.last_seq + 1)

    async def flush_within(self, timeout: float) -> bool:
        """``flush`` for at most ``timeout`` seconds; False (and the recorder counts as
        stalled until its writer catches up) if the records are not written by then."""
        return await self._recorder.wait_written_within(self.chain.last_seq + 1, timeout)

    async def boundary(self) -> None:
        await self.flush()

    def _close_record(self, reason: str, counts: Mapping[str, int] | None) -> None:
        body: dict[str, object] = {
            "reason": reason,
            "counts": {**(counts or {}), "records": self.chain.n + 2},
            "chain_head": None,  # the writer puts this session's prev here
        }
        self._record(RecordType.SESSION_CLOSE, body)
        self.chain.closed = True
        self._recorder._sessions.pop(self.sid, None)
        self._recorder._request_seal(self.chain.last_seq + 1)

    async def close(
        self, reason: str, counts: Mapping[str, int] | None = None, timeout: float | None = None
    ) -> None:
        """Write session.close (chain_head = prev), ask for a checkpoint, flush (for at
        most ``timeout`` seconds: the record stays queued for a stalled writer)."""
        if not self.closed:
            self._close_record(reason, counts)
        if timeout is None:
            await self.flush()
        else:
            await self.flush_within(timeout)


class Recorder:
    """The recording log of one gateway process (docs/recording-format.md §7, §9).

    Call it from the event loop's thread. ``store``: a ``WriterProcess`` (the directory is
    opened and written by a child process) or an open ``RecordStore``, written from a
    worker thread and the caller's to close. ``signer``: the signing key, for a store
    (required) or for a writer process to be handed (tests, tools); None for a writer
    process that reads the key itself (``regogate serve``: the gateway never holds it).
    ``origin``: the log's name, by default the key's.
    """

    def __init__(
        self,
        store: RecordStore | WriterProcess,
        signer: Signer | None,
        gateway: GatewayInfo,
        *,
        origin: str | None = None,
        checkpoint_every: int = 1000,
        checkpoint_interval: float = 10.0,
        max_pending_bytes: int = 16 << 20,
        max_record_bytes: int = 1 << 20,
        start_body: Mapping[str, object] | None = None,
        stop_timeout: float = 10.0,
        clock: Callable[[], int] | None = None,
        linger: float = 0.002,
        busy_linger: float = 0.050,
        batch_records: int = 512,
        hotpath_engine: str = "auto",
    ):
        self.origin = origin or (signer.name if signer is not None else "")
        if isinstance(store, WriterProcess):
            self._backend: Backend = store.backend(signer)
        elif signer is None:
            raise ValueError("a Recorder over a store needs the signing key")
        else:
            self._backend = ThreadBackend(store, signer)
        self._origin = origin
        self._key: KeyInfo | None = KeyInfo.of(signer) if signer is not None else None
        self._gw = gateway.to_json()
        self._every, self._interval = checkpoint_every, checkpoint_interval
        self._max_pending, self._max_record = max_pending_bytes, max_record_bytes
        self._start_body, self._stop_timeout, self._clock = start_body or {}, stop_timeout, clock
        # seq, ts and the queued frames (recording.hotpath: native when built)
        self.hotpath = hotpath.select(hotpath_engine)
        self._q: Queue = self._new_queue(0)
        # Group commit: after a wake-up the writer lingers ``linger`` (unless a batch is
        # already full) so that one pipe write, one append and one fsync carry many records;
        # while batches follow each other (load), ``busy_linger``: fewer, larger batches.
        self._linger, self._busy_linger = linger, max(linger, busy_linger)
        self._batch_records = batch_records
        self._written = self._sealed = 0  # set by running()
        self._seal_target = 0
        self._force_seal = False
        self._rotations: dict[int, Signer] = {}  # seq of a key.rotate -> the new key
        self._sessions: dict[str, SessionLog] = {}
        self._stopping = False
        self._wake = anyio.Event()
        self._progress = anyio.Event()
        self._waiters = 0  # tasks in _wait
        # set when a bounded wait (flush_within) timed out; cleared by the next batch
        self._stalled: RecordingUnavailable | None = None
        self._last_seal_time = 0.0
        self.latest_checkpoint: str | None = None
        # called with each new checkpoint note (recording.export), on the event loop
        self.checkpoint_listeners: list[Callable[[str], None]] = []

    def _new_queue(self, size: int) -> Queue:
        return self.hotpath.queue(
            size,
            wake=self._wake_writer,
            max_record=self._max_record,
            max_pending=self._max_pending,
            clock=self._clock,
        )

    @property
    def healthy(self) -> bool:
        """False once a write failed or the recorder stopped, and while the writer is
        stalled: refuse new statements."""
        return self._q.accepting and self._q.failure is None and self._stalled is None

    @property
    def _failure(self) -> RecordingUnavailable | None:
        return self._q.failure

    @property
    def failure(self) -> RecordingUnavailable | None:
        """Why the recorder is not healthy: it failed, or its writer is stalled."""
        return self._failure or self._stalled

    async def wait_written_within(self, size: int, timeout: float) -> bool:
        """Wait until the first ``size`` records are written, for at most ``timeout``
        seconds. A writer that takes longer is stalled (a hung disk or mount): until its
        next batch is written, ``healthy`` is False and ``failure`` says why, so a
        fail-closed gate refuses statements instead of holding every session."""
        with anyio.move_on_after(timeout):
            await self._wait_written(size)
            return True
        if self._stalled is None and self._failure is None:
            log.error(
                "the recording writer has written nothing for %g s; refusing new "
                "statements until it catches up",
                timeout,
            )
            self._stalled = RecordingUnavailable(
                f"the recording writer has written nothing for {timeout:g} s (a stalled "
                "disk?); statements are refused until it catches up",
                hint="check the recording directory's disk",
            )
        return False

    @property
    def key(self) -> KeyInfo:
        """The key signing checkpoints now: its public half and derived keys."""
        if self._key is None:
            raise RuntimeError("the recorder has not started")
        return self._key

    @property
    def verifier(self) -> Verifier:
        """The public key of the key signing checkpoints now."""
        return self.key.verifier

    @property
    def writer_engine(self) -> str | None:
        """What writes the log: "native" or "python" (a writer process), "thread"."""
        return self._backend.engine

    @property
    def writer_pid(self) -> int | None:
        """The writer process's pid while running (None for a thread writer)."""
        return self._backend.pid

    @property
    def hotpath_engine(self) -> str:
        """What frames and queues records on the event loop: "native" or "python"."""
        return self.hotpath.name

    @property
    def commit_interval(self) -> float:
        """Seconds between batches under load (group commit)."""
        return self._busy_linger

    @property
    def size(self) -> int:
        """Records assigned a seq so far (the next record's seq)."""
        return self._q.size

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
        started = await self._backend.start(self._gw, self._origin)
        state, self._key, self.origin = started.summary, started.key, started.origin
        self._q = self._new_queue(state.size)
        self._written = state.size
        self._sealed = state.sealed
        async with anyio.create_task_group() as tg:
            self._q.accepting = True
            self._last_seal_time = anyio.current_time()
            start = {
                **self._start_body,
                "origin": self.origin,
                "vkey": started.key.vkey,
                "last_seen_tree_size": self.size,
                "prev_boot": state.last_boot,
                "recovered": state.recovered,
                # what this boot found sealed, and the checkpoint kept outside the log
                # it checked the log against (docs/recording-format.md §4)
                "sealed": {"size": state.sealed, "root": state.sealed_root},
                "anchor": state.anchor,
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
        session = SessionLog(self, self.hotpath.chain(self._q, sid))
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
        await self._wait_written(self.size)

    async def checkpoint(self) -> str:
        """Seal everything queued so far with a signed checkpoint; return the note."""
        target = self.size
        self._force_seal = True
        self._request_seal(target)
        await self._wait(lambda: self._sealed >= target and not self._force_seal)
        assert self.latest_checkpoint is not None
        return self.latest_checkpoint

    async def rotate_key(self, new: Signer) -> None:
        """key.rotate (old and new vkey), sealed under the old key; then sign with ``new``."""
        body = {"old": self.key.vkey, "new": new.verifier.vkey()}
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
        # Gateway-scoped records; sessions' records go through their chains (hotpath).
        seq = self._q.append(type, sid, n, record_body(type, body, serialize))
        if signer is not None:
            self._rotations[seq] = signer
        return seq

    def _wake_writer(self) -> None:
        self._wake.set()

    def _request_seal(self, size: int) -> None:
        self._seal_target = max(self._seal_target, size)
        self._q.idle = False
        self._wake.set()

    async def _wait(self, done: Callable[[], bool]) -> None:
        while not done():
            if self._failure is not None:
                raise self._failure.with_traceback(None)  # raised again and again
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
            if not self._q.queued and not self._seal_due(self._written):
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
                self._q.idle = True
                with anyio.move_on_after(max(wait, 0)):
                    await self._wake.wait()
                self._q.idle = False
                self._wake = anyio.Event()
                continue
            if (
                self._linger > 0
                and not lingered
                and not self._stopping
                and not self._q.draining
                and not self._force_seal
                and not self._waiters  # a flush or checkpoint waits: write now
                and self._q.queued < self._batch_records
            ):
                await self._linger_for(self._busy_linger if busy else self._linger)
            lingered = False
            batch, count, nbytes = self._take()
            end = self._written + count
            seal = self._seal_due(end)
            rotate_to = self._rotations.pop(end - 1, None) if count else None
            try:
                size, note = await self._backend.commit(batch, count, seal, rotate_to)
            except Exception as exc:  # disk full, permissions, I/O error: fail closed
                self._fail(exc)
                return
            if size != end:
                self._fail(RuntimeError(f"the writer's log has {size} records, expected {end}"))
                return
            busy = True
            self._written = end
            if self._stalled is not None:
                self._stalled = None
                log.warning("the recording writer caught up; statements are accepted again")
            self._q.release(nbytes)
            if note is not None:
                self._sealed, self.latest_checkpoint, self._force_seal = end, note, False
                self._last_seal_time = anyio.current_time()
                for listener in self.checkpoint_listeners:
                    listener(note)
            if rotate_to is not None:
                self._key = KeyInfo.of(rotate_to)
            self._notify()

    async def _linger_for(self, seconds: float) -> None:
        """Wait ``seconds`` for more records; a flush, checkpoint or stop cuts it short,
        and so does a queue past a quarter of its byte limit (a long commit interval under
        heavy load must not fill the queue, which would refuse statements)."""
        deadline = anyio.current_time() + seconds
        while (left := deadline - anyio.current_time()) > 0:
            if self._q.pending_bytes * 4 >= self._max_pending:
                return
            with anyio.move_on_after(min(left, _LINGER_SLICE)):
                await self._wake.wait()
            if self._wake.is_set():
                self._wake = anyio.Event()
                return

    def _take(self) -> tuple[bytes, int, int]:
        """Everything queued, up to and including a key rotation (sealed under the old key):
        the frames, each followed by a newline; how many; their bytes."""
        queued = self._q.queued
        if self._rotations:
            rotation = min(self._rotations) - self._written  # its index in the queue
            queued = min(rotation + 1, queued)
        return self._q.take(queued)

    def _notify(self) -> None:
        if self._waiters:  # most batches: nobody waits (flush, checkpoint, stop do)
            progress, self._progress = self._progress, anyio.Event()
            progress.set()

    def _fail(self, exc: Exception) -> None:
        log.error("recording failed, refusing new statements: %s", exc)
        self._q.failure = RecordingUnavailable(
            f"recording failed: {exc}", hint="free disk space or fix permissions, then restart"
        )
        self._q.accepting = False
        self._q.clear()
        self._rotations.clear()
        self._notify()

    async def _shutdown(self) -> None:
        self._q.draining = True  # the last records must not be refused for a full queue
        if self._q.accepting and self._failure is None:  # (a stalled writer may catch up)
            for session in list(self._sessions.values()):
                session._close_record("gateway.stop", None)
            seq = self._append(RecordType.GATEWAY_STOP, None, None, {"reason": "stop"})
            self._request_seal(seq + 1)
        self._q.accepting = False
        self._stopping = True
        self._wake.set()
        if self._failure is None:
            await self._wait(lambda: self._sealed >= self.size or self._failure is not None)
