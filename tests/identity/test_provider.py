"""The OIDC provider in process (real verifier, real HTTP issuer), the identity chain the
gateway builds, the policy input an OIDC identity makes, and the purity of the checks."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from regogate.config import parse_config
from regogate.errors import AuthenticationFailed, InvalidAuthorization
from regogate.identity import ClientInfo, Identity, token_sha256
from regogate.oidc.provider import OidcProvider, identity_chain
from tests.identity.conftest import oidc_toml
from tests.identity.issuer import LocalIssuer

CLIENT = ClientInfo("127.0.0.1", 50000, "alice", "etl-job", tls=False)
STATIC = "rg_static-service-token-1"


def config_text(issuer: LocalIssuer | None) -> str:
    return f"""
[policy]
mode = "off"

[connections.bank]
host = "127.0.0.1"
user = "svc"

[[tokens]]
sub = "svc-report"
groups = ["reports"]
token_sha256 = "{token_sha256(STATIC)}"
{oidc_toml(issuer) if issuer else ""}
"""


def authenticate(issuer: LocalIssuer | None, token: str) -> Identity:
    chain = identity_chain(parse_config(config_text(issuer)))

    async def main() -> Identity:
        return await chain.authenticate(token, CLIENT)

    return anyio.run(main)


def test_static_tokens_first_then_oidc(issuer: LocalIssuer) -> None:
    assert authenticate(issuer, STATIC).auth == "token"
    identity = authenticate(issuer, issuer.token(sub="ann", groups=["group-a", "ops"]))
    assert (identity.sub, identity.auth, identity.issuer) == ("ann", "oidc", issuer.issuer)


def test_policy_input_of_an_oidc_identity(issuer: LocalIssuer) -> None:
    token = issuer.token(sub="ann", groups=["group-a", "ops"], email="ann@example.test")
    identity = authenticate(issuer, token)
    assert identity.token_sha256 == token_sha256(token)
    expires_at = issuer.claims()["exp"]
    assert identity.policy_input(CLIENT) == {
        "sub": "ann",
        "email": "ann@example.test",
        "groups": ["group-a", "ops"],
        "issuer": issuer.issuer,
        "auth": "oidc",
        "expires_at": pytest.approx(expires_at, abs=5),
        "client": {"addr": "127.0.0.1", "application_name": "etl-job"},
    }
    assert token not in repr(identity)


def test_without_oidc_config_a_jwt_is_just_a_wrong_token(issuer: LocalIssuer) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        authenticate(None, issuer.token())
    assert caught.value.message.endswith("the token is not valid")


def test_non_jwt_passwords_are_not_oidc_business(issuer: LocalIssuer) -> None:
    provider = OidcProvider(parse_config(config_text(issuer)).oidc)

    async def main() -> None:
        for password in ("hunter2", STATIC, "a.b.c"):
            assert await provider.authenticate(password, CLIENT) is None

    anyio.run(main)
    with pytest.raises(AuthenticationFailed, match='for user "alice": the token is not valid'):
        authenticate(issuer, "hunter2")


@pytest.mark.parametrize(
    ("make", "cls", "message", "hint"),
    [
        (
            lambda i: i.token(iss=i.issuer + "/"),
            AuthenticationFailed,
            "unknown token issuer",
            "differs only in a trailing slash",
        ),
        (lambda i: i.token(iss=None), AuthenticationFailed, "no iss (issuer) claim", None),
        (
            lambda i: i.token(exp=1),
            InvalidAuthorization,
            "expired at 1970-01-01T00:00:01Z",
            "fresh",
        ),
    ],
)
def test_refusals_name_the_user_and_the_reason(
    issuer: LocalIssuer,
    make: Callable[[LocalIssuer], str],
    cls: type[AuthenticationFailed],
    message: str,
    hint: str | None,
) -> None:
    token = make(issuer)
    with pytest.raises(AuthenticationFailed) as caught:
        authenticate(issuer, token)
    assert type(caught.value) is cls
    assert caught.value.message.startswith('token authentication failed for user "alice": ')
    assert message in caught.value.message
    assert hint is None or (caught.value.hint is not None and hint in caught.value.hint)
    assert token not in f"{caught.value.message} {caught.value.hint}"


ROOT = Path(__file__).resolve().parents[2] / "regogate" / "oidc"
FORBIDDEN = {"anyio", "asyncio", "httpx", "socket", "ssl", "subprocess", "uvloop", "psycopg"}


@pytest.mark.parametrize("name", ["config.py", "verify.py"])
def test_token_checks_are_pure(name: str) -> None:
    """The checks do no I/O (like tests/test_pure_core.py); keys come from jwks.py."""
    tree = ast.parse((ROOT / name).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN
