"""The approvals service as ``regogate serve`` runs it: the store from ``[approvals]``,
pending requests of this instance withdrawn, the expiry sweep, the webhook, and the API
and page on ``[approvals] listen``; ``start_approvals`` yields what the proxy calls."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx

from regogate.approvals.app import approvals_app
from regogate.approvals.auth import Authenticator
from regogate.approvals.binding import BoundStatement, bound_digest, derive_binding_key
from regogate.approvals.notify import WebhookNotifier
from regogate.approvals.page_sign_in import sign_in_methods
from regogate.approvals.service import ApprovalService
from regogate.approvals.store import ApprovalStore
from regogate.approvals.web_session import WebSessions
from regogate.config import Config
from regogate.config.approvals import ApprovalsConfig
from regogate.errors import ConfigError
from regogate.recording.format.mac import MacRoot

log = logging.getLogger("regogate.approvals")

MIN_KEY_BYTES = 16


@dataclass(frozen=True)
class RunningApprovals:
    service: ApprovalService
    binding_key: bytes
    url: str  # where people approve (links in NOTICEs)
    port: int  # the bound port of [approvals] listen

    def digest(self, statement: BoundStatement) -> str:
        """The bound digest of what the proxy is about to run."""
        return bound_digest(self.binding_key, statement)

    def request_url(self, request_id: str) -> str:
        return f"{self.url}/requests/{request_id}"


def load_binding_key(cfg: ApprovalsConfig, mac_root: MacRoot | None) -> bytes:
    """binding_key_file, else derived from the recording's MAC root, else random for this
    process (a held statement is consumed by the process that created its request, so
    this only costs digests that differ between replicas)."""
    if cfg.binding_key_file is not None:
        try:
            key = cfg.binding_key_file.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(
                f"[approvals] binding_key_file: cannot read {cfg.binding_key_file}: {exc.strerror}"
            ) from None
        if len(key) < MIN_KEY_BYTES:
            raise ConfigError(
                f"[approvals] binding_key_file must hold at least {MIN_KEY_BYTES} bytes"
            )
        return derive_binding_key(key)
    if mac_root is not None:
        return derive_binding_key(mac_root.text().encode())
    log.warning(
        "no [approvals] binding_key_file and no MAC root secret: approvals are bound "
        "with a random key of this process"
    )
    return secrets.token_bytes(32)


def open_store(cfg: ApprovalsConfig) -> AbstractAsyncContextManager[ApprovalStore]:
    if cfg.postgres:
        from regogate.approvals.store_pg import open_pg_store

        return open_pg_store(cfg.store, password_file=cfg.store_password_file)
    from regogate.approvals.store_sqlite import open_sqlite_store

    assert cfg.sqlite_path is not None
    return open_sqlite_store(cfg.sqlite_path)


@asynccontextmanager
async def start_approvals(
    config: Config,
    *,
    mac_root: MacRoot | None = None,
    auth: Authenticator | None = None,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[RunningApprovals]:
    """Run the approvals service until the block ends. ``auth``: default, the gateway's
    identity chain (static tokens, then OIDC)."""
    from regogate.approvals.http_server import listen
    from regogate.oidc.provider import identity_chain

    cfg = config.approvals
    key = load_binding_key(cfg, mac_root)
    async with open_store(cfg) as store, anyio.create_task_group() as tg:
        notifier = None
        if cfg.webhook_url:
            notifier = WebhookNotifier(
                cfg.webhook_url,
                base_url=cfg.base_url,
                timeout=cfg.webhook_timeout,
                retries=cfg.webhook_retries,
                transport=webhook_transport,
            )
            tg.start_soon(notifier.run)
        service = ApprovalService(
            store, instance=cfg.instance, timeout=cfg.timeout, notifier=notifier
        )
        withdrawn = await service.recover()
        if withdrawn:
            log.info("approvals: %d pending request(s) of a previous run withdrawn", len(withdrawn))
        tg.start_soon(service.run_expiry)
        server = await listen(cfg.listen_host, cfg.listen_port)
        url = cfg.public_url or f"http://{cfg.listen_host}:{server.port}"
        handler = approvals_app(
            service,
            auth or identity_chain(config),
            WebSessions(cfg.page_session_seconds),
            sign_in_methods(config, url),
        )
        tg.start_soon(server.serve, handler)
        log.info("approvals: API and page on %s", url)
        try:
            yield RunningApprovals(service, key, url, server.port)
        finally:
            tg.cancel_scope.cancel()
