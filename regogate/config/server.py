"""[server]: where regogate listens and what a client may hold before and after login."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast, get_args

from regogate.config.reader import Reader, Table

CleartextRule = Literal["never", "loopback", "always"]
TokenExpiry = Literal["disconnect", "allow"]


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


def parse_server(r: Reader, data: Mapping[str, object]) -> ServerConfig:
    s = r.section(data, "server", ServerConfig)
    server = ServerConfig(
        listen_host=s.get("listen_host", str, "127.0.0.1"),
        listen_port=s.port("listen_port", 6432),
        max_sessions=s.positive("max_sessions", 500),
        max_message_size=s.positive("max_message_size", 64 * 1024 * 1024),
        tls_cert_file=s.path("tls_cert_file"),
        tls_key_file=s.path("tls_key_file"),
        cleartext_without_tls=cast(
            CleartextRule,
            s.choice("cleartext_without_tls", get_args(CleartextRule), "loopback"),
        ),
        gateway_id=s.get("gateway_id", str, "regogate"),
        connect_timeout=s.get("connect_timeout", float, 10.0),
        metrics_listen=s.get("metrics_listen", str, "") or None,
        token_expiry=cast(
            TokenExpiry, s.choice("token_expiry", get_args(TokenExpiry), "disconnect")
        ),
        auth_timeout=s.get("auth_timeout", float, 10.0),
        max_pending_auth=s.positive("max_pending_auth", 64),
        max_sessions_per_identity=s.get("max_sessions_per_identity", int, 0),
    )
    _check_server(s, server)
    return server


def _check_server(s: Table, server: ServerConfig) -> None:
    if (server.tls_cert_file is None) != (server.tls_key_file is None):
        raise s.reader.fail(s.name, "tls_cert_file and tls_key_file must be set together")
    if server.metrics_listen is not None:
        host, sep, port_text = server.metrics_listen.rpartition(":")
        if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise s.fail("metrics_listen", 'must be "host:port", e.g. "127.0.0.1:9187"')
    if server.max_message_size < 1024:
        raise s.fail("max_message_size", "must be at least 1024 bytes")
    if not 0 < server.auth_timeout <= 600:
        raise s.fail(
            "auth_timeout",
            f"must be more than 0 and at most 600 seconds, got {server.auth_timeout}",
        )
    if server.max_sessions_per_identity < 0:
        raise s.fail(
            "max_sessions_per_identity",
            f"must be 0 (no limit) or positive, got {server.max_sessions_per_identity}",
        )
    for key, p in (("tls_cert_file", server.tls_cert_file), ("tls_key_file", server.tls_key_file)):
        if p is not None and not p.is_file():
            raise s.fail(key, f"file {p} does not exist")
