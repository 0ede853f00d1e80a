"""`regogate report` over a log of 1,000,000 recorded statements: wall time and peak RSS.
A command, not a test:

    .venv/bin/python bench/report_big.py [--statements 1000000] [--dir /var/tmp/replog]

Builds the log once through a writer process, as `regogate serve` writes it (kept in
--dir for reruns): sessions of 1,000 statements each for 20 identities, a stmt record
(decisions included; one in 50 denied, one in 200 DDL) and a result record per statement.
Then runs `regogate report --format html,json` as a child process and reads its wall
time, CPU time (its own and its verify workers') and peak RSS (ru_maxrss of the
children: the largest process). With --floor, also what no report can go below on this
machine: `regogate verify` alone over the same log, and a plain read of its segments.
The load average is printed before and after: the machine's 2 cores are shared.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from regogate.recording.format.records import GatewayInfo  # noqa: E402
from regogate.recording.write import keys  # noqa: E402
from regogate.recording.write.store import FsyncPolicy  # noqa: E402
from regogate.recording.write.writer import Recorder, WriterProcess  # noqa: E402

PER_SESSION = 1_000
TEXTS = [
    ("select id, full_name from customers where id = $1", "allow"),
    ("update accounts set balance = balance - $1 where id = $2", "allow"),
    ("insert into transactions (account_id, amount) values ($1, $2)", "allow"),
]


def decision(outcome: str, reasons: list[str]) -> dict[str, object]:
    return {
        **{"revision": "sha256:bench", "input_sha256": "ab" * 32, "outcome": outcome},
        **{"reasons": reasons, "rules": [], "masks": {}, "approval": False, "cached": True},
    }


async def build(directory: Path, statements: int) -> None:
    signer = keys.generate("bench.example/report")
    (directory.parent / "report.vkeys").write_text(signer.verifier.vkey() + "\n")
    spec = WriterProcess(directory, fsync=FsyncPolicy.NEVER)
    rec = Recorder(spec, signer, GatewayInfo.new("bench", "0"), checkpoint_every=100_000)
    async with rec.running():
        rec.record("policy.load", {"revision": "sha256:bench", "digest": "cd" * 32,
                                   "git_commit": "0" * 40})  # fmt: skip
        done = 0
        while done < statements:
            who = f"user{(done // PER_SESSION) % 20:02d}"
            ident = {"sub": who, "groups": ["bench"], "auth": "token"}
            session = rec.open_session({"identity": ident, "connection": {"name": "bank",
                                        "database": "bank"}})  # fmt: skip
            for i in range(min(PER_SESSION, statements - done)):
                n = done + i
                text, outcome = TEXTS[n % 3]
                reasons: list[str] = []
                if n % 200 == 7:
                    text = "create index on accounts ($1)"
                if n % 50 == 3:
                    text, outcome, reasons = "delete from transactions where id = $1", "deny", [
                        "DELETE is not allowed"]  # fmt: skip
                session.record("stmt", {"text": text, "literals": 1, "protocol": "extended",
                                        "decisions": [decision(outcome, reasons)]})  # fmt: skip
                session.record("result", {"tags": ["SELECT 1"], "rows": 1, "error": None})
            done += PER_SESSION
            await session.close("terminate", {"statements": PER_SESSION})
            if done % 50_000 == 0:
                await rec.flush()
                print(f"\r{done:,} statements", end="", file=sys.stderr, flush=True)
        await rec.checkpoint()
    print(file=sys.stderr)


def timed(argv: list[str]) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run a child: its result, wall seconds and CPU seconds (user + system, with its own
    children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    run = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return run, elapsed, cpu


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def floor(directory: Path, trust: Path) -> None:
    """`regogate verify` alone, and reading the segments once (no report is faster)."""
    run, elapsed, cpu = timed([sys.executable, "-m", "regogate", "verify", "-d",
                               str(directory), "--trust", str(trust)])  # fmt: skip
    print(f"floor: regogate verify alone {elapsed:.1f} s wall, {cpu:.1f} s CPU "
          f"(exit {run.returncode}); load {load()}")  # fmt: skip
    began = time.perf_counter()
    for path in sorted(directory.glob("seg-*.jsonl")):
        with path.open("rb") as f:
            while f.read(1 << 24):
                pass
    print(f"floor: reading the segments {time.perf_counter() - began:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--statements", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp/regogate-report-bench/log"))
    parser.add_argument("--floor", action="store_true", help="also time verify alone, a read")
    args = parser.parse_args()
    if not args.dir.exists():
        args.dir.parent.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        anyio.run(build, args.dir, args.statements)
        print(f"built in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    size = sum(p.stat().st_size for p in args.dir.glob("seg-*.jsonl"))
    out = args.dir.parent / "out"
    trust = args.dir.parent / "report.vkeys"
    print(f"load average before: {load()}")
    run, elapsed, cpu = timed(
        [sys.executable, "-m", "regogate", "report", "--from", "2000-01-01", "-d", str(args.dir),
         "--trust", str(trust), "-o", str(out)]
    )  # fmt: skip
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    print(run.stdout.strip())
    if run.returncode:
        print(run.stderr, file=sys.stderr)
        return 1
    print(f"{args.statements:,} statements, {size / 1e6:.0f} MB of segments: report in "
          f"{elapsed:.1f} s wall, {cpu:.1f} s CPU (all processes), peak RSS {rss} MB "
          f"(largest process); load average after: {load()}")  # fmt: skip
    if args.floor:
        floor(args.dir, trust)
    return 0


if __name__ == "__main__":
    sys.exit(main())
