"""[[oidc]] in regogate.toml: defaults, and every error names file, key and problem."""

from __future__ import annotations

import pytest

from regogate.config import parse_config
from regogate.errors import ConfigError
from regogate.oidc.config import SUPPORTED_ALGORITHMS, OidcIssuerConfig

BASE = """
[policy]
mode = "off"

[connections.bank]
host = "127.0.0.1"
user = "svc"
password_env = "PW"
"""
ENV = {"PW": "s3cret-upstream"}
ISSUER = 'issuer = "https://idp.example.com/realms/main"\n'


def parse(oidc: str) -> tuple[OidcIssuerConfig, ...]:
    return parse_config(BASE + oidc, origin="gw.toml", env=ENV).oidc


def test_no_oidc_by_default() -> None:
    assert parse("") == ()


def test_defaults() -> None:
    (cfg,) = parse(f'[[oidc]]\n{ISSUER}audience = "regogate"\n')
    assert cfg == OidcIssuerConfig(
        issuer="https://idp.example.com/realms/main",
        audiences=("regogate",),
        jwks_url=None,
        groups_claim="groups",
        email_claim="email",
        algorithms=("RS256", "ES256", "EdDSA"),
        leeway=30.0,
        refresh_min_interval=60.0,
    )
    assert cfg.algorithms == SUPPORTED_ALGORITHMS
    assert cfg.discovery_url == (
        "https://idp.example.com/realms/main/.well-known/openid-configuration"
    )


def test_everything_set_and_several_issuers() -> None:
    first, second = parse(
        f"""
[[oidc]]
{ISSUER}audience = ["api://regogate", "regogate"]
jwks_url = "https://idp.example.com/keys"
groups_claim = "realm_access.roles"
email_claim = "upn"
algorithms = ["ES256"]
leeway = 5
refresh_min_interval = 0.5

[[oidc]]
issuer = "http://127.0.0.1:5556/dex/"
audience = "regogate"
"""
    )
    assert first.audiences == ("api://regogate", "regogate")
    assert first.jwks_url == "https://idp.example.com/keys"
    assert (first.groups_claim, first.email_claim) == ("realm_access.roles", "upn")
    assert (first.algorithms, first.leeway, first.refresh_min_interval) == (("ES256",), 5.0, 0.5)
    assert second.issuer == "http://127.0.0.1:5556/dex/"
    assert second.discovery_url == "http://127.0.0.1:5556/dex/.well-known/openid-configuration"


@pytest.mark.parametrize(
    ("oidc", "message"),
    [
        ("[oidc]\nissuer = 'x'\n", "oidc: must be an array of tables ([[oidc]])"),
        ("[[oidc]]\naudience = 'a'\n", "oidc[0].issuer: is required"),
        (f"[[oidc]]\n{ISSUER}", "oidc[0].audience: is required"),
        (f"[[oidc]]\n{ISSUER}audience = []\n", "oidc[0].audience: must be a non-empty string"),
        (f"[[oidc]]\n{ISSUER}audience = [1]\n", "oidc[0].audience: must be a non-empty string"),
        (f"[[oidc]]\n{ISSUER}audience = 'a'\nbogus = 1\n", "oidc[0].bogus: unknown key"),
        (
            f"[[oidc]]\n{ISSUER}audience = 'a'\nclient_secret = 's'\n",
            "oidc[0].client_secret: regogate only verifies tokens",
        ),
        (
            "[[oidc]]\nissuer = 'http://idp.example.com'\naudience = 'a'\n",
            "oidc[0].issuer: must be an https:// URL, got 'http://idp.example.com' (plain http",
        ),
        ("[[oidc]]\nissuer = 'idp.example.com'\naudience = 'a'\n", "oidc[0].issuer: must be an"),
        (
            "[[oidc]]\nissuer = 'https://idp.example.com?x=1'\naudience = 'a'\n",
            "oidc[0].issuer: must not have a query or fragment",
        ),
        (
            f"[[oidc]]\n{ISSUER}audience = 'a'\njwks_url = 'http://10.0.0.1/keys'\n",
            "oidc[0].jwks_url: must be an https:// URL",
        ),
        (
            f"[[oidc]]\n{ISSUER}audience = 'a'\n[[oidc]]\n{ISSUER}audience = 'b'\n",
            "oidc[1].issuer: issuer 'https://idp.example.com/realms/main' is configured twice",
        ),
        (
            f"[[oidc]]\n{ISSUER}audience = 'a'\nalgorithms = ['none']\n",
            'oidc[0].algorithms: "none" (unsigned tokens) is never accepted',
        ),
        (
            f"[[oidc]]\n{ISSUER}audience = 'a'\nalgorithms = ['RS256', 'HS256']\n",
            "oidc[0].algorithms: HS256 is never accepted: with HMAC a published public key",
        ),
        (
            f"[[oidc]]\n{ISSUER}audience = 'a'\nalgorithms = ['PS512']\n",
            "oidc[0].algorithms: 'PS512' is not supported; use one of RS256, ES256, EdDSA",
        ),
        (
            f"[[oidc]]\n{ISSUER}audience = 'a'\nalgorithms = []\n",
            "oidc[0].algorithms: must name at least one",
        ),
        (
            f"[[oidc]]\n{ISSUER}audience = 'a'\nalgorithms = 'RS256'\n",
            "oidc[0].algorithms: must be list",
        ),
        (
            f"[[oidc]]\n{ISSUER}audience = 'a'\nleeway = 900\n",
            "oidc[0].leeway: must be between 0 and 300 seconds, got 900.0",
        ),
        (
            f"[[oidc]]\n{ISSUER}audience = 'a'\nleeway = 'short'\n",
            "oidc[0].leeway: must be float",
        ),
        (
            f"[[oidc]]\n{ISSUER}audience = 'a'\nrefresh_min_interval = -1\n",
            "oidc[0].refresh_min_interval: must not be negative",
        ),
        (
            f"[[oidc]]\n{ISSUER}audience = 'a'\ngroups_claim = ''\n",
            "oidc[0].groups_claim: must not be empty",
        ),
    ],
)
def test_errors_name_file_key_and_problem(oidc: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(oidc)
    assert caught.value.message.startswith("gw.toml: ")
    assert message in caught.value.message
