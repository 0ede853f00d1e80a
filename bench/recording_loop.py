"""The gateway-side cost of recording, without PostgreSQL or pgbench. A command, not a test:

    .venv/bin/python bench/recording_loop.py [--transactions 10000] [--repeat 3]

It runs a real ``Recorder`` with the writer process (native when built) and 8 sessions,
and feeds them the records of a prepared-mode ``pgbench -S`` transaction: a ``stmt``
record (a serialized Bind body) and the result summary of a one-chunk response. It
paces them like a busy gateway (a short sleep every 3 transactions, so a batch carries
about 9 of them). It prints the event loop's CPU per transaction above the same loop
without recording. Paced, not flat out: at full speed, batches grow to hundreds of
records and hide the per-batch costs.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from regogate.proxy.recording_sink import SessionRecording  # noqa: E402
from regogate.recording.format.records import GatewayInfo  # noqa: E402
from regogate.recording.write import keys  # noqa: E402
from regogate.recording.write.core import prepared  # noqa: E402
from regogate.recording.write.store import FsyncPolicy  # noqa: E402
from regogate.recording.write.writer import Recorder, WriterProcess  # noqa: E402

# BindComplete, RowDescription, DataRow, CommandComplete, ReadyForQuery
RESPONSE = (
    b"2\x00\x00\x00\x04"
    b"T\x00\x00\x00\x21\x00\x01abalance\x00\x00\x00@\x0b\x00\x03\x00\x00\x00\x17\x00\x04"
    b"\xff\xff\xff\xff\x00\x00"
    b"D\x00\x00\x00\x0b\x00\x01\x00\x00\x00\x01\x30"
    b"C\x00\x00\x00\x0dSELECT 1\x00"
    b"Z\x00\x00\x00\x05I"
)
BIND = prepared(
    {
        "text": "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
        "literals": 0,
        "literals_commitment": None,
        "protocol": "bind",
        "fingerprint": "",
        "decisions": [],
        "prepared": "P0_1",
    }
)
PACE_EVERY, PACE_SECONDS = 3, 0.0005


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def loop_cpu(transactions: int, sinks: list[SessionRecording] | None) -> float:
    start = cpu_seconds()
    for i in range(transactions):
        if sinks is not None:
            sink = sinks[i & 7]
            sink.event("stmt", BIND)
            sink.upstream(RESPONSE)
        await anyio.sleep(0)
        if i % PACE_EVERY == 0:
            await anyio.sleep(PACE_SECONDS)
    return cpu_seconds() - start


async def one_round(transactions: int) -> float:
    with tempfile.TemporaryDirectory(prefix="regogate-recloop-") as tmp:
        signer = keys.generate("bench.example/recording-loop")
        spec = WriterProcess(Path(tmp) / "rec", fsync=FsyncPolicy.ALWAYS)
        recorder = Recorder(spec, signer, GatewayInfo.new("bench", "0"))
        async with recorder.running():
            sinks = [
                SessionRecording(recorder.open_session({}), digest_key=bytes(32)) for _ in range(8)
            ]
            await anyio.sleep(0.2)
            base = await loop_cpu(transactions, None)
            recorded = await loop_cpu(transactions, sinks)
            for sink in sinks:
                await sink.close("done")
            print(f"writer: {recorder.writer_engine}", end="; ")
    return (recorded - base) / transactions * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--transactions", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    costs = []
    for _ in range(a.repeat):
        cost = anyio.run(one_round, a.transactions)
        print(f"{cost:.1f} µs of event-loop CPU per transaction for recording", flush=True)
        costs.append(cost)
    print(f"median {statistics.median(costs):.1f} µs/tx over {a.repeat} rounds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
