"""Fixtures for identity tests: a local OIDC issuer and gateways that trust it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fix_gateway import GatewayFixture, start_gateway
from tests.fix_pg import PgFixture
from tests.identity.issuer import AUDIENCE, LocalIssuer


def oidc_toml(issuer: LocalIssuer, **settings: Any) -> str:
    """An [[oidc]] table trusting ``issuer`` (discovery unless jwks_url is given)."""
    values: dict[str, Any] = {"issuer": issuer.issuer, "audience": AUDIENCE, **settings}
    lines = "".join(f"{k} = {_toml(v)}\n" for k, v in values.items())
    return f"\n[[oidc]]\n{lines}"


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def connect(gw: GatewayFixture, token: str, user: str = "alice") -> psycopg.Connection[Any]:
    return psycopg.connect(
        host="127.0.0.1",
        port=gw.port,
        dbname="bank",
        user=user,
        password=token,
        sslmode="disable",
        autocommit=True,
    )


@pytest.fixture(scope="session")
def issuer() -> Iterator[LocalIssuer]:
    """The shared issuer; tests that rotate or break it use ``fresh_issuer``."""
    iss = LocalIssuer()
    yield iss
    iss.close()


@pytest.fixture
def fresh_issuer() -> Iterator[LocalIssuer]:
    iss = LocalIssuer("fresh")
    yield iss
    iss.close()


@pytest.fixture(scope="session")
def oidc_gateway(
    pg: PgFixture, issuer: LocalIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayFixture]:
    """A `regogate serve` process with the static tokens and [[oidc]] for ``issuer``."""
    gw = start_gateway(
        pg, tmp_path_factory.mktemp("oidc-gateway"), extra=oidc_toml(issuer, refresh_min_interval=1)
    )
    yield gw
    assert gw.process is not None
    gw.process.stop()


def gateway_log(gw: GatewayFixture) -> str:
    assert gw.process is not None
    return Path(gw.process.log).read_text()
