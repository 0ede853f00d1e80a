"""The upstream must prove who it is before a session uses it: the SCRAM server signature
is checked, weak password methods go only to a verified server, and ``tls = "require"``
is called what it is at start. A fake upstream plays the servers that misbehave; the real
PostgreSQL shows the honest paths still work."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.fix_gateway import GatewayFixture
from tests.fix_pg import UPSTREAM_PASSWORD, PgFixture
from tests.pgerror import connect_error
from tests.proxy.fake_upstream import Behaviour, FakeUpstream


@pytest.fixture
def fake_upstream() -> Iterator[Callable[[Behaviour], FakeUpstream]]:
    started: list[FakeUpstream] = []

    def start(behaviour: Behaviour) -> FakeUpstream:
        fake = FakeUpstream(behaviour)
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.close()


def _log(gw: GatewayFixture) -> str:
    assert gw.process is not None
    return Path(gw.process.log).read_text()


def _refused(gw: GatewayFixture, fake: FakeUpstream, dbname: str = "fake") -> str:
    """Connect through the gateway; the upstream error the client gets (08006)."""
    state, message = connect_error(gw.port, "dba", gw.token("dba"), dbname)
    assert state == "08006", message
    assert UPSTREAM_PASSWORD not in message
    assert UPSTREAM_PASSWORD not in _log(gw)
    # The session was never used: nothing after login reached the fake.
    assert all(not v.after_login for v in fake.visits)
    return message


def test_a_faithful_scram_server_is_used(
    make_gateway: Callable[..., GatewayFixture],
    fake_upstream: Callable[[Behaviour], FakeUpstream],
) -> None:
    # The control for the tests below: the fake itself speaks SCRAM correctly.
    fake = fake_upstream("scram")
    gw = make_gateway(extra=fake.toml())
    with psycopg.connect(gw.dsn(dbname="fake"), autocommit=True) as conn:
        conn.execute("")
    assert fake.visits[0].logged_in
    assert fake.visits[0].after_login.startswith(b"Q")


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        ("scram-skip-final", "without proving it knows the password (no AuthenticationSASLFinal"),
        ("scram-forged-final", "its SCRAM server signature is wrong"),
        ("scram-garbage-final", "its SCRAM server signature is wrong"),
    ],
)
def test_a_scram_server_that_does_not_prove_itself_is_refused(
    make_gateway: Callable[..., GatewayFixture],
    fake_upstream: Callable[[Behaviour], FakeUpstream],
    behaviour: Behaviour,
    expected: str,
) -> None:
    fake = fake_upstream(behaviour)
    gw = make_gateway(extra=fake.toml())
    message = _refused(gw, fake)
    assert expected in message
    assert "connection 'fake'" in message
    assert expected in _log(gw)
    # The client proof went out (SCRAM never reveals the password), nothing more.
    assert [f.tag for f in fake.visits[0].auth_messages] == [b"p", b"p"]


@pytest.mark.parametrize(("behaviour", "how"), [("cleartext", "in cleartext"), ("md5", "MD5")])
def test_weak_password_methods_need_a_verified_server(
    make_gateway: Callable[..., GatewayFixture],
    fake_upstream: Callable[[Behaviour], FakeUpstream],
    behaviour: Behaviour,
    how: str,
) -> None:
    fake = fake_upstream(behaviour)
    gw = make_gateway(extra=fake.toml())
    message = _refused(gw, fake)
    assert how in message
    assert 'tls = "verify-full"' in message
    fake.visits[0].closed.wait(5)
    assert fake.visits[0].auth_messages == []  # the password (or its MD5) never left


def test_a_server_that_asks_for_no_configured_password_is_refused(
    make_gateway: Callable[..., GatewayFixture],
    fake_upstream: Callable[[Behaviour], FakeUpstream],
) -> None:
    fake = fake_upstream("trust")
    gw = make_gateway(extra=fake.toml() + fake.toml("fake_nopw", password=False))
    assert "without asking for the configured password" in _refused(gw, fake)
    # Without a configured password, trust is what the operator chose.
    with psycopg.connect(gw.dsn(dbname="fake_nopw"), autocommit=True) as conn:
        conn.execute("")


@pytest.mark.parametrize("tls", ["disable", "require"])
def test_real_md5_upstream_without_verify_full_is_refused(
    make_gateway: Callable[..., GatewayFixture], pg: PgFixture, tls: str
) -> None:
    gw = make_gateway(
        extra=f"""
[connections.md5_{tls}]
host = "127.0.0.1"
port = {pg.port}
database = "bank"
user = "rg_md5"
password_env = "RG_TEST_UPSTREAM_PASSWORD"
tls = "{tls}"
"""
    )
    state, message = connect_error(gw.port, "dba", gw.token("dba"), f"md5_{tls}")
    assert state == "08006"
    assert "as an MD5 hash" in message
    assert UPSTREAM_PASSWORD not in _log(gw)
    # The same role through verify-full (the fixture's bank_md5), and SCRAM, still work.
    for dbname, user in (("bank_md5", "rg_md5"), ("bank", "rg_scram"), ("bank_tls", "rg_scram")):
        with psycopg.connect(gw.dsn(dbname=dbname), autocommit=True) as conn:
            assert conn.execute("select current_user").fetchone() == (user,)


def test_tls_require_is_called_unverified_at_start(
    make_gateway: Callable[..., GatewayFixture],
) -> None:
    gw = make_gateway()
    log = _log(gw)
    warnings = [line for line in log.splitlines() if "certificate of" in line]
    assert len(warnings) == 1, log  # bank_tls only; verify-full and plain say nothing
    assert "WARNING" in warnings[0]
    assert "'bank_tls'" in warnings[0]
    assert "is not checked" in warnings[0]
