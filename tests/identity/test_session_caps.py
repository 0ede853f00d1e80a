"""How many sessions one identity may hold (``[server] max_sessions_per_identity`` and the
session decision's ``session_limit``), and how a session cut at its token's expiry ends
its upstream session. Real `regogate serve`, OPA sidecar, PostgreSQL, psycopg; a fake
upstream where the bytes the gateway sends upstream are the point."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import pytest

from regogate.errors import PolicyUnavailable
from regogate.policy.decision import parse_decision
from regogate.wire.frontend import Query, Terminate
from tests.fix_gateway import GatewayFixture
from tests.identity.conftest import connect, gateway_log, oidc_toml
from tests.identity.issuer import LocalIssuer
from tests.pgerror import connect_error
from tests.proxy.fake_upstream import FakeUpstream

LIMITS = """\
package regogate

decision := {"allow": true, "deny": [], "ttl": 60, "session_limit": limit}

limit := 1 if "readers" in input.identity.groups
else := 0 if "blocked" in input.identity.groups
else := "two" if "odd" in input.identity.groups
else := null
"""


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream("scram")
    yield upstream
    upstream.close()


def _refusal(gw: GatewayFixture, token: str) -> tuple[str, str]:
    return connect_error(gw.port, "alice", token, "bank")


def test_the_config_caps_sessions_per_identity(
    make_gateway: Callable[..., GatewayFixture],
) -> None:
    gw = make_gateway(extra_server="max_sessions_per_identity = 2")
    with ExitStack() as stack:
        for _ in range(2):
            stack.enter_context(psycopg.connect(gw.dsn("dba"), autocommit=True))
        state, message = connect_error(gw.port, "dba", gw.token("dba"), "bank")
        assert state == "53300"
        assert "too many sessions for identity 'dba': 2 open, at most 2 allowed" in message
        # Other identities are not held back by dba's sessions.
        with psycopg.connect(gw.dsn("analyst"), autocommit=True) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    time.sleep(0.3)  # the closed sessions' places are given back
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_the_policy_caps_sessions_per_identity(
    make_gateway: Callable[..., GatewayFixture],
    tmp_path: Path,
    issuer: LocalIssuer,
    fake: FakeUpstream,
) -> None:
    rego = tmp_path / "rego" / "regogate"
    rego.mkdir(parents=True)
    (rego / "policy.rego").write_text(LIMITS)
    policy = f'[policy]\ndir = "{rego.parent}"\n'
    gw = make_gateway(extra=policy + oidc_toml(issuer) + fake.toml())
    rita = issuer.token(sub="rita", groups=["readers"])
    with connect(gw, rita) as first:
        assert first.execute("select 1").fetchone() == (1,)
        state, message = _refusal(gw, rita)
        assert state == "53300"
        assert "too many sessions for identity 'rita': 1 open, at most 1 allowed" in message
        assert first.execute("select 2").fetchone() == (2,)  # the first one is untouched
        # Without a limit from the policy (null), an identity may hold several.
        olga = issuer.token(sub="olga", groups=["others"])
        with connect(gw, olga), connect(gw, olga), connect(gw, olga) as third:
            assert third.execute("select 3").fetchone() == (3,)
    time.sleep(0.3)
    with connect(gw, rita) as again:
        assert again.execute("select 4").fetchone() == (4,)
    state, message = _refusal(gw, issuer.token(sub="bo", groups=["blocked"]))
    assert (state, "at most 0 allowed" in message) == ("53300", True)
    # Refused after the upstream session was opened: it is ended with a Terminate.
    state, _ = connect_error(gw.port, "bo", issuer.token(sub="bo", groups=["blocked"]), "fake")
    assert state == "53300"
    assert fake.visits[0].closed.wait(5)
    assert bytes(fake.visits[0].after_login) == Terminate().encode()
    # A malformed session_limit is a malformed decision: the session does not start.
    state, message = _refusal(gw, issuer.token(sub="oddly", groups=["odd"]))
    assert state == "28000"
    assert "'session_limit' must be a non-negative integer or null" in message


def _fake_connect(gw: GatewayFixture, token: str) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host="127.0.0.1",
        port=gw.port,
        dbname="fake",
        user="alice",
        password=token,
        sslmode="disable",
        autocommit=True,
    )


def test_an_expired_session_ends_its_upstream_with_a_terminate(
    make_gateway: Callable[..., GatewayFixture], issuer: LocalIssuer, fake: FakeUpstream
) -> None:
    gw = make_gateway(extra=oidc_toml(issuer, leeway=0) + fake.toml())
    token = issuer.token(sub="short", exp=int(time.time()) + 2)
    with _fake_connect(gw, token) as conn:
        conn.execute("")
        visit = fake.visits[0]
        assert visit.closed.wait(10), "the upstream session was not ended"
        with pytest.raises(psycopg.OperationalError, match="token of 'short' expired"):
            conn.execute("")
    # What the client sent, then one well-formed Terminate (protocol §55.7): not a bare
    # close, and not a message PostgreSQL would wait on for a missing length byte.
    assert bytes(visit.after_login) == Query("").encode() + Terminate().encode()
    assert "expired (disconnect)" in gateway_log(gw)


@pytest.mark.parametrize(
    ("value", "limit"), [(None, None), (0, 0), (3, 3), (-1, "bad"), (True, "bad"), (2.5, "bad")]
)
def test_session_limit_in_the_decision(value: object, limit: int | str | None) -> None:
    result = {"allow": True, "session_limit": value}
    if limit == "bad":
        with pytest.raises(PolicyUnavailable, match="'session_limit' must be a non-negative"):
            parse_decision(result)
    else:
        assert parse_decision(result).session_limit == limit
