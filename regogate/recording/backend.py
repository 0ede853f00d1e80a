"""Where ``LogCore`` runs for a ``Recorder``: a writer process, or a worker thread.

``WriterProcess`` is what ``regogate serve`` uses: the canonical encoding, hashing,
appends, fsyncs and signatures run in another interpreter, so they neither take the
gateway's event-loop time nor its GIL (docs/decisions/0007-recording-writer-process.md).
``ThreadBackend`` runs the same core over an injected store in a worker thread (tests,
``regogate keys rotate``).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import anyio
import anyio.abc
import orjson
from anyio.streams.buffered import BufferedByteReceiveStream

from regogate.errors import RecordingUnavailable
from regogate.recording.core import LogCore, RecordStore, StoreSummary
from regogate.recording.note import Signer
from regogate.recording.store import DEFAULT_SEGMENT_BYTES, FsyncPolicy

_MAX_REPLY = 1 << 20


class WriterError(RuntimeError):
    """The writer could not append, flush or seal (its message says why)."""


class Backend(Protocol):
    engine: str | None  # what writes: "thread", "python" or "native" (once started)

    @property
    def pid(self) -> int | None:
        """The writer process's pid (None: no process)."""
        ...

    async def start(self, signer: Signer, gw: Mapping[str, str], origin: str) -> StoreSummary: ...

    async def commit(
        self, frames: Sequence[bytes], seal: bool, rotate_to: Signer | None
    ) -> tuple[int, str | None]: ...

    async def stop(self) -> None: ...


class ThreadBackend:
    """The core in a worker thread over a store the caller opened (and closes)."""

    def __init__(self, store: RecordStore):
        self.store = store
        self.engine: str | None = "thread"
        self._core: LogCore | None = None

    def __repr__(self) -> str:
        return f"ThreadBackend({self.store!r})"

    @property
    def pid(self) -> int | None:
        return None

    async def start(self, signer: Signer, gw: Mapping[str, str], origin: str) -> StoreSummary:
        self._core = LogCore(self.store, signer, gw, origin)
        return StoreSummary.of(self.store.state)

    async def commit(
        self, frames: Sequence[bytes], seal: bool, rotate_to: Signer | None
    ) -> tuple[int, str | None]:
        core = self._core
        assert core is not None, "start() first"

        def run() -> tuple[int, str | None]:
            note = core.commit(frames, seal, rotate_to)
            return core.tree.size, note

        return await anyio.to_thread.run_sync(run)

    async def stop(self) -> None:
        return None


@dataclass(frozen=True)
class WriterProcess:
    """A recording directory opened (locked, scanned) and written by a child process."""

    directory: Path
    segment_bytes: int = DEFAULT_SEGMENT_BYTES
    fsync: FsyncPolicy = FsyncPolicy.ALWAYS
    stop_timeout: float = 10.0
    writer: str = "auto"  # "native", "python", or "auto": native if it is built

    def backend(self) -> ProcessBackend:
        return ProcessBackend(self)


class ProcessBackend:
    def __init__(self, spec: WriterProcess):
        self.spec = spec
        self._proc: anyio.abc.Process | None = None
        self._replies: BufferedByteReceiveStream | None = None
        self.engine: str | None = None  # which writer runs: "native" or "python"

    def __repr__(self) -> str:
        return f"ProcessBackend({str(self.spec.directory)!r}, pid={self.pid})"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self, signer: Signer, gw: Mapping[str, str], origin: str) -> StoreSummary:
        self._proc = await anyio.open_process(
            [sys.executable, "-m", "regogate.recording.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # the worker's own log lines go where the gateway's go
        )
        assert self._proc.stdout is not None
        self._replies = BufferedByteReceiveStream(self._proc.stdout)
        init = {
            "dir": str(self.spec.directory),
            "segment_bytes": self.spec.segment_bytes,
            "fsync": self.spec.fsync.value,
            "skey": signer.skey(),
            "gw": dict(gw),
            "origin": origin,
            "writer": self.spec.writer,
        }
        try:
            await self._send([orjson.dumps(init)])
            reply = await self._reply()
        except WriterError as exc:
            await self.stop()
            raise RecordingUnavailable(f"the recording writer did not start: {exc}") from None
        if not isinstance(reply, dict) or "ok" not in reply:
            await self.stop()
            error = reply.get("error") if isinstance(reply, dict) else reply
            raise RecordingUnavailable(str(error))
        ok = reply["ok"]
        self.engine = str(reply.get("writer", "python"))
        return StoreSummary(ok["size"], ok["sealed"], ok["last_boot"], ok["recovered"])

    async def commit(
        self, frames: Sequence[bytes], seal: bool, rotate_to: Signer | None
    ) -> tuple[int, str | None]:
        header = orjson.dumps([len(frames), seal, rotate_to.skey() if rotate_to else None])
        await self._send([header, *frames])
        reply = await self._reply()
        if isinstance(reply, list) and len(reply) == 2:
            return int(reply[0]), reply[1]
        error = reply.get("error") if isinstance(reply, dict) else None
        raise WriterError(str(error or f"unexpected reply from the writer: {reply!r:.200}"))

    async def _send(self, lines: Sequence[bytes]) -> None:
        assert self._proc is not None
        assert self._proc.stdin is not None
        try:
            await self._proc.stdin.send(b"\n".join(lines) + b"\n")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            raise WriterError(await self._exited()) from None

    async def _reply(self) -> object:
        assert self._replies is not None
        try:
            line = await self._replies.receive_until(b"\n", _MAX_REPLY)
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, OSError):
            raise WriterError(await self._exited()) from None
        except anyio.DelimiterNotFound:
            raise WriterError("the writer process sent an oversized reply") from None
        return orjson.loads(line)

    async def _exited(self) -> str:
        assert self._proc is not None
        with anyio.move_on_after(1):
            await self._proc.wait()
        return f"the recording writer process exited (status {self._proc.returncode})"

    async def stop(self) -> None:
        """Close its input (it exits after the batch at hand) and wait; kill if it hangs."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with anyio.CancelScope(shield=True):
            if proc.stdin is not None:
                with contextlib.suppress(OSError, anyio.BrokenResourceError):
                    await proc.stdin.aclose()  # the writer may be gone already
            with anyio.move_on_after(self.spec.stop_timeout):
                await proc.wait()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            if proc.stdout is not None:
                await proc.stdout.aclose()
