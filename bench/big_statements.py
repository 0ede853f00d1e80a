"""One statement cannot freeze every session: p99 latency of ``pgbench -S`` (8 clients)
through ``regogate serve`` alone, then while one more client sends maximal statements in a
loop (long IN lists just under ``[policy] max_statement_bytes``, then just over it), then
beside a CPU-bound process (the floor: what any busy core costs on this machine). A
command, not a test:

    .venv/bin/python bench/big_statements.py [--seconds 10] [--variant policy]
        [--limit BYTES] [--distinct] [--rows]

``--distinct``: every statement of the loop differs (its first number), so each one is
analysed (what an attacker would send); otherwise the same text repeats and is analysed
once. The statements count their rows (one row back) unless ``--rows``, which returns
every row matched (~150k for 1 MiB): then the loop also measures relaying results.
Prints the p99 of each run and its ratio to the run alone (the goal: under 2x).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import DB, TOKEN, USER, VARIANTS, postgres, regogate  # noqa: E402
from regogate.proxy.analysis_budget import MAX_STATEMENT_BYTES  # noqa: E402

CPU_BOUND = "cpu"  # a load that is a process, not a client


def in_list(size: int, select: str = "aid") -> str:
    """A SELECT of ``size`` bytes: a long IN list, the slowest text per byte we know."""
    head, items, n = f"SELECT {select} FROM pgbench_accounts WHERE aid IN (", [], 0
    budget = size - len(head) - 2
    while n < budget - 8:
        item = f"{len(items)},"
        items.append(item)
        n += len(item)
    text = head + "".join(items)
    return text + "0" * (size - len(text) - 1) + ")"


def pgbench_p99(port: int, seconds: int, logdir: Path) -> tuple[float, float, int]:
    """(p50 ms, p99 ms, transactions) of ``pgbench -S`` with 8 clients, from its
    per-transaction log."""
    for old in logdir.glob("pgbench_log*"):
        old.unlink()
    args = ["pgbench", "-n", "-S", "-c", "8", "-j", "2", "-T", str(seconds), "-l"]
    args += ["-h", "127.0.0.1", "-p", str(port), "-U", USER, DB]
    env = {**os.environ, "PGPASSWORD": TOKEN, "PGSSLMODE": "disable"}
    p = subprocess.run(args, env=env, cwd=logdir, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"pgbench failed: {p.stderr.strip()[-500:]}")
    latencies = [
        int(line.split()[2]) / 1000
        for log in logdir.glob("pgbench_log*")
        for line in log.read_text().splitlines()
    ]
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49], cuts[98], len(latencies)


def loud_client(
    port: int, text: str, distinct: bool, stop: threading.Event, counts: dict[str, int]
) -> None:
    dsn = f"host=127.0.0.1 port={port} dbname={DB} user={USER} password={TOKEN} sslmode=disable"
    head, _, tail = text.partition("IN (")  # tail: "0,1,2,3,4,5,..."
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            n = counts["ok"] + sum(v for k, v in counts.items() if k not in ("ok", "ms"))
            # the same length: 0,1,2,3,4, (10 characters) becomes a 9-digit number and ","
            sent = f"{head}IN ({n % 10**9:09d},{tail[10:]}" if distinct else text
            started = time.monotonic()
            try:
                conn.execute(sent.encode(), prepare=False)
                counts["ok"] += 1
            except psycopg.Error as exc:
                key = exc.sqlstate or "error"
                counts[key] = counts.get(key, 0) + 1
            counts["ms"] += int((time.monotonic() - started) * 1000)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--variant", default="policy", choices=["policy", "policy+recording"])
    ap.add_argument("--limit", type=int, default=MAX_STATEMENT_BYTES, help="max_statement_bytes")
    ap.add_argument("--distinct", action="store_true", help="a different text each time")
    ap.add_argument("--rows", action="store_true", help="return the rows, not their count")
    args = ap.parse_args()
    limit = args.limit
    variant = f"{args.variant}-limit"
    VARIANTS[variant] = VARIANTS[args.variant].replace(
        "[policy]\n", f"[policy]\nmax_statement_bytes = {limit}\n"
    )
    select = "aid" if args.rows else "count(aid)"
    loads: dict[str, str | None] = {
        "alone": None,
        f"+ loop of {limit - 1024} B IN lists (under the limit)": in_list(limit - 1024, select),
        f"+ loop of {limit + 1024} B IN lists (over the limit)": in_list(limit + 1024, select),
        "+ a CPU-bound process beside (floor)": CPU_BOUND,
    }
    with tempfile.TemporaryDirectory(prefix="regogate-bench-") as tmp:
        base = Path(tmp)
        base.chmod(0o755)  # PostgreSQL runs as another user (pgserver)
        with postgres(base) as pg, regogate(base, pg, variant, {}) as (port, _):
            pgbench_p99(port, 2, base)  # warm the caches
            rows = []
            for name, text in loads.items():
                stop, counts = threading.Event(), {"ok": 0, "ms": 0}
                loud, hog = None, None
                if text == CPU_BOUND:
                    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                elif text is not None:
                    loud = threading.Thread(
                        target=loud_client, args=(port, text, args.distinct, stop, counts)
                    )
                    loud.start()
                    time.sleep(0.5)
                try:
                    p50, p99, txs = pgbench_p99(port, args.seconds, base)
                finally:
                    stop.set()
                    if loud is not None:
                        loud.join(60)
                    if hog is not None:
                        hog.kill()
                        hog.wait()
                rows.append((name, p50, p99, txs, dict(counts)))
    alone = rows[0][2]
    texts = "distinct texts" if args.distinct else "one text"
    print(
        f"pgbench -S, 8 clients, {args.seconds} s a run, {args.variant}, limit {limit} B, "
        f"loud client: {texts}, SELECT {select}"
    )
    print("| run | p50 ms | p99 ms | p99 / alone | transactions | loud client |")
    print("|---|---:|---:|---:|---:|---|")
    for name, p50, p99, txs, counts in rows:
        done = sum(v for k, v in counts.items() if k != "ms")
        loud = "-"
        if done:
            kinds = ", ".join(f"{k} {v}" for k, v in counts.items() if k != "ms")
            loud = f"{kinds}; {counts['ms'] / done:.0f} ms each"
        print(f"| {name} | {p50:.2f} | {p99:.2f} | {p99 / alone:.2f}x | {txs} | {loud} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
