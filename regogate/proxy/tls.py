"""TLS contexts: the gateway's own certificate for clients, and the upstream modes."""

from __future__ import annotations

import ssl
from pathlib import Path

from regogate.config import ConnectionConfig, ServerConfig
from regogate.errors import ConfigError


def server_context(server: ServerConfig) -> ssl.SSLContext | None:
    if server.tls_cert_file is None or server.tls_key_file is None:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(server.tls_cert_file), str(server.tls_key_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"server.tls_cert_file/tls_key_file: cannot load certificate and key: {exc}"
        ) from None
    return ctx


def upstream_context(conn: ConnectionConfig) -> ssl.SSLContext | None:
    """``require`` encrypts without checking the certificate (libpq's sslmode=require);
    ``verify-full`` checks the chain against ``tls_ca_file`` and the host name."""
    if conn.tls == "disable":
        return None
    if conn.tls == "require":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ca: Path | None = conn.tls_ca_file
    try:
        ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"connections.{conn.name}.tls_ca_file: cannot load {ca}: {exc}") from None
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx
