"""Who may hold a place at the gateway: connections awaiting authentication, sessions, and
each identity's sessions. Bookkeeping only (no I/O): the session asks, this answers.

A connection holds a *pending* place from accept until its token is verified, and a
*session* place from then until it closes. Pending places have their own cap
(``[server] max_pending_auth``): a new connection beyond it ends the one that has waited
longest, so clients that never authenticate can neither fill ``max_sessions`` nor keep a
client that authenticates in milliseconds out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from regogate.errors import AdminShutdown, RegogateError, TooManyConnections

IdentityKey = tuple[str, str]  # (issuer, sub): two issuers may both have a "bob"


@dataclass(eq=False)
class Ticket:
    """One client connection's place, from accept to close."""

    serial: int
    # Ends the connection's authentication at once (set while it authenticates).
    interrupt: Callable[[], None] | None = field(default=None, repr=False)
    # Why its authentication was cut short (what the client is told), if it was.
    ended: RegogateError | None = None
    identity: IdentityKey | None = None

    def end(self, why: RegogateError) -> None:
        self.ended = why
        if self.interrupt is not None:
            self.interrupt()


class Admission:
    def __init__(self, *, max_pending: int, max_sessions: int, max_per_identity: int = 0):
        self.max_pending = max_pending
        self.max_sessions = max_sessions
        self.max_per_identity = max_per_identity  # 0: no limit
        self._serial = 0
        self._pending: dict[Ticket, None] = {}  # insertion order: oldest first
        self._sessions: dict[Ticket, None] = {}
        self._by_identity: dict[IdentityKey, dict[Ticket, None]] = {}
        self.evictions = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def sessions_of(self, key: IdentityKey) -> int:
        return len(self._by_identity.get(key, ()))

    def arrive(self) -> Ticket:
        """A connection was accepted; it waits for authentication. Over the cap, the
        connection that has waited longest is told to end (``Ticket.ended``)."""
        self._serial += 1
        ticket = Ticket(self._serial)
        while len(self._pending) >= self.max_pending:
            oldest = next(iter(self._pending))
            del self._pending[oldest]
            self.evictions += 1
            oldest.end(self.evicted_error())
        self._pending[ticket] = None
        return ticket

    def shutdown(self) -> None:
        """The gateway stops: every connection still authenticating is told so now (each
        keeps its place until it has said so and left: the gateway's drain waits)."""
        for ticket in list(self._pending):
            ticket.end(
                AdminShutdown(
                    "the connection was closed because regogate is shutting down",
                    hint="reconnect in a moment",
                )
            )

    def authenticated(self, ticket: Ticket, key: IdentityKey, sub: str) -> None:
        """The connection's token is verified: it becomes a session of ``key``, or gets
        TooManyConnections (53300) and keeps no place."""
        self._pending.pop(ticket, None)
        ticket.interrupt = None
        if ticket.ended is not None:
            raise ticket.ended
        if len(self._sessions) >= self.max_sessions:
            raise TooManyConnections("sorry, too many clients already")
        mine = self._by_identity.get(key, {})
        if self.max_per_identity and len(mine) >= self.max_per_identity:
            raise _identity_full(
                sub, len(mine), self.max_per_identity, "[server] max_sessions_per_identity"
            )
        self._sessions[ticket] = None
        self._by_identity.setdefault(key, {})[ticket] = None
        ticket.identity = key

    def evicted_error(self) -> TooManyConnections:
        return TooManyConnections(
            "too many connections are awaiting authentication; this one waited longest",
            hint=f"at most {self.max_pending} connections may be authenticating at once "
            "([server] max_pending_auth); reconnect and authenticate promptly",
        )

    def check_limit(self, ticket: Ticket, limit: int, sub: str) -> None:
        """The policy's ``session_limit`` for this session's identity: the session may
        stay if fewer than ``limit`` of the identity's sessions opened before it."""
        key = ticket.identity
        if key is None:
            return
        mine = self._by_identity.get(key, {})
        older = sum(1 for t in mine if t.serial < ticket.serial)
        if older >= limit:
            raise _identity_full(sub, older, limit, "the policy's session_limit")

    def leave(self, ticket: Ticket) -> None:
        self._pending.pop(ticket, None)
        ticket.interrupt = None
        if ticket not in self._sessions:
            return
        del self._sessions[ticket]
        key = ticket.identity
        if key is not None:
            mine = self._by_identity[key]
            mine.pop(ticket, None)
            if not mine:
                del self._by_identity[key]


def _identity_full(sub: str, held: int, limit: int, source: str) -> TooManyConnections:
    return TooManyConnections(
        f"too many sessions for identity {sub!r}: {held} open, at most {limit} allowed",
        hint=f"the limit comes from {source}; close a session or ask the gateway operator",
    )
