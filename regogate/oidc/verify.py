"""Pure checks of an OIDC JWT: its shape, header, signature against a given key, and claims.

No I/O: signing keys come from jwks.py and the clock from the caller. The signature is
checked before any claim is believed (RFC 8725 §3.1: the algorithm is ours to choose,
never the token's). Messages say why a token failed and never contain the token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from jwt import PyJWK, PyJWS
from jwt.exceptions import InvalidKeyError, InvalidSignatureError, PyJWTError

from regogate.errors import AuthenticationFailed, InvalidAuthorization
from regogate.identity import Identity
from regogate.oidc.config import SUPPORTED_ALGORITHMS, OidcIssuerConfig

# header.payload.signature, each base64url (RFC 7515 §7.1); the signature may be empty
# so that an unsigned ``alg: none`` token is recognized, and refused by name.
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
MAX_TOKEN_LENGTH = 16 * 1024
_ASYMMETRIC_KTY = frozenset({"RSA", "EC", "OKP"})
_JWS = PyJWS()


def looks_like_jwt(token: str) -> bool:
    """Three base64url segments: only such passwords are OIDC's to judge."""
    return _JWT_SHAPE.fullmatch(token) is not None


def show(value: object, limit: int = 80) -> str:
    """A claim value fit for an error message: printable, truncated, a string quoted."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    cut = "".join(c if c.isprintable() else "?" for c in text[:limit])
    cut += "…" if len(text) > limit else ""
    return f'"{cut}"' if isinstance(value, str) else cut


@dataclass(frozen=True)
class UnverifiedToken:
    """What a token says about itself before its signature is checked: only used to
    pick the issuer and key, never believed."""

    alg: str
    kid: str | None
    issuer: str | None


@dataclass(frozen=True)
class SigningKey:
    """One usable public key of an issuer's JWKS, bound to one algorithm."""

    kid: str | None
    algorithm: str
    jwk: PyJWK = field(repr=False, compare=False)


def peek(token: str) -> UnverifiedToken:
    if len(token) > MAX_TOKEN_LENGTH:
        raise AuthenticationFailed(f"the token is longer than {MAX_TOKEN_LENGTH} characters")
    try:
        parts = _JWS.decode_complete(token, options={"verify_signature": False})
    except PyJWTError:
        raise _malformed() from None
    header = parts["header"]
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise _malformed("its header has no alg")
    kid = header.get("kid")
    claims = _json_object(parts["payload"])
    iss = claims.get("iss")
    return UnverifiedToken(
        alg, kid if isinstance(kid, str) else None, iss if isinstance(iss, str) else None
    )


def check_algorithm(alg: str, cfg: OidcIssuerConfig | None = None) -> None:
    """Refuse unsigned and symmetric tokens always, and algorithms the issuer may not use."""
    if alg.lower() == "none":
        raise AuthenticationFailed(
            'the token is unsigned (alg "none")', hint="regogate only accepts signed tokens"
        )
    if alg.upper().startswith("HS"):
        raise AuthenticationFailed(
            f"the token is signed with the shared-secret algorithm {show(alg)}; regogate "
            f"accepts only public-key signatures ({', '.join(SUPPORTED_ALGORITHMS)})"
        )
    if cfg is not None and alg not in cfg.algorithms:
        raise AuthenticationFailed(
            f"the token's algorithm {show(alg)} is not allowed for issuer {show(cfg.issuer)} "
            f"(allowed: {', '.join(cfg.algorithms)})"
        )


def parse_jwks(document: object, source: str) -> tuple[SigningKey, ...]:
    """The usable signing keys of a JWKS document (RFC 7517 §5). Symmetric (``oct``),
    encryption-only and unsupported keys are skipped, never trusted."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise AuthenticationFailed(f"{source} is not a JWK set (no keys list)")
    usable: list[SigningKey] = []
    for raw in keys:
        if not isinstance(raw, dict) or raw.get("kty") not in _ASYMMETRIC_KTY:
            continue
        if raw.get("use", "sig") != "sig" or raw.get("alg") not in (None, *SUPPORTED_ALGORITHMS):
            continue
        try:
            jwk = PyJWK(raw)
        except PyJWTError:
            continue
        kid = raw.get("kid")
        if jwk.algorithm_name in SUPPORTED_ALGORITHMS:
            usable.append(
                SigningKey(kid if isinstance(kid, str) else None, jwk.algorithm_name, jwk)
            )
    return tuple(usable)


def select_key(keys: Sequence[SigningKey], kid: str | None, alg: str) -> SigningKey | None:
    """The key named by ``kid``; without a kid, the issuer's only key for ``alg``."""
    candidates = [k for k in keys if k.algorithm == alg]
    if kid is not None:
        return next((k for k in candidates if k.kid == kid), None)
    return candidates[0] if len(candidates) == 1 else None


def verify_signature(token: str, key: SigningKey, cfg: OidcIssuerConfig) -> dict[str, object]:
    """The token's claims, if ``key`` signed it."""
    try:
        parts = _JWS.decode_complete(
            token,
            key=key.jwk,
            algorithms=[key.algorithm],
            options={"verify_signature": True, "enforce_minimum_key_length": True},
        )
    except InvalidSignatureError:
        raise AuthenticationFailed(
            f"bad signature: the token was not signed by issuer {show(cfg.issuer)}",
        ) from None
    except InvalidKeyError:
        raise AuthenticationFailed(
            f"the signing key {show(key.kid or '')} of issuer {show(cfg.issuer)} is unusable "
            "(RSA keys need at least 2048 bits)"
        ) from None
    except PyJWTError:
        raise _malformed() from None
    return _json_object(parts["payload"])


def check_claims(
    claims: Mapping[str, object], cfg: OidcIssuerConfig, digest: str, now: float
) -> Identity:
    """Validate iss, exp, nbf, iat, aud, sub and the groups claim of a verified token
    (RFC 7519 §4.1, with ``cfg.leeway`` seconds of clock skew) and build the Identity."""
    if claims.get("iss") != cfg.issuer:
        raise AuthenticationFailed(f"the token's issuer is not {show(cfg.issuer)}")
    exp = _time(claims, "exp")
    if exp is None:
        raise InvalidAuthorization(
            "the token has no exp (expiry) claim; regogate accepts only expiring tokens"
        )
    if now >= exp + cfg.leeway:
        raise InvalidAuthorization(
            f"the token expired at {_when(exp)} ({_span(now - exp)} ago)",
            hint="get a fresh token from your identity provider",
        )
    nbf = _time(claims, "nbf")
    if nbf is not None and now + cfg.leeway < nbf:
        raise InvalidAuthorization(
            f"the token is not valid yet: not before {_when(nbf)} (in {_span(nbf - now)})",
            hint="check the clocks of the identity provider and the gateway",
        )
    iat = _time(claims, "iat")
    if iat is not None and iat > now + cfg.leeway:
        raise InvalidAuthorization(
            f"the token is not valid yet: issued in the future, at {_when(iat)}",
            hint="check the clocks of the identity provider and the gateway",
        )
    _check_audience(claims.get("aud"), cfg)
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidAuthorization("the token has no sub (subject) claim")
    email = claim(claims, cfg.email_claim)
    return Identity(
        sub=sub,
        groups=_groups(claims, cfg),
        auth="oidc",
        issuer=cfg.issuer,
        token_sha256=digest,
        email=email if isinstance(email, str) else None,
        expires_at=exp,
    )


def claim(claims: Mapping[str, object], name: str) -> object | None:
    """A claim by name, or by dotted path into nested objects (Keycloak's
    ``realm_access.roles``); an exact name wins, since URL-named claims contain dots."""
    if name in claims:
        return claims[name]
    value: object = claims
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _check_audience(aud: object, cfg: OidcIssuerConfig) -> None:
    expected = " or ".join(show(a) for a in cfg.audiences)
    if aud is None:
        raise InvalidAuthorization(
            f"the token has no aud (audience) claim; regogate expects {expected}"
        )
    got = [aud] if isinstance(aud, str) else aud
    if not isinstance(got, list) or not any(a in cfg.audiences for a in got):
        shown = ", ".join(show(a) for a in got[:5]) if isinstance(got, list) else show(got)
        raise InvalidAuthorization(
            f"wrong audience: the token is for {shown or 'no audience'}, regogate expects "
            f"{expected}",
            hint=f"request a token for the audience {expected}",
        )


def _groups(claims: Mapping[str, object], cfg: OidcIssuerConfig) -> tuple[str, ...]:
    value = claim(claims, cfg.groups_claim)
    if value is None:
        hint = f"configure your identity provider to put the groups into {show(cfg.groups_claim)}"
        names = claims.get("_claim_names")
        if isinstance(names, dict) and cfg.groups_claim in names:
            # Entra ID "groups overage": too many groups, only a link to fetch them.
            hint = "the user is in too many groups to fit in the token; emit app roles instead"
        raise InvalidAuthorization(
            f"the token has no groups claim {show(cfg.groups_claim)}",
            hint=hint + " (or set groups_claim in [[oidc]])",
        )
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(g, str) for g in value):
        return tuple(value)
    raise InvalidAuthorization(
        f"the token's groups claim {show(cfg.groups_claim)} is not a list of strings"
    )


def _time(claims: Mapping[str, object], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidAuthorization(f"the token's {name} claim is not a number of seconds")
    return float(value)


def _when(t: float) -> str:
    try:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{t:.0f} (seconds since 1970)"


def _span(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h"


def _json_object(payload: bytes) -> dict[str, object]:
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError):
        raise _malformed("its payload is not JSON") from None
    if not isinstance(value, dict):
        raise _malformed("its payload is not a JSON object")
    return value


def _malformed(why: str = "") -> AuthenticationFailed:
    return AuthenticationFailed(
        "the password looks like a JWT but is not a well-formed one" + (f": {why}" if why else ""),
        hint="pass the raw token (header.payload.signature) as the password",
    )
