"""The pure parts of the page's OIDC sign-in: PKCE S256 (RFC 7636's own example), state,
nonce and verifier derived from the flow cookie's seed, the authorization URL, the
callback, the discovery document and the token endpoint's answer."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from regogate.approvals import oidc_flow
from regogate.approvals.oidc_flow import (
    OidcClient,
    SignInFlow,
    authorization_code,
    authorization_url,
    check_id_token,
    check_state,
    code_challenge,
    endpoints_of,
    read_token_response,
    token_request,
)
from regogate.errors import AuthenticationFailed, InvalidAuthorization

ISSUER = "https://idp.example.com/realms/x"
CLIENT = OidcClient("approvals-page", "https://approvals.example.com/callback", ("openid",))
FLOW = SignInFlow("s" * 43)


def test_s256_is_rfc_7636s_example() -> None:
    # RFC 7636 Appendix B
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_a_flow_derives_distinct_values_from_its_seed() -> None:
    flow = SignInFlow.new()
    values = {flow.state, flow.nonce, flow.code_verifier, flow.code_challenge, flow.seed}
    assert len(values) == 5
    assert len(flow.code_verifier) == 43  # RFC 7636 §4.1: 43..128 unreserved characters
    assert flow.code_verifier.replace("-", "").replace("_", "").isalnum()
    assert flow.code_challenge == code_challenge(flow.code_verifier)
    assert SignInFlow.from_cookie(flow.seed) == flow
    assert SignInFlow.new().state != flow.state
    assert "seed" not in repr(flow) and flow.seed not in repr(flow)


@pytest.mark.parametrize("value", [None, "", "short", "s" * 44, "s" * 42 + "!", "s" * 42 + ";"])
def test_a_malformed_flow_cookie_is_no_flow(value: str | None) -> None:
    assert SignInFlow.from_cookie(value) is None


def test_the_authorization_url_asks_for_a_code_with_pkce() -> None:
    url = authorization_url("https://idp.example.com/auth?tenant=t1", CLIENT, FLOW)
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    assert parts.netloc == "idp.example.com" and parts.path == "/auth"
    assert query == {
        "tenant": "t1",  # RFC 6749 §3.1: the endpoint's own query is kept
        "response_type": "code",
        "client_id": "approvals-page",
        "redirect_uri": "https://approvals.example.com/callback",
        "scope": "openid",
        "state": FLOW.state,
        "nonce": FLOW.nonce,
        "code_challenge": FLOW.code_challenge,
        "code_challenge_method": "S256",
    }
    assert FLOW.code_verifier not in url and FLOW.seed not in url


def test_the_callback_gives_the_code_of_this_browsers_sign_in() -> None:
    query = {"state": FLOW.state, "code": "c0de"}
    assert check_state(query, FLOW) is FLOW
    assert authorization_code(query) == "c0de"


def read_callback(query: dict[str, str], flow: SignInFlow | None) -> str:
    return authorization_code(query) if check_state(query, flow) else ""


@pytest.mark.parametrize(
    ("query", "flow", "message"),
    [
        ({"state": FLOW.state, "code": "c"}, None, "no sign-in is in progress in this browser"),
        ({"state": "other", "code": "c"}, FLOW, "its state differs"),
        ({"code": "c"}, FLOW, "its state differs"),
        ({"state": SignInFlow("t" * 43).state, "code": "c"}, FLOW, "its state differs"),
        ({"state": FLOW.state}, FLOW, "has no authorization code"),
        (
            {"state": FLOW.state, "error": "access_denied", "error_description": "no\nway"},
            FLOW,
            'did not sign you in: "access_denied" ("no?way")',
        ),
    ],
)
def test_a_callback_that_is_not_ours_is_refused(
    query: dict[str, str], flow: SignInFlow | None, message: str
) -> None:
    with pytest.raises(AuthenticationFailed) as info:
        read_callback(query, flow)
    assert message in info.value.message
    assert "c0de" not in info.value.message


def test_the_token_request_carries_the_verifier() -> None:
    form = token_request(CLIENT, FLOW, "c0de")
    assert form == {
        "grant_type": "authorization_code",
        "code": "c0de",
        "redirect_uri": CLIENT.redirect_uri,
        "code_verifier": FLOW.code_verifier,
        "client_id": "approvals-page",
    }
    confidential = OidcClient("c", "https://a/callback", secret="s3cret-value")
    assert "client_id" not in token_request(confidential, FLOW, "c0de")  # HTTP Basic then
    assert "s3cret" not in repr(confidential)


DISCOVERY = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/auth",
    "token_endpoint": f"{ISSUER}/token",
}


def test_endpoints_from_discovery() -> None:
    found = endpoints_of(DISCOVERY, ISSUER, "d")
    assert (found.authorization, found.token) == (f"{ISSUER}/auth", f"{ISSUER}/token")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"issuer": ISSUER + "/"}, "names issuer"),
        ({"token_endpoint": None}, "has no token_endpoint"),
        ({"authorization_endpoint": 7}, "has no authorization_endpoint"),
        ({"token_endpoint": "http://idp.example.com/token"}, "must be an https:// URL"),
        ({"code_challenge_methods_supported": ["plain"]}, "does not support PKCE with S256"),
    ],
)
def test_a_bad_discovery_document_is_refused(change: dict[str, object], message: str) -> None:
    document = {k: v for k, v in {**DISCOVERY, **change}.items() if v is not None}
    with pytest.raises(AuthenticationFailed, match=message):
        endpoints_of(document, ISSUER, "d")


def test_the_id_token_of_the_answer() -> None:
    body = json.dumps({"id_token": "a.b.c", "access_token": "x", "token_type": "Bearer"})
    assert read_token_response(200, body.encode(), "t") == "a.b.c"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            400,
            b'{"error": "invalid_grant", "error_description": "code used"}',
            'refused the sign-in code: "invalid_grant" ("code used")',
        ),
        (401, b'{"error": "invalid_client"}', '"invalid_client"'),
        (500, b"<html>oops</html>", "answered HTTP 500 without a JSON object"),
        (200, b'{"access_token": "x"}', "answered without an id_token"),
        (200, b"[1]", "without a JSON object"),
    ],
)
def test_a_refused_exchange_says_why(status: int, body: bytes, message: str) -> None:
    with pytest.raises(AuthenticationFailed) as info:
        read_token_response(status, body, "t")
    assert message in info.value.message


def test_the_nonce_and_azp_of_the_id_token() -> None:
    check_id_token({"nonce": FLOW.nonce}, "approvals-page", FLOW)
    check_id_token({"nonce": FLOW.nonce, "azp": "approvals-page"}, "approvals-page", FLOW)
    with pytest.raises(InvalidAuthorization, match="nonce differs"):
        check_id_token({"nonce": SignInFlow("t" * 43).nonce}, "approvals-page", FLOW)
    with pytest.raises(InvalidAuthorization, match="nonce differs"):
        check_id_token({}, "approvals-page", FLOW)
    with pytest.raises(InvalidAuthorization, match="another client"):
        check_id_token({"nonce": FLOW.nonce, "azp": "cli"}, "approvals-page", FLOW)


def test_the_flow_module_does_no_io() -> None:
    tree = ast.parse(Path(oidc_flow.__file__).read_text())
    imported = {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    } | {
        a.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for a in node.names
    }
    assert not imported & {"anyio", "asyncio", "httpx", "socket", "ssl", "subprocess"}
