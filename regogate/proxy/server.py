"""The gateway: listens for clients, holds the session caps, routes cancel requests."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

from regogate.config import Config
from regogate.identity import IdentityChain
from regogate.oidc.provider import identity_chain
from regogate.proxy import fastio
from regogate.proxy import upstream as upstream_mod
from regogate.proxy.admission import Admission
from regogate.proxy.cancel import CancelRegistry
from regogate.proxy.hooks import HooksFactory, passthrough_hooks
from regogate.proxy.session import Session
from regogate.proxy.tls import server_context

log = logging.getLogger("regogate.server")


class Gateway:
    """Shared state of all sessions of one gateway process."""

    def __init__(
        self,
        config: Config,
        *,
        hooks: HooksFactory = passthrough_hooks,
        identities: IdentityChain | None = None,
    ):
        self.config = config
        self.hooks = hooks
        self.identities = identities or identity_chain(config)
        self.cancels = CancelRegistry()
        # (connection, upstream pid) -> "a cancel arrived" callback of the session (recording)
        self.cancel_listeners: dict[tuple[str, int], Callable[[str], None]] = {}
        self.server_tls: ssl.SSLContext | None = server_context(config.server)
        server = config.server
        self.admission = Admission(
            max_pending=server.max_pending_auth,
            max_sessions=server.max_sessions,
            max_per_identity=server.max_sessions_per_identity,
        )
        upstream_mod.warn_unverified_tls(config.connections.values())
        self.port = config.server.listen_port
        self.shutting_down = anyio.Event()
        self._accepting: anyio.CancelScope | None = None

    @property
    def active(self) -> int:
        """Authenticated sessions (connections still authenticating are not counted)."""
        return self.admission.sessions

    async def cancel(self, pid: int, secret: bytes, source: str = "") -> None:
        key = self.cancels.lookup(pid, secret)
        if key is None:
            # PostgreSQL silently ignores a cancel with an unknown key; so do we.
            log.info("cancel request with unknown key for pid %d ignored", pid)
            return
        listener = self.cancel_listeners.get((key.connection.name, key.pid))
        if listener is not None:
            listener(source)
        await upstream_mod.send_cancel(
            key.connection, key.pid, key.secret, self.config.server.connect_timeout
        )

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        remote = stream.extra(SocketAttribute.remote_address, "unknown")
        addr, port = (remote[0], remote[1]) if isinstance(remote, tuple) else (str(remote), 0)
        session = Session(self, stream, str(addr), int(port))
        try:
            await session.run()
        except Exception:  # last line of defence: one session's bug never stops the gateway
            log.exception("session %s crashed", session.id)

    async def serve(
        self,
        *,
        task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        server = self.config.server
        async with fastio.tcp_server(server.listen_host, server.listen_port) as (port, accepted):
            self.port = port
            log.info("regogate listening on %s:%d", server.listen_host, port)
            task_status.started(port)
            async with anyio.create_task_group() as sessions:
                with anyio.CancelScope() as self._accepting:
                    async for stream in accepted:
                        sessions.start_soon(self.handle, stream)
                # Draining: sessions were told to end (FATAL 57P01) and finish on their own.
                with anyio.move_on_after(self.config.server.connect_timeout):
                    while self.admission.sessions or self.admission.pending or len(self.cancels):
                        await anyio.sleep(0.05)
                sessions.cancel_scope.cancel()

    def shutdown(self) -> None:
        """Stop accepting; every session gets FATAL 57P01 and its upstream a Terminate."""
        self.shutting_down.set()
        self.admission.shutdown()
        if self._accepting is not None:
            self._accepting.cancel()
