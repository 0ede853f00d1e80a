"""The OIDC IdentityProvider: a JWT as the password, checked against configured issuers;
and the gateway's identity chain (static service tokens first, then OIDC)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from regogate.config import Config
from regogate.errors import AuthenticationFailed
from regogate.identity import (
    ClientInfo,
    Identity,
    IdentityChain,
    IdentityProvider,
    StaticTokenProvider,
    token_sha256,
)
from regogate.oidc.config import OidcIssuerConfig
from regogate.oidc.jwks import HttpFetcher, JsonFetcher, JwksCache
from regogate.oidc.verify import (
    check_algorithm,
    check_claims,
    looks_like_jwt,
    peek,
    show,
    verify_signature,
)

log = logging.getLogger("regogate.oidc")


class OidcProvider:
    """Recognizes JWT-shaped passwords; any other password is not its kind (None)."""

    def __init__(
        self,
        issuers: Sequence[OidcIssuerConfig],
        *,
        fetcher: JsonFetcher | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        fetch = fetcher or HttpFetcher()
        self._issuers = {c.issuer: JwksCache(c, fetch, monotonic) for c in issuers}
        self._clock = clock

    async def authenticate(self, token: str, client: ClientInfo) -> Identity | None:
        if not looks_like_jwt(token):
            return None
        digest = token_sha256(token)
        try:
            return await self._verify(token, digest)
        except AuthenticationFailed as exc:
            # The hash lets an operator match this line to a token they hold; the
            # token itself is never logged or echoed.
            log.debug("oidc: token sha256:%s… refused: %s", digest[:16], exc.message)
            raise type(exc)(
                f'token authentication failed for user "{client.user}": {exc.message}',
                detail=exc.detail,
                hint=exc.hint,
            ) from None

    async def _verify(self, token: str, digest: str) -> Identity:
        unverified = peek(token)
        check_algorithm(unverified.alg)
        if unverified.issuer is None:
            raise AuthenticationFailed("the token has no iss (issuer) claim")
        cache = self._issuers.get(unverified.issuer)
        if cache is None:
            raise self._unknown_issuer(unverified.issuer)
        check_algorithm(unverified.alg, cache.cfg)
        key = await cache.key_for(unverified.kid, unverified.alg)
        claims = verify_signature(token, key, cache.cfg)
        return check_claims(claims, cache.cfg, digest, self._clock())

    def _unknown_issuer(self, issuer: str) -> AuthenticationFailed:
        near = [c for c in self._issuers if c.rstrip("/") == issuer.rstrip("/")]
        hint = (
            f"the configured issuer {show(near[0])} differs only in a trailing slash; "
            "iss must match the [[oidc]] issuer exactly"
            if near
            else "get a token from an issuer in the gateway's [[oidc]] configuration"
        )
        return AuthenticationFailed(f"unknown token issuer {show(issuer)}", hint=hint)


def identity_chain(config: Config) -> IdentityChain:
    """Static [[tokens]] first (a hash lookup), then [[oidc]] issuers for JWTs."""
    providers: list[IdentityProvider] = [StaticTokenProvider(config.tokens)]
    if config.oidc:
        providers.append(OidcProvider(config.oidc))
    return IdentityChain(providers)
