"""pytest plugin: one real PostgreSQL server per test run, with the demo bank database.

Roles cover each upstream auth method: rg_scram (SCRAM-SHA-256), rg_md5 (md5), rg_trust.
The server has TLS on, with a test CA, for the upstream TLS modes.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

from regogate.pgserver import PgServer
from tests.certs import CertFiles, make_certs

UPSTREAM_PASSWORD = "upstream-Secret-7f3a9c"  # the secret scans look for this in outputs


@dataclass
class PgFixture:
    server: PgServer
    certs: CertFiles
    password: str = UPSTREAM_PASSWORD

    @property
    def port(self) -> int:
        return self.server.port

    def admin_dsn(self, dbname: str = "bank") -> str:
        return self.server.dsn(dbname=dbname)

    def sql(self, sql: str, dbname: str = "bank") -> str:
        return self.server.psql(sql, dbname=dbname)


def _world_traversable_tmp() -> Path:
    base = Path(tempfile.mkdtemp(prefix="regogate-test-pg-"))
    base.chmod(0o755)
    return base


@pytest.fixture(scope="session")
def pg() -> Iterator[PgFixture]:
    base = _world_traversable_tmp()
    certs = make_certs(base / "certs")
    server = PgServer(
        base / "data",
        hba_lines=(
            "host all rg_md5 127.0.0.1/32 md5",
            "host all rg_trust 127.0.0.1/32 trust",
        ),
    )
    if server.run_as:
        pw = pwd.getpwnam(server.run_as)
        for f in (certs.cert, certs.key, certs.ca, certs.cert.parent):
            os.chown(f, pw.pw_uid, pw.pw_gid)
    server.settings = {
        "ssl": "on",
        "ssl_cert_file": str(certs.cert),
        "ssl_key_file": str(certs.key),
        "max_connections": "300",
        "wal_level": "logical",
        "max_replication_slots": "4",
        "max_wal_senders": "8",
    }
    server.start()
    try:
        server.wait_ready()
        p = UPSTREAM_PASSWORD
        server.psql(
            f"CREATE ROLE rg_scram LOGIN SUPERUSER PASSWORD '{p}';"
            "SET password_encryption = 'md5';"
            f"CREATE ROLE rg_md5 LOGIN PASSWORD '{p}';"
            "CREATE ROLE rg_trust LOGIN;"
            "CREATE DATABASE bank OWNER rg_scram;"
            "CREATE DATABASE bench OWNER rg_scram;"
        )
        sql = resources.files("regogate.demo").joinpath("bank.sql").read_text()
        server.psql(f"SET ROLE rg_scram;\n{sql}", dbname="bank")
        server.psql(
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO rg_md5, rg_trust;", dbname="bank"
        )
        yield PgFixture(server, certs)
    finally:
        server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
