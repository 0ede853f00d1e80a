"""The OIDC identity reaches the policy: a Rego policy tells two groups apart, through a
real `regogate serve` with its OPA sidecar, a real PostgreSQL and psycopg."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg import errors as pgerrors

from tests.fix_gateway import GatewayFixture
from tests.identity.conftest import connect, oidc_toml
from tests.identity.issuer import LocalIssuer

POLICY = """\
package regogate

default decision := {"allow": false, "deny": ["no policy rule matched"]}

# group-a may read, and only with a token this gateway verified through OIDC.
decision := {"allow": true, "deny": []} if {
\t"group-a" in input.identity.groups
\tinput.identity.auth == "oidc"
\tinput.identity.issuer == "@ISSUER@"
\tendswith(input.identity.email, "@example.test")
\tinput.identity.expires_at * 1000000000 > time.now_ns()
\tinput.identity.client.addr == "127.0.0.1"
}

decision := {"allow": false, "deny": [msg]} if {
\t"group-b" in input.identity.groups
\tmsg := sprintf("%s (group-b, via %s) may not run statements", [
\t\tinput.identity.sub, input.identity.client.application_name,
\t])
}
"""


@pytest.fixture
def policy_gateway(
    make_gateway: Callable[..., GatewayFixture], issuer: LocalIssuer, tmp_path: Path
) -> GatewayFixture:
    rego = tmp_path / "rego" / "regogate"
    rego.mkdir(parents=True)
    (rego / "policy.rego").write_text(POLICY.replace("@ISSUER@", issuer.issuer))
    return make_gateway(extra=f'[policy]\ndir = "{rego.parent}"\n' + oidc_toml(issuer))


def test_policy_tells_two_groups_apart(policy_gateway: GatewayFixture, issuer: LocalIssuer) -> None:
    with connect(policy_gateway, issuer.token(sub="ann", groups=["group-a"])) as conn:
        assert conn.execute("select count(*) from accounts").fetchone()[0] > 0  # type: ignore[index]

    token_b = issuer.token(sub="ben", groups=["group-b"])
    with (
        psycopg.connect(
            host="127.0.0.1",
            port=policy_gateway.port,
            dbname="bank",
            user="ben",
            password=token_b,
            sslmode="disable",
            application_name="report-job",
            autocommit=True,
        ) as conn,
        pytest.raises(pgerrors.InsufficientPrivilege) as denied,
    ):
        conn.execute("select count(*) from accounts")
    assert denied.value.sqlstate == "42501"
    assert "ben (group-b, via report-job) may not run statements" in str(denied.value)
    assert token_b not in str(denied.value)
