"""The compose deployment's parts, run here without Docker: generate-secrets.sh, the init
SQL's least-privilege role on a real PostgreSQL, the image's entrypoint (`init`: the
listener certificate and the signing key; `serve`: the config with tokens appended) and
deploy/compose/regogate.toml, with the paths the container mounts moved to a scratch
directory and the host names to this machine. Clients then connect through TLS with
the generated tokens, and the OPA sidecar is seen to listen on a unix socket only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import psutil
import psycopg
import psycopg.errors
import pytest
from cryptography import x509

from regogate.pgserver import SUPERUSER, free_port
from regogate.policy.catalog_sql import as_json, catalog_query
from regogate.proxy.hooks import SESSION_SETTINGS_SQL
from tests.deploy.kube import ROOT, tool
from tests.fix_pg import PgFixture

ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"
ROLE_SCRIPT = ROOT / "deploy" / "initdb" / "20-gateway-role.sh"
ROLE_SQL = ROOT / "deploy" / "initdb" / "gateway-role.psql"
COMPOSE_CONFIG = ROOT / "deploy" / "compose" / "regogate.toml"
GENERATE_SECRETS = ROOT / "deploy" / "compose" / "generate-secrets.sh"
DATABASE = "deploy_bank"
ROLE = "rg_deploy_gateway"


def tool_env(**extra: str) -> dict[str, str]:
    """This machine's environment with the virtualenv's `regogate` first on PATH."""
    venv_bin = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}", **extra}


def sh(script: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class Deployment:
    tmp: Path
    port: int
    tokens: dict[str, str]
    upstream_password: str
    proc: subprocess.Popen[bytes]

    def connect(self, who: str, sslmode: str = "require") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            dbname="bank",
            user=who,
            password=self.tokens[who],
            sslmode=sslmode,
            connect_timeout=10,
            autocommit=True,
        )

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def compose_config(tmp: Path, pg: PgFixture, port: int, secrets: Path) -> str:
    """deploy/compose/regogate.toml with each container path and host replaced, each
    replacement made exactly once (a changed config fails here, not silently)."""
    text = COMPOSE_CONFIG.read_text()
    for old, new in (
        ('listen_host = "0.0.0.0"', 'listen_host = "127.0.0.1"'),
        ("listen_port = 6432", f"listen_port = {port}"),
        ('"/var/lib/regogate/tls/server.crt"', f'"{tmp}/tls/server.crt"'),
        ('"/var/lib/regogate/tls/server.key"', f'"{tmp}/tls/server.key"'),
        ('host = "postgres"', 'host = "127.0.0.1"'),
        ("port = 5432", f"port = {pg.port}"),
        ('database = "bank"', f'database = "{DATABASE}"'),
        ('user = "regogate"', f'user = "{ROLE}"'),
        ('"/run/secrets/upstream_password"', f'"{secrets}/upstream_password"'),
        ('"/etc/regogate/policies"', f'"{ROOT}/policies/rego"'),
        ('"/usr/local/bin/opa"', f'"{tool("opa")}"'),
        ('"/var/lib/regogate/recordings"', f'"{tmp}/recordings"'),
        ('"/var/lib/regogate/keys/recording.key"', f'"{tmp}/keys/recording.key"'),
        ('"/var/lib/regogate/anchor/checkpoint.note"', f'"{tmp}/anchor/checkpoint.note"'),
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    for container_path in ("/var/lib/regogate", "/run/secrets", "/etc/regogate", "/usr/local"):
        assert f'"{container_path}' not in text, container_path
    return text


def create_database(pg: PgFixture, secrets: Path) -> None:
    """The demo tables owned by the superuser, then the role script as the postgres
    image runs it (its password from the generated compose secret)."""
    pg.sql(f"DROP DATABASE IF EXISTS {DATABASE}", dbname="postgres")
    pg.sql(f"DROP ROLE IF EXISTS {ROLE}", dbname="postgres")
    pg.sql(f"CREATE DATABASE {DATABASE}", dbname="postgres")
    pg.sql(resources.files("regogate.demo").joinpath("bank.sql").read_text(), dbname=DATABASE)
    p = sh(
        ROLE_SCRIPT,
        env=tool_env(
            PATH=f"{pg.server.bindir}:{os.environ.get('PATH', '')}",
            PGHOST="127.0.0.1",
            PGPORT=str(pg.port),
            PGPASSWORD=pg.server.password,
            POSTGRES_USER=SUPERUSER,
            POSTGRES_DB=DATABASE,
            REGOGATE_PASSWORD_FILE=str(secrets / "upstream_password"),
            REGOGATE_ROLE=ROLE,
            REGOGATE_ROLE_SQL=str(ROLE_SQL),
        ),
    )
    assert p.returncode == 0, p.stderr


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the gateway exited ({proc.returncode}): {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"the gateway did not start: {log.read_text()}")


def init_env(tmp: Path) -> dict[str, str]:
    return tool_env(
        REGOGATE_TLS_DIR=str(tmp / "tls"),
        REGOGATE_KEY_FILE=str(tmp / "keys" / "recording.key"),
        REGOGATE_LOG_NAME="regogate.test/deploy",
    )


@pytest.fixture(scope="module")
def deployment(pg: PgFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("deploy")
    secrets = tmp / "secrets"
    p = sh(GENERATE_SECRETS, str(secrets), env=tool_env())
    assert p.returncode == 0, p.stderr
    create_database(pg, secrets)
    p = sh(ENTRYPOINT, "init", env=init_env(tmp))
    assert p.returncode == 0, p.stderr
    (tmp / "anchor").mkdir(mode=0o700)  # the image makes it (Dockerfile), compose mounts it
    port = free_port()
    config = tmp / "regogate.toml"
    config.write_text(compose_config(tmp, pg, port, secrets))
    log = tmp / "gateway.log"
    proc = subprocess.Popen(
        ["sh", str(ENTRYPOINT), "serve"],
        env=tool_env(
            REGOGATE_CONFIG=str(config),
            REGOGATE_TOKENS_FILES=str(secrets / "regogate_tokens.toml"),
            REGOGATE_RUN_DIR=str(tmp / "run"),
        ),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    tokens = {
        name.removesuffix("_TOKEN").lower(): value
        for name, value in (
            line.split("=", 1) for line in (secrets / "tokens.env").read_text().splitlines()
        )
    }
    deployed = Deployment(tmp, port, tokens, (secrets / "upstream_password").read_text(), proc)
    try:
        wait_for_port(port, proc, log)
        yield deployed
    finally:
        deployed.stop()


def test_gateway_role_is_least_privilege(pg: PgFixture, deployment: Deployment) -> None:
    with psycopg.connect(
        host="127.0.0.1",
        port=pg.port,
        dbname=DATABASE,
        user=ROLE,
        password=deployment.upstream_password,
        autocommit=True,
    ) as conn:
        attributes = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,"
            " rolinherit FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert attributes == (False, False, False, False, False, False)
        owned = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles"
            " WHERE rolname = current_user)"
        ).fetchone()
        assert owned == (0,)
        # what regogate reads: the catalog (lock-safe statement) and the session settings
        conn.execute("SET search_path = ''")
        catalog = conn.execute(as_json(catalog_query())).fetchone()
        assert catalog is not None and '"customers"' in str(catalog[0])
        conn.execute("RESET search_path")
        settings = conn.execute(SESSION_SETTINGS_SQL).fetchall()
        assert len(settings) == 4 and all(row[1] is not None for row in settings)
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (1000,)
        for refused in (
            "CREATE TABLE t (i int)",
            "CREATE TEMP TABLE t (i int)",
            "TRUNCATE transactions",
            "ALTER TABLE customers ADD COLUMN x int",
            "DROP TABLE transactions",
            "CREATE SCHEMA s",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(refused)


def test_clients_use_tls_with_the_generated_tokens(deployment: Deployment) -> None:
    with deployment.connect("analyst") as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("SELECT count(*) FROM transactions").fetchone() == (10000,)


def test_a_token_over_plaintext_is_refused(deployment: Deployment) -> None:
    with pytest.raises(psycopg.OperationalError):
        deployment.connect("analyst", sslmode="disable")


def test_the_granted_rights_suffice_and_the_policy_still_decides(deployment: Deployment) -> None:
    with deployment.connect("dba") as conn:
        cur = conn.execute("UPDATE transactions SET memo = 'deploy test' WHERE id = 1")
        assert cur.rowcount == 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="DROP TABLE"):
            conn.execute("DROP TABLE customers")


def test_opa_listens_on_a_unix_socket_only(deployment: Deployment) -> None:
    gateway = psutil.Process(deployment.proc.pid)
    opa = [p for p in gateway.children(recursive=True) if Path(p.exe()).name == "opa"]
    assert len(opa) == 1
    assert opa[0].net_connections(kind="inet") == []
    sockets = [c.laddr for c in opa[0].net_connections(kind="unix")]
    assert any(str(path).endswith("/opa.sock") for path in sockets), sockets


def test_the_assembled_config_is_private(deployment: Deployment) -> None:
    config = deployment.tmp / "run" / "regogate.toml"
    assert config.stat().st_mode & 0o777 == 0o600
    assert config.read_text().count("token_sha256") == 3


def test_init_is_idempotent(deployment: Deployment) -> None:
    files = [
        deployment.tmp / "tls" / "server.crt",
        deployment.tmp / "tls" / "server.key",
        deployment.tmp / "keys" / "recording.key",
    ]
    before = [f.read_bytes() for f in files]
    p = sh(ENTRYPOINT, "init", env=init_env(deployment.tmp))
    assert p.returncode == 0, p.stderr
    assert [f.read_bytes() for f in files] == before
    assert files[1].stat().st_mode & 0o777 == 0o600
    assert files[2].stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(before[0])
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["regogate", "localhost"]


@pytest.mark.parametrize(
    ("tokens", "problem"),
    [
        ('mode = "off"\n[[tokens]]\nsub = "x"\n', "a key before the first [[tokens]] header"),
        ('[[tokens]]\nsub = "x"\n[policy]\nmode = "off"\n', "only [[tokens]] tables"),
    ],
)
def test_a_tokens_file_cannot_reach_into_the_config(
    tmp_path: Path, tokens: str, problem: str
) -> None:
    (tmp_path / "tokens.toml").write_text(tokens)
    (tmp_path / "base.toml").write_text(COMPOSE_CONFIG.read_text())
    p = sh(
        ENTRYPOINT,
        "serve",
        env=tool_env(
            REGOGATE_CONFIG=str(tmp_path / "base.toml"),
            REGOGATE_TOKENS_FILES=str(tmp_path / "tokens.toml"),
            REGOGATE_RUN_DIR=str(tmp_path / "run"),
        ),
    )
    assert p.returncode == 2
    assert problem in p.stderr
    assert not (tmp_path / "run" / "regogate.toml").exists()


def test_recordings_verify_after_a_clean_stop(deployment: Deployment) -> None:
    """Last: stops the gateway. The log it signed with the key `init` made verifies."""
    with deployment.connect("agent") as conn:
        conn.execute("SELECT id, amount FROM transactions WHERE id < 5").fetchall()
    assert deployment.stop() == 0
    p = subprocess.run(
        ["regogate", "verify", "-c", str(deployment.tmp / "run" / "regogate.toml")],
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    # the checkpoint anchor holds the last checkpoint of the log (what a start checks)
    checkpoints = (deployment.tmp / "recordings" / "checkpoints.log").read_text()
    anchor = (deployment.tmp / "anchor" / "checkpoint.note").read_text()
    assert checkpoints.endswith(anchor + "\n")
