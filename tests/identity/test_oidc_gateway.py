"""OIDC end to end: a real `regogate serve` process, a local issuer over HTTP, and real
clients (psql, psycopg, asyncpg) presenting a JWT as the password."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable

import psycopg
import pytest

from tests.fix_gateway import GatewayFixture
from tests.identity.conftest import connect, gateway_log, oidc_toml
from tests.identity.issuer import LocalIssuer, new_key
from tests.pgerror import connect_error

HOUR = 3600


def test_psycopg_connects_with_a_token(oidc_gateway: GatewayFixture, issuer: LocalIssuer) -> None:
    with connect(oidc_gateway, issuer.token(sub="alice")) as conn:
        user, n = conn.execute("select current_user, count(*) from accounts").fetchone()  # type: ignore[misc]
    assert user == "rg_scram"
    assert n > 0
    assert "as alice -> bank" in gateway_log(oidc_gateway)


def test_psql_connects_with_a_token(oidc_gateway: GatewayFixture, issuer: LocalIssuer) -> None:
    env = {
        **os.environ,
        "PGHOST": "127.0.0.1",
        "PGPORT": str(oidc_gateway.port),
        "PGDATABASE": "bank",
        "PGUSER": "bob",
        "PGPASSWORD": issuer.token(sub="bob"),
        "PGSSLMODE": "disable",
    }
    p = subprocess.run(
        ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", "select 40 + 2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "42"


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_every_allowed_algorithm(
    oidc_gateway: GatewayFixture, issuer: LocalIssuer, alg: str
) -> None:
    with connect(oidc_gateway, issuer.token(alg=alg)) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_static_tokens_keep_working_beside_oidc(oidc_gateway: GatewayFixture) -> None:
    with psycopg.connect(oidc_gateway.dsn("agent"), autocommit=True) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def _now() -> int:
    return int(time.time())


Forge = Callable[[LocalIssuer], str]

# (case, token maker, SQLSTATE, words the message must contain)
REJECTED: list[tuple[str, Forge, str, str]] = [
    (
        "expired",
        lambda i: i.token(iat=_now() - 2 * HOUR, nbf=_now() - 2 * HOUR, exp=_now() - HOUR),
        "28000",
        "the token expired at",
    ),
    (
        "expired-beyond-leeway",
        lambda i: i.token(exp=_now() - 45),
        "28000",
        "the token expired at",
    ),
    ("not-yet-valid", lambda i: i.token(nbf=_now() + HOUR), "28000", "not valid yet"),
    ("issued-in-future", lambda i: i.token(iat=_now() + HOUR), "28000", "issued in the future"),
    ("no-exp", lambda i: i.token(exp=None), "28000", "no exp (expiry) claim"),
    (
        "wrong-audience",
        lambda i: i.token(aud="someone-else"),
        "28000",
        'wrong audience: the token is for "someone-else", regogate expects "regogate-test"',
    ),
    (
        "unknown-issuer",
        lambda i: i.token(iss="https://idp.evil.example/"),
        "28P01",
        'unknown token issuer "https://idp.evil.example/"',
    ),
    (
        "bad-signature",
        lambda i: i.token(key=new_key("RS256", i.current)),  # same kid, another key
        "28P01",
        "bad signature",
    ),
    (
        "tampered-payload",
        lambda i: _swap_payload(i.token(), i.token(groups=["dba"])),
        "28P01",
        "bad signature",
    ),
    (
        "hs256-with-public-key",
        lambda i: i.hmac_with_public_key(),
        "28P01",
        'shared-secret algorithm "HS256"',
    ),
    ("alg-none", lambda i: i.unsigned_token(), "28P01", 'unsigned (alg "none")'),
    (
        "missing-groups",
        lambda i: i.token(groups=None),
        "28000",
        'the token has no groups claim "groups"',
    ),
    ("no-sub", lambda i: i.token(sub=None), "28000", "no sub (subject) claim"),
    (
        "unknown-kid",
        lambda i: i.token(key=new_key("RS256", "not-published")),
        "28P01",
        'unknown signing key: issuer "',
    ),
    ("malformed", lambda i: "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl", "28P01", "not a well-formed"),
]


def _swap_payload(signed: str, other: str) -> str:
    head, _, sig = signed.split(".")
    return f"{head}.{other.split('.')[1]}.{sig}"


@pytest.mark.parametrize(
    ("make", "sqlstate", "words"),
    [pytest.param(m, s, w, id=c) for c, m, s, w in REJECTED],
)
def test_rejected_tokens_say_why(
    oidc_gateway: GatewayFixture, issuer: LocalIssuer, make: Forge, sqlstate: str, words: str
) -> None:
    token = make(issuer)
    state, message = connect_error(oidc_gateway.port, "mallory", token, "bank")
    assert state == sqlstate, message
    assert words in message
    assert message.startswith('token authentication failed for user "mallory": ')
    for part in token.split("."):  # no segment of the token is echoed, not even the header
        assert len(part) < 8 or part not in message
    assert token not in gateway_log(oidc_gateway)


def test_token_never_in_log_or_errors(oidc_gateway: GatewayFixture, issuer: LocalIssuer) -> None:
    good = issuer.token(sub="carol")
    expired = issuer.token(sub="carol", exp=_now() - HOUR)
    with connect(oidc_gateway, good) as conn:
        conn.execute("select 1")
    with pytest.raises(psycopg.OperationalError) as caught:
        connect(oidc_gateway, expired)
    assert "expired" in str(caught.value)
    assert expired not in str(caught.value)
    log = gateway_log(oidc_gateway)
    assert "the token expired at" in log  # the reason is logged ...
    for token in (good, expired):  # ... the token is not, nor its signature
        assert token not in log
        assert token.split(".")[2] not in log


def test_key_rotation_during_a_run(make_gateway, fresh_issuer: LocalIssuer) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(extra=oidc_toml(fresh_issuer, refresh_min_interval=0))
    old = fresh_issuer.token()
    with connect(gw, old) as conn:
        conn.execute("select 1")
    assert fresh_issuer.requests["/realms/fresh/jwks"] == 1
    fresh_issuer.rotate()  # new kid; the old key leaves the JWKS
    with connect(gw, fresh_issuer.token()) as conn:  # unknown kid -> refetch -> accepted
        conn.execute("select 1")
    assert fresh_issuer.requests["/realms/fresh/jwks"] == 2
    state, message = connect_error(gw.port, "alice", old, "bank")  # withdrawn key
    assert state == "28P01"
    assert "unknown signing key" in message
    assert fresh_issuer.requests["/realms/fresh/.well-known/openid-configuration"] == 1


def test_unknown_kid_refresh_is_rate_limited(make_gateway, fresh_issuer: LocalIssuer) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(extra=oidc_toml(fresh_issuer, jwks_url=fresh_issuer.jwks_url))
    with connect(gw, fresh_issuer.token()) as conn:
        conn.execute("select 1")
    fresh_issuer.rotate()
    for _ in range(5):  # a flood of unknown kids costs the issuer nothing
        state, message = connect_error(gw.port, "alice", fresh_issuer.token(), "bank")
        assert state == "28P01"
        assert "unknown signing key" in message
        assert "retry in" in message
    assert fresh_issuer.requests["/realms/fresh/jwks"] == 1
    assert fresh_issuer.requests["/realms/fresh/.well-known/openid-configuration"] == 0


def test_issuer_unreachable(make_gateway, fresh_issuer: LocalIssuer) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(extra=oidc_toml(fresh_issuer))
    fresh_issuer.status = 503
    state, message = connect_error(gw.port, "alice", fresh_issuer.token(), "bank")
    assert state == "28P01"
    assert "cannot get the signing keys of issuer" in message
    assert "HTTP status 503" in message


def test_two_issuers(make_gateway, issuer: LocalIssuer, fresh_issuer: LocalIssuer) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(
        extra=oidc_toml(issuer)
        + oidc_toml(fresh_issuer, groups_claim="roles", algorithms=["ES256"])
    )
    with connect(gw, issuer.token()) as conn:
        conn.execute("select 1")
    with connect(gw, fresh_issuer.token(alg="ES256", roles=["r1"], groups=None)) as conn:
        conn.execute("select 1")
    state, message = connect_error(gw.port, "alice", fresh_issuer.token(alg="RS256"), "bank")
    assert state == "28P01"
    assert '"RS256" is not allowed for issuer' in message
