"""What a session may not outgrow: its token's lifetime and the upstream role the policy
chose for it. Real `regogate serve`, OPA sidecar, PostgreSQL and psycopg."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.fix_gateway import GatewayFixture
from tests.identity.conftest import connect, gateway_log, oidc_toml
from tests.identity.issuer import LocalIssuer

ALLOW_ALL = """\
package regogate

decision := {"allow": true, "deny": [], "ttl": 60, "upstream_role": role}

role := "rg_reader" if "readers" in input.identity.groups
else := null
"""


def _gateway(
    make_gateway: Callable[..., GatewayFixture],
    tmp_path: Path,
    issuer: LocalIssuer,
    server: str = "",
) -> GatewayFixture:
    rego = tmp_path / "rego" / "regogate"
    rego.mkdir(parents=True)
    (rego / "policy.rego").write_text(ALLOW_ALL)
    return make_gateway(
        extra_server=server,
        extra=f'[policy]\ndir = "{rego.parent}"\n' + oidc_toml(issuer, leeway=0),
    )


def test_an_expired_token_ends_the_session(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path, issuer: LocalIssuer
) -> None:
    gw = _gateway(make_gateway, tmp_path, issuer)
    token = issuer.token(sub="short", exp=int(time.time()) + 3)
    with connect(gw, token) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        time.sleep(4)
        with pytest.raises(psycopg.OperationalError) as info:
            conn.execute("select 1")
    assert "token of 'short' expired" in str(info.value)
    assert "token expired" in gateway_log(gw) or "expired (disconnect)" in gateway_log(gw)
    assert token not in gateway_log(gw)


def test_token_expiry_allow_keeps_the_session(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path, issuer: LocalIssuer
) -> None:
    gw = _gateway(make_gateway, tmp_path, issuer, server='token_expiry = "allow"')
    with connect(gw, issuer.token(sub="long", exp=int(time.time()) + 3)) as conn:
        time.sleep(4)
        assert conn.execute("select 2").fetchone() == (2,)
    assert "expired (allow)" in gateway_log(gw)


def test_the_policy_role_is_applied_and_cannot_be_escaped(
    make_gateway: Callable[..., GatewayFixture],
    tmp_path: Path,
    issuer: LocalIssuer,
) -> None:
    gw = _gateway(make_gateway, tmp_path, issuer)
    with psycopg.connect(gw.pg.admin_dsn("bank"), autocommit=True) as admin:
        admin.execute(
            "do $$ begin create role rg_reader nologin; exception when duplicate_object then "
            "null; end $$"
        )
        admin.execute("grant select on customers to rg_reader")
    with connect(gw, issuer.token(sub="rita", groups=["readers"])) as conn:
        assert conn.execute("select current_user").fetchone() == ("rg_reader",)
        assert conn.execute("select count(*) from customers").fetchone() is not None
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # PostgreSQL's own check
            conn.execute("select count(*) from accounts")
        escapes = [
            "set role none",
            "reset role",
            "set session authorization default",
            "select set_config('role', 'rg_scram', false)",
            "reset all",
            "discard all",
            "set local role rg_scram",
        ]
        for sql in escapes:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="runs as role"):
                conn.execute(sql)
        assert conn.execute("select current_user").fetchone() == ("rg_reader",)
    # Without the group, the session runs as the connection's login role.
    with connect(gw, issuer.token(sub="olga", groups=["others"])) as conn:
        assert conn.execute("select current_user").fetchone() == ("rg_scram",)
