"""`regogate demo`: a throwaway PostgreSQL with the bank database and a gateway config.

State lives in ``.regogate/`` (config, tokens, demo.env); PostgreSQL's data directory
lives beside it, or under /tmp when running as root (the server runs as an
unprivileged user that must be able to reach it). ``--fresh`` wipes everything.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from regogate.errors import ConfigError
from regogate.identity import token_sha256
from regogate.pgserver import PgServer, free_port
from regogate.recording.format.mac import MacRoot
from regogate.recording.format.records import format_ts
from regogate.recording.write import keys

DEMO_IDENTITIES = {
    "analyst": ["analysts"],
    "agent": ["mcp-agents"],
    "dba": ["dba"],
    # decides the dba's held statements (writes to accounts, DDL: policies/rego
    # dba_write, config approval.approvers); a group of its own: who writes does not
    # approve (and nobody approves their own request: docs/approvals.md)
    "approver": ["approvers"],
}
UPSTREAM_USER = "regogate_demo"
DATABASE = "bank"


@dataclass
class DemoSetup:
    state_dir: Path
    pg: PgServer
    config_path: Path
    env_path: Path
    tokens: dict[str, str]
    gateway_port: int
    upstream_password: str
    approvals_port: int = 8433

    @property
    def approvals_url(self) -> str:
        """The approvals page and API (sign in with the approver's token)."""
        return f"http://127.0.0.1:{self.approvals_port}"

    def psql_command(self, who: str) -> str:
        return (
            f'psql "host=127.0.0.1 port={self.gateway_port} dbname={DATABASE} user={who} '
            f'password={self.tokens[who]} sslmode=disable"'
        )

    def masked_example(self, who: str) -> str:
        """A psql line that reads customers: analysts and agents see the PII masked."""
        return (
            f'{self.psql_command(who)} -c "SELECT id, full_name, email, ssn, phone '
            f'FROM customers LIMIT 3"'
        )

    def upstream_dsn(self) -> str:
        return (
            f"postgresql://{UPSTREAM_USER}:{self.upstream_password}@127.0.0.1:"
            f"{self.pg.port}/{DATABASE}"
        )


def _pg_dir(state_dir: Path) -> Path:
    if os.geteuid() != 0:
        return state_dir / "pg"
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
    base = Path("/tmp") / f"regogate-demo-{digest}"
    base.mkdir(exist_ok=True)
    base.chmod(0o755)
    return base / "pg"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def default_policy_dir() -> Path:
    """The default policy library shipped in the repository (policies/rego)."""
    here = Path(__file__).resolve().parents[2] / "policies" / "rego"
    if not here.is_dir():
        raise ConfigError(
            f"the default policy library is not at {here}; run the demo from a checkout of "
            f"the regogate repository"
        )
    return here


def prepare(state_dir: Path, *, fresh: bool = False, gateway_port: int | None = None) -> DemoSetup:
    state_dir = state_dir.resolve()
    pg_dir = _pg_dir(state_dir)
    if fresh:
        probe = PgServer(pg_dir, port=1)
        if probe.initialized:
            probe.stop("immediate")
        shutil.rmtree(pg_dir, ignore_errors=True)
        shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    secrets_file = state_dir / "secrets.json"
    first_run = not secrets_file.exists() or not (pg_dir / "PG_VERSION").exists()
    if first_run:
        shutil.rmtree(pg_dir, ignore_errors=True)
        saved = {
            "tokens": {who: "rg_" + secrets.token_urlsafe(24) for who in DEMO_IDENTITIES},
            "upstream_password": secrets.token_urlsafe(24),
            "admin_password": secrets.token_urlsafe(24),
        }
        secrets_file.write_text(json.dumps(saved, indent=2))
        secrets_file.chmod(0o600)
    saved = json.loads(secrets_file.read_text())
    pg = PgServer(pg_dir, password=saved["admin_password"])
    if pg.initialized and pg.is_running():
        pg.stop("immediate")
    pg.start()
    pg.wait_ready()
    if first_run:
        pw = saved["upstream_password"].replace("'", "''")
        pg.psql(
            f"CREATE ROLE {UPSTREAM_USER} LOGIN PASSWORD '{pw}';"
            f"CREATE DATABASE {DATABASE} OWNER {UPSTREAM_USER};"
        )
        sql = resources.files("regogate.demo").joinpath("bank.sql").read_text()
        pg.psql(f"SET ROLE {UPSTREAM_USER};\n{sql}", dbname=DATABASE)

    pw_file = state_dir / "upstream.password"
    pw_file.write_text(saved["upstream_password"] + "\n")
    pw_file.chmod(0o600)
    port = gateway_port or (6432 if _port_free(6432) else free_port())
    tokens: dict[str, str] = saved["tokens"]
    missing = [who for who in DEMO_IDENTITIES if who not in tokens]
    if missing:  # state of an older demo: identities added since get their tokens
        tokens.update({who: "rg_" + secrets.token_urlsafe(24) for who in missing})
        secrets_file.write_text(json.dumps(saved, indent=2))
    token_tables = "".join(
        f'\n[[tokens]]\nsub = "{who}"\ngroups = {json.dumps(groups)}\n'
        f'token_sha256 = "{token_sha256(tokens[who])}"\n'
        for who, groups in DEMO_IDENTITIES.items()
    )
    key_file = state_dir / "recording.key"
    if not keys.mac_file_for(key_file).exists():
        keys.write_mac_root(keys.mac_file_for(key_file), MacRoot.generate())
    if not key_file.exists():
        signer = keys.generate(keys.deployment_name("regogate-demo"))
        keys.install_signer(key_file, signer)
        keys.append_history(
            key_file.with_suffix(".vkeys"),
            signer.verifier,
            format_ts(time.time_ns() // 1000),
            signer,
        )
    mask_key = state_dir / "mask.key"  # the hash mask's key, apart from the recording's
    if not mask_key.exists():
        mask_key.write_text(secrets.token_hex(32))
        mask_key.chmod(0o600)
    policy_dir = default_policy_dir()
    approvals_port = 8433 if _port_free(8433) else free_port()
    config = (
        "# regogate demo configuration (generated by `regogate demo`)\n"
        f'[server]\nlisten_host = "127.0.0.1"\nlisten_port = {port}\n'
        f'gateway_id = "regogate-demo"\n\n'
        f'[connections.{DATABASE}]\nhost = "127.0.0.1"\nport = {pg.port}\n'
        f'database = "{DATABASE}"\nuser = "{UPSTREAM_USER}"\npassword_file = "upstream.password"\n'
        f'\n[policy]\ndir = "{policy_dir}"\n'
        '\n[recording]\ndir = "recordings"\nkey_file = "recording.key"\n'
        '\n[masking]\nhash_key_file = "mask.key"\n'
        f'\n[approvals]\nlisten = "127.0.0.1:{approvals_port}"\ninstance = "regogate-demo"\n'
        f"{token_tables}"
    )
    config_path = state_dir / "regogate.toml"
    config_path.write_text(config)
    setup = DemoSetup(
        state_dir,
        pg,
        config_path,
        state_dir.parent / ".regogate" / "demo.env",
        tokens,
        port,
        saved["upstream_password"],
        approvals_port,
    )
    setup.env_path = state_dir / "demo.env"
    lines = ["# regogate demo: source this file (set -a; . .regogate/demo.env; set +a)"]
    for who in DEMO_IDENTITIES:
        p = who.upper()
        lines += [
            f"{p}_PGHOST=127.0.0.1",
            f"{p}_PGPORT={port}",
            f"{p}_PGDATABASE={DATABASE}",
            f"{p}_PGUSER={who}",
            f"{p}_PGPASSWORD={tokens[who]}",
        ]
    lines.append(f"UPSTREAM_DSN={setup.upstream_dsn()}")
    lines.append(f"REGOGATE_APPROVALS_URL={setup.approvals_url}")
    setup.env_path.write_text("\n".join(lines) + "\n")
    setup.env_path.chmod(0o600)
    return setup
