"""The recording writer process: ``python -m regogate.recording.worker`` (started by the gateway).

It owns the recording directory (its flock) and runs ``core.LogCore``. It talks to the
gateway over its stdin and stdout only, one JSON value per line:

    gateway -> worker   {"dir", "segment_bytes", "fsync", "skey", "gw", "origin"}   once
    worker -> gateway   {"ok": StoreSummary} | {"error": message}
    gateway -> worker   [count, seal, rotate_skey | null]  then ``count`` frame lines
    worker -> gateway   [tree size, checkpoint note | null] | {"error": message}

The signing key arrives on the pipe (never in argv or the environment). End of input
means the gateway is gone: whatever was committed stays, nothing more is sealed. SIGINT
and SIGTERM are ignored: the gateway drains and seals first, then closes the pipe.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import BinaryIO

import orjson

from regogate.errors import RecordingUnavailable
from regogate.recording.core import LogCore, StoreSummary
from regogate.recording.note import Signer
from regogate.recording.store import FsyncPolicy, SegmentStore


def _reply(out: BinaryIO, value: object) -> None:
    out.write(orjson.dumps(value) + b"\n")
    out.flush()


def serve(inp: BinaryIO, out: BinaryIO) -> int:
    """Run the protocol above until end of input; the exit status."""
    first = inp.readline()
    if not first:
        return 0
    init = orjson.loads(first)
    try:
        store = SegmentStore.open(
            Path(init["dir"]),
            segment_bytes=int(init["segment_bytes"]),
            fsync=FsyncPolicy(init["fsync"]),
        )
    except RecordingUnavailable as exc:
        _reply(out, {"error": exc.message})
        return 1
    except (OSError, ValueError) as exc:  # an unreadable directory or a damaged segment
        _reply(out, {"error": str(exc) or type(exc).__name__})
        return 1
    try:
        signer = Signer.parse(init["skey"])
        core = LogCore(store, signer, init["gw"], init["origin"])
        _reply(out, {"ok": StoreSummary.of(store.state).__dict__})
        while header := inp.readline():
            count, seal, rotate = orjson.loads(header)
            frames = [inp.readline().rstrip(b"\n") for _ in range(count)]
            if len(frames) != count or (frames and not frames[-1]):
                return 0  # the gateway died mid-batch: keep what is committed
            try:
                note = core.commit(frames, bool(seal), Signer.parse(rotate) if rotate else None)
            except Exception as exc:  # disk full, permissions, I/O error: the gateway fails closed
                _reply(out, {"error": str(exc) or type(exc).__name__})
                return 1
            _reply(out, [core.tree.size, note])
    finally:
        store.close()
    return 0


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        return serve(sys.stdin.buffer, sys.stdout.buffer)
    except BrokenPipeError:
        return 0  # the gateway is gone
    except Exception as exc:  # a bug: one readable line, and the gateway fails closed
        print(f"regogate recording writer: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
