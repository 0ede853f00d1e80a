"""`regogate report` over recordings of real sessions through `regogate serve`.

Every figure is checked against what the sessions in conftest.py did; `report check`
passes on the report and fails on an edited one; the same inputs give the same bytes;
an empty period and a tampered log render; no literal, fetched value or secret reaches
a report.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.report.conftest import LITERAL, Recorded, regogate


def make_report(rec: Recorded, out: Path, *extra: str | Path) -> tuple[int, dict[str, Any], str]:
    run = regogate(
        "report", "--from", "2024-01-01", "-d", rec.log_a, "-d", rec.log_b,
        "--trust", rec.trust_a, "--trust", rec.trust_b, "-o", out, *extra,
    )  # fmt: skip
    assert run.returncode in {0, 1}, run.stderr
    [json_file] = out.glob("*.json")
    [html_file] = out.glob("*.html")
    return run.returncode, json.loads(json_file.read_text()), html_file.read_text()


@pytest.fixture(scope="module")
def report(
    recorded: Recorded, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any], str]:
    out = tmp_path_factory.mktemp("out")
    code, doc, html = make_report(recorded, out, "--protected", "report_*")
    assert code == 0
    return out, doc["evidence"], html


def test_every_figure_matches_what_the_sessions_did(
    report: tuple[Path, dict[str, Any], str],
) -> None:
    _, e, html = report
    assert e["integrity"]["verdict"] == "PASS"
    origins = e["integrity"]["origins"]
    assert [o["origin"].split("/dep-")[0] for o in origins] == [
        "bank.example/regogate/a",
        "bank.example/regogate/b",
    ]
    assert all(o["status"] == "intact-sealed" and not o["errors"] for o in origins)
    assert len(origins[0]["keys"]) == 2  # the rotation: two keys signed log A
    assert len(e["scope"]["origins"][0]["key_rotations"]) == 1
    assert e["scope"]["origins"][0]["boots"] == 3  # two gateway boots and the rotation's
    t = e["totals"]
    assert (t["sessions"], t["statements"], t["identities"]) == (4, 15, 3)
    assert (t["denials"], t["privileged"], t["exceptions"]) == (3, 5, 3)
    assert t["by_class"] == {
        "read": 7,
        "write": 3,
        "ddl": 3,
        "role": 0,
        "transaction": 2,
        "other": 0,
    }
    by = {i["identity"]: i for i in e["identities"]}
    assert by["analyst"]["sessions"] == 2 and by["analyst"]["statements"] == 8
    assert by["analyst"]["by_verb"] == {"BEGIN": 1, "COMMIT": 1, "DELETE": 1, "SELECT": 5}
    assert by["analyst"]["denials"] == 2
    assert by["dba"]["by_verb"] == {"ALTER": 1, "CREATE": 1, "DROP": 1, "INSERT": 1, "UPDATE": 1}
    assert by["dba"]["denials"] == 1 and by["agent"]["statements"] == 2
    reasons = sorted(r for x in e["exceptions"] for r in x["reasons"])
    assert reasons == ["DELETE is not allowed", "DROP TABLE is not allowed",
                       "reading SSN columns is not allowed"]  # fmt: skip
    assert all(isinstance(x["seq"], int) and x["event"] == "denial" for x in e["exceptions"])
    priv = [(p["verb"], p["allowed"]) for p in e["privileged"]]
    assert priv == [("CREATE", True), ("INSERT", True), ("UPDATE", True), ("DROP", False),
                    ("ALTER", True)]  # fmt: skip
    assert {r["revision"] for r in e["scope"]["revisions"]} and all(
        r["decisions"] for r in e["scope"]["revisions"]
    )
    assert t["sampled_sessions"] == 4  # every closed session (3 in A, 1 in B)
    assert e["masking"]["scan"]["run"] is False
    assert "Integrity: PASS" in html and "Integrity: FAIL" not in html


def test_report_check_recomputes_and_catches_an_edit(
    recorded: Recorded, report: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> None:
    out, _, _ = report
    [json_file] = out.glob("*.json")
    ok = regogate(
        "report", "check", json_file, "--trust", recorded.trust_a, "--trust", recorded.trust_b
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    doc = json.loads(json_file.read_text())
    doc["evidence"]["identities"][1]["by_verb"]["SELECT"] = 4
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    bad = regogate(
        "report", "check", edited, "--trust", recorded.trust_a, "--trust", recorded.trust_b
    )
    assert bad.returncode == 1
    assert "/identities/1/by_verb/SELECT: report says 4, log gives 5" in bad.stdout


def test_the_same_inputs_give_the_same_bytes(
    recorded: Recorded, report: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> None:
    out, _, _ = report
    make_report(recorded, tmp_path, "--protected", "report_*")
    for first in out.glob("*.*"):
        assert (tmp_path / first.name).read_bytes() == first.read_bytes(), first.name


def test_an_empty_period_says_so(recorded: Recorded, tmp_path: Path) -> None:
    run = regogate(
        "report", "--from", "2001-01-01", "--to", "2001-01-31", "-d", recorded.log_a,
        "--trust", recorded.trust_a, "-o", tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    e = json.loads(next(tmp_path.glob("*.json")).read_text())["evidence"]
    assert e["empty"] and e["totals"]["statements"] == 0 and e["integrity"]["verdict"] == "PASS"
    assert (
        "No database activity was recorded in this period"
        in next(tmp_path.glob("*.html")).read_text()
    )


def tampered_copy(rec: Recorded, target: Path) -> Path:
    log = target / "rec-a"
    shutil.copytree(rec.log_a, log)
    seg = log / "seg-000001.jsonl"
    seg.chmod(0o600)
    seg.write_bytes(
        seg.read_bytes().replace(b'"DELETE is not allowed"', b'"DELETE is not alloweD"')
    )
    return log


def test_a_tampered_log_renders_a_fail_banner_and_exits_1(
    recorded: Recorded, tmp_path: Path
) -> None:
    log = tampered_copy(recorded, tmp_path)
    run = regogate("report", "--from", "2024-01-01", "-d", log, "--trust", recorded.trust_a,
                   "-o", tmp_path / "out")  # fmt: skip
    assert run.returncode == 1
    e = json.loads(next((tmp_path / "out").glob("*.json")).read_text())["evidence"]
    assert e["integrity"]["verdict"] == "FAIL"
    assert "checkpoint-root-mismatch" in {f["code"] for f in e["integrity"]["origins"][0]["errors"]}
    assert 'class="banner fail"' in next((tmp_path / "out").glob("*.html")).read_text()


# Strings no report may hold: what clients typed or read, tokens, key material.
def secrets_of(rec: Recorded) -> list[str]:
    from tests.fix_gateway import TOKENS

    found = [LITERAL, *rec.fetched, *(tok for tok, _ in TOKENS.values())]
    for key in rec.root.glob("*.key"):
        text = key.read_text().strip()  # PRIVATE+KEY+<name>+<hash>+<base64, may hold "+">
        found += [text, text.split("+", 4)[4]]
    for mac in rec.root.glob("*.key.mac"):
        found.append(mac.read_text().strip().split(":", 1)[1])
    return found


def test_no_pii_and_no_secret_in_any_report(
    recorded: Recorded, report: tuple[Path, dict[str, Any], str]
) -> None:
    out, _, _ = report
    needles = secrets_of(recorded)
    assert len(needles) > 8
    for path in out.glob("*.*"):
        text = path.read_text()
        for needle in needles:
            assert needle not in text, (path.name, needle[:12])
        assert "PRIVATE+KEY" not in text
        assert not re.search(r"\b\d{3}-\d{2}-\d{4}\b", text)  # an SSN's shape
        assert not re.search(r"\b\d{13,19}\b", text)  # a card number's shape
