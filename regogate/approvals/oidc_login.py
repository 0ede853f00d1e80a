"""Signing in to the approvals page with OIDC, the I/O side: the issuer's endpoints by
discovery, the authorization code exchanged at its token endpoint (httpx, with timeouts),
and the ID token checked by the gateway's own JWT verifier (regogate.oidc: signature by
the issuer's JWKS, iss, exp, aud) for this client's audience, then its nonce; so an
approver is the same identity (sub, groups) as when they connect as a client."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote_plus

import anyio
import httpx

from regogate.approvals.oidc_flow import (
    CALLBACK_PATH,
    Endpoints,
    OidcClient,
    SignInFlow,
    authorization_url,
    check_id_token,
    endpoints_of,
    read_token_response,
    token_request,
)
from regogate.config import Config
from regogate.errors import AuthenticationFailed, ConfigError
from regogate.identity import Identity, token_sha256
from regogate.oidc.config import OidcIssuerConfig
from regogate.oidc.jwks import FETCH_TIMEOUT, HttpFetcher, JwksCache
from regogate.oidc.verify import check_algorithm, check_claims, peek, show, verify_signature

log = logging.getLogger("regogate.approvals")

DISCOVERY_MAX_AGE = 3600.0  # refetch the endpoints this often (they rarely change)
MAX_TOKEN_RESPONSE = 64 * 1024
MIN_SECRET_BYTES = 8


class OidcSignIn:
    """One issuer and this page's client registration at it."""

    def __init__(
        self,
        issuer: OidcIssuerConfig,
        client: OidcClient,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = FETCH_TIMEOUT,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        # An ID token is a JWT of the same issuer, for another audience: this client
        # (OpenID Connect Core 1.0 §3.1.3.7, item 3).
        self.issuer = dataclasses.replace(issuer, audiences=(client.client_id,))
        self.client = client
        self._transport = transport
        self._timeout = timeout
        self._fetcher = HttpFetcher(timeout=timeout, transport=transport)
        self._keys = JwksCache(self.issuer, self._fetcher, monotonic)
        self._clock = clock
        self._monotonic = monotonic
        self._endpoints: Endpoints | None = None
        self._loaded_at = -math.inf
        self._lock = anyio.Lock()

    async def authorization_url(self, flow: SignInFlow) -> str:
        endpoints = await self._discover()
        return authorization_url(endpoints.authorization, self.client, flow)

    async def finish(self, flow: SignInFlow, code: str) -> Identity:
        """The identity of the person the issuer signed in, from the callback's code."""
        endpoints = await self._discover()
        id_token = await self._exchange(endpoints.token, flow, code)
        return await self._verify(id_token, flow)

    async def _discover(self) -> Endpoints:
        async with self._lock:
            if self._monotonic() - self._loaded_at >= DISCOVERY_MAX_AGE:
                url = self.issuer.discovery_url
                try:
                    document = await self._fetcher.get_json(url)
                    self._endpoints = endpoints_of(document, self.issuer.issuer, url)
                    self._loaded_at = self._monotonic()
                except AuthenticationFailed as exc:
                    if self._endpoints is None:
                        raise
                    log.warning("approvals: keeping the OIDC endpoints known: %s", exc.message)
            assert self._endpoints is not None
            return self._endpoints

    async def _exchange(self, url: str, flow: SignInFlow, code: str) -> str:
        auth = None
        if self.client.secret is not None:
            # RFC 6749 §2.3.1: both form-urlencoded, then HTTP Basic.
            auth = httpx.BasicAuth(
                quote_plus(self.client.client_id), quote_plus(self.client.secret)
            )
        body = bytearray()
        try:
            async with (
                httpx.AsyncClient(
                    timeout=self._timeout, transport=self._transport, follow_redirects=False
                ) as http,
                http.stream(
                    "POST",
                    url,
                    data=token_request(self.client, flow, code),
                    auth=auth,
                    headers={"Accept": "application/json"},
                ) as response,
            ):
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_TOKEN_RESPONSE:
                        raise _unreachable(url, f"an answer over {MAX_TOKEN_RESPONSE} bytes")
                status = response.status_code
        except httpx.TimeoutException:
            raise _unreachable(url, f"no answer within {self._timeout:g} s") from None
        except httpx.HTTPError as exc:
            # The exception's text may quote the request; its type says enough.
            raise _unreachable(url, type(exc).__name__) from None
        return read_token_response(status, bytes(body), url)

    async def _verify(self, id_token: str, flow: SignInFlow) -> Identity:
        """As regogate.oidc.provider.OidcProvider verifies a client's JWT, plus the nonce."""
        cfg = self.issuer
        unverified = peek(id_token)
        check_algorithm(unverified.alg, cfg)
        if unverified.issuer != cfg.issuer:
            raise AuthenticationFailed(
                f"the ID token's issuer is {show(unverified.issuer)}, not {show(cfg.issuer)}"
            )
        key = await self._keys.key_for(unverified.kid, unverified.alg)
        claims = verify_signature(id_token, key, cfg)
        identity = check_claims(claims, cfg, token_sha256(id_token), self._clock())
        check_id_token(claims, self.client.client_id, flow)
        return identity


def _unreachable(url: str, why: str) -> AuthenticationFailed:
    return AuthenticationFailed(
        f"cannot exchange the sign-in code at {url}: {why}",
        hint="the identity provider could not be reached; try again shortly",
    )


def oidc_sign_in(
    config: Config, base_url: str, *, transport: httpx.AsyncBaseTransport | None = None
) -> OidcSignIn | None:
    """The page's OIDC sign-in of ``config`` ([approvals] oidc_client_id and the [[oidc]]
    issuer), with the redirect URL ``base_url``/callback; None when it is off."""
    cfg = config.approvals
    if not cfg.oidc_sign_in:
        return None
    issuer = next((c for c in config.oidc if c.issuer == cfg.oidc_issuer), None)
    if issuer is None:
        raise ConfigError(f"[approvals] oidc_issuer {cfg.oidc_issuer!r} is no [[oidc]] issuer")
    client = OidcClient(
        cfg.oidc_client_id,
        base_url.rstrip("/") + CALLBACK_PATH,
        cfg.oidc_scopes,
        _secret(cfg.oidc_client_secret_file),
    )
    return OidcSignIn(issuer, client, transport=transport)


def _secret(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        secret = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise ConfigError(
            f"[approvals] oidc_client_secret_file: cannot read {path}: {why}"
        ) from None
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"[approvals] oidc_client_secret_file must hold a secret of at least "
            f"{MIN_SECRET_BYTES} characters"
        )
    return secret
