"""A session's recording, as the session sees it (``hooks.RecordSink``), and what its
``session.open`` says of both ends (``describe``, ``open_body``).

Wraps the writer's per-session hash chain (``recording.writer.SessionLog``) and adds the
result summary: per request cycle (up to and including ReadyForQuery, cut there however
the bytes arrived) the command tags, the row count, the first error's SQLSTATE, the
elapsed time and an HMAC-SHA256 (``commit.digest_key``) of the cycle's bytes sent to the
client. No row values are recorded (there is no masking stage
yet to take samples from).
``event`` and ``upstream`` run for every statement and response: they are the chain's
``recording.hotpath`` tap itself (native when built), no Python in between; the tap
follows the protocol messages in the bytes sent on its own.

Off the critical path by default: records are queued; the background writer batches,
writes and fsyncs. With ``durability = "statement"`` each ReadyForQuery waits until the
records of its request cycle are written (``boundary``): a crash then loses no statement
whose completion a client saw. With ``on_error = "deny"`` a failed recorder makes the
gate refuse new statements (RecordingUnavailable, SQLSTATE 58030); with ``"continue"`` it
is logged once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import ssl
from collections.abc import Callable, Mapping

import anyio.abc
from anyio.streams.tls import TLSAttribute
from cryptography import x509

from regogate.errors import RecordingUnavailable, UpstreamError
from regogate.proxy import upstream as upstream_mod
from regogate.proxy.hooks import ClientCertificate, RecordBody, SessionContext, UpstreamFacts
from regogate.recording.write.core import serialize
from regogate.recording.write.writer import SessionLog
from regogate.wire.startup_params import check_startup

log = logging.getLogger("regogate.recording")


class SessionRecording:
    observes_results = True
    # A record of the session: raises RecordingUnavailable with on_error = "deny".
    event: Callable[[str, RecordBody], None]
    # Bytes sent to the client (after any rewriting), one call per chunk: the tap follows
    # the messages in them itself.
    upstream: Callable[[bytes], None]

    def __init__(
        self,
        session: SessionLog,
        *,
        digest_key: bytes,
        on_error: str = "deny",
        durability: str = "group",
        write_timeout: float = 5.0,
        counts: Callable[[], Mapping[str, int]] | None = None,
        clock: Callable[[], float] | None = None,
    ):
        """``digest_key``: keys the result digests; ``durability``: ``"statement"`` holds
        each ReadyForQuery until its cycle's records are written, for at most
        ``write_timeout`` seconds (then the recorder counts as stalled); ``clock``:
        monotonic seconds for the elapsed times (tests inject one)."""
        if len(digest_key) < 16:
            raise ValueError("a result digest key of at least 16 bytes is needed")
        self.session = session
        self.on_error = on_error
        self.wants_boundaries = durability == "statement"
        self.write_timeout = write_timeout
        self.counts = counts
        self._warned = False
        tap = session.engine.tap(
            session.chain,
            key=digest_key,
            serialize=serialize,
            failed=None if on_error == "deny" else self._failed,
            clock=clock,
        )
        self.event = tap.event
        self.upstream = tap.upstream

    def _failed(self) -> None:
        if not self._warned:
            self._warned = True
            log.error("session %s: recording failed; continuing unrecorded", self.session.sid)

    async def boundary(self) -> None:
        """Wait until the session's records so far are written (and fsynced, by policy),
        for at most ``write_timeout``. A failed or stalled recorder does not hold the
        response back: the statement has run; with ``on_error = "deny"`` the gate refuses
        the next ones (a stalled writer: until it catches up)."""
        try:
            await self.session.flush_within(self.write_timeout)
        except (RecordingUnavailable, RuntimeError) as exc:
            if not self._warned:
                self._warned = True
                log.error("session %s: recording failed: %s", self.session.sid, exc)

    async def close(self, reason: str) -> None:
        counts = dict(self.counts()) if self.counts is not None else None
        try:
            await self.session.close(reason, counts, timeout=self.write_timeout)
        except (RecordingUnavailable, RuntimeError) as exc:
            log.error("session %s: could not record its close: %s", self.session.sid, exc)


# Once per upstream connection, for session.open. PostgreSQL grants EXECUTE to PUBLIC by
# default; where a database revoked it, the field is null with PostgreSQL's reason.
SYSTEM_IDENTIFIER_SQL = "SELECT system_identifier FROM pg_catalog.pg_control_system()"
_SECRET_NAME = re.compile(r"pass|pwd|token|secret|credential|key", re.IGNORECASE)


async def describe(
    ctx: SessionContext,
    up: upstream_mod.Upstream,
    client: anyio.abc.ByteStream,
    timeout: float,
) -> SessionContext:
    """``ctx`` with what ``session.open`` records of the upstream and of the client's
    certificate. One query on the upstream (its system identifier), before the relay: a
    refusal leaves it null with the reason; a timeout raises (the upstream would answer
    late, into the relay)."""
    conn = ctx.connection
    sent = {**check_startup(ctx.params).forward, "user": conn.user, "database": conn.database}
    reported = server_params(up)
    ident: str | None = None
    why: str | None = None
    try:
        rows = await upstream_mod.query_rows(up, SYSTEM_IDENTIFIER_SQL, timeout)
        ident = rows[0][0] if rows else None
        why = None if ident is not None else "pg_control_system() returned no row"
    except UpstreamError as exc:
        why = exc.message
    facts = UpstreamFacts(
        host=conn.host,
        port=conn.port,
        tls=up.tls,
        params={k: None if _SECRET_NAME.search(k) else v for k, v in sent.items()},
        server_version=reported.get("server_version"),
        system_identifier=ident,
        system_identifier_error=why,
    )
    return dataclasses.replace(ctx, upstream=facts, client_cert=client_certificate(client))


def server_params(up: upstream_mod.Upstream) -> dict[str, str]:
    """The ParameterStatus values the upstream reported at startup."""
    out: dict[str, str] = {}
    for frame in up.startup_frames:
        if frame.tag == b"S":
            name, _, rest = frame.body.partition(b"\x00")
            out[name.decode("utf-8", "replace")] = rest.rstrip(b"\x00").decode("utf-8", "replace")
    return out


def client_certificate(client: anyio.abc.ByteStream) -> ClientCertificate | None:
    """The certificate a TLS client presented, or None (no TLS, or none presented:
    regogate does not request client certificates today)."""
    obj: ssl.SSLObject | None = client.extra(TLSAttribute.ssl_object, None)
    der = obj.getpeercert(binary_form=True) if obj is not None else None
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    return ClientCertificate(cert.subject.rfc4514_string(), hashlib.sha256(der).hexdigest())


def open_body(ctx: SessionContext) -> dict[str, object]:
    """The session.open record: who, from where, over what, to which connection."""
    ident = ctx.identity
    up = ctx.upstream
    cert = ctx.client_cert
    upstream: dict[str, object] = {"pid": ctx.upstream_pid, "user": ctx.connection.user}
    if up is not None:
        upstream.update(
            host=up.host,
            port=up.port,
            tls=up.tls,
            startup_params=dict(up.params),
            server_version=up.server_version,
            system_identifier=up.system_identifier,
            system_identifier_error=up.system_identifier_error,
        )
    return {
        "identity": {
            "sub": ident.sub,
            "email": ident.email,
            "groups": list(ident.groups),
            "issuer": ident.issuer,
            "auth": ident.auth,
            "token_sha256": ident.token_sha256,
            "expires_at": None if ident.expires_at is None else int(ident.expires_at),
        },
        "client": {
            "addr": ctx.client.addr,
            "port": ctx.client.port,
            "user": ctx.client.user,
            "application_name": ctx.client.application_name,
            "tls": dict(ctx.tls) if ctx.tls else None,
            "cert": None if cert is None else {"subject": cert.subject, "sha256": cert.sha256},
        },
        "connection": {"name": ctx.connection.name, "database": ctx.connection.database},
        "upstream": upstream,
    }
