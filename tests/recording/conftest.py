"""Building real recordings for the recording tests: a Recorder over a SegmentStore."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from regogate.recording.format.directory import read_checkpoints, read_segments
from regogate.recording.format.layout import SegmentFile
from regogate.recording.format.note import Signer, Verifier
from regogate.recording.format.records import GatewayInfo
from regogate.recording.read.verify import Verdict, verify_log
from regogate.recording.write.store import FsyncPolicy, SegmentStore
from regogate.recording.write.worker import native_writer
from regogate.recording.write.writer import Recorder, SessionLog, WriterProcess

ORIGIN = "bank.example/regogate/test"
Script = Callable[[Recorder], Awaitable[None]]


def write_log(
    directory: Path,
    signer: Signer,
    script: Script,
    *,
    segment_bytes: int = 1 << 20,
    fsync: FsyncPolicy = FsyncPolicy.NEVER,
    process: str | None = None,
    **recorder: object,
) -> None:
    """Run one gateway boot that writes into ``directory``.

    ``process``: through a writer process (as ``regogate serve`` does) running this
    writer ("python", "native"), else a thread.
    """

    async def main() -> None:
        if process:
            spec = WriterProcess(
                directory, segment_bytes=segment_bytes, fsync=fsync, writer=process
            )
            rec = Recorder(spec, signer, GatewayInfo.new("gw-test", "0.1.0"), **recorder)  # type: ignore[arg-type]
            async with rec.running():
                await script(rec)
            return
        store = SegmentStore.open(directory, segment_bytes=segment_bytes, fsync=fsync)
        try:
            rec = Recorder(store, signer, GatewayInfo.new("gw-test", "0.1.0"), **recorder)  # type: ignore[arg-type]
            async with rec.running():
                await script(rec)
        finally:
            store.close()

    anyio.run(main)


async def statement(session: SessionLog, i: int, *, flush: bool = True) -> None:
    """The records of one statement: stmt, decision, result."""
    session.record(
        "stmt",
        {
            "q": {
                "fp": f"{i:016x}",
                "norm": "SELECT id FROM public.t WHERE id = $1",
                "cmd": "SELECT",
            }
        },
    )
    session.record(
        "decision", {"dec": "allow", "rules": ["allow_all"], "pol": {"sha256": "ab" * 32}}
    )
    session.record("result", {"status": "ok", "rows": {"returned": i, "affected": 0}})
    if flush:
        await session.flush()


def everything(rotate_to: Signer | None = None) -> Script:
    """Every record type: three interleaved sessions, policy.load, optionally key.rotate."""

    async def script(rec: Recorder) -> None:
        rec.record("policy.load", {"bundle": {"sha256": "cd" * 32}})
        a = rec.open_session({"subject": {"sub": "alice"}})
        b = rec.open_session({"subject": {"sub": "bob"}})
        await statement(a, 1)
        await statement(b, 2)
        b.record("approval", {"approver": {"sub": "carol"}, "ticket": "CHG-1", "sod_ok": True})
        b.record("error", {"sqlstate": "42501", "message": "denied"})
        b.record("cancel", {"requested_by": "client"})
        if rotate_to is not None:
            await rec.rotate_key(rotate_to)
        c = rec.open_session({"subject": {"sub": "dave"}})
        await statement(c, 3)
        await statement(a, 4)
        await a.close("client exit", {"statements": 2})
        await b.close("client exit", {"statements": 1})
        await statement(c, 5)
        await c.close("terminated", {"statements": 2})

    return script


def load(directory: Path) -> tuple[list[SegmentFile], bytes]:
    return list(read_segments(directory)), read_checkpoints(directory)


def check(
    segments: list[SegmentFile], checkpoints: bytes, trusted: list[Verifier], **kw: object
) -> Verdict:
    return verify_log(segments, checkpoints, trusted, **kw)  # type: ignore[arg-type]


@pytest.fixture(params=["thread", "python", "native"])
def process(request: pytest.FixtureRequest) -> str | None:
    """Run a test with the writer in a worker thread, and in a writer process that runs
    the Python writer or execs the native one."""
    if request.param == "native" and native_writer() is None:
        pytest.fail("the native writer is not built: run scripts/setup.sh")
    return None if request.param == "thread" else str(request.param)


@pytest.fixture
def signer() -> Signer:
    return Signer.generate(ORIGIN)
