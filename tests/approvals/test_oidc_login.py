"""OidcSignIn over an injected HTTP transport (httpx.MockTransport): discovery, the code
exchanged with its verifier, the ID token verified as the gateway verifies client JWTs
(for this client's audience) plus its nonce; every failure an AuthenticationFailed that
names no code, token or secret; and the config that builds it."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx
import jwt
import pytest

from regogate.approvals.oidc_flow import OidcClient, SignInFlow
from regogate.approvals.oidc_login import OidcSignIn, oidc_sign_in
from regogate.approvals.page_sign_in import sign_in_methods
from regogate.errors import AuthenticationFailed, ConfigError, InvalidAuthorization
from regogate.identity import Identity
from regogate.oidc.config import OidcIssuerConfig
from tests.approvals.conftest import make_config
from tests.identity.issuer import Key, new_key

ISSUER = "https://idp.example.com/realms/x"
CLIENT_ID = "approvals-page"
CODE = "the-authorization-code-0123"
SECRET = "client-secret-0123456789"
CLIENT = OidcClient(CLIENT_ID, "https://approvals.example.com/callback", ("openid", "email"))


@dataclass
class FakeIssuer:
    """An issuer behind a MockTransport; ``claims`` go into the ID token it returns."""

    key: Key = field(default_factory=lambda: new_key("ES256", "k1"))
    signer: Key | None = None  # signs the ID token instead of the published key
    claims: dict[str, Any] = field(default_factory=dict)
    token_status: int = 200
    fail: type[Exception] | None = None
    seen: list[httpx.Request] = field(default_factory=list)
    nonce: str = ""

    def id_token(self) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": "bob",
            "groups": ["dba"],
            "email": "bob@example.test",
            "nonce": self.nonce,
            "iat": now,
            "exp": now + 300,
            **self.claims,
        }
        claims = {k: v for k, v in claims.items() if v is not None}
        signer = self.signer or self.key
        return jwt.encode(claims, signer.private, "ES256", headers={"kid": "k1"})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.fail is not None:
            raise self.fail("refused", request=request)
        path = request.url.path
        if path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/auth",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/jwks",
                    "code_challenge_methods_supported": ["S256"],
                },
            )
        if path.endswith("/jwks"):
            return httpx.Response(200, json={"keys": [self.key.public_jwk()]})
        if path.endswith("/token"):
            if self.token_status != 200:
                return httpx.Response(
                    self.token_status,
                    json={"error": "invalid_grant", "error_description": "code already used"},
                )
            return httpx.Response(200, json={"id_token": self.id_token(), "token_type": "Bearer"})
        return httpx.Response(404)


def sign_in(idp: FakeIssuer, client: OidcClient = CLIENT) -> OidcSignIn:
    issuer = OidcIssuerConfig(ISSUER, audiences=("the-gateways-audience",))
    return OidcSignIn(issuer, client, transport=httpx.MockTransport(idp))


def run(fn: Callable[[], Awaitable[Identity]]) -> Identity:
    return anyio.run(fn)


def finish(idp: FakeIssuer, flow: SignInFlow, client: OidcClient = CLIENT) -> Identity:
    oidc = sign_in(idp, client)
    idp.nonce = idp.nonce or flow.nonce
    return run(lambda: oidc.finish(flow, CODE))


def test_the_code_is_exchanged_with_the_verifier_and_the_id_token_verified() -> None:
    idp, flow = FakeIssuer(), SignInFlow.new()
    oidc = sign_in(idp)

    async def both() -> Identity:
        url = await oidc.authorization_url(flow)
        assert url.startswith(f"{ISSUER}/auth?") and f"state={flow.state}" in url
        idp.nonce = flow.nonce
        return await oidc.finish(flow, CODE)

    identity = run(both)
    assert (identity.sub, identity.groups, identity.auth) == ("bob", ("dba",), "oidc")
    assert (identity.issuer, identity.email) == (ISSUER, "bob@example.test")
    token = next(r for r in idp.seen if r.url.path.endswith("/token"))
    form = {k: v[-1] for k, v in parse_qs(token.content.decode()).items()}
    assert form == {
        "grant_type": "authorization_code",
        "code": CODE,
        "redirect_uri": CLIENT.redirect_uri,
        "code_verifier": flow.code_verifier,
        "client_id": CLIENT_ID,
    }
    assert "authorization" not in token.headers
    discoveries = [r for r in idp.seen if r.url.path.endswith("openid-configuration")]
    assert len(discoveries) == 2  # once for the endpoints (cached), once for the keys


def test_a_confidential_client_authenticates_with_basic() -> None:
    idp, flow = FakeIssuer(), SignInFlow.new()
    client = OidcClient(CLIENT_ID, CLIENT.redirect_uri, secret=SECRET)
    finish(idp, flow, client)
    token = next(r for r in idp.seen if r.url.path.endswith("/token"))
    basic = base64.b64decode(token.headers["authorization"].removeprefix("Basic ")).decode()
    assert basic == f"{CLIENT_ID}:{SECRET}"
    assert "client_id" not in parse_qs(token.content.decode())


@pytest.mark.parametrize(
    ("claims", "error", "message"),
    [
        ({"nonce": "someone-elses-nonce"}, InvalidAuthorization, "its nonce differs"),
        ({"nonce": None}, InvalidAuthorization, "its nonce differs"),
        # the gateway would take this audience from a client, but it is not this client
        ({"aud": "the-gateways-audience"}, InvalidAuthorization, "wrong audience"),
        ({"azp": "another-client"}, InvalidAuthorization, "issued to another client"),
        ({"iss": "https://evil.example.com"}, AuthenticationFailed, "issuer is"),
        ({"exp": int(time.time()) - 3600}, InvalidAuthorization, "expired"),
        ({"groups": None}, InvalidAuthorization, "no groups claim"),
    ],
)
def test_an_id_token_not_for_this_sign_in_is_refused(
    claims: dict[str, Any], error: type[Exception], message: str
) -> None:
    idp, flow = FakeIssuer(claims=claims), SignInFlow.new()
    idp.nonce = flow.nonce
    with pytest.raises(error) as info:
        finish(idp, flow)
    assert message in str(info.value)


def test_an_id_token_signed_by_another_key_is_refused() -> None:
    idp, flow = FakeIssuer(signer=new_key("ES256", "k1")), SignInFlow.new()
    with pytest.raises(AuthenticationFailed, match="bad signature"):
        finish(idp, flow)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ({"token_status": 400}, 'refused the sign-in code: "invalid_grant"'),
        ({"fail": httpx.ConnectError}, "cannot fetch"),  # discovery already
        ({"fail": httpx.ReadTimeout}, "cannot fetch"),
    ],
)
def test_failures_are_authentication_failed_and_name_no_secret(
    setup: dict[str, Any], message: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    idp, flow = FakeIssuer(**setup), SignInFlow.new()
    client = OidcClient(CLIENT_ID, CLIENT.redirect_uri, secret=SECRET)
    with pytest.raises(AuthenticationFailed) as info:
        finish(idp, flow, client)
    assert message in info.value.message
    shown = f"{info.value.message} {info.value.hint} {caplog.text}"
    for secret in (CODE, SECRET, flow.code_verifier, flow.seed):
        assert secret not in shown


def test_the_token_endpoint_unreachable_is_translated() -> None:
    flow = SignInFlow.new()
    idp = FakeIssuer()
    oidc = sign_in(idp)

    async def go() -> Identity:
        await oidc.authorization_url(flow)  # endpoints known
        idp.fail = httpx.ConnectError
        return await oidc.finish(flow, CODE)

    with pytest.raises(AuthenticationFailed) as info:
        run(go)
    assert info.value.message.endswith(f"{ISSUER}/token: ConnectError")
    assert info.value.__cause__ is None and info.value.__suppress_context__


# -- config ------------------------------------------------------------------------------
OIDC = f'[[oidc]]\nissuer = "{ISSUER}"\naudience = "the-gateways-audience"\n'


def test_the_config_builds_the_sign_in(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text(SECRET + "\n")
    cfg = make_config(
        tmp_path,
        f'oidc_client_id = "{CLIENT_ID}"\noidc_client_secret_file = "secret"\n'
        'oidc_scopes = ["email", "groups"]\n' + OIDC,
    )
    a = cfg.approvals
    assert (a.oidc_client_id, a.oidc_issuer, a.page_token_form) == (CLIENT_ID, ISSUER, False)
    assert a.oidc_scopes == ("openid", "email", "groups")
    methods = sign_in_methods(cfg, "https://approvals.example.com/")
    assert isinstance(methods.oidc, OidcSignIn) and not methods.token_form
    assert methods.oidc.client == OidcClient(
        CLIENT_ID, "https://approvals.example.com/callback", ("openid", "email", "groups"), SECRET
    )
    assert methods.oidc.issuer.audiences == (CLIENT_ID,)
    plain = make_config(tmp_path)
    assert sign_in_methods(plain, "http://x").oidc is None
    assert sign_in_methods(plain, "http://x").token_form
    both = make_config(tmp_path, f'oidc_client_id = "c"\npage_token_form = true\n{OIDC}')
    assert both.approvals.page_token_form


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('oidc_client_id = "c"\n', "oidc_client_id: needs an [[oidc]] issuer"),
        ('oidc_client_secret = "x"\n' + OIDC, "use oidc_client_secret_file"),
        ('oidc_issuer = "x"\n' + OIDC, "needs oidc_client_id"),
        ('oidc_client_id = "c"\noidc_issuer = "https://other"\n' + OIDC, "must be one of"),
        (
            'oidc_client_id = "c"\n' + OIDC + OIDC.replace("realms/x", "realms/y"),
            "oidc_issuer: is required: there are several",
        ),
        ('oidc_client_id = "c"\noidc_scopes = ["a b"]\n' + OIDC, "oidc_scopes: must be"),
        ("page_token_form = false\n", "nobody could sign in"),
    ],
)
def test_a_bad_sign_in_config_is_refused(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make_config(tmp_path, extra)


def test_an_unreadable_secret_file_is_a_config_error(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, f'oidc_client_id = "c"\noidc_client_secret_file = "nope"\n{OIDC}')
    with pytest.raises(ConfigError, match="cannot read"):
        oidc_sign_in(cfg, "https://a")
    (tmp_path / "nope").write_text("short")
    with pytest.raises(ConfigError, match="at least 8"):
        oidc_sign_in(cfg, "https://a")
