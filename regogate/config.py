"""regogate.toml: typed configuration with readable validation errors (file, key, problem).

Secrets never live in the TOML: upstream passwords come from ``password_env`` or
``password_file``; client tokens are stored only as SHA-256 hashes.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar, cast

from regogate.errors import ConfigError

TlsMode = Literal["disable", "require", "verify-full"]
CleartextRule = Literal["never", "loopback", "always"]
TokenExpiry = Literal["disconnect", "allow"]

T = TypeVar("T")


@dataclass(frozen=True)
class Secret:
    """A secret value that never shows itself in repr, str or logs."""

    value: str = field(repr=False)
    source: str = ""

    def __repr__(self) -> str:
        return f"Secret(<from {self.source}>)"

    __str__ = __repr__


@dataclass(frozen=True)
class ServerConfig:
    listen_host: str = "127.0.0.1"
    listen_port: int = 6432
    max_sessions: int = 500
    max_message_size: int = 64 * 1024 * 1024
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    cleartext_without_tls: CleartextRule = "loopback"
    gateway_id: str = "regogate"
    connect_timeout: float = 10.0


@dataclass(frozen=True)
class ConnectionConfig:
    name: str
    host: str
    port: int
    database: str
    user: str
    password: Secret | None
    tls: TlsMode = "disable"
    tls_ca_file: Path | None = None


@dataclass(frozen=True)
class StaticToken:
    sub: str
    groups: tuple[str, ...]
    token_sha256: str
    email: str | None = None


@dataclass(frozen=True)
class Config:
    path: Path | None
    server: ServerConfig
    connections: Mapping[str, ConnectionConfig]
    tokens: tuple[StaticToken, ...]


class _Reader:
    """Walks the parsed TOML, remembering the key path for error messages."""

    def __init__(self, origin: str, env: Mapping[str, str], base: Path):
        self.origin = origin
        self.env = env
        self.base = base

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.origin}: {key}: {problem}")

    def table(self, data: Mapping[str, object], key: str, path: str) -> Mapping[str, object]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(path, f"must be a table, got {type(value).__name__}")
        return cast(Mapping[str, object], value)

    def get(self, data: Mapping[str, object], key: str, path: str, kind: type[T], default: T) -> T:
        if key not in data:
            return default
        return self.require(data, key, path, kind)

    def require(self, data: Mapping[str, object], key: str, path: str, kind: type[T]) -> T:
        if key not in data:
            raise self.fail(f"{path}.{key}" if path else key, "is required")
        value = data[key]
        full = f"{path}.{key}" if path else key
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return cast(T, float(value))
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(full, f"must be {kind.__name__}, got {type(value).__name__} {value!r}")
        return value

    def choice(
        self,
        data: Mapping[str, object],
        key: str,
        path: str,
        options: tuple[str, ...],
        default: str,
    ) -> str:
        value = self.get(data, key, path, str, default)
        if value not in options:
            raise self.fail(f"{path}.{key}", f"must be one of {', '.join(options)}; got {value!r}")
        return value

    def port(self, data: Mapping[str, object], key: str, path: str, default: int) -> int:
        value = self.get(data, key, path, int, default)
        if not 0 <= value <= 65535:
            raise self.fail(f"{path}.{key}", f"must be a TCP port 0..65535, got {value}")
        return value

    def positive(self, data: Mapping[str, object], key: str, path: str, default: int) -> int:
        value = self.get(data, key, path, int, default)
        if value <= 0:
            raise self.fail(f"{path}.{key}", f"must be positive, got {value}")
        return value

    def path(self, data: Mapping[str, object], key: str, path: str) -> Path | None:
        value = self.get(data, key, path, str, "")
        if not value:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base / p

    def unknown(self, data: Mapping[str, object], path: str, known: set[str]) -> None:
        extra = sorted(set(data) - known)
        if extra:
            raise self.fail(
                f"{path}.{extra[0]}" if path else extra[0],
                f"unknown key (known keys: {', '.join(sorted(known))})",
            )

    def secret(self, data: Mapping[str, object], path: str) -> Secret | None:
        if "password" in data:
            raise self.fail(
                f"{path}.password",
                "secrets are not allowed in the config file; "
                "use password_env (an environment variable name) or password_file",
            )
        env_name = self.get(data, "password_env", path, str, "")
        file = self.path(data, "password_file", path)
        if env_name and file:
            raise self.fail(path, "set password_env or password_file, not both")
        if env_name:
            if env_name not in self.env:
                raise self.fail(
                    f"{path}.password_env", f"environment variable {env_name} is not set"
                )
            return Secret(self.env[env_name], f"${env_name}")
        if file:
            try:
                text = file.read_text().rstrip("\r\n")
            except OSError as exc:
                raise self.fail(
                    f"{path}.password_file", f"cannot read {file}: {exc.strerror}"
                ) from None
            return Secret(text, str(file))
        return None


def parse_config(
    text: str,
    *,
    origin: str = "<config>",
    env: Mapping[str, str] | None = None,
    base: Path | None = None,
) -> Config:
    """Parse and validate TOML text; raise ConfigError naming file, key and problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: invalid TOML: {exc}") from None
    r = _Reader(origin, os.environ if env is None else env, base or Path.cwd())
    r.unknown(data, "", {"server", "connections", "tokens"})

    s = r.table(data, "server", "server")
    r.unknown(
        s,
        "server",
        {
            "listen_host",
            "listen_port",
            "max_sessions",
            "max_message_size",
            "tls_cert_file",
            "tls_key_file",
            "cleartext_without_tls",
            "gateway_id",
            "connect_timeout",
        },
    )
    server = ServerConfig(
        listen_host=r.get(s, "listen_host", "server", str, "127.0.0.1"),
        listen_port=r.port(s, "listen_port", "server", 6432),
        max_sessions=r.positive(s, "max_sessions", "server", 500),
        max_message_size=r.positive(s, "max_message_size", "server", 64 * 1024 * 1024),
        tls_cert_file=r.path(s, "tls_cert_file", "server"),
        tls_key_file=r.path(s, "tls_key_file", "server"),
        cleartext_without_tls=cast(
            CleartextRule,
            r.choice(
                s, "cleartext_without_tls", "server", ("never", "loopback", "always"), "loopback"
            ),
        ),
        gateway_id=r.get(s, "gateway_id", "server", str, "regogate"),
        connect_timeout=r.get(s, "connect_timeout", "server", float, 10.0),
    )
    if (server.tls_cert_file is None) != (server.tls_key_file is None):
        raise r.fail("server", "tls_cert_file and tls_key_file must be set together")
    if server.max_message_size < 1024:
        raise r.fail("server.max_message_size", "must be at least 1024 bytes")
    for key, p in (("tls_cert_file", server.tls_cert_file), ("tls_key_file", server.tls_key_file)):
        if p is not None and not p.is_file():
            raise r.fail(f"server.{key}", f"file {p} does not exist")

    conns: dict[str, ConnectionConfig] = {}
    for name, raw in r.table(data, "connections", "connections").items():
        path = f"connections.{name}"
        if not isinstance(raw, dict):
            raise r.fail(path, "must be a table")
        c = cast(Mapping[str, object], raw)
        r.unknown(
            c,
            path,
            {
                "host",
                "port",
                "database",
                "user",
                "password_env",
                "password_file",
                "tls",
                "tls_ca_file",
                "password",
            },
        )
        conns[name] = ConnectionConfig(
            name=name,
            host=r.require(c, "host", path, str),
            port=r.port(c, "port", path, 5432),
            database=r.get(c, "database", path, str, name),
            user=r.require(c, "user", path, str),
            password=r.secret(c, path),
            tls=cast(
                TlsMode, r.choice(c, "tls", path, ("disable", "require", "verify-full"), "disable")
            ),
            tls_ca_file=r.path(c, "tls_ca_file", path),
        )
        if conns[name].tls == "verify-full" and conns[name].tls_ca_file is None:
            raise r.fail(f"{path}.tls_ca_file", 'is required when tls = "verify-full"')
    if not conns:
        raise r.fail("connections", "at least one [connections.NAME] table is required")

    tokens: list[StaticToken] = []
    raw_tokens = data.get("tokens", [])
    if not isinstance(raw_tokens, list):
        raise r.fail("tokens", "must be an array of tables ([[tokens]])")
    for i, raw in enumerate(raw_tokens):
        path = f"tokens[{i}]"
        if not isinstance(raw, dict):
            raise r.fail(path, "must be a table")
        t = cast(Mapping[str, object], raw)
        if "token" in t:
            raise r.fail(
                f"{path}.token",
                "store only the token's hash: token_sha256 = "
                '"<hex>" (regogate token hash prints it)',
            )
        r.unknown(t, path, {"sub", "groups", "token_sha256", "email"})
        digest = r.require(t, "token_sha256", path, str).lower()
        if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
            raise r.fail(f"{path}.token_sha256", "must be 64 hex characters (a SHA-256 digest)")
        groups = r.get(t, "groups", path, list, [])
        if not all(isinstance(g, str) for g in groups):
            raise r.fail(f"{path}.groups", "must be a list of strings")
        email = r.get(t, "email", path, str, "") or None
        tokens.append(StaticToken(r.require(t, "sub", path, str), tuple(groups), digest, email))
    return Config(path=None, server=server, connections=conns, tokens=tuple(tokens))


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    cfg = parse_config(text, origin=str(path), env=env, base=path.resolve().parent)
    return dataclasses.replace(cfg, path=path)
