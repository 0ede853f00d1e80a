"""Where ``LogCore`` runs for a ``Recorder``: a writer process, or a worker thread.

``WriterProcess`` is what ``regogate serve`` uses: the canonical encoding, hashing,
appends, fsyncs and signatures run in another interpreter, so they neither take the
gateway's event-loop time nor its GIL (docs/decisions/0007-recording-writer-process.md).
``ThreadBackend`` runs the same core over an injected store in a worker thread (tests,
``regogate keys rotate``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import subprocess
import sys
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import anyio
import orjson

from regogate.childenv import writer_env
from regogate.errors import ConfigError, RecordingUnavailable
from regogate.recording.format.key_info import KeyInfo
from regogate.recording.format.note import Signer
from regogate.recording.write.core import LogCore, RecordStore, StoreSummary
from regogate.recording.write.store import DEFAULT_SEGMENT_BYTES, FsyncPolicy

_MAX_REPLY = 1 << 20


class WriterError(RuntimeError):
    """The writer could not append, flush or seal (its message says why)."""


@dataclass(frozen=True)
class Started:
    """A backend's log, open: where it stands, the signing key's public half and derived
    keys, and the log's origin."""

    summary: StoreSummary
    key: KeyInfo
    origin: str


class Backend(Protocol):
    engine: str | None  # what writes: "thread", "python" or "native" (once started)

    @property
    def pid(self) -> int | None:
        """The writer process's pid (None: no process)."""
        ...

    async def start(self, gw: Mapping[str, str], origin: str | None) -> Started:
        """Open the log; ``origin`` None: the signing key's name."""
        ...

    async def commit(
        self, batch: bytes, count: int, seal: bool, rotate_to: Signer | None
    ) -> tuple[int, str | None]:
        """Append ``count`` frames (``batch``: each followed by a newline), maybe seal;
        return the log's size and the checkpoint note."""
        ...

    async def stop(self) -> None: ...


class ThreadBackend:
    """The core in a worker thread over a store the caller opened (and closes), signing
    with a key this process holds (tests, ``regogate keys rotate``)."""

    def __init__(self, store: RecordStore, signer: Signer):
        self.store = store
        self._signer = signer
        self.engine: str | None = "thread"
        self._core: LogCore | None = None

    def __repr__(self) -> str:
        return f"ThreadBackend({self.store!r})"

    @property
    def pid(self) -> int | None:
        return None

    async def start(self, gw: Mapping[str, str], origin: str | None) -> Started:
        signer = self._signer
        origin = origin or signer.name
        self._core = LogCore(self.store, signer, gw, origin)
        return Started(StoreSummary.of(self.store.state), KeyInfo.of(signer), origin)

    async def commit(
        self, batch: bytes, count: int, seal: bool, rotate_to: Signer | None
    ) -> tuple[int, str | None]:
        core = self._core
        assert core is not None, "start() first"
        frames = batch.split(b"\n")[:count]

        def run() -> tuple[int, str | None]:
            note = core.commit(frames, seal, rotate_to)
            return core.tree.size, note

        return await anyio.to_thread.run_sync(run)

    async def stop(self) -> None:
        return None


@dataclass(frozen=True)
class WriterProcess:
    """A recording directory opened (locked, scanned) and written by a child process,
    the only process that reads the signing key: from ``key_file``, else from the
    environment variable ``key_env``, which the child inherits and removes at once
    (the gateway then removes it from its own environment: ``childenv.consume``)."""

    directory: Path
    segment_bytes: int = DEFAULT_SEGMENT_BYTES
    fsync: FsyncPolicy = FsyncPolicy.ALWAYS
    stop_timeout: float = 10.0
    writer: str = "auto"  # "native", "python", or "auto": native if it is built
    key_file: Path | None = None
    key_env: str = "REGOGATE_SIGNING_KEY"
    # the last checkpoint kept outside the log (recording.tail.check_anchor): a file, or
    # an export directory's latest note for the log's origin
    anchor_file: Path | None = None
    anchor_dir: Path | None = None

    def backend(self, signer: Signer | None = None) -> ProcessBackend:
        """``signer``: hand this key to the child instead (tests, tools)."""
        return ProcessBackend(self, signer)


class _WriterPipes(asyncio.SubprocessProtocol):
    """The writer process's pipes as asyncio sees them: replies are lines on its stdout.

    Plain protocol callbacks, no stream wrappers: a batch costs one pipe write and one
    read callback on the event loop (docs/decisions/0007).
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.replies: deque[bytes] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.exited = False
        self.oversized = False

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd != 1:
            return
        buffer = self.buffer
        buffer += data
        while (end := buffer.find(b"\n")) >= 0:
            self.replies.append(bytes(buffer[:end]))
            del buffer[: end + 1]
        if len(buffer) > _MAX_REPLY:
            self.oversized = True
        if self.replies or self.oversized:
            self._wake()

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        # EOF on stdout, not process_exited, ends it: its last reply may still be in the pipe
        if fd == 1:
            self.exited = True
            self._wake()


class ProcessBackend:
    def __init__(self, spec: WriterProcess, signer: Signer | None = None):
        self.spec = spec
        self._signer = signer
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._pipes: _WriterPipes | None = None
        self.engine: str | None = None  # which writer runs: "native" or "python"

    def __repr__(self) -> str:
        return f"ProcessBackend({str(self.spec.directory)!r}, pid={self.pid})"

    @property
    def pid(self) -> int | None:
        return self._transport.get_pid() if self._transport is not None else None

    async def start(self, gw: Mapping[str, str], origin: str | None) -> Started:
        spec = self.spec
        key: dict[str, object]
        keep: tuple[int, ...] = ()
        if self._signer is not None:
            key = {"skey": self._signer.skey()}
        elif spec.key_file is not None:
            key = {"file": str(spec.key_file)}
        else:
            # The variable's bytes go to the child through a pipe, written from the
            # environment's own copy (no other copy in this process); the caller then
            # removes and overwrites that copy (childenv.consume).
            fd = _key_pipe(spec.key_env)
            key, keep = {"env": spec.key_env, "fd": fd}, (fd,)
        loop = asyncio.get_running_loop()
        try:
            transport, pipes = await self._spawn(loop, keep)
        finally:
            for fd in keep:
                os.close(fd)
        self._transport, self._pipes = transport, pipes
        self._stdin = cast(asyncio.WriteTransport, transport.get_pipe_transport(0))
        init = {
            "dir": str(self.spec.directory),
            "segment_bytes": self.spec.segment_bytes,
            "fsync": self.spec.fsync.value,
            "key": key,
            "anchor": {
                "file": None if spec.anchor_file is None else str(spec.anchor_file),
                "dir": None if spec.anchor_dir is None else str(spec.anchor_dir),
            },
            "gw": dict(gw),
            "origin": origin,
            "writer": self.spec.writer,
        }
        try:
            self._send(orjson.dumps(init) + b"\n")
            reply = await self._reply()
        except WriterError as exc:
            await self.stop()
            raise RecordingUnavailable(f"the recording writer did not start: {exc}") from None
        if not isinstance(reply, dict) or "ok" not in reply:
            await self.stop()
            if not isinstance(reply, dict):
                raise RecordingUnavailable(str(reply))
            error, hint = str(reply.get("error")), reply.get("hint")
            if reply.get("config"):
                raise ConfigError(error, hint=hint)
            raise RecordingUnavailable(error, hint=hint)
        ok = reply["ok"]
        self.engine = str(reply.get("writer", "python"))
        summary = StoreSummary.from_json(ok)
        return Started(summary, KeyInfo.from_json(reply["key"]), str(reply["origin"]))

    async def _spawn(
        self, loop: asyncio.AbstractEventLoop, keep: tuple[int, ...]
    ) -> tuple[asyncio.SubprocessTransport, _WriterPipes]:
        return await loop.subprocess_exec(
            _WriterPipes,
            sys.executable,
            "-m",
            "regogate.recording.write.worker",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # the worker's own log lines go where the gateway's go
            env=writer_env(),  # no secret of the gateway's: the key has its own pipe
            pass_fds=keep,
        )

    async def commit(
        self, batch: bytes, count: int, seal: bool, rotate_to: Signer | None
    ) -> tuple[int, str | None]:
        header = orjson.dumps([count, seal, rotate_to.skey() if rotate_to else None])
        self._send(header + b"\n" + batch)
        reply = await self._reply()
        if isinstance(reply, list) and len(reply) == 2:
            return int(reply[0]), reply[1]
        error = reply.get("error") if isinstance(reply, dict) else None
        raise WriterError(str(error or f"unexpected reply from the writer: {reply!r:.200}"))

    def _send(self, data: bytes) -> None:
        """Hand lines (each ending in a newline) to the pipe: written now, or buffered by
        the transport (the recorder bounds what is in flight: one batch, under its
        pending-bytes limit)."""
        stdin, pipes = self._stdin, self._pipes
        assert stdin is not None
        assert pipes is not None
        if pipes.exited or stdin.is_closing():
            raise WriterError(self._exited())
        stdin.write(data)

    async def _reply(self) -> object:
        pipes = self._pipes
        assert pipes is not None
        while not pipes.replies:
            if pipes.oversized:
                raise WriterError("the writer process sent an oversized reply")
            if pipes.exited:
                with anyio.move_on_after(1):  # for its exit status
                    await _wait_exit(self._transport)
                raise WriterError(self._exited())
            pipes.waiter = asyncio.get_running_loop().create_future()
            try:
                await pipes.waiter
            finally:
                pipes.waiter = None
        return orjson.loads(pipes.replies.popleft())

    def _exited(self) -> str:
        code = self._transport.get_returncode() if self._transport is not None else None
        if code is None:
            return "the recording writer process closed its pipe"
        return f"the recording writer process exited (status {code})"

    async def stop(self) -> None:
        """Close its input (it exits after the batch at hand) and wait; kill if it hangs."""
        transport, self._transport = self._transport, None
        if transport is None:
            return
        with anyio.CancelScope(shield=True):
            if self._stdin is not None:
                self._stdin.close()  # the writer may be gone already: closing cannot fail
            with anyio.move_on_after(self.spec.stop_timeout):
                await _wait_exit(transport)
            if transport.get_returncode() is None:
                with contextlib.suppress(ProcessLookupError):
                    transport.kill()
                await _wait_exit(transport)
            transport.close()


def _key_pipe(name: str) -> int:
    """The read end of a pipe holding the value of the environment variable ``name``
    (empty if it is not set), for the writer process to inherit."""
    r, w = os.pipe()
    try:
        raw = os.environb.get(os.fsencode(name), b"")
        if len(raw) > select.PIPE_BUF:
            raise ConfigError(f"environment variable {name} is too long for a signer key")
        os.write(w, raw)  # from the environment's buffer: no copy here
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    return r


async def _wait_exit(transport: asyncio.SubprocessTransport | None) -> None:
    while transport is not None and transport.get_returncode() is None:
        await anyio.sleep(0.005)
