"""One statement cannot freeze every session: through a real `regogate serve` with its OPA
sidecar and real PostgreSQL, a text over ``[policy] max_statement_bytes`` gets 54000 and
the session goes on; while a client streams large statements, another client's simple
query still answers promptly (a generous bound, not a benchmark: bench/big_statements.py
measures)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.fix_gateway import GatewayFixture

LIMIT = 256 * 1024
ALLOW_ALL = """\
package regogate

decision := {"allow": true, "deny": [], "ttl": 60}
"""


@pytest.fixture
def gw(make_gateway: Callable[..., GatewayFixture], tmp_path: Path) -> GatewayFixture:
    d = tmp_path / "rego"
    (d / "regogate").mkdir(parents=True)
    (d / "regogate" / "policy.rego").write_text(ALLOW_ALL)
    return make_gateway(extra=f'[policy]\ndir = "{d}"\nmax_statement_bytes = {LIMIT}\n')


def in_list(size: int) -> str:
    """A SELECT of about ``size`` bytes: a long IN list, slow to analyse per byte."""
    head, items, n = "SELECT 1 WHERE 1 IN (", [], 0
    budget = size - len(head) - 2
    while n < budget - 8:
        item = f"{len(items)},"
        items.append(item)
        n += len(item)
    return head + "".join(items) + "0)"


def test_over_the_limit_gets_54000_and_the_session_goes_on(gw: GatewayFixture) -> None:
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.ProgramLimitExceeded) as simple:
            conn.execute(in_list(LIMIT + 10), prepare=False)  # type: ignore[call-overload]
        assert str(LIMIT) in str(simple.value)
        assert conn.execute("SELECT 42").fetchone() == (42,)
        with pytest.raises(psycopg.errors.ProgramLimitExceeded):  # Parse (extended)
            conn.execute(in_list(LIMIT + 10).replace("0)", "%s)"), (0,))  # type: ignore[call-overload]
        assert conn.execute("SELECT %s::int", (7,)).fetchone() == (7,)


def test_a_simple_query_answers_while_another_client_streams_large_statements(
    gw: GatewayFixture,
) -> None:
    big = in_list(LIMIT - 1024)
    stop = threading.Event()
    sent: list[int] = []

    def stream() -> None:
        with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
            while not stop.is_set():
                conn.execute(big + f" AND {len(sent)} >= 0")  # type: ignore[call-overload]
                sent.append(1)

    streamer = threading.Thread(target=stream)
    streamer.start()
    try:
        worst = 0.0
        with psycopg.connect(gw.dsn("analyst"), autocommit=True) as conn:
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                started = time.monotonic()
                assert conn.execute("SELECT 1").fetchone() == (1,)
                worst = max(worst, time.monotonic() - started)
                time.sleep(0.02)
    finally:
        stop.set()
        streamer.join(30)
    assert sent, "the large statements did not run"
    assert worst < 1.5, f"a simple query waited {worst:.2f} s behind large statements"
