"""Differential test of the gate against PostgreSQL: what the gate decides on is what
PostgreSQL executes.

Generated session scripts (seeded; settings changes, transactions with savepoints and
errors, SQL and protocol prepared statements, pipelines) run through a real `regogate
serve` whose policy allows everything and spells each policy input's verb, relations and
flags into the decision's `rules`, which the recording keeps. PostgreSQL's side comes
from its own log: `log_statement = 'all'` and auto_explain's verbose JSON plans (the
schema-qualified relations each executed plan used), set on a database of its own. Every
statement PostgreSQL ran must be one the gate allowed, in order, on the relations it
decided on (`tests/differential/check.py`). `public.customers` is shadowed by
`shadow.customers` and `public.transactions` by a view `shadow.transactions`, so a
search_path the gate follows wrongly shows up as a relation mismatch.

A failure prints the smallest script that still fails (steps dropped while it does).
`RG_DIFF_SEQUENCES` and `RG_DIFF_SECONDS` bound the run (defaults: 300 scripts, 45 s).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from regogate.recording.write import keys
from tests.differential.check import Differential, Report, signature
from tests.differential.pglog import ServerLog
from tests.differential.recordings import POLICY, Recording
from tests.differential.sequences import Generator, Step, shrink
from tests.differential.setup import create_database
from tests.fix_gateway import TOKENS, start_gateway
from tests.fix_pg import PgFixture

DB = "rg_diff"
SEQUENCES = int(os.environ.get("RG_DIFF_SEQUENCES", "300"))
SECONDS = float(os.environ.get("RG_DIFF_SECONDS", "45"))

SETUP = """
CREATE SCHEMA shadow AUTHORIZATION rg_scram;
CREATE TABLE shadow.customers (id bigint PRIMARY KEY, note text);
INSERT INTO shadow.customers SELECT i, 'shadow ' || i FROM generate_series(1, 5) i;
CREATE VIEW shadow.transactions AS SELECT id, full_name AS memo FROM public.customers;
ALTER TABLE shadow.customers OWNER TO rg_scram;
ALTER VIEW shadow.transactions OWNER TO rg_scram;
"""
# PostgreSQL's side: every top-level statement and every executed plan, in its log.
LOGGING = f"""
ALTER DATABASE {DB} SET session_preload_libraries = 'auto_explain';
ALTER DATABASE {DB} SET auto_explain.log_min_duration = 0;
ALTER DATABASE {DB} SET auto_explain.log_verbose = on;
ALTER DATABASE {DB} SET auto_explain.log_format = 'json';
ALTER DATABASE {DB} SET log_statement = 'all';
"""


@pytest.fixture(scope="module")
def diff(pg: PgFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Differential]:
    tmp = tmp_path_factory.mktemp("differential")
    server = pg.server
    create_database(pg, DB)
    bank = resources.files("regogate.demo").joinpath("bank.sql").read_text()
    server.psql(f"SET ROLE rg_scram;\n{bank}\n{SETUP}", dbname=DB)
    server.psql(LOGGING, dbname=DB)
    policy = tmp / "rego" / "regogate"
    policy.mkdir(parents=True)
    (policy / "policy.rego").write_text(POLICY)
    key_file = tmp / "rec.key"
    keys.install_signer(key_file, keys.generate("test.example/regogate-differential"))
    rec_dir = tmp / "recordings"
    extra = f"""
[policy]
dir = "{policy.parent}"

[recording]
dir = "{rec_dir}"
key_file = "{key_file}"
durability = "statement"
fsync = "never"

[connections.{DB}]
host = "127.0.0.1"
port = {pg.port}
database = "{DB}"
user = "rg_scram"
password_env = "RG_TEST_UPSTREAM_PASSWORD"
"""
    gw = start_gateway(pg, tmp / "gw", extra=extra)
    log = ServerLog(Path(server.datadir) / "server.log")
    try:
        yield Differential(gw.port, TOKENS["agent"][0], DB, log, Recording(rec_dir))
    finally:
        assert gw.process is not None
        gw.process.stop()
        server.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def _show(script: list[Step]) -> str:
    return "\n".join(f"  {i + 1}. {s.show()}" for i, s in enumerate(script))


def _fail(diff: Differential, script: list[Step], report: Report, what: str) -> None:
    kind = signature(report.problems[0])
    smallest = shrink(script, lambda s: kind in map(signature, diff.check(s).problems))
    final = diff.check(smallest)
    problems = final.problems or report.problems
    pytest.fail(
        f"{what}: PostgreSQL did not run what the gate decided.\n"
        f"smallest failing script:\n{_show(smallest)}\n"
        f"problems:\n" + "\n".join(f"  - {p}" for p in problems),
        pytrace=False,
    )


def test_generated_sessions_run_what_the_gate_decided(diff: Differential) -> None:
    deadline = time.monotonic() + SECONDS
    totals = Report()
    runs = 0
    for seed in range(SEQUENCES):
        if time.monotonic() > deadline:
            break
        script = Generator(seed).script(random.Random(seed).randint(3, 12))
        report = diff.check(script)
        runs += 1
        totals.plans += report.plans
        totals.statements += report.statements
        totals.uncertain += report.uncertain
        if report.problems:
            _fail(diff, script, report, f"seed {seed}")
    print(
        f"differential: {runs} scripts, {totals.statements} statements and "
        f"{totals.plans} plans compared, {totals.uncertain} plans on names the gate "
        f"declared uncertain"
    )
    assert runs >= min(SEQUENCES, 50)
    assert totals.plans > runs  # the scripts did read relations


# Seed 33 found a race (finding 7, docs/threat-model.md): the Execute of a SET LOCAL
# answered before the Sync that ends its transaction, and the statement after them was
# decided under the setting. It showed in about 1 run of 6; played here again and again.
RACE_SEEDS = (33,)
RACE_RUNS = 12


@pytest.mark.parametrize("seed", RACE_SEEDS)
def test_races_found_before_stay_fixed(diff: Differential, seed: int) -> None:
    script = Generator(seed).script(random.Random(seed).randint(3, 12))
    for run in range(RACE_RUNS):
        report = diff.check(script)
        if report.problems:
            _fail(diff, script, report, f"seed {seed}, run {run + 1}")


Q = "Q"


def _q(*sqls: str) -> list[Step]:
    return [Step(((Q, sql),)) for sql in sqls]


# Hand-written scripts for the cases the generator reaches only by chance: each is
# checked the same way (every statement decided, on the relations PostgreSQL used).
CASES: dict[str, list[Step]] = {
    "set then read in one query": _q(
        "SET search_path = shadow, public; SELECT 'm1' AS m1, count(*) FROM customers"
    ),
    "set_config then read in one query": _q(
        "SELECT set_config('search_path', 'shadow, public', false); "
        "SELECT 'm1' AS m1, count(*) FROM customers"
    ),
    "set local in a block, read, commit, read": _q(
        "BEGIN",
        "SET LOCAL search_path = shadow, public",
        "SELECT 'm1' AS m1, count(*) FROM customers",
        "COMMIT",
        "SELECT 'm2' AS m2, count(*) FROM customers",
    ),
    "savepoint rollback undoes the set": _q(
        "BEGIN",
        "SAVEPOINT a",
        "SET search_path = shadow, public",
        "ROLLBACK TO a",
        "SELECT 'm1' AS m1, count(*) FROM customers",
        "COMMIT",
    ),
    "a failed query undoes its set": _q(
        "SET search_path = shadow, public; SELECT 1/0",
        "SELECT 'm1' AS m1, count(*) FROM customers",
    ),
    "SQL EXECUTE after the search_path changed": _q(
        "SET search_path = shadow, public",
        "PREPARE s1 AS SELECT 'm1' AS m1, count(*) FROM customers",
        "RESET search_path",
        "EXECUTE s1",
    ),
    "protocol statement bound after the search_path changed": [
        Step(((Q, "SET search_path = shadow, public"),)),
        Step((("P", "s1", "SELECT 'm1' AS m1, count(*) FROM customers"), ("S",))),
        Step(((Q, "RESET search_path"),)),
        Step((("B", "", "s1"), ("E", ""), ("S",))),
    ],
    "protocol statement run by SQL EXECUTE": [
        Step(((Q, "SET search_path = shadow, public"),)),
        Step((("P", "s1", "SELECT 'm1' AS m1, count(*) FROM customers"), ("S",))),
        Step(((Q, "RESET search_path; EXECUTE s1"),)),
    ],
    "SQL-prepared statement bound by protocol after the search_path changed": [
        Step(((Q, "SET search_path = shadow, public"),)),
        Step(((Q, "PREPARE s1 AS SELECT 'm1' AS m1, count(*) FROM customers"),)),
        Step(((Q, "RESET search_path"),)),
        Step((("B", "", "s1"), ("E", ""), ("S",))),
    ],
    "Close and Parse of one name in one pipeline, then the search_path changes": [
        Step(
            (
                ("C", "S", "s2"),
                ("P", "s2", "SELECT 'm1' AS m1, count(*) FROM customers"),
                ("S",),
            )
        ),
        Step(((Q, "SET search_path = shadow, public"),)),
        Step((("B", "", "s2"), ("E", ""), ("S",))),
    ],
    "pipelined set, error, read": [
        Step(
            (
                ("P", "", "SET search_path = shadow, public"),
                ("B", "", ""),
                ("E", ""),
                ("P", "", "SELECT 'm1' AS m1, count(*) FROM customers"),
                ("B", "", ""),
                ("E", ""),
                ("S",),
                ("P", "", "SELECT 1/0"),
                ("B", "", ""),
                ("E", ""),
                ("S",),
                ("P", "", "SELECT 'm2' AS m2, count(*) FROM customers"),
                ("B", "", ""),
                ("E", ""),
                ("S",),
            )
        )
    ],
    "set local outside a block is ignored": _q(
        "SET LOCAL search_path = shadow, public",
        "SELECT 'm1' AS m1, count(*) FROM customers",
    ),
    "discard all resets the path": _q(
        "SET search_path = shadow, public",
        "DISCARD ALL",
        "SELECT 'm1' AS m1, count(*) FROM customers",
    ),
}


# Findings (docs/threat-model.md): strict, so that the mark goes once they are fixed.
FINDINGS: dict[str, str] = {}  # none open; finding 2 (Close and Parse pipelined) is fixed


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=FINDINGS[n]))
        if n in FINDINGS
        else n
        for n in CASES
    ],
)
def test_known_cases(diff: Differential, name: str) -> None:
    script = CASES[name]
    report = diff.check(script)
    if report.problems:
        _fail(diff, script, report, name)
    assert report.plans >= 1
