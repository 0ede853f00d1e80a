"""PostgreSQL's own regression suite (parallel_schedule) and isolation suite, through regogate.

Each suite runs twice against one dedicated PostgreSQL cluster: directly, then through a
`regogate serve` with a trusted identity, an allow-all policy (the default library's
entrypoint plus one rule package that allows the suites' group) and the signed recording
on. pg_regress creates and drops its databases through the `postgres` database, so the
gateway has a connection named after each of them, with a superuser upstream role (the
suites create roles, tablespaces, prepared transactions...).

Every test of both suites must pass through the gateway. The times are numbers, not
assertions: both runs and the ratio gateway/direct go to .cache/suites-timing.json and
are printed (docs/benchmarks.md, "PostgreSQL's own suites through regogate"). A failing
run's summary names the failed tests and the diffs, copied to .cache/pg-suites-runs/.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from regogate.identity import token_sha256
from regogate.pgserver import PgServer, find_bindir, free_port
from regogate.recording.format.note import Signer
from regogate.recording.read.verify import verify_directory
from regogate.recording.write import keys
from tests.certs import make_certs
from tests.fix_pg import PgFixture
from tests.gateway_process import GatewayProcess
from tests.suites.pg_suites import (
    DATABASES,
    RUNS_DIR,
    SERVER_SETTINGS,
    SUITES,
    TIMING_FILE,
    Manifest,
    SuiteRun,
    SuitesNotInstalled,
    record_timing,
    run_suite,
)

ROOT = Path(__file__).resolve().parents[2]
# Seconds per pg_regress run; directly each suite takes ~35 s on 2 cores.
SUITE_TIMEOUT = float(os.environ.get("REGOGATE_PG_SUITES_TIMEOUT", "900"))
# For debugging: "isolation:receipt-report regress:privileges" runs only those tests of
# those suites (a suite not named runs its whole schedule; select suites with -k).
ONLY: dict[str, list[str]] = {}
for _item in os.environ.get("REGOGATE_PG_SUITES_ONLY", "").split():
    _suite, _, _test = _item.partition(":")
    ONLY.setdefault(_suite, []).append(_test)
USER = "pg-suites"
TOKEN = "tok-pg-suites-61c4"
GROUP = "pg-suite-runners"

ALLOW_ALL = f"""# METADATA
# title: PostgreSQL's own test suites may run anything
# description: >-
#   The group that runs PostgreSQL's regression and isolation suites through the gateway
#   (tests/suites) is allowed every statement.
# custom:
#   id: allow_all
package regogate.rules.allow_all

allow if "{GROUP}" in input.identity.groups
"""

pytestmark = pytest.mark.timeout(2 * SUITE_TIMEOUT + 120)


def _policy_dir(root: Path) -> Path:
    d = root / "rego"
    rule = d / "regogate" / "rules" / "allow_all"
    rule.mkdir(parents=True)
    shutil.copyfile(
        ROOT / "policies" / "rego" / "regogate" / "decision.rego",
        d / "regogate" / "decision.rego",
    )
    (rule / "allow_all.rego").write_text(ALLOW_ALL)
    return d


def _cpu_by_role(pid: int) -> dict[str, float]:
    """CPU seconds so far of the gateway process, its OPA sidecar and its recording writer."""
    out: dict[str, float] = {}
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return out
    for p in procs:
        try:
            t = p.cpu_times()
            cmd = " ".join(p.cmdline())
        except psutil.Error:
            continue
        role = "gateway" if p.pid == pid else "other"
        if "regogate.recording.write.worker" in cmd or "regogate-writer" in cmd:
            role = "writer"
        elif "opa" in Path(cmd.split(" ")[0]).name:
            role = "opa"
        out[role] = out.get(role, 0.0) + t.user + t.system
    return out


class Suites:
    """The cluster, the gateway (started on first use) and every run made so far."""

    def __init__(self, base: Path, manifest: Manifest, server: PgServer):
        self.base = base
        self.manifest = manifest
        self.server = server
        self.runs: dict[tuple[str, str], SuiteRun] = {}
        self.gateway: GatewayProcess | None = None
        self.gateway_port = 0
        self.signer: Signer | None = None
        self.rec_dir = base / "recordings"
        self.config = base / "gateway" / "regogate.toml"

    def start_gateway(self) -> None:
        gw = self.base / "gateway"
        gw.mkdir()
        self.signer = keys.generate("test.example/regogate/pg-suites")
        key_file = gw / "rec.key"
        keys.install_signer(key_file, self.signer)
        self.gateway_port = free_port()
        conns = "".join(
            f"""
[connections.{name}]
host = "127.0.0.1"
port = {self.server.port}
database = "{name}"
user = "postgres"
password_env = "RG_TEST_UPSTREAM_PASSWORD"
"""
            for name in ("postgres", *DATABASES.values())
        )
        self.config.write_text(
            f"""
[server]
listen_host = "127.0.0.1"
listen_port = {self.gateway_port}

[policy]
dir = "{_policy_dir(gw)}"
# 20 parallel psql sessions, their backends and OPA share 2 cores: a decision slower than
# the default 0.5 s would be denied (fail closed), a load artefact and not a difference.
timeout = 5.0

[recording]
dir = "{self.rec_dir}"
key_file = "{key_file}"
{conns}
[[tokens]]
sub = "{USER}"
groups = ["{GROUP}"]
token_sha256 = "{token_sha256(TOKEN)}"
"""
        )
        pg = PgFixture(self.server, make_certs(gw / "certs"), password=self.server.password)
        self.gateway = GatewayProcess(self.config, pg, self.gateway_port, gw / "gateway.log")

    def stop_gateway(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
            # Its log (policy and catalog statistics at the end) beside the runs' diffs.
            RUNS_DIR.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.gateway.log, RUNS_DIR / "gateway.log")

    def run(self, suite: str, mode: str) -> SuiteRun:
        if (suite, mode) in self.runs:
            return self.runs[(suite, mode)]
        if mode == "gateway":
            if self.gateway is None:
                self.start_gateway()
            host, port, user, password = "127.0.0.1", self.gateway_port, USER, TOKEN
        else:
            host, port, user = "127.0.0.1", self.server.port, "postgres"
            password = self.server.password
        pid = self.gateway.proc.pid if mode == "gateway" and self.gateway else 0
        before = _cpu_by_role(pid) if pid else {}
        run = run_suite(
            self.manifest,
            suite,
            mode,
            self.base / "runs",
            host=host,
            port=port,
            user=user,
            password=password,
            run_as=self.server.run_as,
            timeout=SUITE_TIMEOUT,
            tests=ONLY.get(suite),
        )
        if pid:
            after = _cpu_by_role(pid)
            run.cpu = {k: v - before.get(k, 0.0) for k, v in after.items()}
        self.runs[(suite, mode)] = run
        data = record_timing(self.runs, self.manifest)
        print(f"\n{run.summary(diff_lines=0)}")
        entry = data["suites"].get(suite, {})  # type: ignore[attr-defined]
        if "ratio" in entry:
            print(
                f"{suite}: direct {entry['direct']['seconds']} s, through regogate "
                f"{entry['gateway']['seconds']} s, ratio {entry['ratio']} ({TIMING_FILE})"
            )
        return run


@pytest.fixture(scope="module")
def suites() -> Iterator[Suites]:
    try:
        manifest = Manifest.load(find_bindir())
    except SuitesNotInstalled as exc:
        pytest.fail(str(exc))
    base = Path(tempfile.mkdtemp(prefix="regogate-pg-suites-"))
    base.chmod(0o755)  # the server's user works in here (COPY to and from files)
    (base / "runs").mkdir()
    # regress.so (and the refint/autoinc links) where the server's user can load them: the
    # checkout may sit under a directory only its owner can enter (a 0700 mktemp -d).
    shutil.copytree(manifest.dlpath, base / "lib", symlinks=True)
    manifest = dataclasses.replace(manifest, dlpath=base / "lib")
    server = PgServer(base / "data", settings=SERVER_SETTINGS)
    if server.run_as:
        pw = pwd.getpwnam(server.run_as)
        os.chown(base / "runs", pw.pw_uid, pw.pw_gid)
    server.start()
    s = Suites(base, manifest, server)
    try:
        server.wait_ready()
        yield s
    finally:
        s.stop_gateway()
        server.stop("immediate")
        failed = any(not r.ok for r in s.runs.values())
        if not failed:
            shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("suite", SUITES)
def test_suite_passes_directly(suites: Suites, suite: str) -> None:
    """The baseline: without the gateway every test passes (else the machine is the problem)."""
    run = suites.run(suite, "direct")
    assert run.ok, "PostgreSQL's suite fails without regogate:\n" + run.summary()


@pytest.mark.parametrize("suite", SUITES)
def test_suite_passes_through_the_gateway(suites: Suites, suite: str) -> None:
    suites.run(suite, "direct")  # the time to compare with, when run alone (-k gateway)
    run = suites.run(suite, "gateway")
    assert run.ok, "PostgreSQL's suite fails through regogate:\n" + run.summary()


def test_the_suites_recording_verifies(suites: Suites) -> None:
    """Everything the suites ran through the gateway is in a signed log that verifies."""
    for suite in SUITES:
        suites.run(suite, "gateway")
    suites.stop_gateway()
    assert suites.signer is not None
    verdict = verify_directory(suites.rec_dir, [suites.signer.verifier])
    assert verdict.ok, verdict
