"""Benchmark harness: pgbench against PostgreSQL directly, through pgbouncer and through
regogate, in one run, reported as ratios. A command, not a test:

    .venv/bin/python bench/run.py [--seconds 10] [--quick] [--out bench/out]

Targets rotate within each cell so that drift does not favour one of them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from regogate.identity import token_sha256  # noqa: E402
from regogate.pgserver import PgServer, free_port  # noqa: E402

USER, PASSWORD, DB = "bench", "bench-pw-4e1f", "bench"
TOKEN = "bench-token-77a1"


@dataclass
class Result:
    target: str
    variant: str
    script: str
    clients: int
    mode: str
    tps: float
    latency_ms: float
    # CPU time per transaction (user + system, µs) of the gateway process and of its
    # children by role (the recording writer, the OPA sidecar); regogate runs only.
    cpu_us_per_tx: dict[str, float] | None = None
    rep: int = 0  # which repetition (--repeat)


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


@contextmanager
def postgres(base: Path) -> Iterator[PgServer]:
    pg = PgServer(base / "pg", settings={"max_connections": "100", "shared_buffers": "256MB"})
    pg.start()
    try:
        pg.wait_ready()
        pg.psql(
            f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'; CREATE DATABASE {DB} OWNER {USER};"
        )
        env = {**os.environ, "PGPASSWORD": PASSWORD}
        subprocess.run(
            [
                "pgbench",
                "-i",
                "-q",
                "-s",
                "10",
                "-h",
                "127.0.0.1",
                "-p",
                str(pg.port),
                "-U",
                USER,
                DB,
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        yield pg
    finally:
        pg.stop("immediate")


@contextmanager
def pgbouncer(base: Path, pg: PgServer) -> Iterator[int]:
    exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(exe).exists():
        raise SystemExit("pgbouncer is not installed: run `make bench` (it installs it)")
    d = base / "pgbouncer"
    d.mkdir()
    port = free_port()
    (d / "userlist.txt").write_text(f'"{USER}" "{PASSWORD}"\n')
    (d / "pgbouncer.ini").write_text(f"""[databases]
{DB} = host=127.0.0.1 port={pg.port} dbname={DB}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {d / "userlist.txt"}
pool_mode = session
max_client_conn = 200
default_pool_size = 40
logfile = {d / "pgbouncer.log"}
pidfile = {d / "pgbouncer.pid"}
""")
    user = pg.run_as
    if user:
        pw = pwd.getpwnam(user)
        for p in (d, *d.iterdir()):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    proc = subprocess.Popen(
        [exe, str(d / "pgbouncer.ini")],
        user=user,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def role(proc: psutil.Process, root: int) -> str:
    """gateway (the serve process), writer (the recording writer), opa, or other."""
    if proc.pid == root:
        return "gateway"
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return "other"
    if "regogate.recording.write.worker" in cmd or "regogate-writer" in cmd:
        return "writer"
    return "opa" if "opa" in Path(cmd.split(" ")[0]).name else "other"


def family(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return [root]


def cpu_by_role(root: psutil.Process) -> dict[str, float]:
    """CPU seconds (user + system) so far of the gateway and each of its children's roles."""
    out: dict[str, float] = {}
    for p in family(root):
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        r = role(p, root.pid)
        out[r] = out.get(r, 0.0) + t.user + t.system
    return out


class PeakRss:
    """Peak RSS of the gateway and its recording writer (OPA is reported apart: pgbouncer
    has no policy engine, and the compose file runs OPA as a separate container).

    Read from the kernel's high-water marks (``VmHWM``) when asked: nothing polls during
    the runs. (Polling the process tree every 50 ms cost 8-25 µs of CPU per transaction,
    taken from the same two cores as the gateway.) The sum of each process's peak is an
    upper bound of the peak of their sum.
    """

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)

    def read(self) -> int:
        """The peak so far, in bytes (call it while the gateway runs)."""
        return sum(
            vm_hwm(p.pid)
            for p in family(self.proc)
            if role(p, self.proc.pid) in ("gateway", "writer")
        )


def vm_hwm(pid: int) -> int:
    """A process's peak resident set size in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# Named regogate configurations; later issues add policy and recording variants.
POLICY_DIR = ROOT / "policies" / "rego"
VARIANTS: dict[str, str] = {
    "passthrough": '[policy]\nmode = "off"\n',
    "policy": f'[policy]\ndir = "{POLICY_DIR}"\n',
    "policy-nocache": f'[policy]\ndir = "{POLICY_DIR}"\ncache_size = 0\n',
    "policy+recording": f'[policy]\ndir = "{POLICY_DIR}"\n'
    '[recording]\ndir = "recordings-{base}"\nkey_file = "bench.key"\n',
}
_STATS = re.compile(r"OPA round trip p50 ([\d.]+) ms p99 ([\d.]+) ms over (\d+) requests")


def signing_key(base: Path) -> None:
    from regogate.recording.write import keys

    path = base / "bench.key"
    if not path.exists():
        keys.install_signer(path, keys.generate("bench.example/regogate"))


@contextmanager
def regogate(
    base: Path,
    pg: PgServer,
    variant: str,
    stats: dict[str, dict[str, float]],
    name: str | None = None,
    env: dict[str, str] | None = None,
    wrap: list[str] | None = None,
    timeout: float = 30,
) -> Iterator[tuple[int, PeakRss]]:
    """A gateway on ``VARIANTS[variant]``; ``name`` (default: the variant) names its files,
    ``env`` adds to its environment. It runs in ``base``: a ``PYTHONPATH`` in ``env``
    then decides which regogate tree it imports. ``wrap`` is a command it runs under
    (valgrind, say), ``timeout`` how long its start and its stop may take."""
    name = name or variant
    port = free_port()
    signing_key(base)
    cfg = base / f"regogate-{name}.toml"
    cfg.write_text(f"""[server]
listen_host = "127.0.0.1"
listen_port = {port}
max_sessions = 200

{VARIANTS[variant].replace("{base}", name)}
[connections.{DB}]
host = "127.0.0.1"
port = {pg.port}
database = "{DB}"
user = "{USER}"
password_env = "BENCH_UPSTREAM_PASSWORD"

[[tokens]]
sub = "bench"
groups = ["dba"]
token_sha256 = "{token_sha256(TOKEN)}"
""")
    log = (base / f"regogate-{name}.log").open("wb")
    proc = subprocess.Popen(
        [*(wrap or []), sys.executable, "-m", "regogate", "serve", "-c", str(cfg)],
        env={**os.environ, "BENCH_UPSTREAM_PASSWORD": PASSWORD, **(env or {})},
        cwd=base,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_port(port, proc, timeout)
        yield port, PeakRss(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(max(15, timeout))
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        text = (base / f"regogate-{name}.log").read_text(errors="replace")
        m = _STATS.search(text)
        if m:
            stats[name] = {
                "opa_p50_ms": float(m.group(1)),
                "opa_p99_ms": float(m.group(2)),
                "opa_requests": int(m.group(3)),
            }
        denied = text.count("42501")
        if denied:
            print(f"warning: {name}: {denied} policy denials in the log", flush=True)


_TPS = re.compile(r"tps = ([\d.]+) \(without initial connection time\)")
_TXS = re.compile(r"number of transactions actually processed: (\d+)")
_LAT = re.compile(r"latency average = ([\d.]+) ms")


def pgbench(
    port: int,
    password: str,
    script: str,
    clients: int,
    mode: str,
    seconds: int,
    transactions: int | None = None,
) -> tuple[float, float, int]:
    """(TPS, mean latency ms, transactions) of a ``seconds`` run, or of ``transactions``
    per client when that is given."""
    args = [
        "pgbench",
        "-n",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-U",
        USER,
        "-M",
        mode,
        "-c",
        str(clients),
        "-j",
        str(min(clients, 2)),
        *(["-t", str(transactions)] if transactions else ["-T", str(seconds)]),
    ]
    if script == "select-only":
        args.append("-S")
    p = subprocess.run(
        [*args, DB],
        env={**os.environ, "PGPASSWORD": password, "PGSSLMODE": "disable"},
        capture_output=True,
        text=True,
        check=False,
    )
    tps, lat, txs = _TPS.search(p.stdout), _LAT.search(p.stdout), _TXS.search(p.stdout)
    if p.returncode != 0 or not tps or not lat or not txs:
        raise RuntimeError(f"pgbench failed on port {port}: {p.stderr.strip()[-500:]}")
    return float(tps.group(1)), float(lat.group(1)), int(txs.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="3 s per run")
    ap.add_argument("--clients", default="1,8")
    ap.add_argument("--modes", default="simple,extended,prepared")
    ap.add_argument("--scripts", default="select-only,tpcb-like")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every variant and cell N times (alternating); report medians",
    )
    a = ap.parse_args()
    seconds = 3 if a.quick else a.seconds
    base = Path(tempfile.mkdtemp(prefix="regogate-bench-"))
    base.chmod(0o755)
    results: list[Result] = []
    peaks: dict[str, int] = {}
    stats: dict[str, dict[str, float]] = {}
    try:
        with postgres(base) as pg, pgbouncer(base, pg) as bouncer_port:
            pg_version = pg.psql("show server_version").strip()
            runs = [(rep, v) for rep in range(a.repeat) for v in a.variants.split(",")]
            for rep, variant in runs:
                with regogate(base, pg, variant, stats) as (gw_port, rss):
                    targets = [
                        ("direct", pg.port, PASSWORD),
                        ("pgbouncer", bouncer_port, PASSWORD),
                        ("regogate", gw_port, TOKEN),
                    ]
                    cell = 0
                    for script in a.scripts.split(","):
                        for clients in (int(c) for c in a.clients.split(",")):
                            for mode in a.modes.split(","):
                                order = targets[cell % 3 :] + targets[: cell % 3]
                                cell += 1
                                for name, port, pw in order:
                                    if name != "regogate" and any(
                                        r.target == name
                                        and r.script == script
                                        and r.clients == clients
                                        and r.mode == mode
                                        and r.rep == rep
                                        for r in results
                                    ):
                                        continue
                                    before = cpu_by_role(rss.proc)
                                    tps, lat, txs = pgbench(
                                        port, pw, script, clients, mode, seconds
                                    )
                                    label = name if name != "regogate" else f"regogate:{variant}"
                                    cpu = None
                                    if name == "regogate":
                                        after = cpu_by_role(rss.proc)
                                        cpu = {
                                            r: round((t - before.get(r, 0.0)) * 1e6 / txs, 1)
                                            for r, t in sorted(after.items())
                                        }
                                    print(
                                        f"{script:12} c={clients} {mode:9} {label:22} "
                                        f"tps={tps:9.1f} lat={lat:7.3f} ms"
                                        + (f" cpu µs/tx {cpu}" if cpu else ""),
                                        flush=True,
                                    )
                                    results.append(
                                        Result(
                                            name,
                                            variant if name == "regogate" else "-",
                                            script,
                                            clients,
                                            mode,
                                            tps,
                                            lat,
                                            cpu,
                                            rep,
                                        )
                                    )
                    peaks[variant] = max(peaks.get(variant, 0), rss.read())
    finally:
        shutil.rmtree(base, ignore_errors=True)
    report(results, peaks, stats, seconds, pg_version, a.out)
    return 0


def report(
    results: list[Result],
    peaks: dict[str, int],
    stats: dict[str, dict[str, float]],
    seconds: int,
    pg_version: str,
    out: Path,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    by = medians(results)
    rows = []
    for r in by.values():
        if r.target != "regogate":
            continue
        d = by[("direct", "-", r.script, r.clients, r.mode)]
        b = by[("pgbouncer", "-", r.script, r.clients, r.mode)]
        rows.append(
            {
                "variant": r.variant,
                "script": r.script,
                "clients": r.clients,
                "mode": r.mode,
                "direct_tps": d.tps,
                "pgbouncer_tps": b.tps,
                "regogate_tps": r.tps,
                "regogate_latency_ms": r.latency_ms,
                "vs_direct": r.tps / d.tps,
                "vs_pgbouncer": r.tps / b.tps,
                "cpu_us_per_tx": r.cpu_us_per_tx or {},
                "runs": r.rep,  # medians() keeps the number of runs here
            }
        )
    rss_mib = {k: round(v / 2**20, 1) for k, v in peaks.items()}
    runs = max((r.rep for r in by.values()), default=1)
    machine = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": pg_version,
        "seconds_per_run": seconds,
        "regogate_peak_rss_mib": rss_mib,
        "opa": stats,
    }
    (out / "results.json").write_text(
        json.dumps(
            {"machine": machine, "runs": [asdict(r) for r in results], "ratios": rows}, indent=2
        )
    )
    lines = [
        f"Machine: {machine['nproc']} cores, Python {machine['python']}, PostgreSQL "
        f"{pg_version}, {seconds} s per run, {runs} run(s) per cell (medians), "
        f"{machine['date']}.",
        "",
        "| variant | script | clients | mode | direct TPS | pgbouncer TPS | regogate TPS "
        "| regogate latency ms | x direct | x pgbouncer | CPU µs/tx (gateway, writer, opa) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in rows:
        lines.append(
            f"| {x['variant']} | {x['script']} | {x['clients']} | {x['mode']} | "
            f"{x['direct_tps']:.0f} | {x['pgbouncer_tps']:.0f} | {x['regogate_tps']:.0f}"
            f" | {x['regogate_latency_ms']:.3f} | {x['vs_direct']:.2f} | "
            f"{x['vs_pgbouncer']:.2f} | {cpu_cell(x['cpu_us_per_tx'])} |"  # type: ignore[arg-type]
        )
    lines.append("")
    costs = recording_costs(results)
    if costs:
        lines.append(
            "Recording cost (1 - TPS with recording / TPS without, same repetition; "
            "median and each repetition):"
        )
        lines += costs
        lines.append("")
    lines.append(
        "Peak RSS of regogate (gateway and recording writer): "
        + ", ".join(f"{k} {v} MiB" for k, v in rss_mib.items())
    )
    for variant, st in stats.items():
        lines.append(
            f"OPA round trip ({variant}, misses only): p50 {st['opa_p50_ms']:.3f} ms, "
            f"p99 {st['opa_p99_ms']:.3f} ms over {st['opa_requests']:.0f} requests"
        )
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


Key = tuple[str, str, str, int, str]


def medians(results: list[Result]) -> dict[Key, Result]:
    """One Result per (target, variant, script, clients, mode): the median of its runs
    (TPS, latency and CPU each; ``rep`` holds the number of runs)."""
    groups: dict[Key, list[Result]] = {}
    for r in results:
        groups.setdefault((r.target, r.variant, r.script, r.clients, r.mode), []).append(r)
    out: dict[Key, Result] = {}
    for key, rs in groups.items():
        cpu: dict[str, float] | None = None
        if rs[0].cpu_us_per_tx is not None:
            roles = {k for r in rs for k in r.cpu_us_per_tx or {}}
            cpu = {
                k: round(statistics.median((r.cpu_us_per_tx or {}).get(k, 0.0) for r in rs), 1)
                for k in sorted(roles)
            }
        out[key] = Result(
            *key,
            tps=statistics.median(r.tps for r in rs),
            latency_ms=statistics.median(r.latency_ms for r in rs),
            cpu_us_per_tx=cpu,
            rep=len(rs),
        )
    return out


def recording_costs(results: list[Result]) -> list[str]:
    """For each variant V+recording run beside V: its TPS cost, per repetition and median."""
    lines = []
    tps = {(r.variant, r.script, r.clients, r.mode, r.rep): r.tps for r in results}
    cells = sorted({(r.variant, r.script, r.clients, r.mode) for r in results})
    for variant, script, clients, mode in cells:
        base = variant.removesuffix("+recording")
        if base == variant:
            continue
        costs = [
            1 - tps[(variant, script, clients, mode, rep)] / tps[(base, script, clients, mode, rep)]
            for rep in sorted({r.rep for r in results})
            if (variant, script, clients, mode, rep) in tps
            and (base, script, clients, mode, rep) in tps
        ]
        if costs:
            each = ", ".join(f"{c:.0%}" for c in costs)
            lines.append(
                f"- {variant} vs {base}, {script} c={clients} {mode}: "
                f"{statistics.median(costs):.0%} ({each})"
            )
    return lines


def cpu_cell(cpu: dict[str, float]) -> str:
    return " / ".join(f"{cpu[r]:.0f}" if r in cpu else "-" for r in ("gateway", "writer", "opa"))


if __name__ == "__main__":
    raise SystemExit(main())
