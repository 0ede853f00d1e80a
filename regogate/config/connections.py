"""[connections.NAME]: the upstream databases, and their passwords as Secrets read from the
environment or a file (never from the TOML)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast, get_args

from regogate.config.keys import toml
from regogate.config.reader import Reader, Table

TlsMode = Literal["disable", "require", "verify-full"]

_REFUSED = {
    "password": "secrets are not allowed in the config file; "
    "use password_env (an environment variable name) or password_file",
}


@dataclass(frozen=True)
class Secret:
    """A secret value that never shows itself in repr, str or logs."""

    value: str = field(repr=False)
    source: str = ""

    def __repr__(self) -> str:
        return f"Secret(<from {self.source}>)"

    __str__ = __repr__


@dataclass(frozen=True)
class ConnectionConfig:
    name: str = field(metadata=toml())  # the table's name: [connections.NAME]
    host: str
    port: int
    database: str
    user: str
    password: Secret | None = field(metadata=toml("password_env", "password_file"))
    tls: TlsMode = "disable"
    tls_ca_file: Path | None = None


def parse_connections(r: Reader, data: Mapping[str, object]) -> dict[str, ConnectionConfig]:
    conns: dict[str, ConnectionConfig] = {}
    for name, raw in r.table(data, "connections").items():
        path = f"connections.{name}"
        if not isinstance(raw, dict):
            raise r.fail(path, "must be a table")
        c = Table(r, cast(Mapping[str, object], raw), path, f"[{path}]")
        conns[name] = _connection(c.checked(ConnectionConfig, _REFUSED), name)
    if not conns:
        raise r.fail("connections", "at least one [connections.NAME] table is required")
    return conns


def _connection(c: Table, name: str) -> ConnectionConfig:
    conn = ConnectionConfig(
        name=name,
        host=c.require("host", str),
        port=c.port("port", 5432),
        database=c.get("database", str, name),
        user=c.require("user", str),
        password=_password(c),
        tls=cast(TlsMode, c.choice("tls", get_args(TlsMode), "disable")),
        tls_ca_file=c.path("tls_ca_file"),
    )
    if conn.tls == "verify-full" and conn.tls_ca_file is None:
        raise c.fail("tls_ca_file", 'is required when tls = "verify-full"')
    return conn


def _password(c: Table) -> Secret | None:
    env_name = c.get("password_env", str, "")
    file = c.path("password_file")
    if env_name and file:
        raise c.reader.fail(c.name, "set password_env or password_file, not both")
    if env_name:
        if env_name not in c.reader.env:
            raise c.fail("password_env", f"environment variable {env_name} is not set")
        return Secret(c.reader.env[env_name], f"${env_name}")
    if file:
        try:
            text = file.read_text().rstrip("\r\n")
        except OSError as exc:
            raise c.fail("password_file", f"cannot read {file}: {exc.strerror}") from None
        return Secret(text, str(file))
    return None
