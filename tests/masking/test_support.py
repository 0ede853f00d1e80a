"""Which statements with masked columns can be masked (pure): RETURNING and COPY TO
STDOUT are, when no masked value is stored on the way and the COPY's options are ones
the rewriter reads; everything that takes values elsewhere is denied."""

from __future__ import annotations

import pytest

from regogate.masking.support import refusal
from regogate.policy.catalog_rows import snapshot_from_rows
from regogate.policy.facts import analyze
from tests.policy.corpus import CATALOG_ROWS

CATALOG = snapshot_from_rows(CATALOG_ROWS)
MASKED = ("public.customers.ssn", "public.customers.email")


def _why(sql: str) -> str | None:
    (facts,) = analyze(sql, CATALOG).statements
    return refusal(facts, MASKED, {})


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE customers SET full_name = 'x' WHERE id = 1 RETURNING ssn",
        "INSERT INTO customers (id, full_name) VALUES (9, 'x') RETURNING ssn, upper(email)",
        "DELETE FROM customers WHERE id = 1 RETURNING *",
        "COPY customers TO STDOUT",
        "COPY (SELECT ssn FROM customers) TO STDOUT (FORMAT csv, HEADER, NULL 'x')",
        "COPY customers (ssn) TO STDOUT WITH BINARY",
        "SELECT ssn FROM customers",
    ],
)
def test_can_be_masked(sql: str) -> None:
    assert _why(sql) is None


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("UPDATE customers SET full_name = ssn WHERE id = 1 RETURNING id", "UPDATE"),
        ("UPDATE customers SET email = email WHERE id = 1 RETURNING ssn", "UPDATE"),
        (
            "INSERT INTO customers (id, full_name) SELECT 9, ssn FROM customers RETURNING id",
            "INSERT",
        ),
        ("WITH x AS (UPDATE customers SET id = id RETURNING ssn) SELECT * FROM x", "UPDATE"),
        ("UPDATE customers SET full_name = c.ssn FROM customers c RETURNING 1", "UPDATE"),
        ("COPY customers TO STDOUT (ENCODING 'LATIN1')", "ENCODING"),
        ("COPY customers TO STDOUT (FORMAT csv, FORCE_NOT_NULL (ssn))", "force_not_null"),
        ("CREATE TABLE t AS SELECT ssn FROM customers", "CREATE TABLE AS"),
    ],
)
def test_denied(sql: str, why: str) -> None:
    reason = _why(sql)
    assert reason is not None and why in reason, reason
