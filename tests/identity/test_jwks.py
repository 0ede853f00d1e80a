"""The signing-key cache against the local issuer over real HTTP, with a test clock:
discovery, caching, rotation, rate limits, outages and hostile documents."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
import pytest

from regogate.errors import AuthenticationFailed
from regogate.oidc.config import OidcIssuerConfig
from regogate.oidc.jwks import FIRST_LOAD_RETRY, MAX_AGE, HttpFetcher, JwksCache
from regogate.pgserver import free_port
from tests.identity.issuer import AUDIENCE, LocalIssuer

JWKS = "/realms/fresh/jwks"
DISCOVERY = "/realms/fresh/.well-known/openid-configuration"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_cache(issuer: LocalIssuer, clock: Clock, *, interval: float = 60, **cfg: str) -> JwksCache:
    config = OidcIssuerConfig(
        issuer=cfg.pop("issuer", issuer.issuer),
        audiences=(AUDIENCE,),
        refresh_min_interval=interval,
        **cfg,  # type: ignore[arg-type]
    )
    return JwksCache(config, HttpFetcher(timeout=5), clock)


def run(fn: Callable[[], Awaitable[object]]) -> None:
    anyio.run(fn)


def refused(message: str) -> pytest.RaisesExc[AuthenticationFailed]:
    return pytest.raises(AuthenticationFailed, match=message)


def test_discovery_then_cached(fresh_issuer: LocalIssuer) -> None:
    cache = make_cache(fresh_issuer, Clock())

    async def main() -> None:
        for alg in ("RS256", "ES256", "EdDSA"):
            key = await cache.key_for(fresh_issuer.kid_for(alg), alg)
            assert (key.kid, key.algorithm) == (fresh_issuer.kid_for(alg), alg)

    run(main)
    assert fresh_issuer.requests == {DISCOVERY: 1, JWKS: 1}


def test_fixed_jwks_url_skips_discovery(fresh_issuer: LocalIssuer) -> None:
    cache = make_cache(fresh_issuer, Clock(), jwks_url=fresh_issuer.jwks_url)
    run(lambda: cache.key_for(fresh_issuer.current, "RS256"))
    assert fresh_issuer.requests == {JWKS: 1}


def test_rotation_is_rate_limited(fresh_issuer: LocalIssuer) -> None:
    clock = Clock()
    cache = make_cache(fresh_issuer, clock, interval=60)

    async def main() -> None:
        await cache.key_for(fresh_issuer.current, "RS256")
        new = fresh_issuer.rotate()
        clock.now += 59
        with refused("unknown signing key") as caught:
            await cache.key_for(new, "RS256")
        assert caught.value.hint == "if the issuer has just rotated its keys, retry in 1 s"
        assert fresh_issuer.requests[JWKS] == 1
        clock.now += 1
        assert (await cache.key_for(new, "RS256")).kid == new
        assert fresh_issuer.requests[JWKS] == 2

    run(main)


def test_concurrent_lookups_share_one_fetch(fresh_issuer: LocalIssuer) -> None:
    cache = make_cache(fresh_issuer, Clock(), interval=0, jwks_url=fresh_issuer.jwks_url)
    errors: list[str] = []

    async def lookup(kid: str) -> None:
        try:
            await cache.key_for(kid, "RS256")
        except AuthenticationFailed as exc:
            errors.append(exc.message)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(lookup, fresh_issuer.current)
        assert fresh_issuer.requests[JWKS] == 1
        async with anyio.create_task_group() as tg:
            for _ in range(20):  # a burst of the same unknown kid: one refetch, not 20
                tg.start_soon(lookup, "nope")

    run(main)
    assert len(errors) == 20
    assert fresh_issuer.requests[JWKS] == 2


def test_old_keys_are_refetched_and_kept_through_an_outage(
    fresh_issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    cache = make_cache(fresh_issuer, clock, jwks_url=fresh_issuer.jwks_url)
    kid = fresh_issuer.current

    async def main() -> None:
        await cache.key_for(kid, "RS256")
        clock.now += MAX_AGE
        fresh_issuer.status = 500
        with caplog.at_level(logging.WARNING, "regogate.oidc"):
            assert (await cache.key_for(kid, "RS256")).kid == kid  # stale, but usable
        assert "keeping 4 cached keys" not in caplog.text  # three keys were published
        assert "keeping 3 cached keys: cannot fetch" in caplog.text
        assert "HTTP status 500" in caplog.text
        assert fresh_issuer.requests[JWKS] == 2
        fresh_issuer.status = 200
        fresh_issuer.rotate(drop_old=True)
        clock.now += 60
        with refused(r"publishes no RS256 key"):  # the withdrawn key is gone after a refetch
            await cache.key_for(kid, "RS256")

    run(main)


def test_first_load_failure_retries_soon(fresh_issuer: LocalIssuer) -> None:
    clock = Clock()
    cache = make_cache(fresh_issuer, clock, interval=600)
    fresh_issuer.status = 503

    async def main() -> None:
        with refused("cannot get the signing keys of issuer .*: cannot fetch .*HTTP status 503"):
            await cache.key_for(fresh_issuer.current, "RS256")
        with refused("cannot get the signing keys"):  # within the retry wait: no request
            await cache.key_for(fresh_issuer.current, "RS256")
        assert fresh_issuer.requests[DISCOVERY] == 1
        fresh_issuer.status = 200
        clock.now += FIRST_LOAD_RETRY  # not the full refresh_min_interval of 600 s
        await cache.key_for(fresh_issuer.current, "RS256")

    run(main)


def test_token_without_kid(fresh_issuer: LocalIssuer) -> None:
    clock = Clock()
    cache = make_cache(fresh_issuer, clock, jwks_url=fresh_issuer.jwks_url)

    async def main() -> None:
        assert (await cache.key_for(None, "ES256")).algorithm == "ES256"  # the only one
        fresh_issuer.add_key("ES256")
        clock.now += MAX_AGE  # the cached set is old: refetched
        with refused(r"names no signing key \(kid\) and issuer .* publishes 2 ES256 keys"):
            await cache.key_for(None, "ES256")

    run(main)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"issuer": "https://other.example"}, 'names issuer "https://other.example", not "http'),
        ({"jwks_uri": None}, "has no jwks_uri"),
        ({"jwks_uri": "http://keys.example.net/jwks"}, "jwks_uri must be an https:// URL"),
    ],
)
def test_discovery_document_is_checked(
    fresh_issuer: LocalIssuer, overrides: dict[str, object], message: str
) -> None:
    fresh_issuer.discovery_overrides = overrides
    cache = make_cache(fresh_issuer, Clock())

    async def main() -> None:
        with refused(message):
            await cache.key_for(fresh_issuer.current, "RS256")

    run(main)
    assert fresh_issuer.requests[JWKS] == 0


def test_fetch_failures_are_translated(fresh_issuer: LocalIssuer) -> None:
    closed = f"http://127.0.0.1:{free_port()}/jwks"
    cases = [
        (fresh_issuer.issuer + "/missing", "HTTP status 404"),
        (closed, "ConnectError"),
    ]
    fresh_issuer.extra_jwks = [{"kty": "oct", "k": "x" * 600_000}]
    cases.append((fresh_issuer.jwks_url, "larger than 524288 bytes"))

    async def main() -> None:
        for url, message in cases:
            cache = make_cache(fresh_issuer, Clock(), jwks_url=url)
            with refused(message):
                await cache.key_for(fresh_issuer.current, "RS256")

    run(main)


def test_symmetric_keys_in_the_jwks_are_ignored(fresh_issuer: LocalIssuer) -> None:
    fresh_issuer.extra_jwks = [{"kty": "oct", "kid": "shared", "k": "c2VjcmV0", "alg": "HS256"}]
    cache = make_cache(fresh_issuer, Clock(), jwks_url=fresh_issuer.jwks_url)

    async def main() -> None:
        with refused('publishes no HS256 key "shared"'):
            await cache.key_for("shared", "HS256")

    run(main)
