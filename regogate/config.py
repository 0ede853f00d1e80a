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
from regogate.oidc.config import SUPPORTED_ALGORITHMS, OidcIssuerConfig, url_problem

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
    max_sessions: int = 500  # authenticated sessions
    max_message_size: int = 64 * 1024 * 1024
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    cleartext_without_tls: CleartextRule = "loopback"
    gateway_id: str = "regogate"
    connect_timeout: float = 10.0
    # When a session outlives its token's expiry: end it (FATAL 28000) or let it run.
    token_expiry: TokenExpiry = "disconnect"
    metrics_listen: str | None = None  # "127.0.0.1:9187": Prometheus text at GET /metrics
    # Seconds a connection has from accept to a verified token; then FATAL 08P01.
    auth_timeout: float = 10.0
    # Connections awaiting authentication; a new one beyond it ends the one waiting longest.
    max_pending_auth: int = 64
    # Sessions one identity (issuer, sub) may hold at once; 0 is no limit.
    max_sessions_per_identity: int = 0


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


PolicyMode = Literal["enforce", "off"]
RecordingFailure = Literal["deny", "continue"]


@dataclass(frozen=True)
class PolicyConfig:
    """[policy]: where decisions come from. ``mode = "off"`` lets every statement through
    (loudly logged; for transparency testing only). The default is to enforce."""

    mode: PolicyMode = "enforce"
    dir: Path | None = None  # the Rego directory pushed into the sidecar
    opa_url: str | None = None  # an external OPA; None starts the sidecar
    opa_binary: str | None = None
    timeout: float = 0.5  # seconds per decision request
    cache_size: int = 10000  # 0 disables the decision cache
    watch_interval: float = 1.0  # seconds between policy directory checks
    # statement text longer than this is denied unread (54000); proxy.analysis_budget
    max_statement_bytes: int = 1024 * 1024
    analysis_timeout: float = 2.0  # seconds a large text's analysis may take, else denied
    # environment variables the OPA sidecar gets beyond childenv's allowlist (what a
    # policy can read with opa.runtime().env; e.g. a proxy for http.send)
    env: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordingConfig:
    """[recording]: signed session recordings. Absent section: recording is off."""

    enabled: bool = False
    dir: Path | None = None
    key_file: Path | None = None  # else $REGOGATE_SIGNING_KEY
    on_error: RecordingFailure = "deny"
    checkpoint_every: int = 1000
    checkpoint_interval: float = 10.0
    # Group commit under load: seconds between the writer's batches (pipe write, append,
    # fsync); also about the longest a record waits in the gateway (a crash loses it).
    commit_interval: float = 0.05
    # "statement": each ReadyForQuery waits until its request cycle's records are written
    # (a crash loses no statement a client saw complete); "group": clients never wait.
    durability: str = "group"
    # how long a session waits for the writer (statement durability, session close)
    # before the recorder counts as stalled and statements are refused until it catches up
    write_timeout: float = 5.0
    segment_bytes: int = 64 * 1024 * 1024
    fsync: str = "always"  # always | checkpoint | never (recording.store.FsyncPolicy)
    writer: str = "auto"  # auto | native | python (recording.worker)


@dataclass(frozen=True)
class Config:
    path: Path | None
    server: ServerConfig
    connections: Mapping[str, ConnectionConfig]
    tokens: tuple[StaticToken, ...]
    policy: PolicyConfig = PolicyConfig()
    recording: RecordingConfig = RecordingConfig()
    oidc: tuple[OidcIssuerConfig, ...] = ()


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
    r.unknown(data, "", {"server", "connections", "tokens", "policy", "recording", "oidc"})

    server = _server(r, r.table(data, "server", "server"))

    return Config(
        path=None,
        server=server,
        connections=_connections(r, r.table(data, "connections", "connections")),
        tokens=_tokens(r, data),
        policy=_policy(r, r.table(data, "policy", "policy")),
        recording=_recording(r, data),
        oidc=_oidc(r, data),
    )


_SERVER_KEYS = {
    "listen_host",
    "listen_port",
    "max_sessions",
    "max_message_size",
    "tls_cert_file",
    "tls_key_file",
    "cleartext_without_tls",
    "gateway_id",
    "connect_timeout",
    "token_expiry",
    "metrics_listen",
    "auth_timeout",
    "max_pending_auth",
    "max_sessions_per_identity",
}


def _server(r: _Reader, s: Mapping[str, object]) -> ServerConfig:
    r.unknown(s, "server", _SERVER_KEYS)
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
        metrics_listen=r.get(s, "metrics_listen", "server", str, "") or None,
        token_expiry=cast(
            TokenExpiry,
            r.choice(s, "token_expiry", "server", ("disconnect", "allow"), "disconnect"),
        ),
        auth_timeout=r.get(s, "auth_timeout", "server", float, 10.0),
        max_pending_auth=r.positive(s, "max_pending_auth", "server", 64),
        max_sessions_per_identity=r.get(s, "max_sessions_per_identity", "server", int, 0),
    )
    _check_server(r, server)
    return server


def _check_server(r: _Reader, server: ServerConfig) -> None:
    if (server.tls_cert_file is None) != (server.tls_key_file is None):
        raise r.fail("server", "tls_cert_file and tls_key_file must be set together")
    if server.metrics_listen is not None:
        host, sep, port_text = server.metrics_listen.rpartition(":")
        if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise r.fail("server.metrics_listen", 'must be "host:port", e.g. "127.0.0.1:9187"')
    if server.max_message_size < 1024:
        raise r.fail("server.max_message_size", "must be at least 1024 bytes")
    if not 0 < server.auth_timeout <= 600:
        raise r.fail(
            "server.auth_timeout",
            f"must be more than 0 and at most 600 seconds, got {server.auth_timeout}",
        )
    if server.max_sessions_per_identity < 0:
        raise r.fail(
            "server.max_sessions_per_identity",
            f"must be 0 (no limit) or positive, got {server.max_sessions_per_identity}",
        )
    for key, p in (("tls_cert_file", server.tls_cert_file), ("tls_key_file", server.tls_key_file)):
        if p is not None and not p.is_file():
            raise r.fail(f"server.{key}", f"file {p} does not exist")


def _connections(r: _Reader, table: Mapping[str, object]) -> dict[str, ConnectionConfig]:
    conns: dict[str, ConnectionConfig] = {}
    for name, raw in table.items():
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

    return conns


def _tokens(r: _Reader, data: Mapping[str, object]) -> tuple[StaticToken, ...]:
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
    return tuple(tokens)


def _policy(r: _Reader, p: Mapping[str, object]) -> PolicyConfig:
    r.unknown(
        p,
        "policy",
        {
            "mode",
            "dir",
            "opa_url",
            "opa_binary",
            "timeout",
            "cache_size",
            "watch_interval",
            "env",
            "max_statement_bytes",
            "analysis_timeout",
        },
    )
    mode = cast(PolicyMode, r.choice(p, "mode", "policy", ("enforce", "off"), "enforce"))
    opa_url = r.get(p, "opa_url", "policy", str, "") or None
    if opa_url is not None and not opa_url.startswith(("http://", "https://")):
        raise r.fail("policy.opa_url", f"must be an http:// or https:// URL, got {opa_url!r}")
    directory = r.path(p, "dir", "policy") or r.base / "policies" / "rego"
    if mode == "enforce" and opa_url is None and not directory.is_dir():
        raise r.fail(
            "policy.dir",
            f"policy directory {directory} does not exist "
            '(set [policy] dir = "path/to/policies/rego", or opa_url for an external OPA)',
        )
    timeout = r.get(p, "timeout", "policy", float, 0.5)
    if not 0 < timeout <= 30:
        raise r.fail("policy.timeout", f"must be between 0 and 30 seconds, got {timeout}")
    cache_size = r.get(p, "cache_size", "policy", int, 10000)
    if cache_size < 0:
        raise r.fail("policy.cache_size", f"must be 0 (no cache) or positive, got {cache_size}")
    watch = r.get(p, "watch_interval", "policy", float, 1.0)
    if watch <= 0:
        raise r.fail("policy.watch_interval", f"must be positive, got {watch}")
    env = r.get(p, "env", "policy", list, [])
    if not all(isinstance(name, str) and name for name in env):
        raise r.fail("policy.env", "must be a list of environment variable names")
    if "REGOGATE_SIGNING_KEY" in env:
        raise r.fail("policy.env", "the signing key is never handed to OPA")
    max_bytes, analysis_timeout = _statement_budget(r, p)
    return PolicyConfig(
        mode=mode,
        dir=directory,
        opa_url=opa_url,
        opa_binary=r.get(p, "opa_binary", "policy", str, "") or None,
        timeout=timeout,
        cache_size=cache_size,
        watch_interval=watch,
        env=tuple(env),
        max_statement_bytes=max_bytes,
        analysis_timeout=analysis_timeout,
    )


def _statement_budget(r: _Reader, p: Mapping[str, object]) -> tuple[int, float]:
    """[policy] max_statement_bytes and analysis_timeout."""
    max_bytes = r.positive(p, "max_statement_bytes", "policy", 1024 * 1024)
    if max_bytes < 1024:
        raise r.fail("policy.max_statement_bytes", f"must be at least 1024, got {max_bytes}")
    analysis_timeout = r.get(p, "analysis_timeout", "policy", float, 2.0)
    if not 0 < analysis_timeout <= 60:
        raise r.fail(
            "policy.analysis_timeout", f"must be between 0 and 60 seconds, got {analysis_timeout}"
        )
    return max_bytes, analysis_timeout


def _recording(r: _Reader, data: Mapping[str, object]) -> RecordingConfig:
    if "recording" not in data:
        return RecordingConfig()
    p = r.table(data, "recording", "recording")
    r.unknown(
        p,
        "recording",
        {
            "enabled",
            "dir",
            "key_file",
            "on_error",
            "checkpoint_every",
            "checkpoint_interval",
            "commit_interval",
            "durability",
            "write_timeout",
            "segment_bytes",
            "fsync",
            "writer",
            "signing_key",
            "key",
        },
    )
    for bad in ("signing_key", "key"):
        if bad in p:
            raise r.fail(
                f"recording.{bad}",
                "the signing key is not allowed in the config file; use key_file "
                "(mode 0600) or the REGOGATE_SIGNING_KEY environment variable",
            )
    enabled = r.get(p, "enabled", "recording", bool, True)
    key_file = r.path(p, "key_file", "recording")
    if enabled and key_file is None and "REGOGATE_SIGNING_KEY" not in r.env:
        raise r.fail(
            "recording.key_file",
            "is required (or set REGOGATE_SIGNING_KEY); create one with `regogate keys generate`",
        )
    interval = r.get(p, "checkpoint_interval", "recording", float, 10.0)
    if interval <= 0:
        raise r.fail("recording.checkpoint_interval", f"must be positive, got {interval}")
    commit = r.get(p, "commit_interval", "recording", float, 0.05)
    if not 0 < commit <= 1:
        raise r.fail(
            "recording.commit_interval", f"must be more than 0 and at most 1 second, got {commit}"
        )
    write_timeout = r.get(p, "write_timeout", "recording", float, 5.0)
    if not 0 < write_timeout <= 300:
        raise r.fail(
            "recording.write_timeout",
            f"must be more than 0 and at most 300 seconds, got {write_timeout}",
        )
    segment = r.positive(p, "segment_bytes", "recording", 64 * 1024 * 1024)
    if segment < 4096:
        raise r.fail("recording.segment_bytes", "must be at least 4096 bytes")
    return RecordingConfig(
        enabled=enabled,
        dir=r.path(p, "dir", "recording") or r.base / "recordings",
        key_file=key_file,
        on_error=cast(
            RecordingFailure, r.choice(p, "on_error", "recording", ("deny", "continue"), "deny")
        ),
        checkpoint_every=r.positive(p, "checkpoint_every", "recording", 1000),
        checkpoint_interval=interval,
        commit_interval=commit,
        durability=r.choice(p, "durability", "recording", ("group", "statement"), "group"),
        write_timeout=write_timeout,
        segment_bytes=segment,
        fsync=r.choice(p, "fsync", "recording", ("always", "checkpoint", "never"), "always"),
        writer=r.choice(p, "writer", "recording", ("auto", "native", "python"), "auto"),
    )


_OIDC_KEYS = {
    "issuer",
    "audience",
    "jwks_url",
    "groups_claim",
    "email_claim",
    "algorithms",
    "leeway",
    "refresh_min_interval",
}


def _oidc(r: _Reader, data: Mapping[str, object]) -> tuple[OidcIssuerConfig, ...]:
    """[[oidc]]: trusted JWT issuers, checked after the static [[tokens]]."""
    raw_list = data.get("oidc", [])
    if not isinstance(raw_list, list):
        raise r.fail("oidc", "must be an array of tables ([[oidc]])")
    issuers: list[OidcIssuerConfig] = []
    for i, raw in enumerate(raw_list):
        path = f"oidc[{i}]"
        if not isinstance(raw, dict):
            raise r.fail(path, "must be a table")
        o = cast(Mapping[str, object], raw)
        if "client_secret" in o:
            raise r.fail(
                f"{path}.client_secret",
                "regogate only verifies tokens and needs no client secret; remove it",
            )
        r.unknown(o, path, _OIDC_KEYS)
        issuer = _url(r, f"{path}.issuer", r.require(o, "issuer", path, str))
        if any(c.issuer == issuer for c in issuers):
            raise r.fail(f"{path}.issuer", f"issuer {issuer!r} is configured twice")
        if "audience" not in o:
            raise r.fail(f"{path}.audience", "is required (the aud your tokens are issued for)")
        audience = o["audience"]
        audiences = (audience,) if isinstance(audience, str) else audience
        if (
            not isinstance(audiences, list | tuple)
            or not audiences
            or not all(isinstance(a, str) and a for a in audiences)
        ):
            raise r.fail(f"{path}.audience", "must be a non-empty string or list of strings")
        jwks_url = r.get(o, "jwks_url", path, str, "") or None
        algorithms = r.get(o, "algorithms", path, list, list(SUPPORTED_ALGORITHMS))
        if not algorithms:
            raise r.fail(f"{path}.algorithms", "must name at least one algorithm")
        for alg in algorithms:
            if not isinstance(alg, str):
                raise r.fail(f"{path}.algorithms", "must be a list of strings")
            if alg.lower() == "none":
                raise r.fail(f"{path}.algorithms", '"none" (unsigned tokens) is never accepted')
            if alg.upper().startswith("HS"):
                raise r.fail(
                    f"{path}.algorithms",
                    f"{alg} is never accepted: with HMAC a published public key could "
                    f"sign tokens; use one of {', '.join(SUPPORTED_ALGORITHMS)}",
                )
            if alg not in SUPPORTED_ALGORITHMS:
                raise r.fail(
                    f"{path}.algorithms",
                    f"{alg!r} is not supported; use one of {', '.join(SUPPORTED_ALGORITHMS)}",
                )
        leeway = r.get(o, "leeway", path, float, 30.0)
        if not 0 <= leeway <= 300:
            raise r.fail(f"{path}.leeway", f"must be between 0 and 300 seconds, got {leeway}")
        interval = r.get(o, "refresh_min_interval", path, float, 60.0)
        if interval < 0:
            raise r.fail(f"{path}.refresh_min_interval", f"must not be negative, got {interval}")
        groups_claim = r.get(o, "groups_claim", path, str, "groups")
        email_claim = r.get(o, "email_claim", path, str, "email")
        for key, claim in (("groups_claim", groups_claim), ("email_claim", email_claim)):
            if not claim:
                raise r.fail(f"{path}.{key}", "must not be empty")
        issuers.append(
            OidcIssuerConfig(
                issuer=issuer,
                audiences=tuple(audiences),
                jwks_url=None if jwks_url is None else _url(r, f"{path}.jwks_url", jwks_url),
                groups_claim=groups_claim,
                email_claim=email_claim,
                algorithms=tuple(dict.fromkeys(algorithms)),
                leeway=leeway,
                refresh_min_interval=interval,
            )
        )
    return tuple(issuers)


def _url(r: _Reader, key: str, value: str) -> str:
    problem = url_problem(value)
    if problem is not None:
        raise r.fail(key, problem)
    return value


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    cfg = parse_config(text, origin=str(path), env=env, base=path.resolve().parent)
    return dataclasses.replace(cfg, path=path)
