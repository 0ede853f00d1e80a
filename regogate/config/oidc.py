"""[[oidc]]: trusted JWT issuers, read into regogate.oidc.config.OidcIssuerConfig (which
owns the issuer settings and the URL rules)."""

from __future__ import annotations

from collections.abc import Mapping

from regogate.config.reader import Reader, Table
from regogate.oidc.config import SUPPORTED_ALGORITHMS, OidcIssuerConfig, url_problem

_REFUSED = {
    "client_secret": "regogate only verifies tokens and needs no client secret; remove it",
}


def parse_oidc(r: Reader, data: Mapping[str, object]) -> tuple[OidcIssuerConfig, ...]:
    """[[oidc]]: trusted JWT issuers, checked after the static [[tokens]]."""
    issuers: list[OidcIssuerConfig] = []
    for o in r.entries(data, "oidc", OidcIssuerConfig, _REFUSED):
        issuer = _url(o, "issuer", o.require("issuer", str))
        if any(c.issuer == issuer for c in issuers):
            raise o.fail("issuer", f"issuer {issuer!r} is configured twice")
        jwks_url = o.get("jwks_url", str, "") or None
        groups_claim, email_claim = _claims(o)
        issuers.append(
            OidcIssuerConfig(
                issuer=issuer,
                audiences=_audiences(o),
                jwks_url=None if jwks_url is None else _url(o, "jwks_url", jwks_url),
                groups_claim=groups_claim,
                email_claim=email_claim,
                algorithms=_algorithms(o),
                leeway=_leeway(o),
                refresh_min_interval=_refresh_min_interval(o),
            )
        )
    return tuple(issuers)


def _audiences(o: Table) -> tuple[str, ...]:
    if "audience" not in o.data:
        raise o.fail("audience", "is required (the aud your tokens are issued for)")
    audience = o.data["audience"]
    audiences = (audience,) if isinstance(audience, str) else audience
    if (
        not isinstance(audiences, list | tuple)
        or not audiences
        or not all(isinstance(a, str) and a for a in audiences)
    ):
        raise o.fail("audience", "must be a non-empty string or list of strings")
    return tuple(audiences)


def _algorithms(o: Table) -> tuple[str, ...]:
    algorithms = o.get("algorithms", list, list(SUPPORTED_ALGORITHMS))
    if not algorithms:
        raise o.fail("algorithms", "must name at least one algorithm")
    for alg in algorithms:
        if not isinstance(alg, str):
            raise o.fail("algorithms", "must be a list of strings")
        if alg.lower() == "none":
            raise o.fail("algorithms", '"none" (unsigned tokens) is never accepted')
        if alg.upper().startswith("HS"):
            raise o.fail(
                "algorithms",
                f"{alg} is never accepted: with HMAC a published public key could "
                f"sign tokens; use one of {', '.join(SUPPORTED_ALGORITHMS)}",
            )
        if alg not in SUPPORTED_ALGORITHMS:
            raise o.fail(
                "algorithms",
                f"{alg!r} is not supported; use one of {', '.join(SUPPORTED_ALGORITHMS)}",
            )
    return tuple(dict.fromkeys(algorithms))


def _leeway(o: Table) -> float:
    leeway = o.get("leeway", float, 30.0)
    if not 0 <= leeway <= 300:
        raise o.fail("leeway", f"must be between 0 and 300 seconds, got {leeway}")
    return leeway


def _refresh_min_interval(o: Table) -> float:
    interval = o.get("refresh_min_interval", float, 60.0)
    if interval < 0:
        raise o.fail("refresh_min_interval", f"must not be negative, got {interval}")
    return interval


def _claims(o: Table) -> tuple[str, str]:
    groups_claim = o.get("groups_claim", str, "groups")
    email_claim = o.get("email_claim", str, "email")
    for key, claim in (("groups_claim", groups_claim), ("email_claim", email_claim)):
        if not claim:
            raise o.fail(key, "must not be empty")
    return groups_claim, email_claim


def _url(o: Table, key: str, value: str) -> str:
    problem = url_problem(value)
    if problem is not None:
        raise o.fail(key, problem)
    return value
