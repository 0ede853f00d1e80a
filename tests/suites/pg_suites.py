"""Running PostgreSQL's own regression and isolation suites (pg_regress, pg_isolation_regress).

The suites' files, ``regress.so`` and the paths of Debian's drivers are installed by
``scripts/suites/setup-pg-suites.sh`` (part of ``make setup``) under
``.cache/pg-suites/<server package version>/``; ``manifest.json`` there names them.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache"
TIMING_FILE = CACHE / "suites-timing.json"
RUNS_DIR = CACHE / "pg-suites-runs"  # a copy of each run's summary and diffs
# Differences regogate makes on purpose, reviewed in git: expected/<suite>/<test>.diff
# turns PostgreSQL's expected/<test>.out into expected/<test>_9.out, an alternative output
# pg_regress accepts (<test>.out or any <test>_0..9.out) in the runs through regogate.
OVERLAY = Path(__file__).resolve().parent / "expected"
ALTERNATIVE = 9


class OverlayError(Exception):
    pass


def apply_overlay(suite: str, expected: Path) -> list[str]:
    """Write <test>_9.out beside <test>.out for every expected/<suite>/<test>.diff."""
    done = []
    for diff in sorted((OVERLAY / suite).glob("*.diff")):
        test = diff.stem
        out = expected / f"{test}_{ALTERNATIVE}.out"
        proc = subprocess.run(
            ["patch", "--quiet", "--force", "-o", str(out), str(expected / f"{test}.out")],
            stdin=diff.open("rb"),
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise OverlayError(
                f"{diff} does not apply to this PostgreSQL's expected/{test}.out "
                f"(a new version?): {proc.stdout.decode(errors='replace')}"
            )
        out.with_suffix(".out.orig").unlink(missing_ok=True)
        done.append(test)
    return done


SUITES = ("regress", "isolation")
# The database each suite creates (and drops) through the `postgres` database.
DATABASES = {"regress": "regression", "isolation": "isolation_regression"}
SCHEDULES = {"regress": "parallel_schedule", "isolation": "isolation_schedule"}

# Settings of the cluster the suites run against (besides regogate.pgserver's own):
# two-phase commit on, so that prepared_xacts runs its real expected output.
SERVER_SETTINGS = {"max_prepared_transactions": "10"}

# One line per test in pg_regress's summary, e.g. "test tablespace ... ok  120 ms",
# "     boolean                      ... FAILED       31 ms", "ok 1 - ..." is PG 16+.
_RESULT = re.compile(
    r"^(?:test\s+|\s+)(?P<name>[\w.\-]+)\s+\.\.\.\s+"
    r"(?P<status>ok|FAILED|failed \(ignored\))(?P<rest>.*)$"
)


class SuitesNotInstalled(Exception):
    pass


@dataclass(frozen=True)
class Manifest:
    base: Path
    package_version: str
    major: str
    bindir: Path
    pg_regress: Path
    pg_isolation_regress: Path
    regress_dir: Path
    isolation_dir: Path
    dlpath: Path

    @classmethod
    def load(cls, bindir: Path) -> Manifest:
        """The installed suites for the server in ``bindir`` (same Debian package version)."""
        major = bindir.parent.name
        version = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", f"postgresql-{major}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        base = CACHE / "pg-suites" / version
        path = base / "manifest.json"
        if not version or not path.is_file():
            raise SuitesNotInstalled(
                f"PostgreSQL's regression suites for postgresql-{major} {version or '?'} are "
                f"not installed ({path} missing): run `make setup` "
                f"(scripts/suites/setup-pg-suites.sh)"
            )
        m = json.loads(path.read_text())
        return cls(
            base=base,
            package_version=m["package_version"],
            major=m["major"],
            bindir=Path(m["bindir"]),
            pg_regress=Path(m["pg_regress"]),
            pg_isolation_regress=Path(m["pg_isolation_regress"]),
            regress_dir=base / m["regress_dir"],
            isolation_dir=base / m["isolation_dir"],
            dlpath=base / m["dlpath"],
        )

    def count_tests(self, suite: str) -> int:
        src = self.regress_dir if suite == "regress" else self.isolation_dir
        n = 0
        for line in (src / SCHEDULES[suite]).read_text().splitlines():
            if line.startswith("test:"):
                n += len(line.split(":", 1)[1].split())
        return n


@dataclass
class SuiteRun:
    suite: str
    mode: str  # direct | gateway
    seconds: float
    returncode: int
    expected: int
    results: dict[str, str] = field(default_factory=dict)  # test -> ok | FAILED | ...
    outputdir: Path = Path()
    saved: Path = Path()  # RUNS_DIR copy of the summary and diffs
    output: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # gateway runs: CPU s by process

    @property
    def failed(self) -> list[str]:
        return [t for t, s in self.results.items() if s != "ok"]

    @property
    def passed(self) -> int:
        return sum(1 for s in self.results.values() if s == "ok")

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.failed and len(self.results) == self.expected

    def summary(self, diff_lines: int = 200) -> str:
        """Which tests failed, where the diffs are, and the head of the diffs."""
        lines = [
            f"{self.suite} {self.mode}: {self.passed} of {self.expected} tests passed, "
            f"{len(self.failed)} failed, {self.expected - len(self.results)} not run "
            f"(pg_regress exit {self.returncode}, {self.seconds:.1f} s)",
        ]
        if self.failed:
            lines.append("failed: " + " ".join(self.failed))
        diffs = self.saved / "regression.diffs"
        if diffs.is_file():
            lines.append(f"diffs: {diffs} (and {self.outputdir / 'regression.diffs'})")
            text = diffs.read_text(errors="replace").splitlines()
            lines += ["", f"--- first {min(diff_lines, len(text))} of {len(text)} diff lines"]
            lines += text[:diff_lines]
        if not self.results:
            lines += ["", "--- pg_regress output", self.output[-5000:]]
        return "\n".join(lines)


def parse_results(text: str) -> dict[str, str]:
    results: dict[str, str] = {}
    for line in text.splitlines():
        m = _RESULT.match(line)
        if m:
            results[m.group("name")] = m.group("status")
    return results


def run_suite(
    manifest: Manifest,
    suite: str,
    mode: str,
    workdir: Path,
    *,
    host: str,
    port: int,
    user: str,
    password: str,
    run_as: str | None,
    timeout: float,
    tests: list[str] | None = None,
) -> SuiteRun:
    """One run of ``suite`` with pg_regress against host:port; creates its own database.

    ``workdir`` must be traversable by ``run_as`` (the server's user: the suites' COPY
    statements read and write files there as the server). The suite's files are copied
    into it, and pg_regress runs as ``run_as``, writing its results there.
    """
    src = manifest.regress_dir if suite == "regress" else manifest.isolation_dir
    inputdir = workdir / f"{suite}-{mode}-input"
    shutil.rmtree(inputdir, ignore_errors=True)
    shutil.copytree(src, inputdir)
    if mode == "gateway":
        apply_overlay(suite, inputdir / "expected")
    outputdir = workdir / f"{suite}-{mode}"
    shutil.rmtree(outputdir, ignore_errors=True)
    outputdir.mkdir(parents=True)
    if run_as:
        pw = pwd.getpwnam(run_as)
        for p in (inputdir, outputdir, *inputdir.rglob("*")):
            os.chown(p, pw.pw_uid, pw.pw_gid, follow_symlinks=False)
        os.chown(outputdir, pw.pw_uid, pw.pw_gid)
    driver = manifest.pg_regress if suite == "regress" else manifest.pg_isolation_regress
    args = [
        str(driver),
        f"--bindir={manifest.bindir}",
        f"--inputdir={inputdir}",
        f"--outputdir={outputdir}",
        f"--host={host}",
        f"--port={port}",
        f"--user={user}",
        f"--dbname={DATABASES[suite]}",
    ]
    if suite == "regress":
        args += [f"--dlpath={manifest.dlpath}", "--max-concurrent-tests=20"]
    # The whole schedule, or only the named tests (one after the other, for debugging).
    args += tests if tests else [f"--schedule={inputdir / SCHEDULES[suite]}"]
    # A clean libpq environment: only what pg_regress does not set itself. pg_regress sets
    # LC_MESSAGES=C, PGAPPNAME, PGTZ, PGDATESTYLE and PGOPTIONS (-c intervalstyle=...), so
    # every connection's startup packet carries application_name, timezone, datestyle and
    # options; no client_encoding (psql sends none when not on a terminal: the server's,
    # UTF8, applies).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PG", "LC_")) and k not in ("LANG", "LANGUAGE")
    }
    env |= {"LANG": "C.UTF-8", "PGPASSWORD": password, "PGSSLMODE": "disable"}
    if run_as:
        env["HOME"] = pwd.getpwnam(run_as).pw_dir
    t0 = time.monotonic()
    # Its own process group, so that a timeout ends pg_regress and the psql and
    # isolationtester processes it started.
    proc = subprocess.Popen(
        args,
        env=env,
        user=run_as,
        cwd=outputdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        output += f"\n[harness] pg_regress timed out after {timeout:.0f} s and was killed\n"
        rc = -1
    seconds = time.monotonic() - t0
    saved = RUNS_DIR / f"{suite}-{mode}"
    shutil.rmtree(saved, ignore_errors=True)
    saved.mkdir(parents=True)
    (saved / "pg_regress.log").write_text(output)
    for name in ("regression.diffs", "regression.out"):
        if (outputdir / name).is_file():
            shutil.copyfile(outputdir / name, saved / name)
    return SuiteRun(
        suite=suite,
        mode=mode,
        seconds=seconds,
        returncode=rc,
        expected=len(tests) if tests else manifest.count_tests(suite),
        results=parse_results(output),
        outputdir=outputdir,
        saved=saved,
        output=output,
    )


def record_timing(runs: dict[tuple[str, str], SuiteRun], manifest: Manifest) -> dict[str, object]:
    """Write the times and the gateway/direct ratios to TIMING_FILE (a number, not a test)."""
    data: dict[str, object] = {
        "postgresql": manifest.package_version,
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "suites": {},
    }
    suites: dict[str, object] = {}
    for suite in SUITES:
        entry: dict[str, object] = {}
        for mode in ("direct", "gateway"):
            run = runs.get((suite, mode))
            if run is not None:
                entry[mode] = {
                    "seconds": round(run.seconds, 2),
                    "passed": run.passed,
                    "failed": run.failed,
                    "tests": run.expected,
                }
                if run.cpu:
                    entry[mode]["cpu_seconds"] = {k: round(v, 1) for k, v in run.cpu.items()}
        d, g = runs.get((suite, "direct")), runs.get((suite, "gateway"))
        if d is not None and g is not None and d.seconds > 0:
            entry["ratio"] = round(g.seconds / d.seconds, 2)
        if entry:
            suites[suite] = entry
    data["suites"] = suites
    CACHE.mkdir(exist_ok=True)
    TIMING_FILE.write_text(json.dumps(data, indent=2) + "\n")
    return data
