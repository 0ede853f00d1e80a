"""Instructions per transaction of each gateway variant and of its recording writer,
counted by valgrind's callgrind over a fixed pgbench -S load. A command, not a test:

    .venv/bin/python bench/instructions.py --mode simple --tx 250 \\
        policy rec=policy+recording

TPS on a small shared machine drifts by more than the cost of recording (see
docs/benchmarks.md); instruction counts do not: the same load gives the same count to
within a fraction of a percent. Counting is on only while ``pgbench -t TX`` runs (8
clients), after a warm-up. OPA is not counted. Each variant runs alone, slowly (callgrind
runs code ~50x slower), so this says what the work costs, not how fast it runs: TPS
ratios come from bench/ab.py. One caveat: valgrind's CPU has no SHA extensions, so
SHA-256 (result digests, literal commitments, the writer's leaf and tree hashes) runs in
software here; it is reported apart, as "sha2".
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from ab import parse_variant  # noqa: E402
from run import TOKEN, pgbench, postgres, regogate  # noqa: E402

_TOTALS = re.compile(rb"^totals: (\d+)", re.M)
_CMD = re.compile(rb"^cmd: (.*)$", re.M)
_COST = re.compile(r"^\s*([\d,]+) ")


def control(on: bool) -> None:
    """Counting on or off in every process callgrind runs (ours: one variant at a time)."""
    subprocess.run(
        ["callgrind_control", "-i", "on" if on else "off"], check=True, capture_output=True
    )


def sha2_instructions(path: Path) -> int:
    """Instructions in sha2's compression functions (Rust) of one profile."""
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=100", str(path)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    total = 0
    for line in out.splitlines():
        m = _COST.match(line)
        if m and "sha2::" in line and "compress" in line:
            total += int(m.group(1).replace(",", ""))
    return total


def profiles(out: Path, name: str) -> dict[str, tuple[int, int]]:
    """role -> (instructions, of which sha2) from one variant's callgrind files."""
    roles: dict[str, tuple[int, int]] = {}
    for path in sorted(out.glob(f"cg-{name}.*")):
        data = path.read_bytes()
        cmd, total = _CMD.search(data), _TOTALS.search(data)
        if not cmd or not total:
            continue
        line = cmd.group(1)
        role = (
            "writer"
            if b"regogate-writer" in line
            else "gateway"
            if b"regogate serve" in line
            else None
        )
        if role is None:
            continue
        count, sha = roles.get(role, (0, 0))
        roles[role] = (count + int(total.group(1)), sha + sha2_instructions(path))
    return roles


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", default="simple", choices=["simple", "extended", "prepared"])
    ap.add_argument("--tx", type=int, default=250, help="transactions per client (8 clients)")
    ap.add_argument("variants", nargs="+", help="[NAME=]VARIANT[,ENV=VAL][,section.key=TOML]")
    a = ap.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind (callgrind) is not installed: apt-get install valgrind", file=sys.stderr)
        return 2
    specs = [parse_variant(s) for s in a.variants]
    base = Path(tempfile.mkdtemp(prefix="regogate-instr-"))
    base.chmod(0o755)  # the postgres user reads the configuration's directory
    total_tx = 8 * a.tx
    rows: list[tuple[str, dict[str, tuple[int, int]]]] = []
    try:
        with postgres(base) as pg:
            for name, variant, env in specs:
                wrap = [
                    "valgrind",
                    "--tool=callgrind",
                    "--instr-atstart=no",
                    "--trace-children=yes",
                    "--trace-children-skip=*/opa,*opa",
                    f"--callgrind-out-file={base}/cg-{name}.%p",
                ]
                with regogate(base, pg, variant, {}, name, env, wrap=wrap, timeout=300) as (
                    port,
                    _,
                ):
                    pgbench(port, TOKEN, "select-only", 8, a.mode, 0, transactions=20)
                    control(True)
                    started = time.monotonic()
                    pgbench(port, TOKEN, "select-only", 8, a.mode, 0, transactions=a.tx)
                    control(False)
                    print(f"{name}: {total_tx} tx in {time.monotonic() - started:.0f} s")
                rows.append((name, profiles(base, name)))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    first = rows[0][1].get("gateway", (0, 0))
    print(
        f"\nselect-only -M {a.mode} -c 8, {total_tx} transactions; instructions per "
        f"transaction; sha2: of them in SHA-256 compression, in software under valgrind"
    )
    print("| variant | gateway | sha2 | vs first | vs first, sha2 aside | writer | writer sha2 |")
    print("|---|---|---|---|---|---|---|")
    for name, roles in rows:
        g, gs = roles.get("gateway", (0, 0))
        w, ws = roles.get("writer", (0, 0))
        vs = f"{g / first[0] - 1:+.1%}" if first[0] else "-"
        aside = f"{(g - gs) / (first[0] - first[1]) - 1:+.1%}" if first[0] else "-"
        print(
            f"| {name} | {g / total_tx:,.0f} | {gs / total_tx:,.0f} | {vs} | {aside} | "
            f"{w / total_tx:,.0f} | {ws / total_tx:,.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
