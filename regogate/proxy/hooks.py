"""The seams where policy, masking and recording plug into a session.

The session moves bytes; these hooks decide. Pass-through implementations keep the
core transparent until the policy, masking and recording layers are wired in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

from regogate.config import ConnectionConfig
from regogate.identity import ClientInfo, Identity
from regogate.wire.framing import Frame

# A record body: a mapping, or the bytes of one serialized once (recording.core.Body).
RecordBody: TypeAlias = Mapping[str, object] | bytes


@dataclass(frozen=True)
class UpstreamFacts:
    """The upstream end of a session, for its ``session.open`` record: where it is, what
    it was sent at startup (secrets withheld), what it reported about itself."""

    host: str
    port: int
    tls: bool
    # the StartupMessage's parameters, in order; a secret-looking name's value is None
    params: Mapping[str, str | None]
    server_version: str | None  # its server_version ParameterStatus
    system_identifier: str | None  # pg_control_system(): a 64-bit integer, as text
    system_identifier_error: str | None = None  # why it is None


@dataclass(frozen=True)
class ClientCertificate:
    """A client's TLS certificate: its subject (RFC 4514) and SHA-256 fingerprint (hex,
    over the DER bytes)."""

    subject: str
    sha256: str


@dataclass(frozen=True)
class SessionContext:
    """What is known about a session once it is authenticated."""

    session_id: str
    identity: Identity
    client: ClientInfo
    connection: ConnectionConfig
    params: Mapping[str, str]
    upstream_pid: int
    tls: Mapping[str, str] | None = None  # client TLS: version, cipher
    # Names of the settings the client asked for at startup (parameters and options).
    startup_settings: tuple[str, ...] = ()
    # Set for the recording before the hooks are made (``recording_sink.describe``).
    upstream: UpstreamFacts | None = None
    client_cert: ClientCertificate | None = None  # regogate requests none yet
    # regogate's own startup settings (wire.startup_params.GATEWAY_SETTINGS), never forwarded
    gateway_settings: Mapping[str, str] = field(default_factory=dict)


class StatementGate(Protocol):
    """Per-statement hook: sees every frontend message after startup.

    Returns the frames to forward upstream in its place (the same frame to let it
    through; a rewritten one to deny it in order, so that the upstream itself reports the
    error and discards to the next Sync exactly as PostgreSQL does).
    """

    async def admit(self, frame: Frame) -> Sequence[Frame]: ...

    def attach(self, drain: Callable[[bytes], Awaitable[None]]) -> None:
        """``drain(extra)``: send what the session holds for the upstream, then ``extra``
        (a gate that must wait for an answer first sends what it let through)."""

    def start(self, values: Mapping[str, str | None], reset: Mapping[str, str | None]) -> None:
        """The session's settings (``SESSION_SETTINGS_SQL``) when the relay begins."""

    @property
    def passthrough(self) -> bool:
        """True if every message passes unchanged: the session then forwards raw bytes."""
        ...


class ResultHook(Protocol):
    """Per-result-description hook (masking plugs in here).

    ``active`` False keeps the fast path: upstream bytes are forwarded untouched. It is
    read once when the session starts (a framed reader must start at a message boundary).
    """

    @property
    def active(self) -> bool: ...

    def on_backend(self, frame: Frame) -> Sequence[Frame]: ...


class RecordSink(Protocol):
    """Per-session record sink (the signed recording plugs in here)."""

    @property
    def wants_boundaries(self) -> bool:
        """True if ``boundary()`` must be awaited at every ReadyForQuery, before the
        chunk that holds it reaches the client (after ``upstream`` saw that chunk)."""
        ...

    @property
    def observes_results(self) -> bool:
        """True if ``upstream`` must see the upstream's responses."""
        ...

    def event(self, kind: str, body: RecordBody) -> None: ...

    async def boundary(self) -> None: ...

    async def close(self, reason: str) -> None: ...

    def upstream(self, data: bytes) -> None:
        """``data``: bytes sent to the client, one call per chunk, in order (a message may
        span chunks). This runs for every response."""
        ...


# The session's own values of the settings the gate follows, read once before the relay:
# (name, setting, reset_val) rows.
SESSION_SETTINGS_SQL = (
    "SELECT name, setting, reset_val FROM pg_catalog.pg_settings WHERE name IN "
    "('search_path', 'standard_conforming_strings', 'client_encoding', 'backslash_quote')"
)


class SessionHooks(Protocol):
    gate: StatementGate
    results: ResultHook
    record: RecordSink
    # Statements run on the upstream before the client is relayed (e.g. SET ROLE).
    startup_sql: tuple[str, ...]
    # At most this many sessions of the identity at once (the session decision's
    # session_limit); None: no limit from the policy.
    session_limit: int | None


class HooksFactory(Protocol):
    async def __call__(self, ctx: SessionContext) -> SessionHooks: ...


class PassThroughGate:
    passthrough = True

    async def admit(self, frame: Frame) -> Sequence[Frame]:
        return (frame,)

    def attach(self, drain: Callable[[bytes], Awaitable[None]]) -> None:
        return None

    def start(self, values: Mapping[str, str | None], reset: Mapping[str, str | None]) -> None:
        return None


class NoResultHook:
    active = False

    def on_backend(self, frame: Frame) -> Sequence[Frame]:
        return (frame,)


class NullRecordSink:
    wants_boundaries = False
    observes_results = False

    def upstream(self, data: bytes) -> None:
        return None

    def event(self, kind: str, body: RecordBody) -> None:
        return None

    async def boundary(self) -> None:
        return None

    async def close(self, reason: str) -> None:
        return None


@dataclass
class PassThroughHooks:
    gate: StatementGate
    results: ResultHook
    record: RecordSink
    startup_sql: tuple[str, ...] = ()
    session_limit: int | None = None


async def passthrough_hooks(ctx: SessionContext) -> SessionHooks:
    return PassThroughHooks(PassThroughGate(), NoResultHook(), NullRecordSink())
