"""pytest plugin: a regogate gateway in front of the test PostgreSQL.

The gateway runs as a real `regogate serve` child process on a free loopback port, with
static tokens for the demo identities (an in-process gateway would share the GIL with
blocking client calls such as libpq's PQcancel and deadlock).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from regogate.config import Config, parse_config
from regogate.identity import token_sha256
from regogate.pgserver import free_port
from tests.fix_pg import PgFixture
from tests.gateway_process import GatewayProcess

TOKENS = {
    "analyst": ("tok-analyst-5b1e", ["analysts"]),
    "agent": ("tok-agent-9d2c", ["mcp-agents"]),
    "dba": ("tok-dba-3f7a", ["dba"]),
}


def gateway_config_text(pg: PgFixture, port: int, extra_server: str = "", extra: str = "") -> str:
    tokens = "".join(
        f'[[tokens]]\nsub = "{sub}"\ngroups = {groups!r}\ntoken_sha256 = "{token_sha256(tok)}"\n'.replace(
            "'", '"'
        )
        for sub, (tok, groups) in TOKENS.items()
    )
    ca = pg.certs.ca
    conns = "".join(
        f"""
[connections.{name}]
host = "{host}"
port = {pg.port}
database = "{db}"
user = "{user}"
{"password_env = " + chr(34) + "RG_TEST_UPSTREAM_PASSWORD" + chr(34) if pw else ""}
{tls}
"""
        for name, host, db, user, pw, tls in (
            ("bank", "127.0.0.1", "bank", "rg_scram", True, ""),
            ("bench", "127.0.0.1", "bench", "rg_scram", True, ""),
            # MD5 (and cleartext) passwords go only to a server whose certificate is checked.
            (
                "bank_md5",
                "localhost",
                "bank",
                "rg_md5",
                True,
                f'tls = "verify-full"\ntls_ca_file = "{ca}"',
            ),
            ("bank_trust", "127.0.0.1", "bank", "rg_trust", False, ""),
            ("bank_tls", "127.0.0.1", "bank", "rg_scram", True, 'tls = "require"'),
            (
                "bank_verify",
                "localhost",
                "bank",
                "rg_scram",
                True,
                f'tls = "verify-full"\ntls_ca_file = "{ca}"',
            ),
        )
    )
    # Transparency tests run without a policy unless the test brings its own [policy].
    policy = "" if "[policy]" in extra else '[policy]\nmode = "off"\n'
    return f"""
[server]
listen_host = "127.0.0.1"
listen_port = {port}
{extra_server}

{policy}
{conns}
{extra}
{tokens}
"""


def gateway_config(pg: PgFixture, extra_server: str = "", extra: str = "") -> Config:
    """The same configuration, parsed in-process (for unit tests of config users)."""
    return parse_config(
        gateway_config_text(pg, 0, extra_server, extra),
        origin="test.toml",
        env={"RG_TEST_UPSTREAM_PASSWORD": pg.password},
        base=Path.cwd(),
    )


def _quote(value: str) -> str:
    if value and not any(c in value for c in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class GatewayFixture:
    port: int
    pg: PgFixture
    process: GatewayProcess | None = field(repr=False, default=None)

    def token(self, who: str) -> str:
        return TOKENS[who][0]

    def dsn(self, who: str = "dba", dbname: str = "bank", **extra: str) -> str:
        parts = {
            "host": "127.0.0.1",
            "port": str(self.port),
            "dbname": dbname,
            "user": who,
            "password": self.token(who),
            "sslmode": "disable",
            **extra,
        }
        return " ".join(f"{k}={_quote(v)}" for k, v in parts.items())

    def url(self, who: str = "dba", dbname: str = "bank") -> str:
        return f"postgresql://{who}:{self.token(who)}@127.0.0.1:{self.port}/{dbname}"

    def env(self, who: str = "dba", dbname: str = "bank") -> dict[str, str]:
        return {
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGDATABASE": dbname,
            "PGUSER": who,
            "PGPASSWORD": self.token(who),
            "PGSSLMODE": "disable",
        }


def start_gateway(
    pg: PgFixture,
    directory: Path,
    extra_server: str = "",
    extra: str = "",
    env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
) -> GatewayFixture:
    """`regogate serve` as a child process — a real, separate gateway like in production."""
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    cfg = directory / "regogate.toml"
    cfg.write_text(gateway_config_text(pg, port, extra_server, extra))
    proc = GatewayProcess(cfg, pg, port, directory / "gateway.log", env=env, preexec=preexec)
    return GatewayFixture(port, pg, proc)


@pytest.fixture(scope="session")
def gateway(pg: PgFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayFixture]:
    """The shared gateway (pass-through hooks) for transparency tests."""
    gw = start_gateway(pg, tmp_path_factory.mktemp("gateway"))
    yield gw
    assert gw.process is not None
    gw.process.stop()


@pytest.fixture
def make_gateway(pg: PgFixture, tmp_path: Path) -> Iterator[Callable[..., GatewayFixture]]:
    """Start a dedicated gateway with extra config (``extra_server=`` / ``extra=``)."""
    started: list[GatewayFixture] = []

    def start(
        extra_server: str = "",
        extra: str = "",
        env: dict[str, str] | None = None,
        preexec: Callable[[], None] | None = None,
    ) -> GatewayFixture:
        gw = start_gateway(pg, tmp_path / f"gw{len(started)}", extra_server, extra, env, preexec)
        started.append(gw)
        return gw

    yield start
    for gw in started:
        assert gw.process is not None
        gw.process.stop()
