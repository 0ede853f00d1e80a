"""The writer process: startup errors, a dying or failing child, and what it leaves behind."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import orjson
import pytest

from regogate.errors import RecordingUnavailable
from regogate.recording.format.note import Signer
from regogate.recording.format.records import GatewayInfo
from regogate.recording.read.verify import verify_directory
from regogate.recording.write.store import FsyncPolicy, SegmentStore
from regogate.recording.write.writer import Recorder, WriterProcess
from tests.recording.conftest import statement


def recorder(directory: Path, signer: Signer) -> Recorder:
    return Recorder(WriterProcess(directory), signer, GatewayInfo.new("gw-test", "0.1.0"))


def test_a_locked_directory_is_unavailable_at_start(tmp_path: Path, signer: Signer) -> None:
    held = SegmentStore.open(tmp_path)

    async def main() -> None:
        rec = recorder(tmp_path, signer)
        with pytest.raises(RecordingUnavailable, match="in use by another process"):
            async with rec.running():
                pytest.fail("started on a locked directory")
        assert rec.writer_pid is None  # the child was reaped

    try:
        anyio.run(main)
    finally:
        held.close()


def test_a_killed_writer_fails_closed(tmp_path: Path, signer: Signer) -> None:
    async def main() -> None:
        rec = recorder(tmp_path, signer)
        async with rec.running():
            s = rec.open_session({})
            await statement(s, 1)
            assert rec.writer_pid is not None and rec.writer_pid != os.getpid()
            os.kill(rec.writer_pid, signal.SIGKILL)
            with anyio.fail_after(10):
                with pytest.raises(RecordingUnavailable, match="writer process exited"):
                    await statement(s, 2)
            assert not rec.healthy and rec.failure is not None
            assert rec.failure.sqlstate == "58030"
            with pytest.raises(RecordingUnavailable, match="recording failed"):
                s.record("stmt", {})

    anyio.run(main)
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert verdict.ok, verdict.findings  # what was written stands
    assert verdict.records == 5  # gateway.start, session.open, one statement (3)


def test_a_write_error_in_the_writer_fails_closed(tmp_path: Path, signer: Signer) -> None:
    async def main() -> None:
        rec = recorder(tmp_path, signer)
        async with rec.running():
            s = rec.open_session({})
            await statement(s, 1)
            assert rec.writer_pid is not None
            size = sum(p.stat().st_size for p in tmp_path.glob("seg-*.jsonl"))
            resource.prlimit(rec.writer_pid, resource.RLIMIT_FSIZE, (size, size))  # a full disk
            with anyio.fail_after(10):
                with pytest.raises(RecordingUnavailable, match="File too large") as err:
                    for i in range(100):
                        await statement(s, i)
            assert err.value.sqlstate == "58030"
            assert not rec.healthy

    anyio.run(main)
    assert verify_directory(tmp_path, [signer.verifier]).ok


def init_line(directory: Path, signer: Signer) -> bytes:
    """The gateway's first message to the writer (recording.worker)."""
    init = {
        "dir": str(directory),
        "segment_bytes": 1 << 20,
        "fsync": FsyncPolicy.NEVER.value,
        "key": {"skey": signer.skey()},
        "gw": GatewayInfo.new("gw-test", "0.1.0").to_json(),
        "origin": signer.name,
    }
    return orjson.dumps(init)


def run_worker(data: bytes) -> subprocess.CompletedProcess[bytes]:
    """``python -m regogate.recording.write.worker`` fed ``data`` on stdin, to its exit."""
    return subprocess.run(
        [sys.executable, "-m", "regogate.recording.write.worker"],
        input=data,
        capture_output=True,
        timeout=30,
        check=False,
    )


def test_the_writer_process_exits_on_end_of_input_without_sealing(
    tmp_path: Path, signer: Signer
) -> None:
    frame = orjson.dumps((0, 1_000_000, "policy.load", None, None, {"k": 1}))
    batch = b"\n".join([init_line(tmp_path, signer), b"[1, false, null]", frame]) + b"\n"
    done = run_worker(batch + b"[2, false, null]\n" + frame)  # the gateway died mid-batch
    assert done.returncode == 0, done.stderr
    replies = [orjson.loads(x) for x in done.stdout.splitlines()]
    assert replies[0]["ok"]["size"] == 0
    assert replies[1] == [1, None]
    assert len(replies) == 2
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert verdict.records == 1 and not verdict.sealed
    assert signer.skey().encode() not in done.stdout + done.stderr
    # The lock went with the process.
    SegmentStore.open(tmp_path).close()


def test_an_out_of_order_frame_is_an_error_not_a_gap(tmp_path: Path, signer: Signer) -> None:
    frame = orjson.dumps((5, 1_000_000, "policy.load", None, None, {}))
    done = run_worker(b"\n".join([init_line(tmp_path, signer), b"[1, true, null]", frame]) + b"\n")
    assert done.returncode == 1
    reply = orjson.loads(done.stdout.splitlines()[1])
    assert "out of order" in reply["error"]
    assert (
        not list(tmp_path.glob("seg-*.jsonl"))
        or verify_directory(tmp_path, [signer.verifier]).records == 0
    )


def test_a_garbled_request_is_one_line_on_stderr_not_a_traceback(tmp_path: Path) -> None:
    done = run_worker(b"{not json\n")
    assert done.returncode == 1 and done.stdout == b""
    assert done.stderr.decode().startswith("regogate recording writer: ")
    assert "Traceback" not in done.stderr.decode()


def test_the_writer_does_not_inherit_the_gateways_secrets(
    tmp_path: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGOGATE_SIGNING_KEY", signer.skey())
    monkeypatch.setenv("LEDGER_PG_PASSWORD", "upstream-Secret-7f3a9c")

    async def main() -> bytes:
        rec = recorder(tmp_path, signer)
        async with rec.running():
            assert rec.writer_pid is not None
            await statement(rec.open_session({}), 1)  # past the worker's exec of the writer
            return Path(f"/proc/{rec.writer_pid}/environ").read_bytes()

    environ = anyio.run(main)
    assert b"PATH=" in environ  # it is the writer's environment
    assert b"REGOGATE_SIGNING_KEY" not in environ and b"7f3a9c" not in environ
    assert signer.skey().encode() not in environ
