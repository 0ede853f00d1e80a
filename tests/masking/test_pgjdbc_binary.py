"""pgjdbc in binary mode through a real gateway (issue 20): every masked row decodes as the
RowDescription the driver was given says, with getObject and getString alike.

The Java program (jdbc/MaskedRows.java) connects with ``prepareThreshold=-1`` (a
server-prepared statement and binary results from the first execution) and
``binaryTransfer=true``, runs each query twice as a PreparedStatement (the second Execute
reuses the named statement) and prints what it read as JSON lines. Two modes: pgjdbc's
own binary set (int8, date, numeric, timestamptz binary; text as text), and the text
types forced binary too (``binaryTransferEnable``): the masked text travels in binary.

The driver jar comes from Maven Central through Maven into .cache/jdbc (gitignored);
with no way to fetch it the test fails, it does not skip. To fetch it ahead (CI setup):
``mvn -B -q -Dstyle.color=never org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy
-Dartifact=org.postgresql:postgresql:42.7.14:jar -DoutputDirectory=.cache/jdbc``
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fix_gateway import TOKENS, GatewayFixture
from tests.masking.conftest import DB
from tests.masking.corpus import Oracle, classified_values

ROOT = Path(__file__).resolve().parents[2]
JDBC_VERSION = "42.7.14"
JDBC_SHA256 = "73914527305a40cce504b0d3d90b23caf565136912d607ae8ae7c5895512332c"
JAR = ROOT / ".cache" / "jdbc" / f"postgresql-{JDBC_VERSION}.jar"
FETCH = [
    "mvn",
    "-B",
    "-q",
    "-Dstyle.color=never",
    "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
    f"-Dartifact=org.postgresql:postgresql:{JDBC_VERSION}:jar",
]
SOURCE = Path(__file__).with_name("jdbc") / "MaskedRows.java"
WHO = ("agent", "analyst")
MODES = {
    "pgjdbc-binary": "",
    "text-binary-too": "&binaryTransferEnable=TEXT,VARCHAR,BPCHAR",
}

# What each column must hold: None = PostgreSQL's own value (compared with a direct
# read), "unchecked" = not masked and not compared (a timestamptz's text differs by
# driver), else the mask method the default policy gives it (docs/masking.md: a column
# gets its own method only when it is that column; derived text gets `redact`; a masked
# value of a type other than text is NULL).
UNCHECKED = "unchecked"


@dataclass(frozen=True)
class Case:
    sql: str
    rows: int
    columns: tuple[str | None, ...]


CASES = [
    Case(
        "SELECT id, full_name, email, ssn, phone, date_of_birth FROM customers ORDER BY id LIMIT 50",
        50,
        (None, "redact", "email", "partial", "partial", "null"),
    ),
    Case(
        "SELECT id, account_number FROM accounts ORDER BY id LIMIT 30",
        30,
        (None, "partial"),
    ),
    Case("SELECT id, upper(ssn) FROM customers ORDER BY id LIMIT 5", 5, (None, "redact")),
    Case(
        "SELECT id, date_of_birth, date_of_birth + 1 AS next_day FROM customers "
        "ORDER BY id LIMIT 10",
        10,
        (None, "null", "null"),
    ),
    Case(
        "SELECT * FROM customers ORDER BY id LIMIT 5",
        5,
        (None, "redact", "email", "partial", "partial", "null", UNCHECKED),
    ),
    Case(
        "SELECT a.id, a.account_number, a.balance, a.opened_at FROM accounts a "
        "ORDER BY a.id LIMIT 10",
        10,
        (None, "partial", None, None),
    ),
    Case(
        "SELECT id, email, phone FROM customer_contacts ORDER BY id LIMIT 5",
        5,
        (None, "redact", "redact"),
    ),
]
# pgjdbc reads these types in binary whenever binaryTransfer is on.
ALWAYS_BINARY = {"int8", "date", "numeric", "timestamptz"}
TEXT_TYPES = {"text", "varchar", "bpchar"}


def _masked(method: str, raw: str) -> str | None:
    if method == "null":
        return None
    if method == "redact":
        return "REDACTED"
    if method == "email":
        return "***@" + raw.split("@", 1)[1]
    assert method == "partial", method
    return "*" * (len(raw) - 4) + raw[-4:]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _driver_jar() -> Path:
    """The pinned pgjdbc jar, fetched with Maven when .cache/jdbc lacks it. Any failure
    to get it fails the test: issue 20 names pgjdbc, so no driver is no pass."""
    if not JAR.exists():
        how = " ".join(FETCH) + " -DoutputDirectory=.cache/jdbc"
        if shutil.which("mvn") is None:
            pytest.fail(f"the pgjdbc test needs Maven to fetch its driver; run: {how}")
        JAR.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=JAR.parent) as staging:
            try:
                proc = subprocess.run(
                    [*FETCH, f"-DoutputDirectory={staging}"],
                    capture_output=True,
                    text=True,
                    timeout=300,
                    check=False,
                    cwd=staging,
                )
            except subprocess.TimeoutExpired:
                pytest.fail(f"fetching pgjdbc {JDBC_VERSION} with Maven timed out; run: {how}")
            if proc.returncode != 0:
                lines = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr).splitlines()
                errors = [ln for ln in lines if ln.startswith("[ERROR] Failed")]
                tail = "\n".join(errors[:1] or lines[-10:])
                pytest.fail(
                    f"could not fetch the PostgreSQL JDBC driver {JDBC_VERSION} from Maven "
                    f"Central (no network?): mvn exited {proc.returncode}\n{tail}\n"
                    f"Fetch it ahead with: {how}"
                )
            os.replace(Path(staging) / JAR.name, JAR)
    digest = _sha256(JAR)
    if digest != JDBC_SHA256:
        pytest.fail(f"{JAR} has sha256 {digest}, not pgjdbc {JDBC_VERSION}'s {JDBC_SHA256}")
    return JAR


@pytest.fixture(scope="module")
def classpath(tmp_path_factory: pytest.TempPathFactory) -> str:
    jar = _driver_jar()
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.fail("the pgjdbc test needs a JDK (java and javac on PATH)")
    classes = tmp_path_factory.mktemp("jdbc-classes")
    subprocess.run(
        ["javac", "-Xlint:all", "-Werror", "-d", str(classes), str(SOURCE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return f"{jar}{os.pathsep}{classes}"


@pytest.fixture(scope="module")
def oracle(admin: psycopg.Connection[tuple[object, ...]]) -> Oracle:
    values = classified_values(admin)
    assert len(values) > 2000
    return Oracle(values)


def _run(gw: GatewayFixture, classpath: str, who: str, mode: str) -> tuple[int, str, str]:
    url = (
        f"jdbc:postgresql://127.0.0.1:{gw.port}/{DB}?sslmode=disable"
        f"&prepareThreshold=-1&binaryTransfer=true{MODES[mode]}"
    )
    proc = subprocess.run(
        [
            "java",
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-cp",
            classpath,
            "MaskedRows",
            url,
            who,
            TOKENS[who][0],
            *(case.sql for case in CASES),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("who", WHO)
def test_pgjdbc_binary_decodes_masked_rows(
    gw: GatewayFixture,
    admin: psycopg.Connection[tuple[object, ...]],
    oracle: Oracle,
    classpath: str,
    who: str,
    mode: str,
) -> None:
    code, out, err = _run(gw, classpath, who, mode)
    leaks = oracle.leaks(out + err)
    assert not leaks, f"classified values reached pgjdbc: {leaks}"
    assert code == 0, f"pgjdbc failed (exit {code}):\n{out[-3000:]}\n{err[-3000:]}"
    results: list[dict[str, Any]] = [json.loads(line) for line in out.splitlines()]
    assert [(r["sql"], r["run"]) for r in results] == [
        (case.sql, run) for case in CASES for run in (1, 2)
    ]
    by_sql = {(r["sql"], r["run"]): r for r in results}
    for case in CASES:
        first, second = by_sql[(case.sql, 1)], by_sql[(case.sql, 2)]
        assert first["ok"] and second["ok"], (first, second)
        assert first["rows"] == second["rows"], f"{case.sql}: the re-execution differs"
        assert first["columns"] == second["columns"], case.sql
        columns: list[dict[str, Any]] = first["columns"]
        rows: list[list[dict[str, Any]]] = first["rows"]
        assert len(columns) == len(case.columns), (case.sql, columns)
        assert len(rows) == case.rows, (case.sql, len(rows))
        for col in columns:
            binary = col["type"] in ALWAYS_BINARY or (
                mode == "text-binary-too" and col["type"] in TEXT_TYPES
            )
            assert col["binary"] is binary, (case.sql, mode, col)
        upstream = admin.execute(case.sql).fetchall()  # PostgreSQL directly, unmasked
        assert len(upstream) == case.rows
        for row, raw_row in zip(rows, upstream, strict=True):
            assert len(row) == len(raw_row) == len(case.columns)
            for cell, raw, method, col in zip(row, raw_row, case.columns, columns, strict=True):
                what = f"{case.sql} [{col['name']}] ({who}, {mode})"
                # getObject and getString agree: both NULL, or the same text
                assert (cell["object"] is None) is (cell["string"] is None), (what, cell)
                if method == UNCHECKED:
                    assert cell["string"] is not None, what
                elif method is None:
                    assert cell["string"] == str(raw), (what, cell, raw)
                else:
                    want = _masked(method, str(raw))
                    assert cell["string"] == want, (what, cell)
                    assert cell["string"] != str(raw), what
                    if want is not None:
                        assert cell["object"] == want and cell["class"] == "java.lang.String"
        # the ids are PostgreSQL's own, as getObject's Long
        assert [r[0]["class"] for r in rows] == ["java.lang.Long"] * case.rows, case.sql
        assert [int(r[0]["object"]) for r in rows] == [r[0] for r in upstream], case.sql
