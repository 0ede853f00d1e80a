"""A local OIDC issuer for tests: keys made per run, discovery and JWKS served over HTTP
on loopback by a threaded http.server, and tokens signed (or forged) on demand."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
