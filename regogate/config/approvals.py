"""[approvals]: just-in-time approval of held statements: where the API and page listen,
how long a request waits, where requests are stored, where notices are sent, and how
people sign in to the page (OIDC with one of the [[oidc]] issuers, or a token form)."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from regogate.config.keys import toml
from regogate.config.reader import Reader, Table

SQLITE = "sqlite"
_REFUSED = {
    "binding_key": "the binding key is not allowed in the config file; use binding_key_file",
    "store_password": "no passwords in the config file; use store_password_file or PGPASSFILE",
    "oidc_client_secret": "no secrets in the config file; use oidc_client_secret_file",
}
OPENID = "openid"
DEFAULT_SCOPES = (OPENID, "profile", "email")


@dataclass(frozen=True)
class ApprovalsConfig:
    """[approvals]. Absent section: approvals are off (decisions asking for approval are
    denied, as before)."""

    enabled: bool = False
    listen_host: str = field(default="127.0.0.1", metadata=toml("listen"))
    listen_port: int = field(default=8433, metadata=toml("listen"))
    # The address people reach the page at (links in notices and webhook messages);
    # default http://<listen>.
    public_url: str = ""
    timeout: float = 300.0  # seconds a request waits for its approvers
    # "sqlite" (a file beside the recordings), or a PostgreSQL URI (several replicas);
    # the URI carries no password: store_password_file, or libpq's PGPASSFILE.
    store: str = SQLITE
    sqlite_path: Path | None = None  # default: <recording dir>/approvals.sqlite3
    store_password_file: Path | None = None
    webhook_url: str | None = None
    webhook_timeout: float = 5.0
    webhook_retries: int = 3
    # The key of the bound digests; default: derived from the recording's MAC root.
    binding_key_file: Path | None = None
    # Names this gateway in the store: pending requests it held are withdrawn when it
    # starts again. Default: the host name. Give each replica its own.
    instance: str = field(default_factory=socket.gethostname)
    page_session_seconds: float = 3600.0  # the page's sign-in lasts this long
    # Sign-in to the page with OIDC (authorization code with PKCE) when set: the client
    # registered at the issuer, whose redirect URL is <public_url>/callback.
    oidc_client_id: str = ""
    # Which [[oidc]] issuer approvers sign in with; default: the only one.
    oidc_issuer: str = ""
    oidc_client_secret_file: Path | None = None  # a confidential client's secret
    oidc_scopes: tuple[str, ...] = DEFAULT_SCOPES  # "openid" always included
    # The token form; default: on without oidc_client_id, off with it.
    page_token_form: bool = True
    # connections whose held statements answer at once (agents, later): names
    async_connections: tuple[str, ...] = ()

    @property
    def postgres(self) -> bool:
        return self.store != SQLITE

    @property
    def oidc_sign_in(self) -> bool:
        return bool(self.oidc_client_id)

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.listen_host}:{self.listen_port}"


def parse_approvals(r: Reader, data: Mapping[str, object]) -> ApprovalsConfig:
    if "approvals" not in data:
        return ApprovalsConfig()
    a = r.section(data, "approvals", ApprovalsConfig, _REFUSED)
    host, port = _listen(a)
    rec = r.table(data, "recording")
    rec_dir = rec.get("dir")
    default_db = r.resolve(rec_dir) if isinstance(rec_dir, str) else r.base / "recordings"
    client_id, issuer = _oidc_client(a, data)
    return ApprovalsConfig(
        enabled=a.get("enabled", bool, True),
        listen_host=host,
        listen_port=port,
        public_url=_url(a, "public_url", a.get("public_url", str, "")),
        timeout=_seconds(a, "timeout", 300.0, 7 * 24 * 3600),
        store=_store(a),
        sqlite_path=a.path("sqlite_path") or default_db / "approvals.sqlite3",
        store_password_file=a.path("store_password_file"),
        webhook_url=_url(a, "webhook_url", a.get("webhook_url", str, "")) or None,
        webhook_timeout=_seconds(a, "webhook_timeout", 5.0, 60),
        webhook_retries=_retries(a),
        binding_key_file=a.path("binding_key_file"),
        instance=a.get("instance", str, "") or socket.gethostname(),
        page_session_seconds=_seconds(a, "page_session_seconds", 3600.0, 24 * 3600),
        async_connections=_names(a, "async_connections"),
        oidc_client_id=client_id,
        oidc_issuer=issuer,
        oidc_client_secret_file=a.path("oidc_client_secret_file"),
        oidc_scopes=_scopes(a),
        page_token_form=_token_form(a, client_id),
    )


def _token_form(a: Table, client_id: str) -> bool:
    value = a.get("page_token_form", bool, not client_id)
    if not value and not client_id:
        raise a.fail(
            "page_token_form", "cannot be false without oidc_client_id: nobody could sign in"
        )
    return value


def _oidc_client(a: Table, data: Mapping[str, object]) -> tuple[str, str]:
    """oidc_client_id, and the [[oidc]] issuer it belongs to (checked against the raw
    [[oidc]] tables; parse_oidc validates them)."""
    client_id = a.get("oidc_client_id", str, "")
    wanted = a.get("oidc_issuer", str, "")
    if not client_id:
        for key in ("oidc_issuer", "oidc_client_secret_file", "oidc_scopes"):
            if key in a.data:
                raise a.fail(key, "needs oidc_client_id (OIDC sign-in to the page is off)")
        return "", ""
    raw = data.get("oidc", [])
    issuers = [t.get("issuer") for t in raw if isinstance(t, dict)] if isinstance(raw, list) else []
    if not issuers:
        raise a.fail("oidc_client_id", "needs an [[oidc]] issuer to sign in with")
    if wanted:
        if wanted not in issuers:
            known = ", ".join(repr(i) for i in issuers)
            raise a.fail("oidc_issuer", f"must be one of the [[oidc]] issuers ({known})")
        return client_id, wanted
    if len(issuers) > 1:
        raise a.fail("oidc_issuer", "is required: there are several [[oidc]] issuers")
    issuer = issuers[0]
    return client_id, issuer if isinstance(issuer, str) else ""


def _listen(a: Table) -> tuple[str, int]:
    value = a.get("listen", str, "127.0.0.1:8433")
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise a.fail("listen", f'must be "host:port", e.g. "127.0.0.1:8433"; got {value!r}')
    return host.strip("[]"), int(port)


def _url(a: Table, key: str, value: str) -> str:
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise a.fail(key, f"must be an http:// or https:// URL, got {value!r}")
    if parts.password is not None:
        raise a.fail(key, "must not carry a password")
    return value.rstrip("/")


def _store(a: Table) -> str:
    value = a.get("store", str, SQLITE)
    if value == SQLITE:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("postgresql", "postgres"):
        raise a.fail("store", f'must be "sqlite" or a postgresql:// URI, got {value!r}')
    if parts.password is not None or "password=" in parts.query:
        raise a.fail("store", "must not carry a password; use store_password_file or PGPASSFILE")
    return value


def _seconds(a: Table, key: str, default: float, most: float) -> float:
    value = a.get(key, float, default)
    if not 0 < value <= most:
        raise a.fail(key, f"must be more than 0 and at most {most:g} seconds, got {value}")
    return value


def _retries(a: Table) -> int:
    value = a.get("webhook_retries", int, 3)
    if not 0 <= value <= 10:
        raise a.fail("webhook_retries", f"must be 0..10, got {value}")
    return value


def _scopes(a: Table) -> tuple[str, ...]:
    value = a.get("oidc_scopes", list, list(DEFAULT_SCOPES))
    if not all(isinstance(v, str) and v and " " not in v for v in value):
        raise a.fail("oidc_scopes", "must be a list of scope names (no spaces)")
    return tuple(dict.fromkeys([OPENID, *value]))


def _names(a: Table, key: str) -> tuple[str, ...]:
    value = a.get(key, list, [])
    if not all(isinstance(v, str) for v in value):
        raise a.fail(key, "must be a list of connection names")
    return tuple(value)
