"""What one statement text may cost the gateway: a size limit checked before anything
reads the text, and the analysis of large texts in a worker thread, bounded in threads
and in time, so that one statement cannot stall every session's event loop.

The parser holds the GIL for most of its work (pglast builds the parse tree as Python
objects), so a thread does not make a large analysis free for the other sessions: it
lets the event loop take the GIL back every switch interval (5 ms) instead of waiting
seconds. The size limit stays the primary defence (docs/architecture.md, "Statement
budget").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import anyio
import anyio.to_thread

from regogate.errors import ProgramLimitExceeded

T = TypeVar("T")

MAX_STATEMENT_BYTES = 1024 * 1024  # [policy] max_statement_bytes
ANALYSIS_TIMEOUT = 2.0  # [policy] analysis_timeout, seconds
# Texts longer than this (characters) are analysed in a worker thread: below it a
# parse takes at most tens of milliseconds, and the common path must not pay a hop.
BIG_TEXT = 64 * 1024
# Large analyses that run at once, in the whole process: more would take the GIL from
# the event loop (and every thread) without finishing any sooner.
ANALYSIS_THREADS = 2
_SLOT_POLL = 0.005  # seconds between looks for a free thread while all are busy


class StatementBudget:
    """Process-wide (one for every session's gate): the text size limit, the analysis
    time budget, and the worker threads large analyses share."""

    def __init__(
        self,
        max_bytes: int = MAX_STATEMENT_BYTES,
        analysis_timeout: float = ANALYSIS_TIMEOUT,
        threads: int = ANALYSIS_THREADS,
    ):
        self.max_bytes = max_bytes
        self.analysis_timeout = analysis_timeout
        self._slots = threading.BoundedSemaphore(threads)

    def oversized(self, sql: str) -> ProgramLimitExceeded | None:
        """The refusal of a text over ``max_bytes`` (its UTF-8 bytes as the client sent
        them), or None. Encodes only texts that could be over (UTF-8 is ≤ 4 bytes a
        character), so the common path costs one ``len``."""
        chars = len(sql)
        if chars <= self.max_bytes // 4:
            return None
        # (A text with more characters than the limit has bytes are not counted exactly.)
        exact = chars <= self.max_bytes
        size = _utf8_size(sql) if exact else chars
        if size <= self.max_bytes:
            return None
        return ProgramLimitExceeded(
            f"statement text of {'' if exact else 'at least '}{size} bytes is over "
            f"regogate's limit of {self.max_bytes} bytes ([policy] max_statement_bytes); "
            f"it was not analysed or run",
            hint="send large values as parameters (Bind), or split the statement",
        )

    async def run(self, work: Callable[[], T]) -> T:
        """``work()`` in a worker thread, once one of the budget's threads is free; raises
        ProgramLimitExceeded when waiting and working take over ``analysis_timeout``. A
        thread past its time is abandoned (Python cannot stop it) but keeps its slot
        until it ends, so abandoned work never runs more threads than the budget."""
        job = _Job(work, self._slots)
        with anyio.move_on_after(self.analysis_timeout) as scope:
            try:
                while not self._slots.acquire(blocking=False):
                    await anyio.sleep(_SLOT_POLL)
                job.queued = True
                return await anyio.to_thread.run_sync(job, abandon_on_cancel=True)
            finally:
                if scope.cancel_called or not job.finished:
                    job.drop()
        raise ProgramLimitExceeded(
            f"analysing this statement took over {self.analysis_timeout:g} s "
            f"([policy] analysis_timeout); it was denied unread",
            hint="split the statement, or send large values as parameters",
        )


class _Job(Generic[T]):
    """One piece of work for a slot: whoever finishes with it (the thread when it ran, the
    waiting task when it never started) gives the slot back, once."""

    def __init__(self, work: Callable[[], T], slots: threading.BoundedSemaphore):
        self._work = work
        self._slots = slots
        self._lock = threading.Lock()
        self.queued = False  # holds a slot
        self.started = False
        self.finished = False
        self._dropped = False

    def __call__(self) -> T:
        with self._lock:
            if self._dropped:  # nobody waits for it any more
                raise RuntimeError("abandoned before it started")
            self.started = True
        try:
            return self._work()
        finally:
            self.finished = True
            self._slots.release()

    def drop(self) -> None:
        """The waiting task gave up: a job that has not started never will."""
        with self._lock:
            if self._dropped or self.started or not self.queued:
                return
            self._dropped = True
        self._slots.release()


def _utf8_size(sql: str) -> int:
    try:
        return len(sql.encode("utf-8", "surrogateescape"))  # wire.text decodes this way
    except UnicodeEncodeError:
        return len(sql.encode("utf-8", "surrogatepass"))
