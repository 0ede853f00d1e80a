"""How long a recording writer takes to start on a large log: with frontier.json (a start
scans only the records after the last checkpoint) and without it (the full scan every
start made before). A command, not a test:

    .venv/bin/python bench/writer_start.py [--records 10000000] [--dir /var/tmp/log]

Builds the log once (through a writer process, as `regogate serve` writes it; kept in
--dir for reruns), then times ``SegmentStore.open`` plus the checks the writer makes
before its first signature (recording.tail), each way, median of --repeat runs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from regogate.recording.format.layout import FRONTIER  # noqa: E402
from regogate.recording.format.records import GatewayInfo  # noqa: E402
from regogate.recording.write import keys  # noqa: E402
from regogate.recording.write.store import FsyncPolicy, SegmentStore  # noqa: E402
from regogate.recording.write.tail import check_tail  # noqa: E402
from regogate.recording.write.writer import Recorder, WriterProcess  # noqa: E402

BODY = {"bundle": {"sha256": "ab" * 32}, "note": "a gateway-scoped record of a typical size"}


async def build(directory: Path, records: int) -> None:
    signer = keys.generate("bench.example/writer-start")
    spec = WriterProcess(directory, fsync=FsyncPolicy.NEVER)
    rec = Recorder(spec, signer, GatewayInfo.new("bench", "0"), checkpoint_every=100_000)
    async with rec.running():
        for i in range(records):
            rec.record("policy.load", BODY)
            if i % 20_000 == 0:
                await rec.flush()
                print(f"\r{i:,} records", end="", file=sys.stderr, flush=True)
        await rec.checkpoint()
    print(file=sys.stderr)


def start(directory: Path) -> float:
    began = time.perf_counter()
    store = SegmentStore.open(directory, fsync=FsyncPolicy.NEVER)
    try:
        check_tail(store)
    finally:
        store.close()
    return time.perf_counter() - began


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--records", type=int, default=10_000_000)
    ap.add_argument("--dir", type=Path, default=None, help="keep the log here")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    scratch = None
    directory = a.dir
    if directory is None:
        scratch = tempfile.mkdtemp(prefix="regogate-writer-start-")
        directory = Path(scratch) / "log"
    if not (directory / FRONTIER).exists():
        began = time.perf_counter()
        anyio.run(build, directory, a.records)
        print(f"built {a.records:,} records in {time.perf_counter() - began:.0f} s")
    size = sum(p.stat().st_size for p in directory.glob("seg-*.jsonl"))
    print(f"log: {size / 1e9:.2f} GB in {len(list(directory.glob('seg-*.jsonl')))} segments")
    fast = [start(directory) for _ in range(a.repeat)]
    saved = directory / FRONTIER
    aside = directory.parent / "frontier.aside"
    shutil.move(saved, aside)
    try:
        full = [start(directory) for _ in range(a.repeat)]
    finally:
        shutil.move(aside, saved)
    print(f"start with frontier.json: median {statistics.median(fast):.3f} s {fast}")
    print(f"full scan (no frontier):  median {statistics.median(full):.1f} s {full}")
    if scratch is not None:
        shutil.rmtree(scratch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
