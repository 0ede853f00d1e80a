"""`regogate report --pii-scan-dsn`: the records of real sessions through `regogate serve`
scanned for the demo database's classified values (the default policy library's
classification), found where a client put them (an application_name, a quoted alias),
not where regogate replaced them (a literal), and never printed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest

from regogate.cli.report_pii import classified_columns, parse_dsn
from regogate.recording.read.report_pii import PiiScanner, PiiValues, forms
from tests.fix_gateway import start_gateway
from tests.fix_pg import PgFixture
from tests.policy.test_enforce_e2e import policy_dir, policy_section
from tests.report.conftest import _section, regogate

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "policies" / "rego"


@pytest.fixture(scope="module")
def leaky_log(pg: PgFixture, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A log where one client named its connection after a customer's SSN (digits only)
    and another aliased a column with a customer's e-mail address in capitals."""
    root = tmp_path_factory.mktemp("pii")
    with psycopg.connect(pg.admin_dsn(), autocommit=True) as c:
        ssn, email = c.execute("select ssn, email from customers where id = 7").fetchone()  # type: ignore[misc]
        other = c.execute("select email from customers where id = 8").fetchone()[0]  # type: ignore[index]
    key, log, trust = root / "p.key", root / "rec", root / "p.vkeys"
    regogate("keys", "generate", "--name", "bank.example/regogate/pii", "--key", key, check=True)
    section = policy_section(policy_dir(root)) + _section(log, key)
    gw = start_gateway(pg, root / "gw", extra=section)
    try:
        digits = re.sub(r"\D", "", ssn)
        with psycopg.connect(gw.dsn("analyst", application_name=f"case {digits}"),
                             autocommit=True) as c:  # fmt: skip
            c.execute("select 1")
        with psycopg.connect(gw.dsn("analyst"), autocommit=True) as c:
            c.execute(f'select 1 as "{email.upper()}"')
            c.execute("select count(*) from customers where email = %s", (other,))
            c.execute(f"select count(*) from customers where email <> '{other}'")
    finally:
        assert gw.process is not None
        gw.process.stop()
    assert trust.is_file()  # keys generate writes the key's public history beside it
    return {"root": root, "log": log, "trust": trust, "ssn": ssn, "email": email,
            "other": other}  # fmt: skip


def _records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for p in sorted(log.glob("seg-*.jsonl"))
            for line in p.read_text().splitlines()]  # fmt: skip


def test_the_scan_finds_the_values_clients_put_in_records(
    pg: PgFixture, leaky_log: dict[str, Any], tmp_path: Path
) -> None:
    log, trust = leaky_log["log"], leaky_log["trust"]
    digits = re.sub(r"\D", "", leaky_log["ssn"])
    records = _records(log)
    opened = [r["seq"] for r in records if r["type"] == "session.open"
              and digits in json.dumps(r)]  # fmt: skip
    aliased = [r["seq"] for r in records if r["type"] == "stmt"
               and leaky_log["email"].upper() in r["text"]]  # fmt: skip
    assert len(opened) == 1 and len(aliased) == 1
    run = regogate("report", "--from", "2024-01-01", "-d", log, "--trust", trust,
                   "-o", tmp_path, "--pii-scan-dsn", pg.admin_dsn(),
                   "--policy-dir", LIBRARY)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    doc = json.loads(next(tmp_path.glob("*.json")).read_text())
    scan = doc["evidence"]["masking"]["scan"]
    columns = list(classified_columns(LIBRARY))
    assert scan["run"] is True and scan["columns"] == columns
    assert "public.customers.ssn" in columns and "public.customers.email" in columns
    with psycopg.connect(pg.admin_dsn(), autocommit=True) as c:
        distinct = sum(
            c.execute(f"select count(distinct {col}) from {tab}").fetchone()[0]  # type: ignore[index]
            for tab, col in (name.rsplit(".", 1) for name in columns)
        )
    assert scan["values"] == distinct > 1000
    assert scan["records"] == [
        {"origin": 0, "seq": opened[0], "columns": ["public.customers.ssn"]},
        {"origin": 0, "seq": aliased[0], "columns": ["public.customers.email"]},
    ]
    assert scan["hits"] == 2  # the literal (`other`) was replaced by $1: no hit
    html = next(tmp_path.glob("*.html")).read_text()
    assert "2 records hold a classified value" in html
    for path in tmp_path.glob("*.*"):  # the scan names records, never a value
        text = path.read_text().lower()
        for value in (leaky_log["ssn"], digits, leaky_log["email"], leaky_log["other"]):
            assert value.lower() not in text, path.name
    json_file = next(tmp_path.glob("*.json"))
    ok = regogate("report", "check", json_file, "--trust", trust, "--pii-scan-dsn",
                  pg.admin_dsn())  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    missing = regogate("report", "check", json_file, "--trust", trust)
    assert missing.returncode != 0 and "--pii-scan-dsn" in missing.stdout + missing.stderr


def test_without_the_option_the_report_says_the_scan_did_not_run(
    leaky_log: dict[str, Any], tmp_path: Path
) -> None:
    run = regogate("report", "--from", "2024-01-01", "-d", leaky_log["log"], "--trust",
                   leaky_log["trust"], "-o", tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    scan = json.loads(next(tmp_path.glob("*.json")).read_text())["evidence"]["masking"]["scan"]
    assert scan["run"] is False and "--pii-scan-dsn" in scan["note"]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("case 123456789", ("c.ssn",)),  # digits only
        ("-- ADA.LOVELACE@EXAMPLE.COM", ("c.email",)),  # upper case
        ("ada lovelace@example.com", ()),  # not the value
        ("123-45-6789", ("c.ssn",)),  # as it is
        ("a" * 64, ()),
        ("0123456789abcdef0123456789abcdef123456789", ()),  # a digest: not searched
    ],
)
def test_forms_and_digests(text: str, found: tuple[str, ...]) -> None:
    values = PiiValues(("c.email", "c.ssn"), (("Ada.Lovelace@example.com",), ("123-45-6789",)))
    scanner = PiiScanner.of(values)
    assert scanner.hits({"k": [1, {"x": text}]}) == found
    assert scanner.hits({text: None}) == found  # keys are strings of the record too
    assert forms("12-34") == set()  # too short to search for


def test_dsn_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    uri = parse_dsn("postgresql://scan%40ops:s3cret@db.internal:6432/bank?sslmode=require")
    assert (uri.host, uri.port, uri.user, uri.database, uri.tls) == (
        "db.internal", 6432, "scan@ops", "bank", "require",
    )  # fmt: skip
    assert uri.password is not None and uri.password.value == "s3cret"
    assert "s3cret" not in repr(uri)
    monkeypatch.setenv("PGPASSWORD", "from-env")
    words = parse_dsn("host=127.0.0.1 port=5433 user=scan dbname=bank")
    assert (words.port, words.password.value if words.password else None) == (5433, "from-env")
