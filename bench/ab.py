"""Interleaved A/B of gateway variants: all of them up at once, short pgbench runs in
rotating order, reported as the median of per-round TPS ratios against the first. A
command, not a test:

    .venv/bin/python bench/ab.py --mode prepared --rounds 12 \\
        policy rec=policy+recording recpy=policy+recording,REGOGATE_HOTPATH=python

A variant is ``[NAME=]BASE[,SETTING...]``: ``BASE`` is one of ``bench/run.py``'s
VARIANTS. A setting ``ENV=VALUE`` is added to that gateway's environment (a
``PYTHONPATH=/some/tree`` runs another checkout's regogate); ``section.key=TOML`` is set
in its configuration, e.g. ``'recording.fsync="checkpoint"'``. On a machine whose few
cores are shared with PostgreSQL and pgbench, consecutive runs of one gateway drift by
more than the differences we look for; rounds that alternate the gateways, each ratio
taken within its round, cancel most of that drift (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from run import (  # noqa: E402
    PASSWORD,
    TOKEN,
    VARIANTS,
    PeakRss,
    cpu_by_role,
    pgbench,
    postgres,
    regogate,
)


def parse_variant(spec: str) -> tuple[str, str, dict[str, str]]:
    """(name, variant, environment); a variant with configuration settings is added to
    VARIANTS under its name."""
    head, *settings = spec.split(",")
    name, _, base = head.rpartition("=")
    base = base.strip()
    name = name or base
    if base not in VARIANTS:
        raise SystemExit(f"unknown variant {base!r} in {spec!r}; known: {', '.join(VARIANTS)}")
    env: dict[str, str] = {}
    config = VARIANTS[base]
    for s in settings:
        key, sep, value = s.partition("=")
        if not sep or not key:
            raise SystemExit(f"{spec!r}: expected ENV=VALUE or section.key=TOML, got {s!r}")
        section, dot, item = key.partition(".")
        if not dot:
            env[key] = value
            continue
        header = f"[{section}]\n"
        if header not in config:
            raise SystemExit(f"{spec!r}: variant {base!r} has no [{section}] section")
        config = config.replace(header, f"{header}{item} = {value}\n", 1)
    if config != VARIANTS[base]:
        if name in VARIANTS:
            raise SystemExit(f"{spec!r}: name the variant (NAME={base},...)")
        VARIANTS[name] = config
        base = name
    return name, base, env


def quartiles(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4)
    return q[0], q[2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("variants", nargs="+", help="[NAME=]BASE[,ENV=VALUE...]; the first is the base")
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--mode", default="prepared", choices=("simple", "extended", "prepared"))
    ap.add_argument("--script", default="select-only", choices=("select-only", "tpcb-like"))
    a = ap.parse_args()
    specs = [parse_variant(v) for v in a.variants]
    names = [n for n, _, _ in specs]
    if len(set(names)) != len(names):
        raise SystemExit("variant names must differ (use NAME=BASE)")
    base = Path(tempfile.mkdtemp(prefix="regogate-ab-"))
    base.chmod(0o755)
    tps: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    peaks: dict[str, int] = {}
    stats: dict[str, dict[str, float]] = {}
    try:
        with postgres(base) as pg, contextlib.ExitStack() as stack:
            gws: dict[str, tuple[int, PeakRss]] = {}
            for name, variant, env in specs:
                gws[name] = stack.enter_context(regogate(base, pg, variant, stats, name, env))
            pgbench(pg.port, PASSWORD, a.script, a.clients, a.mode, 1)  # warm the cache
            for name in names:
                pgbench(gws[name][0], TOKEN, a.script, a.clients, a.mode, 1)
            for rnd in range(a.rounds):
                order = names[rnd % len(names) :] + names[: rnd % len(names)]
                line = []
                for name in order:
                    port, rss = gws[name]
                    before = cpu_by_role(rss.proc)
                    t, _, txs = pgbench(port, TOKEN, a.script, a.clients, a.mode, a.seconds)
                    after = cpu_by_role(rss.proc)
                    tps[name].append(t)
                    for role, secs in after.items():
                        us = (secs - before.get(role, 0.0)) * 1e6 / txs
                        cpu[name].setdefault(role, []).append(us)
                    line.append(f"{name} {t:.0f}")
                print(f"round {rnd + 1}: " + ", ".join(line), flush=True)
            for name in names:
                peaks[name] = gws[name][1].read()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    ref = names[0]
    print(
        f"\n{a.script} -M {a.mode} -c {a.clients}, {a.rounds} rounds of {a.seconds} s; "
        f"cost = 1 - TPS / TPS of {ref} in the same round (median, interquartile range)"
    )
    print("| variant | median TPS | cost | IQR | gateway µs/tx | writer µs/tx | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        costs = [1 - x / y for x, y in zip(tps[name], tps[ref], strict=True)]
        lo, hi = quartiles(costs)
        roles = cpu[name]
        gw = statistics.median(roles.get("gateway", [0.0]))
        wr = statistics.median(roles["writer"]) if "writer" in roles else None
        print(
            f"| {name} | {statistics.median(tps[name]):.0f} | {statistics.median(costs):.1%} | "
            f"{lo:.1%} to {hi:.1%} | {gw:.0f} | {'-' if wr is None else f'{wr:.1f}'} | "
            f"{peaks[name] / 2**20:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
