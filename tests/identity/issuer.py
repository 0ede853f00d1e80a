"""A local OIDC issuer for tests: keys made per run, discovery and JWKS served over HTTP
on loopback by a threaded http.server, and tokens signed (or forged) on demand. It also
signs people in: an authorization endpoint (a small form, or at once as
``auto_sign_in``) and a token endpoint for the authorization code flow with PKCE S256,
for registered clients and users."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

AUDIENCE = "regogate-test"
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass
class Key:
    kid: str
    alg: str
    private: PrivateKey

    def public_jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def new_key(alg: str, kid: str) -> Key:
    private: PrivateKey
    if alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(alg)
    return Key(kid, alg, private)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Client:
    """A relying party registered at the issuer (OAuth 2.0 client)."""

    redirect_uris: tuple[str, ...]
    secret: str | None = None  # None: a public client (PKCE alone)


@dataclass
class Grant:
    """What an authorization code stands for until it is redeemed, once."""

    client_id: str
    redirect_uri: str
    user: str
    nonce: str | None
    challenge: str
    method: str
    expires_at: float = field(default_factory=lambda: time.time() + 60)


class LocalIssuer:
    """Serves ``{issuer}/.well-known/openid-configuration`` and ``{issuer}/jwks``."""

    def __init__(self, realm: str = "test") -> None:
        self.keys: dict[str, Key] = {}
        self.published: list[str] = []  # kids in the JWKS, in order
        self.current = ""
        self.requests: Counter[str] = Counter()
        self.status = 200  # set to e.g. 500 to simulate an outage
        self.extra_jwks: list[dict[str, Any]] = []
        self.discovery_overrides: dict[str, Any] = {}
        self.clients: dict[str, Client] = {}
        self.users: dict[str, dict[str, Any]] = {}  # name -> claims of their ID tokens
        self.auto_sign_in: str | None = None  # sign this user in without a form
        self.id_token_overrides: dict[str, Any] = {}  # forge the next ID tokens
        self.grants: dict[str, Grant] = {}
        self.token_requests: list[dict[str, str]] = []  # forms POSTed to the token endpoint
        self._serial = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.base = f"http://127.0.0.1:{port}"
        self.issuer = f"{self.base}/realms/{realm}"
        self.jwks_url = f"{self.issuer}/jwks"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        for alg in ("ES256", "EdDSA", "RS256"):  # RS256 last: it is the default signer
            self.add_key(alg)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- keys ------------------------------------------------------------------------------
    def add_key(self, alg: str = "RS256", *, current: bool = True) -> str:
        with self._lock:
            self._serial += 1
            kid = f"{alg.lower()}-{self._serial}"
            self.keys[kid] = new_key(alg, kid)
            self.published.append(kid)
            if current:
                self.current = kid
        return kid

    def rotate(self, alg: str = "RS256", *, drop_old: bool = True) -> str:
        """Publish a new key and sign with it; the old keys of ``alg`` leave the JWKS."""
        old = [k for k in self.published if self.keys[k].alg == alg]
        kid = self.add_key(alg)
        if drop_old:
            with self._lock:
                self.published = [k for k in self.published if k not in old]
        return kid

    def kid_for(self, alg: str) -> str:
        return next(k for k in reversed(self.published) if self.keys[k].alg == alg)

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            published = list(self.published)
        return {"keys": [self.keys[k].public_jwk() for k in published] + self.extra_jwks}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_url,
            "token_endpoint": f"{self.issuer}/token",
            "authorization_endpoint": f"{self.issuer}/auth",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
            **self.discovery_overrides,
        }

    # -- tokens ----------------------------------------------------------------------------
    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "alice",
            "email": "alice@example.test",
            "groups": ["group-a"],
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(
        self,
        *,
        kid: str | None = None,
        alg: str | None = None,
        key: Key | None = None,
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A signed token; ``key`` signs with a key the issuer does not publish."""
        if key is None:
            kid = kid or (self.kid_for(alg) if alg else self.current)
            key = self.keys[kid]
        headers = {"kid": key.kid, **(header or {})}
        return jwt.encode(self.claims(**claims), key.private, algorithm=key.alg, headers=headers)

    def unsigned_token(self, **claims: Any) -> str:
        """alg "none": no signature at all."""
        head = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": self.current}).encode())
        return f"{head}.{b64(json.dumps(self.claims(**claims)).encode())}."

    def hmac_with_public_key(self, **claims: Any) -> str:
        """Key confusion: HS256 keyed with the issuer's public key (which anyone can fetch)."""
        key = self.keys[self.current]
        head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
        body = b64(json.dumps(self.claims(**claims)).encode())
        mac = hmac.new(key.public_pem(), f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{b64(mac)}"

    # -- signing in (authorization code flow with PKCE) -------------------------------------
    def register_client(
        self, client_id: str, redirect_uri: str, secret: str | None = None
    ) -> Client:
        client = Client((redirect_uri,), secret)
        self.clients[client_id] = client
        return client

    def add_user(self, name: str, groups: list[str], email: str | None = None) -> None:
        self.users[name] = {"sub": name, "groups": groups, "email": email}

    def authorize(self, query: dict[str, str], user: str | None) -> tuple[int, str]:
        """The answer to an authorization request: (302, where to) or (400, why) or
        (200, the sign-in form's HTML) when no user is given."""
        client = self.clients.get(query.get("client_id", ""))
        redirect_uri = query.get("redirect_uri", "")
        if client is None or redirect_uri not in client.redirect_uris:
            return 400, "unknown client or unregistered redirect_uri"  # never redirect then
        state = {"state": query["state"]} if "state" in query else {}
        problem = _authorization_problem(query)
        if problem is not None:
            return 302, _with_query(redirect_uri, {"error": problem[0], **state, **problem[1]})
        if user is None:
            return 200, _sign_in_form(self.issuer, query)
        if user == "" or user not in self.users:
            return 302, _with_query(redirect_uri, {"error": "access_denied", **state})
        code = secrets.token_urlsafe(24)
        with self._lock:
            self.grants[code] = Grant(
                query["client_id"],
                redirect_uri,
                user,
                query.get("nonce"),
                query["code_challenge"],
                query["code_challenge_method"],
            )
        return 302, _with_query(redirect_uri, {"code": code, **state})

    def redeem(
        self, form: dict[str, str], basic: tuple[str, str] | None
    ) -> tuple[int, dict[str, Any]]:
        """The token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.6): one use per code."""
        with self._lock:
            self.token_requests.append(dict(form))
            grant = self.grants.pop(form.get("code", ""), None)
        client_id = basic[0] if basic else form.get("client_id", "")
        client = self.clients.get(client_id)
        if client is None or (client.secret is not None and basic != (client_id, client.secret)):
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        if grant is None or grant.expires_at < time.time() or grant.client_id != client_id:
            return 400, {"error": "invalid_grant", "error_description": "unknown or used code"}
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri differs"}
        verifier = form.get("code_verifier", "")
        challenge = b64(hashlib.sha256(verifier.encode()).digest())
        if not 43 <= len(verifier) <= 128 or not hmac.compare_digest(challenge, grant.challenge):
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        claims = {**self.users[grant.user], "aud": client_id, "nonce": grant.nonce}
        id_token = self.token(**{**claims, **self.id_token_overrides})
        return 200, {
            "access_token": self.token(sub=grant.user, groups=self.users[grant.user]["groups"]),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        }


def _authorization_problem(query: dict[str, str]) -> tuple[str, dict[str, str]] | None:
    if query.get("response_type") != "code":
        return "unsupported_response_type", {}
    if "openid" not in query.get("scope", "").split():
        return "invalid_scope", {"error_description": "openid is required"}
    if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
        return "invalid_request", {"error_description": "PKCE with S256 is required"}
    return None


def _with_query(url: str, params: dict[str, str]) -> str:
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"


def _sign_in_form(issuer: str, query: dict[str, str]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in query.items()
    )
    return (
        "<!doctype html><html><head><title>Test issuer</title></head><body>"
        f"<h1>Sign in to {html.escape(issuer)}</h1>"
        f'<form method="post">{hidden}<label for="username">User</label>'
        '<input id="username" name="username">'
        '<button type="submit" name="action" value="sign_in">Sign in</button>'
        '<button type="submit" name="action" value="deny">Cancel</button></form>'
        "</body></html>"
    )


def _form(body: bytes) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}


def _basic(header: str | None) -> tuple[str, str] | None:
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    user, _, password = base64.b64decode(value).decode().partition(":")
    return unquote_plus(user), unquote_plus(password)


def _handler(issuer: LocalIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            issuer.requests[path] += 1
            prefix = issuer.issuer.removeprefix(issuer.base)
            if path == f"{prefix}/.well-known/openid-configuration":
                doc: object = issuer.discovery()
            elif path == f"{prefix}/jwks":
                doc = issuer.jwks()
            elif path == f"{prefix}/auth":
                query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
                self._answer(*issuer.authorize(query, issuer.auto_sign_in))
                return
            else:
                self.send_error(404)
                return
            if issuer.status != 200:
                self.send_error(issuer.status)
                return
            body = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            path = self.path.split("?")[0]
            issuer.requests[path] += 1
            prefix = issuer.issuer.removeprefix(issuer.base)
            form = _form(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            if path == f"{prefix}/auth":
                user = form.pop("username", "") if form.pop("action", "") == "sign_in" else ""
                self._answer(*issuer.authorize(form, user))
            elif path == f"{prefix}/token":
                status, doc = issuer.redeem(form, _basic(self.headers.get("Authorization")))
                self._send(status, "application/json", json.dumps(doc).encode())
            else:
                self.send_error(404)

        def _answer(self, status: int, text: str) -> None:
            if status == 302:
                self.send_response(302)
                self.send_header("Location", text)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._send(status, "text/html; charset=utf-8", text.encode())

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
