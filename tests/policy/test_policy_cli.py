"""`regogate policy check | test | explain` as a policy author runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fix_gateway import gateway_config_text
from tests.fix_pg import PgFixture

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies" / "rego"


def regogate(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regogate", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_and_test_the_default_library(tmp_path: Path) -> None:
    out = regogate("policy", "check", "-d", str(POLICIES), cwd=tmp_path)
    assert out.returncode == 0, out.stderr + out.stdout
    assert out.stdout.startswith("ok: ") and "revision sha256:" in out.stdout
    out = regogate("policy", "test", "-d", str(POLICIES), "--threshold", "90", cwd=tmp_path)
    assert out.returncode == 0, out.stdout
    assert "PASS:" in out.stdout and "coverage:" in out.stdout


def test_check_reports_a_broken_policy(tmp_path: Path) -> None:
    d = tmp_path / "rego"
    d.mkdir()
    (d / "p.rego").write_text("package regogate\n\ndecision := {\n")
    out = regogate("policy", "check", "-d", str(d), cwd=tmp_path)
    assert out.returncode == 1
    assert "p.rego" in out.stdout and "Traceback" not in out.stdout + out.stderr


def _config(pg: PgFixture, tmp_path: Path) -> Path:
    cfg = tmp_path / "regogate.toml"
    cfg.write_text(gateway_config_text(pg, 0, extra=f'[policy]\ndir = "{POLICIES}"\n'))
    return cfg


def test_explain_uses_the_live_catalog(pg: PgFixture, tmp_path: Path) -> None:
    cfg = _config(pg, tmp_path)
    env = {"RG_TEST_UPSTREAM_PASSWORD": pg.password}
    args = ["policy", "explain", "-c", str(cfg), "--conn", "bank", "--as", "analyst"]
    out = regogate(*args, "--sql", "select * from customers", "--json", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["catalog"].startswith("live")
    (stmt,) = doc["statements"]
    assert "public.customers.ssn" in stmt["input"]["statement"]["columns"]["read"]
    assert stmt["input"]["identity"]["sub"] == "analyst"
    assert "public.customers.ssn" in stmt["decision"]["mask"]
    assert doc["verdict"] == "ALLOW"  # masked in flight
    masks = {c["column"]: c["mask"] for c in stmt["masks"]}
    assert masks["ssn"] == "partial (keep 4)" and masks["id"] == "-"
    assert masks["email"] == "email" and masks["date_of_birth"] == "null"
    human = regogate(*args, "--sql", "delete from accounts", cwd=tmp_path, env=env)
    assert human.returncode == 0, human.stderr
    assert "regogate would DENY this message" in human.stdout
    assert '"verb": "DELETE"' in human.stdout and "refused:" in human.stdout


def test_explain_offline_says_the_catalog_is_missing(pg: PgFixture, tmp_path: Path) -> None:
    cfg = _config(pg, tmp_path)
    env = {"RG_TEST_UPSTREAM_PASSWORD": pg.password}
    out = regogate(
        "policy",
        "explain",
        "-c",
        str(cfg),
        "--conn",
        "bank",
        "--as",
        "dba",
        "--sql",
        "select id from customers; drop table customers",
        "--offline",
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "catalog: none (--offline)" in out.stdout
    assert "statement 2 of 2" in out.stdout and "DROP TABLE" in out.stdout
    assert "regogate would DENY this message" in out.stdout
    unknown = regogate(
        "policy",
        "explain",
        "-c",
        str(cfg),
        "--as",
        "nobody",
        "--sql",
        "select 1",
        "--conn",
        "bank",
        cwd=tmp_path,
        env=env,
    )
    assert unknown.returncode == 2 and "no [[tokens]] entry with sub 'nobody'" in unknown.stderr
