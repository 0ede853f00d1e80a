"""Analysis worker processes: large statement texts are analysed (and redacted for the
recording) in ``analysis_worker`` processes, so that pglast, which holds the GIL while it
builds a parse tree, never holds the gateway's.

Blocking calls, made from the statement budget's threads (``analysis_budget``), each
within the statement's deadline: waiting for a free worker, sending, waiting for the
answer. A worker past the deadline is killed and replaced on next use, so abandoned work
never piles up; one that dies or answers nonsense denies the statement and is replaced.
Workers start on first use (``start`` starts them at once), drop to a lower CPU priority
than the gateway's when one analysis goes on for long (``_Worker.demote``), get
an environment without secrets (``childenv``), and exit when the
gateway closes their input (``close``, or its own exit). Requests are pickles (from us);
answers are JSON, checked field by field (``policy.analysis_codec``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import queue
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import cast

import orjson

from regogate.childenv import minimal_env
from regogate.errors import PolicyUnavailable, ProgramLimitExceeded
from regogate.policy.analysis_codec import analysis_from
from regogate.policy.catalog import CatalogSnapshot
from regogate.policy.facts import Analysis
from regogate.proxy.analysis_worker import CATALOGS_KEPT

log = logging.getLogger("regogate.analysis")

# A worker's analysis that takes over DEMOTE_AFTER seconds goes on at this niceness:
# under CPU contention maximal statements wait, other sessions (and statements that need
# tens of milliseconds) do not.
WORKER_NICE = 10
DEMOTE_AFTER = 0.2
MAX_REPLY = 256 * 1024 * 1024  # bytes; a worker claiming more is broken
_HEADER = 4
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Redacted:
    """A text's plain redaction, before the commitment (``recording.redactor.Redactor``)."""

    text: str
    literals: tuple[str, ...]


@dataclass
class PoolStats:
    started: int = 0
    killed: int = 0  # past their deadline
    failed: int = 0  # died, or answered nonsense
    requests: int = 0
    shared: int = 0  # analyses a worker shared by shape


class _Late(Exception):
    """The deadline passed."""


class _Broken(Exception):
    """The worker died or broke the protocol."""


class AnalysisPool:
    """At most ``workers`` analysis processes; a call waits for a free one until its
    deadline (``time.monotonic`` seconds)."""

    def __init__(
        self, workers: int = 1, *, nice: int = WORKER_NICE, environ: Mapping[str, str] | None = None
    ):
        if workers < 1:
            raise ValueError("an analysis pool needs at least one worker")
        self.size = workers
        self._nice = nice
        self._env = minimal_env(
            {"VIRTUAL_ENV", "REGOGATE_HOTPATH"},
            prefixes=("PYTHON", "COV_CORE_", "COVERAGE_"),
            environ=environ,
        )
        # One entry per worker slot: a running worker, or None (start one on use).
        self._slots: queue.Queue[_Worker | None] = queue.Queue()
        for _ in range(workers):
            self._slots.put(None)
        self._lock = threading.Lock()
        self._live: set[_Worker] = set()
        self._catalogs: list[tuple[CatalogSnapshot, int, bytes]] = []  # newest last
        self._tokens = 0
        self._closed = False
        self.stats = PoolStats()

    def analyze(
        self,
        sql: str,
        catalog: CatalogSnapshot,
        search_path: tuple[str, ...],
        prepared: Mapping[str, str],
        path_known: bool,
        deadline: float,
        redact: tuple[str, Callable[[Redacted], None]] | None = None,
    ) -> Analysis:
        """``sql``'s facts. ``redact``: (how the recording's Redactor redacts, "native" or
        "python"; what takes the redaction), which arrives before the analysis, so that it
        is had even when the analysis then runs out of time."""
        token, data = self._catalog(catalog)
        mode = redact[0] if redact is not None else None
        request = ("analyze", token, tuple(search_path), sql, dict(prepared), path_known, mode)
        replies = self._call(request, deadline, (token, data), 2 if redact else 1)
        try:
            if redact is not None:
                redact[1](self._redaction(next(replies)))
            answer = self._answer(next(replies))
            self.stats.shared += answer.get("shared") is True
            return analysis_from(answer.get("analysis"))
        except ValueError as exc:
            raise self._nonsense(exc) from None
        finally:
            replies.close()

    def redact(self, sql: str, mode: str, deadline: float) -> Redacted:
        replies = self._call(("redact", sql, mode), deadline, None)
        try:
            return self._redaction(next(replies))
        finally:
            replies.close()

    def start(self) -> None:
        """Start every worker now rather than on first use (their imports take a few
        hundred milliseconds of the first large statement's budget otherwise)."""
        for _ in range(self.size):
            try:
                worker = self._slots.get_nowait()
            except queue.Empty:
                return
            try:
                worker = worker or self._spawn()
            finally:
                self._slots.put(worker)  # last in line: the loop meets each slot once

    def close(self) -> None:
        """Stop every worker; later calls are denied. A busy worker is killed, and the
        thread waiting for it (which alone uses its pipes) finds it dead and reaps it."""
        with self._lock:
            self._closed = True
        while True:
            try:
                worker = self._slots.get_nowait()
            except queue.Empty:
                break
            if worker is not None:
                self._retire(worker)
        with self._lock:
            busy = list(self._live)
        for worker in busy:
            worker.kill()

    # -- one request ------------------------------------------------------------------------
    def _call(
        self,
        request: tuple[object, ...],
        deadline: float,
        catalog: tuple[int, bytes] | None,
        answers: int = 1,
    ) -> Generator[Mapping[str, object], None, None]:
        """The worker's ``answers`` to ``request``, one at a time, as they come. The
        worker goes back to its slot once it has given them all; closed before that, the
        generator kills it (it is busy on work nobody waits for)."""
        self.stats.requests += 1
        worker = self._acquire(deadline)
        done = False
        try:
            worker = worker or self._spawn()
            if catalog is not None and catalog[0] not in worker.catalogs:
                worker.send(pickle.dumps(("catalog", *catalog), protocol=5), deadline)
                worker.installed(catalog[0])
            worker.send(pickle.dumps(request, protocol=5), deadline)
            for left in range(answers - 1, -1, -1):
                reply = worker.receive(deadline)
                done = not left
                yield reply
        except _Late:
            self.stats.killed += 1
            raise ProgramLimitExceeded(
                "analysing this statement took longer than [policy] analysis_timeout; "
                "it was denied and its analysis stopped",
                hint="split the statement, or send large values as parameters",
            ) from None
        except (_Broken, OSError) as exc:
            self.stats.failed += 1
            level = logging.INFO if self._closed else logging.ERROR  # stopped by close
            log.log(level, "analysis worker %s failed: %s", worker.pid if worker else "-", exc)
            raise PolicyUnavailable(
                "regogate's statement analysis worker failed; the statement was denied",
                hint="retry; report it if it keeps failing for this statement",
            ) from None
        finally:
            if worker is not None and not done:
                self._retire(worker)
                worker = None
            self._slots.put(worker)

    def _answer(self, reply: Mapping[str, object]) -> Mapping[str, object]:
        error = reply.get("error")
        if error is not None:
            log.error("an analysis worker could not do its work: %s", error)
            raise PolicyUnavailable("regogate could not analyse the statement; denied")
        return reply

    def _redaction(self, reply: Mapping[str, object]) -> Redacted:
        try:
            red = _redacted(self._answer(reply).get("redacted"))
        except ValueError as exc:
            raise self._nonsense(exc) from None
        if red is None:
            raise self._nonsense(ValueError("no redaction"))
        return red

    def _acquire(self, deadline: float) -> _Worker | None:
        if self._closed:
            raise PolicyUnavailable("the gateway is stopping; the statement was denied")
        try:
            return self._slots.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise ProgramLimitExceeded(
                f"every analysis worker ({self.size}) stayed busy with other large statements "
                "for [policy] analysis_timeout; this one was denied unread",
                hint="retry later, or send large values as parameters",
            ) from None

    def _spawn(self) -> _Worker:
        cmd = [sys.executable, "-m", "regogate.proxy.analysis_worker", str(self._nice)]
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self._env, bufsize=0
        )
        worker = _Worker(proc, self._nice)
        with self._lock:
            closed = self._closed
            if not closed:
                self._live.add(worker)
        if closed:
            worker.stop()
            raise PolicyUnavailable("the gateway is stopping; the statement was denied")
        self.stats.started += 1
        return worker

    def _retire(self, worker: _Worker) -> None:
        with self._lock:
            self._live.discard(worker)
        worker.stop()

    def _catalog(self, catalog: CatalogSnapshot) -> tuple[int, bytes]:
        """The token and pickle of ``catalog``, made once per snapshot (a worker gets a
        snapshot once: ``CATALOGS_KEPT``)."""
        with self._lock:
            for known, token, data in self._catalogs:
                if known is catalog:
                    return token, data
            self._tokens += 1
            token, data = self._tokens, pickle.dumps(catalog, protocol=5)
            self._catalogs = [*self._catalogs[-(CATALOGS_KEPT - 1) :], (catalog, token, data)]
            return token, data

    def _nonsense(self, exc: Exception) -> PolicyUnavailable:
        self.stats.failed += 1
        log.error("an analysis worker's answer was not an analysis: %s", exc)
        return PolicyUnavailable("regogate could not analyse the statement; denied")


class _Worker:
    """One worker process and its pipes (non-blocking; every wait has a deadline)."""

    def __init__(self, proc: subprocess.Popen[bytes], nice: int = 0):
        assert proc.stdin is not None
        assert proc.stdout is not None
        self.proc = proc
        self.pid = proc.pid
        self._in, self._out = proc.stdin, proc.stdout
        os.set_blocking(self._in.fileno(), False)
        os.set_blocking(self._out.fileno(), False)
        self.catalogs: list[int] = []  # as the worker keeps them (analysis_worker)
        self._ready = False
        self._buffer = bytearray()
        self._nice = nice
        self._demote_at = 0.0  # when the request at hand has had its time at full priority

    def installed(self, token: int) -> None:
        self.catalogs = [*self.catalogs[-(CATALOGS_KEPT - 1) :], token]

    def send(self, payload: bytes, deadline: float) -> None:
        self._demote_at = time.monotonic() + DEMOTE_AFTER
        data = memoryview(len(payload).to_bytes(_HEADER, "big") + payload)
        fd = self._in.fileno()
        while data:
            self._wait(fd, select.POLLOUT, deadline)
            try:
                sent = os.write(fd, data[:_CHUNK])
            except BlockingIOError:
                continue
            except BrokenPipeError:
                raise _Broken(f"it exited ({self.proc.poll()})") from None
            data = data[sent:]

    def receive(self, deadline: float) -> Mapping[str, object]:
        if not self._ready:  # its first words say it is up
            self._reply(deadline)
            self._ready = True
            self._demote_at = time.monotonic() + DEMOTE_AFTER  # its time starts now
        return self._reply(deadline)

    def _reply(self, deadline: float) -> Mapping[str, object]:
        size = int.from_bytes(self._read(_HEADER, deadline), "big")
        if not 0 < size <= MAX_REPLY:
            raise _Broken(f"a reply of {size} bytes")
        payload = self._read(size, deadline)
        try:
            if payload[:1] == b"o":
                reply = orjson.loads(payload[1:])
            elif payload[:1] == b"j":
                reply = json.loads(payload[1:])
            else:
                raise ValueError("unknown reply encoding")
        except ValueError as exc:
            raise _Broken(f"an unreadable reply: {exc}") from None
        if not isinstance(reply, dict):
            raise _Broken("a reply that is not an object")
        return cast(Mapping[str, object], reply)

    def _read(self, size: int, deadline: float) -> bytes:
        fd = self._out.fileno()
        while len(self._buffer) < size:
            if self._nice > 0 and self._demote_at < deadline:
                try:
                    self._wait(fd, select.POLLIN, self._demote_at)
                except _Late:  # and again later, for a thread started since
                    self.demote()
                    self._demote_at = time.monotonic() + DEMOTE_AFTER
                    continue
            else:
                self._wait(fd, select.POLLIN, deadline)
            try:
                chunk = os.read(fd, max(_CHUNK, size - len(self._buffer)))
            except BlockingIOError:
                continue
            if not chunk:
                raise _Broken(f"it exited ({self.proc.wait()})")
            self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    @staticmethod
    def _wait(fd: int, event: int, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Late
        poller = select.poll()
        poller.register(fd, event)
        if not poller.poll(left * 1000):
            raise _Late

    def demote(self) -> None:
        """Lower the priority of the worker's threads but its main one (Linux: one task
        each), which is at work on a long analysis (``analysis_worker._demoted``); the
        main thread, and the threads it starts for the next requests, keep theirs."""
        try:
            tasks = [int(t) for t in os.listdir(f"/proc/{self.pid}/task")]
        except OSError:
            return
        for tid in tasks:
            if tid != self.pid:
                with contextlib.suppress(OSError):  # it just ended
                    # relative to the worker's own: never raise a priority (a gateway
                    # started with nice 10 keeps its analyses below that)
                    base = os.getpriority(os.PRIO_PROCESS, self.pid)
                    os.setpriority(os.PRIO_PROCESS, tid, min(19, base + self._nice))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()

    def stop(self) -> None:
        """Kill it (it may be busy on work nobody waits for) and reap it."""
        for pipe in (self._in, self._out):
            with contextlib.suppress(OSError):
                pipe.close()
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            log.error("analysis worker %s did not exit after SIGKILL", self.pid)


def _redacted(obj: object) -> Redacted | None:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise ValueError("a redaction is an object")
    text, literals = obj.get("text"), obj.get("literals")
    if not isinstance(text, str) or not isinstance(literals, list):
        raise ValueError("a redaction has a text and literals")
    if not all(isinstance(x, str) for x in literals):
        raise ValueError("literals are strings")
    return Redacted(text, tuple(literals))
