"""The one exception tree of regogate; everything a client can see carries a SQLSTATE.

    RegogateError (XX000)
    ├── ProtocolViolation (08P01)        malformed / oversized / out-of-order messages
    ├── ConfigError (F0000)              bad regogate.toml, missing secret (CLI-readable)
    ├── AuthenticationFailed (28P01)     wrong token / password
    │   └── InvalidAuthorization (28000) token valid but not acceptable (expired, audience…)
    ├── UnknownDatabase (3D000)          no such named connection
    ├── TooManyConnections (53300)       max_sessions reached
    ├── UpstreamError (08006)            upstream unreachable / lost / auth failed
    ├── AdminShutdown (57P01)            the gateway is shutting down
    ├── QueryCanceled (57014)            a held statement the client cancelled
    ├── PolicyDenied (42501)             the policy said no
    │   ├── PolicyUnavailable (42501)    OPA unreachable/undefined: fail closed
    │   ├── SessionStateLost (42501)     FATAL: PostgreSQL reported a lexing setting changed
    │   └── StartupRefused (42501)       FATAL: a startup parameter the gateway refuses
    ├── ProgramLimitExceeded (54000)     a statement too large (or too slow) to analyse
    └── RecordingUnavailable (58030)     the recording sink cannot write: fail closed

Foreign exceptions (OSError, ssl.SSLError, scramp errors, httpx errors) are translated
into this tree at the boundary that meets them; a test proves none leaks to a client.
"""

from __future__ import annotations


class RegogateError(Exception):
    """Base of every regogate error; ``sqlstate`` is what a client sees."""

    sqlstate: str = "XX000"
    severity: str = "ERROR"

    def __init__(self, message: str, *, detail: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.hint = hint


class ProtocolViolation(RegogateError):
    sqlstate = "08P01"
    severity = "FATAL"


class ConfigError(RegogateError):
    sqlstate = "F0000"


class AuthenticationFailed(RegogateError):
    sqlstate = "28P01"
    severity = "FATAL"


class InvalidAuthorization(AuthenticationFailed):
    sqlstate = "28000"


class SessionExpired(InvalidAuthorization):
    """The token a session was opened with has expired ([server] token_expiry)."""

    severity = "FATAL"


class UnknownDatabase(RegogateError):
    sqlstate = "3D000"
    severity = "FATAL"


class TooManyConnections(RegogateError):
    sqlstate = "53300"
    severity = "FATAL"


class UpstreamError(RegogateError):
    sqlstate = "08006"
    severity = "FATAL"


class AdminShutdown(RegogateError):
    """The gateway is shutting down (PostgreSQL's own code for a fast shutdown)."""

    sqlstate = "57P01"
    severity = "FATAL"


class QueryCanceled(RegogateError):
    """A statement held for approval that the client cancelled (CancelRequest): it ends
    as PostgreSQL ends a cancelled statement."""

    sqlstate = "57014"


class PolicyDenied(RegogateError):
    sqlstate = "42501"


class PolicyUnavailable(PolicyDenied):
    """Fail closed: the policy engine gave no usable answer."""


class ProgramLimitExceeded(RegogateError):
    """A statement over ``[policy] max_statement_bytes``, or whose analysis ran past
    ``[policy] analysis_timeout``: denied unread (PostgreSQL's program_limit_exceeded)."""

    sqlstate = "54000"


class RecordingUnavailable(RegogateError):
    sqlstate = "58030"


class SessionStateLost(PolicyDenied):
    """PostgreSQL reported a session setting the gate did not expect (a lexing setting
    changed by code the gate cannot see): the session ends before anything else is
    relayed, since the gate can no longer read statements as PostgreSQL does."""

    severity = "FATAL"


class StartupRefused(PolicyDenied):
    """A startup parameter (or an ``options`` switch) the gateway does not allow, or a
    session whose starting settings the gate cannot read statements under."""

    severity = "FATAL"
