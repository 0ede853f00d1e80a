"""Issuer signing keys: found by OIDC discovery or a fixed JWKS URL, cached, and fetched
again when a token names an unknown key (rotation; at most once per refresh_min_interval)
or when the cached set is an hour old. The fetch is async httpx; it never blocks the loop.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

import anyio
import httpx

from regogate.errors import AuthenticationFailed
from regogate.oidc.config import OidcIssuerConfig, url_problem
from regogate.oidc.verify import SigningKey, parse_jwks, select_key, show

log = logging.getLogger("regogate.oidc")

MAX_AGE = 3600.0  # refetch keys this old, so a key the issuer withdrew stops working
MAX_DOCUMENT_BYTES = 512 * 1024
FETCH_TIMEOUT = 5.0
FIRST_LOAD_RETRY = 5.0  # with no keys at all, retry a failed fetch this often at most


class JsonFetcher(Protocol):
    """GETs a JSON document; raises AuthenticationFailed saying why it could not."""

    async def get_json(self, url: str) -> object: ...


class HttpFetcher:
    """JsonFetcher over httpx: no redirects, a timeout, a size cap."""

    def __init__(
        self,
        *,
        timeout: float = FETCH_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self._timeout = timeout
        self._transport = transport

    async def get_json(self, url: str) -> object:
        body = bytearray()
        try:
            async with (
                httpx.AsyncClient(
                    timeout=self._timeout, transport=self._transport, follow_redirects=False
                ) as client,
                client.stream("GET", url, headers={"Accept": "application/json"}) as resp,
            ):
                if resp.status_code != 200:
                    raise _unreachable(url, f"HTTP status {resp.status_code}")
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise _unreachable(url, f"larger than {MAX_DOCUMENT_BYTES} bytes")
        except httpx.TimeoutException:
            raise _unreachable(url, f"no answer within {self._timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise _unreachable(url, f"{type(exc).__name__}: {str(exc)[:200]}") from None
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise _unreachable(url, "the response is not JSON") from None


def _unreachable(url: str, why: str) -> AuthenticationFailed:
    return AuthenticationFailed(f"cannot fetch {url}: {why}")


class JwksCache:
    """The signing keys of one issuer. Concurrent lookups share one fetch."""

    def __init__(
        self,
        cfg: OidcIssuerConfig,
        fetcher: JsonFetcher,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.cfg = cfg
        self._fetcher = fetcher
        self._clock = clock
        self._jwks_url = cfg.jwks_url
        self._keys: tuple[SigningKey, ...] | None = None
        self._loaded_at = -math.inf
        self._attempted_at = -math.inf
        self._error: str | None = None
        self._fetches = 0
        self._lock = anyio.Lock()

    async def key_for(self, kid: str | None, alg: str) -> SigningKey:
        key = self._lookup(kid, alg)
        if key is not None and not self._stale():
            return key
        fetches = self._fetches
        async with self._lock:
            # A fetch that finished while this task waited for the lock serves it too.
            key = self._lookup(kid, alg)
            if (key is None or self._stale()) and fetches == self._fetches and self._may_fetch():
                await self._refresh()
                key = self._lookup(kid, alg)
        if key is None:
            raise self._no_key(kid, alg)
        return key

    def _lookup(self, kid: str | None, alg: str) -> SigningKey | None:
        return None if self._keys is None else select_key(self._keys, kid, alg)

    def _stale(self) -> bool:
        return self._clock() - self._loaded_at >= MAX_AGE

    def _retry_in(self) -> float:
        wait = self.cfg.refresh_min_interval
        if self._keys is None:
            wait = min(wait, FIRST_LOAD_RETRY)
        return self._attempted_at + wait - self._clock()

    def _may_fetch(self) -> bool:
        return self._retry_in() <= 0

    async def _refresh(self) -> None:
        self._attempted_at = self._clock()
        self._fetches += 1
        try:
            url = self._jwks_url or await self._discover()
            keys = parse_jwks(await self._fetcher.get_json(url), url)
        except AuthenticationFailed as exc:
            self._error = exc.message
            if self._keys is None:
                raise self._unavailable() from None
            log.warning(
                "oidc: refreshing the signing keys of %s failed, keeping %d cached keys: %s",
                self.cfg.issuer,
                len(self._keys),
                exc.message,
            )
            return
        self._jwks_url, self._keys, self._error = url, keys, None
        self._loaded_at = self._clock()
        log.info(
            "oidc: %d signing keys of %s loaded from %s (kid %s)",
            len(keys),
            self.cfg.issuer,
            url,
            ", ".join(k.kid or "-" for k in keys) or "none",
        )

    async def _discover(self) -> str:
        """jwks_uri from the issuer's discovery document (OpenID Connect Discovery 1.0 §4)."""
        url = self.cfg.discovery_url
        doc = await self._fetcher.get_json(url)
        if not isinstance(doc, dict):
            raise AuthenticationFailed(f"{url} is not a JSON object")
        if doc.get("issuer") != self.cfg.issuer:
            # §4.3: the issuer in the document must be exactly the one we asked.
            raise AuthenticationFailed(
                f"{url} names issuer {show(doc.get('issuer'))}, not {show(self.cfg.issuer)}"
            )
        jwks_uri = doc.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise AuthenticationFailed(f"{url} has no jwks_uri")
        problem = url_problem(jwks_uri)
        if problem is not None:
            raise AuthenticationFailed(f"{url}: jwks_uri {problem}")
        return jwks_uri

    def _unavailable(self) -> AuthenticationFailed:
        return AuthenticationFailed(
            f"cannot get the signing keys of issuer {show(self.cfg.issuer)}: {self._error}",
            hint="the gateway could not reach the identity provider; try again shortly",
        )

    def _no_key(self, kid: str | None, alg: str) -> AuthenticationFailed:
        if self._keys is None:
            return self._unavailable()
        issuer = show(self.cfg.issuer)
        if kid is None:
            count = sum(1 for k in self._keys if k.algorithm == alg)
            message = (
                f"the token names no signing key (kid) and issuer {issuer} "
                f"publishes {count} {alg} keys"
            )
        else:
            message = f"unknown signing key: issuer {issuer} publishes no {alg} key {show(kid)}"
        if self._error:
            message += f" (refreshing its keys failed: {self._error})"
        wait = self._retry_in()
        hint = (
            f"if the issuer has just rotated its keys, retry in {math.ceil(wait)} s"
            if wait > 0
            else None
        )
        return AuthenticationFailed(message, hint=hint)
