"""Checkpoints leave the host: every new signed checkpoint goes to the directories and
HTTP endpoints of ``[recording] checkpoint_export`` (docs/recording-format.md §10).

Someone who can write the recording directory can truncate the log and its
checkpoints.log together; a copy of the latest checkpoint kept elsewhere catches that
(``regogate verify --prior``). Exporting never holds a statement: the recorder hands each
new note to ``submit`` and a background task delivers it, retrying failures with a
growing pause; only the latest undelivered note per destination is kept (a later
checkpoint covers everything an earlier one does, and each export is consistent with
the ones before it).

A directory receives, per log origin, ``<name>.checkpoints.log`` (every exported note,
appended, in checkpoints.log's framing) and ``<name>.latest.note`` (the latest, replaced
atomically: what ``--prior`` takes). An endpoint receives the note as the body of a POST
(``text/plain``, a C2SP signed note); any 2xx is an acknowledgment.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.to_thread
import httpx
from anyio.abc import TaskStatus

from regogate.recording.format.layout import file_stem, latest_note

log = logging.getLogger("regogate.recording")

Deliver = Callable[[str], Awaitable[None]]
_RETRY_FIRST, _RETRY_MAX = 1.0, 60.0  # seconds between attempts after a failure


def export_to_directory(directory: Path, origin: str, note: str) -> None:
    """Append ``note`` to the origin's history there and make it the latest (synced)."""
    directory.mkdir(mode=0o750, parents=True, exist_ok=True)
    stem = file_stem(origin)
    data = note.encode()
    history = directory / f"{stem}.checkpoints.log"
    fd = os.open(history, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        _write_all(fd, data + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    replace_file(latest_note(directory, origin), data)


def replace_file(path: Path, data: bytes) -> None:
    """Make ``data`` the content of ``path`` atomically, on stable storage."""
    scratch = path.with_name(f".{path.name}.tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(scratch, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@dataclass
class _Destination:
    name: str  # a directory path or a URL, for messages
    pending: str | None = None  # the latest note not yet delivered
    delivered: int = 0
    failures: int = 0
    failing: bool = False  # the last attempt failed (logged once until it recovers)
    retry_at: float = 0.0
    pause: float = _RETRY_FIRST
    wake: anyio.Event = field(default_factory=anyio.Event)


class CheckpointExporter:
    """Delivers the recorder's new checkpoints to every destination, in the background."""

    def __init__(
        self,
        origin: str,
        directories: Sequence[Path] = (),
        urls: Sequence[str] = (),
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        anchor: Path | None = None,
    ):
        """``anchor``: a file that always holds the latest checkpoint (what the writer
        checks the log against at the next start: recording.tail.check_anchor)."""
        self.origin = origin
        self._anchor = anchor
        self._dirs = list(directories)
        self._urls = list(urls)
        self._timeout = timeout
        self._transport = transport
        self.destinations = [_Destination(str(d)) for d in self._dirs] + [
            _Destination(u) for u in self._urls
        ]
        if anchor is not None:
            self.destinations.append(_Destination(str(anchor)))

    def __bool__(self) -> bool:
        return bool(self.destinations)

    @property
    def delivered(self) -> int:
        return sum(d.delivered for d in self.destinations)

    @property
    def failures(self) -> int:
        return sum(d.failures for d in self.destinations)

    def submit(self, note: str) -> None:
        """A new checkpoint (from the event loop's thread; never blocks)."""
        for dest in self.destinations:
            dest.pending = note
            dest.wake.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Deliver until cancelled."""
        client = httpx.AsyncClient(
            timeout=self._timeout, follow_redirects=False, transport=self._transport
        )
        async with client, anyio.create_task_group() as tg:
            delivers = [self._to_dir(d) for d in self._dirs]
            delivers += [self._to_url(client, u) for u in self._urls]
            if self._anchor is not None:
                delivers.append(self._to_anchor(self._anchor))
            for dest, deliver in zip(self.destinations, delivers, strict=True):
                tg.start_soon(self._loop, dest, deliver)
            task_status.started()

    async def drain(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until every destination has the latest note."""
        with anyio.move_on_after(timeout):
            while any(d.pending is not None for d in self.destinations):
                await anyio.sleep(0.02)
            return True
        return False

    def _to_dir(self, directory: Path) -> Deliver:
        async def deliver(note: str) -> None:
            await anyio.to_thread.run_sync(export_to_directory, directory, self.origin, note)

        return deliver

    def _to_anchor(self, path: Path) -> Deliver:
        async def deliver(note: str) -> None:
            await anyio.to_thread.run_sync(replace_file, path, note.encode())

        return deliver

    def _to_url(self, client: httpx.AsyncClient, url: str) -> Deliver:
        async def deliver(note: str) -> None:
            reply = await client.post(
                url, content=note.encode(), headers={"Content-Type": "text/plain; charset=utf-8"}
            )
            if not reply.is_success:
                what = reply.text[:200].strip()
                hint = ""
                if reply.status_code == 409:
                    hint = " (it holds a checkpoint this one does not extend)"
                raise OSError(f"HTTP {reply.status_code}{hint}{': ' + what if what else ''}")

        return deliver

    async def _loop(self, dest: _Destination, deliver: Deliver) -> None:
        while True:
            if dest.pending is None:
                await dest.wake.wait()
                dest.wake = anyio.Event()
                continue
            wait = dest.retry_at - anyio.current_time()
            if wait > 0:
                await anyio.sleep(wait)
            note = dest.pending
            try:
                await deliver(note)
            except (OSError, httpx.HTTPError) as exc:
                dest.failures += 1
                dest.retry_at = anyio.current_time() + dest.pause
                dest.pause = min(dest.pause * 2, _RETRY_MAX)
                if not dest.failing:
                    log.error(
                        "could not export a checkpoint to %s (%s); retrying in the background",
                        dest.name,
                        str(exc) or type(exc).__name__,
                    )
                dest.failing = True
                continue
            dest.delivered += 1
            if dest.pending is note:
                dest.pending = None
            if dest.failing:
                log.warning("checkpoints are exported to %s again", dest.name)
            dest.failing, dest.pause, dest.retry_at = False, _RETRY_FIRST, 0.0
