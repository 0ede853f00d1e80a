"""What one statement text may cost the gateway: a size limit checked before anything
reads the text, and the analysis of large texts in worker processes, bounded in workers
and in time, so that one statement cannot stall every session's event loop.

``run`` runs its work in a thread of the budget's own (bounded) and, around it, offers
the engine this budget's analysis workers (``policy.offload.BIG_ANALYSIS``): a large text
the engine has not cached is analysed in an ``analysis_pool`` process, whose pglast holds
its own GIL, not the gateway's. The thread only waits on the worker's pipe. The size
limit stays the first defence (docs/architecture.md, "Statement budget").
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Generic, Protocol, TypeVar

import anyio
import anyio.to_thread

from regogate.errors import ProgramLimitExceeded
from regogate.policy.catalog import CatalogSnapshot
from regogate.policy.facts import Analysis
from regogate.policy.offload import BIG_ANALYSIS
from regogate.proxy.analysis_pool import WORKER_NICE, AnalysisPool, Redacted

T = TypeVar("T")

MAX_STATEMENT_BYTES = 1024 * 1024  # [policy] max_statement_bytes
ANALYSIS_TIMEOUT = 2.0  # [policy] analysis_timeout, seconds
# Texts longer than this (characters) are analysed in a worker process: below it a
# parse takes at most ~20 ms (an IN list, the slowest text per byte: 2.5 us a byte), and
# the common path must not pay the hop (~0.3 ms).
BIG_TEXT = 8 * 1024
# Threads that wait for the workers (or, without workers, analyse): a large statement
# beyond them waits for one within its time budget.
ANALYSIS_THREADS = 4
# [policy] analysis_workers: processes; each can keep a core busy.
ANALYSIS_WORKERS = max(1, (os.cpu_count() or 2) // 2)
_SLOT_POLL = 0.005  # seconds between looks for a free thread while all are busy


class PlainRedactions(Protocol):
    """The recording's redactor (``recording.redactor.Redactor``), as the budget feeds it
    the redactions its workers make of large texts."""

    @property
    def plain_mode(self) -> str: ...

    def has(self, sql: str) -> bool: ...

    def remember(self, sql: str, text: str, literals: tuple[str, ...]) -> None: ...

    def offload_above(self, chars: int) -> None: ...


class StatementBudget:
    """Process-wide (one for every session's gate): the text size limit, the analysis
    time budget, the threads that wait for large analyses and the worker processes
    that make them. ``workers=0``: analysed in the threads (pglast then holds the GIL).

    Use as an async context manager to start the workers with the gateway and stop them
    with it; otherwise they start on first use and exit when the gateway does."""

    def __init__(
        self,
        max_bytes: int = MAX_STATEMENT_BYTES,
        analysis_timeout: float = ANALYSIS_TIMEOUT,
        threads: int = ANALYSIS_THREADS,
        workers: int = ANALYSIS_WORKERS,
        *,
        worker_nice: int = WORKER_NICE,
        pool: AnalysisPool | None = None,
    ):
        self.max_bytes = max_bytes
        self.analysis_timeout = analysis_timeout
        self._slots = threading.BoundedSemaphore(threads)
        self.workers = pool.size if pool is not None else workers
        self._pool = pool
        self._nice = worker_nice
        self._pool_lock = threading.Lock()
        self.redactor: PlainRedactions | None = None

    def record_redactions(self, redactor: PlainRedactions) -> None:
        """Large texts get their recording redaction from the analysis workers too (in
        the same request, before the analysis), not on the event loop."""
        if self.workers:
            redactor.offload_above(BIG_TEXT)
            self.redactor = redactor

    @property
    def pool(self) -> AnalysisPool:
        with self._pool_lock:
            if self._pool is None:
                self._pool = AnalysisPool(self.workers, nice=self._nice)
            return self._pool

    def __enter__(self) -> StatementBudget:
        if self.workers:
            self.pool.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> StatementBudget:
        if self.workers:
            await anyio.to_thread.run_sync(self.pool.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes (a busy one is killed)."""
        with self._pool_lock:
            pool = self._pool
        if pool is not None:
            pool.close()

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
        """``work()`` in one of the budget's threads, once one is free, with the
        analysis workers offered to the engine (``BIG_ANALYSIS``); raises
        ProgramLimitExceeded when waiting and working take over ``analysis_timeout``. A
        thread past its time is abandoned (Python cannot stop it; a worker process it
        waits for is killed at the same deadline) but keeps its slot until it ends."""
        deadline = time.monotonic() + self.analysis_timeout
        job = _Job(work, self._slots)
        offered = BIG_ANALYSIS.set(_BigAnalysis(self, deadline) if self.workers else None)
        try:
            with anyio.move_on_after(self.analysis_timeout) as scope:
                try:
                    while not self._slots.acquire(blocking=False):
                        await anyio.sleep(_SLOT_POLL)
                    job.queued = True
                    # the thread runs in a copy of this context: it sees BIG_ANALYSIS
                    return await anyio.to_thread.run_sync(job, abandon_on_cancel=True)
                finally:
                    if scope.cancel_called or not job.finished:
                        job.drop()
        finally:
            BIG_ANALYSIS.reset(offered)
        raise ProgramLimitExceeded(
            f"analysing this statement took over {self.analysis_timeout:g} s "
            f"([policy] analysis_timeout); it was denied unread",
            hint="split the statement, or send large values as parameters",
        )


class _BigAnalysis:
    """One statement's use of the workers (``policy.offload.BigAnalysis``), from the
    budget's thread, within the statement's deadline."""

    def __init__(self, budget: StatementBudget, deadline: float):
        self._budget = budget
        self._deadline = deadline

    def analyze(
        self,
        sql: str,
        catalog: CatalogSnapshot,
        search_path: tuple[str, ...],
        prepared: Mapping[str, str],
        path_known: bool,
    ) -> Analysis:
        redactor = self._budget.redactor
        redact = None
        if redactor is not None and not redactor.has(sql):

            def remember(red: Redacted) -> None:
                redactor.remember(sql, red.text, red.literals)

            redact = (redactor.plain_mode, remember)
        return self._budget.pool.analyze(
            sql, catalog, search_path, prepared, path_known, self._deadline, redact
        )

    def cached(self, sql: str) -> None:
        redactor = self._budget.redactor
        if redactor is not None and not redactor.has(sql):
            red = self._budget.pool.redact(sql, redactor.plain_mode, self._deadline)
            redactor.remember(sql, red.text, red.literals)


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
