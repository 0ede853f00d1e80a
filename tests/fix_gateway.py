"""pytest plugin: a regogate gateway in front of the test PostgreSQL.

The gateway runs in a background thread on its own (uvloop) event loop, on a free
loopback port, with static tokens for the demo identities.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from anyio.from_thread import start_blocking_portal

from regogate.config import Config, parse_config
from regogate.identity import token_sha256
from regogate.proxy.hooks import HooksFactory, passthrough_hooks
from regogate.proxy.server import Gateway
from tests.fix_pg import PgFixture

TOKENS = {
    "analyst": ("tok-analyst-5b1e", ["analysts"]),
    "agent": ("tok-agent-9d2c", ["mcp-agents"]),
    "dba": ("tok-dba-3f7a", ["dba"]),
}


def gateway_config(pg: PgFixture, extra_server: str = "", extra: str = "") -> Config:
    tokens = "".join(
        f'[[tokens]]\nsub = "{sub}"\ngroups = {groups!r}\ntoken_sha256 = "{token_sha256(tok)}"\n'.replace(
            "'", '"'
        )
        for sub, (tok, groups) in TOKENS.items()
    )
    ca = pg.certs.ca
    text = f"""
[server]
listen_host = "127.0.0.1"
listen_port = 0
{extra_server}

[connections.bank]
host = "127.0.0.1"
port = {pg.port}
database = "bank"
user = "rg_scram"
password_env = "RG_TEST_UPSTREAM_PASSWORD"

[connections.bench]
host = "127.0.0.1"
port = {pg.port}
database = "bench"
user = "rg_scram"
password_env = "RG_TEST_UPSTREAM_PASSWORD"

[connections.bank_md5]
host = "127.0.0.1"
port = {pg.port}
database = "bank"
user = "rg_md5"
password_env = "RG_TEST_UPSTREAM_PASSWORD"

[connections.bank_trust]
host = "127.0.0.1"
port = {pg.port}
database = "bank"
user = "rg_trust"

[connections.bank_tls]
host = "127.0.0.1"
port = {pg.port}
database = "bank"
user = "rg_scram"
password_env = "RG_TEST_UPSTREAM_PASSWORD"
tls = "require"

[connections.bank_verify]
host = "localhost"
port = {pg.port}
database = "bank"
user = "rg_scram"
password_env = "RG_TEST_UPSTREAM_PASSWORD"
tls = "verify-full"
tls_ca_file = "{ca}"
{extra}
{tokens}
"""
    return parse_config(text, origin="test.toml", env={"RG_TEST_UPSTREAM_PASSWORD": pg.password},
                        base=Path.cwd())


def _quote(value: str) -> str:
    if value and not any(c in value for c in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class GatewayFixture:
    gateway: Gateway
    port: int
    pg: PgFixture
    stop: Callable[[], None] = field(repr=False, default=lambda: None)

    def token(self, who: str) -> str:
        return TOKENS[who][0]

    def dsn(self, who: str = "dba", dbname: str = "bank", **extra: str) -> str:
        parts = {"host": "127.0.0.1", "port": str(self.port), "dbname": dbname, "user": who,
                 "password": self.token(who), "sslmode": "disable", **extra}
        return " ".join(f"{k}={_quote(v)}" for k, v in parts.items())

    def url(self, who: str = "dba", dbname: str = "bank") -> str:
        return f"postgresql://{who}:{self.token(who)}@127.0.0.1:{self.port}/{dbname}"

    def env(self, who: str = "dba", dbname: str = "bank") -> dict[str, str]:
        return {"PGHOST": "127.0.0.1", "PGPORT": str(self.port), "PGDATABASE": dbname,
                "PGUSER": who, "PGPASSWORD": self.token(who), "PGSSLMODE": "disable"}


def run_gateway(config: Config, pg: PgFixture, hooks: HooksFactory = passthrough_hooks,
                ) -> Iterator[GatewayFixture]:
    with start_blocking_portal(backend="asyncio", backend_options={"use_uvloop": True}) as portal:
        gateway = Gateway(config, hooks=hooks)
        future, port = portal.start_task(gateway.serve)
        try:
            yield GatewayFixture(gateway, port, pg)
        finally:
            future.cancel()


@pytest.fixture(scope="session")
def gateway(pg: PgFixture) -> Iterator[GatewayFixture]:
    """The shared gateway (pass-through hooks) for transparency tests."""
    yield from run_gateway(gateway_config(pg), pg)


@pytest.fixture
def make_gateway(pg: PgFixture) -> Iterator[Callable[..., GatewayFixture]]:
    """Start a dedicated gateway with extra config (``extra_server=`` / ``extra=``)."""
    gens: list[Iterator[GatewayFixture]] = []

    def start(extra_server: str = "", extra: str = "",
              hooks: HooksFactory = passthrough_hooks) -> GatewayFixture:
        gen = run_gateway(gateway_config(pg, extra_server, extra), pg, hooks)
        gens.append(gen)
        return next(gen)

    yield start
    for gen in gens:
        gen.close()
