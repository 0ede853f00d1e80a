"""The pure parts of signing in to the page with OIDC (OpenID Connect Core 1.0 §3.1, the
authorization code flow, with PKCE, RFC 7636): state, nonce and the PKCE pair derived from
one random seed the browser keeps in a short-lived cookie; the issuer's endpoints from its
discovery document; the authorization URL; the callback; the token endpoint's answer; the
ID token's nonce and azp. No I/O. Messages never contain a code, a token or a secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from regogate.errors import AuthenticationFailed, InvalidAuthorization
from regogate.oidc.config import url_problem
from regogate.oidc.verify import show

# The flow cookie holds the seed from /login/oidc until /callback (10 minutes at most).
FLOW_COOKIE = "rg_approvals_oidc"
FLOW_SECONDS = 600
CALLBACK_PATH = "/callback"
_SEED = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_IDP_TEXT = 200  # of an error description the issuer sends


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def code_challenge(verifier: str) -> str:
    """PKCE S256 (RFC 7636 §4.2): BASE64URL(SHA256(ASCII(code_verifier)))."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass(frozen=True)
class SignInFlow:
    """One sign-in in progress. Everything is derived from ``seed`` (256 random bits, kept
    only in the browser's HttpOnly flow cookie), so any replica can finish a sign-in
    another one started, and the server keeps nothing between /login and /callback."""

    seed: str = field(repr=False)

    @classmethod
    def new(cls) -> SignInFlow:
        return cls(secrets.token_urlsafe(32))

    @classmethod
    def from_cookie(cls, value: str | None) -> SignInFlow | None:
        return cls(value) if value and _SEED.fullmatch(value) else None

    def _derive(self, label: str) -> str:
        # HMAC as a KDF keyed by the seed: knowing one value (state, nonce or the
        # challenge, all visible to the issuer and in URLs) tells nothing of the others.
        return b64url(hmac.new(self.seed.encode(), label.encode(), hashlib.sha256).digest())

    @property
    def state(self) -> str:
        return self._derive("regogate approvals oidc state")

    @property
    def nonce(self) -> str:
        return self._derive("regogate approvals oidc nonce")

    @property
    def code_verifier(self) -> str:
        """43 characters of [A-Za-z0-9_-]: RFC 7636 §4.1's minimum length, 256 bits."""
        return self._derive("regogate approvals oidc pkce")

    @property
    def code_challenge(self) -> str:
        return code_challenge(self.code_verifier)


@dataclass(frozen=True)
class OidcClient:
    """The page as a client of the issuer."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...] = ("openid",)
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str


def endpoints_of(document: object, issuer: str, source: str) -> Endpoints:
    """The authorization and token endpoints of ``issuer``'s discovery document
    (OpenID Connect Discovery 1.0 §3, §4.3)."""
    if not isinstance(document, dict):
        raise AuthenticationFailed(f"{source} is not a JSON object")
    if document.get("issuer") != issuer:
        raise AuthenticationFailed(
            f"{source} names issuer {show(document.get('issuer'))}, not {show(issuer)}"
        )
    methods = document.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise AuthenticationFailed(
            f"issuer {show(issuer)} does not support PKCE with S256 "
            f"(code_challenge_methods_supported: {show(', '.join(map(str, methods)))})"
        )
    return Endpoints(
        _endpoint(document, "authorization_endpoint", source),
        _endpoint(document, "token_endpoint", source),
    )


def _endpoint(document: Mapping[str, object], name: str, source: str) -> str:
    url = document.get(name)
    if not isinstance(url, str) or not url:
        raise AuthenticationFailed(f"{source} has no {name}")
    # RFC 6749 §3.1: an authorization endpoint may carry a query; keep it, check the rest.
    problem = url_problem(url.partition("?")[0] if name == "authorization_endpoint" else url)
    if problem is not None:
        raise AuthenticationFailed(f"{source}: {name} {problem}")
    return url


def authorization_url(endpoint: str, client: OidcClient, flow: SignInFlow) -> str:
    """Where the browser goes to sign in (OpenID Connect Core 1.0 §3.1.2.1)."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uri,
            "scope": " ".join(client.scopes),
            "state": flow.state,
            "nonce": flow.nonce,
            "code_challenge": flow.code_challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{endpoint}{'&' if urlsplit(endpoint).query else '?'}{query}"


def check_state(query: Mapping[str, str], flow: SignInFlow | None) -> SignInFlow:
    """The sign-in a callback belongs to: the one this browser started, whose state it
    must carry (RFC 6749 §10.12, CSRF on the redirect URI)."""
    if flow is None:
        raise AuthenticationFailed(
            "no sign-in is in progress in this browser (it expired after "
            f"{FLOW_SECONDS // 60} minutes, or was already finished)",
            hint="start again from the sign-in page",
        )
    if not hmac.compare_digest(query.get("state", "").encode(), flow.state.encode()):
        raise AuthenticationFailed(
            "this sign-in answer does not belong to the sign-in started in this browser "
            "(its state differs)",
            hint="start again from the sign-in page",
        )
    return flow


def authorization_code(query: Mapping[str, str]) -> str:
    """The code of a callback (RFC 6749 §4.1.2), or why the issuer sent none (§4.1.2.1)."""
    error = query.get("error")
    if error is not None:
        description = query.get("error_description", "")
        raise AuthenticationFailed(
            f"the identity provider did not sign you in: {show(error)}"
            + (f" ({show(description, MAX_IDP_TEXT)})" if description else "")
        )
    code = query.get("code", "")
    if not code:
        raise AuthenticationFailed("the identity provider's answer has no authorization code")
    return code


def token_request(client: OidcClient, flow: SignInFlow, code: str) -> dict[str, str]:
    """The form POSTed to the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.5). A public
    client names itself in the form; a confidential one authenticates with HTTP Basic."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": client.redirect_uri,
        "code_verifier": flow.code_verifier,
    }
    if client.secret is None:
        form["client_id"] = client.client_id
    return form


def read_token_response(status: int, body: bytes, source: str) -> str:
    """The ID token of a token endpoint's answer (RFC 6749 §5.1, §5.2)."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        raise AuthenticationFailed(f"{source} answered HTTP {status} without a JSON object")
    if status != 200:
        error = document.get("error")
        description = document.get("error_description")
        why = show(error) if isinstance(error, str) else f"HTTP {status}"
        if isinstance(description, str) and description:
            why += f" ({show(description, MAX_IDP_TEXT)})"
        raise AuthenticationFailed(
            f"the identity provider refused the sign-in code: {why}",
            hint="start again from the sign-in page",
        )
    id_token = document.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise AuthenticationFailed(
            f"{source} answered without an id_token",
            hint='the scope must include "openid" ([approvals] oidc_scopes)',
        )
    return id_token


def check_id_token(claims: Mapping[str, object], client_id: str, flow: SignInFlow) -> None:
    """The ID token checks beyond a client JWT's (OpenID Connect Core 1.0 §3.1.3.7): its
    nonce is this sign-in's (no replayed ID token), and an azp names this client."""
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), flow.nonce.encode()):
        raise InvalidAuthorization(
            "the ID token was not issued for this sign-in (its nonce differs)",
            hint="start again from the sign-in page",
        )
    azp = claims.get("azp")
    if azp is not None and azp != client_id:
        raise InvalidAuthorization(
            f"the ID token was issued to another client ({show(azp)}, not {show(client_id)})"
        )
