"""The gateway's places (proxy/admission.py), without sockets: pending connections,
sessions, and each identity's sessions."""

from __future__ import annotations

import pytest

from regogate.errors import AdminShutdown, TooManyConnections
from regogate.proxy.admission import Admission, Ticket

BOB = ("regogate:static", "bob")
ANN = ("regogate:static", "ann")


def _admission(pending: int = 4, sessions: int = 10, per_identity: int = 0) -> Admission:
    return Admission(max_pending=pending, max_sessions=sessions, max_per_identity=per_identity)


def test_over_the_pending_cap_the_oldest_is_interrupted() -> None:
    a = _admission(pending=2)
    interrupted: list[int] = []
    first, second = a.arrive(), a.arrive()
    first.interrupt = lambda: interrupted.append(1)
    third = a.arrive()
    assert [t.ended is not None for t in (first, second, third)] == [True, False, False]
    assert interrupted == [1]
    assert (a.pending, a.evictions) == (2, 1)
    with pytest.raises(TooManyConnections, match="waited longest") as info:
        a.authenticated(first, BOB, "bob")  # too late: its place went to the newcomer
    assert info.value.sqlstate == "53300"
    a.leave(first)
    a.authenticated(second, BOB, "bob")
    assert (a.pending, a.sessions) == (1, 1)


def test_an_authenticated_connection_is_no_longer_pending() -> None:
    a = _admission(pending=1)
    t = a.arrive()
    a.authenticated(t, BOB, "bob")
    other = a.arrive()  # the cap counts only connections still authenticating
    assert t.ended is None and other.ended is None


@pytest.mark.parametrize(
    ("sessions", "per_identity", "opened", "message"),
    [
        (2, 0, [BOB, ANN], "sorry, too many clients already"),
        (10, 2, [BOB, BOB], "too many sessions for identity 'bob': 2 open, at most 2 allowed"),
    ],
)
def test_session_caps(
    sessions: int, per_identity: int, opened: list[tuple[str, str]], message: str
) -> None:
    a = _admission(sessions=sessions, per_identity=per_identity)
    held = []
    for key in opened:
        t = a.arrive()
        a.authenticated(t, key, key[1])
        held.append(t)
    refused = a.arrive()
    with pytest.raises(TooManyConnections, match=message):
        a.authenticated(refused, BOB, "bob")
    a.leave(refused)
    assert a.sessions == len(opened) and a.pending == 0
    a.leave(held[0])
    again = a.arrive()
    a.authenticated(again, BOB, "bob")  # a place was given back
    assert a.sessions_of(BOB) == sum(k == BOB for k in opened)


def test_the_policy_limit_keeps_the_older_sessions() -> None:
    # Sessions of one identity that open at the same time: the older ones stay.
    a = _admission()
    tickets: list[Ticket] = []
    for _ in range(3):
        t = a.arrive()
        a.authenticated(t, BOB, "bob")
        tickets.append(t)
    a.check_limit(tickets[0], 2, "bob")
    a.check_limit(tickets[1], 2, "bob")
    with pytest.raises(TooManyConnections, match="2 open, at most 2 allowed") as info:
        a.check_limit(tickets[2], 2, "bob")
    assert "the policy's session_limit" in (info.value.hint or "")
    with pytest.raises(TooManyConnections, match="at most 0 allowed"):
        a.check_limit(tickets[0], 0, "bob")
    a.leave(tickets[0])
    a.check_limit(tickets[2], 2, "bob")  # once an older one closed, it may stay


def test_leave_is_idempotent_and_forgets_the_identity() -> None:
    a = _admission()
    t = a.arrive()
    a.authenticated(t, BOB, "bob")
    a.leave(t)
    a.leave(t)
    assert (a.pending, a.sessions, a.sessions_of(BOB)) == (0, 0, 0)


def test_shutdown_ends_every_pending_connection() -> None:
    a = _admission()
    interrupted: list[Ticket] = []
    waiting = [a.arrive() for _ in range(3)]
    for t in waiting:
        t.interrupt = lambda t=t: interrupted.append(t)  # type: ignore[misc]
    session = a.arrive()
    a.authenticated(session, BOB, "bob")
    a.shutdown()
    assert interrupted == waiting and a.pending == 3
    for t in waiting:
        with pytest.raises(AdminShutdown):
            a.authenticated(t, ANN, "ann")
        a.leave(t)
    assert a.pending == 0
    assert all(t.ended is not None and t.ended.sqlstate == "57P01" for t in waiting)
    assert session.ended is None and a.sessions == 1  # sessions hear it from the relay
