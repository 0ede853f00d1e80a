"""[[oidc]] issuer settings: which tokens an issuer may sign and how to read them (pure)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# Asymmetric signatures only. ``none`` is never accepted, and neither is HMAC (HS256…):
# with HMAC a published public key could be used as the shared secret (key confusion).
SUPPORTED_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256", "EdDSA")

DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class OidcIssuerConfig:
    """One trusted issuer. ``jwks_url`` None means: find it by OIDC discovery."""

    issuer: str
    # Read from the TOML key "audience" (a string or a list): field metadata that
    # regogate.config.keys reads.
    audiences: tuple[str, ...] = field(metadata={"toml": ("audience",)})
    jwks_url: str | None = None
    groups_claim: str = "groups"
    email_claim: str = "email"
    algorithms: tuple[str, ...] = SUPPORTED_ALGORITHMS
    leeway: float = 30.0  # seconds of clock skew tolerated on exp, nbf and iat
    refresh_min_interval: float = 60.0  # seconds between JWKS fetches (unknown kid)

    @property
    def discovery_url(self) -> str:
        # OpenID Connect Discovery 1.0 §4: the issuer with any trailing "/" removed.
        return self.issuer.rstrip("/") + DISCOVERY_PATH


def url_problem(url: str) -> str | None:
    """Why ``url`` may not be an issuer or JWKS URL, or None if it may.

    https only; plain http is accepted for loopback addresses (tests, a local IdP), since
    signing keys fetched over an unprotected network could be swapped by anyone on it.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return f"is not a valid URL: {url!r}"
    if parts.scheme not in ("https", "http") or not host:
        return f"must be an https:// URL, got {url!r}"
    if parts.query or parts.fragment:
        return f"must not have a query or fragment, got {url!r}"
    if parts.scheme == "http" and not _loopback(host):
        return (
            f"must be an https:// URL, got {url!r} (plain http is only accepted for "
            "loopback addresses: signing keys fetched over an open network could be replaced)"
        )
    return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
