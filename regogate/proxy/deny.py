"""Denying a statement *in order*: the upstream itself fails at the denied message.

- A denied simple Query becomes a DO block that raises the policy's error: PostgreSQL
  reports it in place, aborts a transaction block as it would for any error.
- A denied Parse becomes a statement that fails *at parse time* on a unique marker
  (``SELECT rg_denied_<nonce>``), so clients that Parse/Describe before they Bind (asyncpg)
  see the failure at Parse, and the upstream discards to the next Sync (protocol §55.2.3).
  ``Denials.on_backend`` swaps the upstream's "column does not exist" error carrying the
  marker for the policy's own ErrorResponse.

PostgreSQL keeps the order; regogate only rewrites. A ReadyForQuery forgets the markers of
the messages it ends (the response tracker says which), not those of later messages in
a pipeline.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Protocol

from regogate.errors import RegogateError
from regogate.wire.backend import ErrorResponse
from regogate.wire.framing import Frame
from regogate.wire.frontend import Bind, Parse, Query


class Position(Protocol):
    """Where the session's response tracker is (``responses.ResponseTracker``)."""

    @property
    def seq(self) -> int: ...

    @property
    def done(self) -> int: ...


def _dollar(text: str) -> str:
    """Dollar-quote ``text`` with a tag that cannot occur inside it."""
    while True:
        tag = f"$rg{secrets.token_hex(6)}$"
        if tag not in text:
            return f"{tag}{text}{tag}"


def deny_sql(exc: RegogateError) -> str:
    msg = exc.message.replace("\x00", "")
    parts = [f"ERRCODE = '{exc.sqlstate}'", f"MESSAGE = {_dollar(msg)}"]
    if exc.detail:
        parts.append(f"DETAIL = {_dollar(exc.detail.replace(chr(0), ''))}")
    if exc.hint:
        parts.append(f"HINT = {_dollar(exc.hint.replace(chr(0), ''))}")
    body = f"BEGIN RAISE EXCEPTION USING {', '.join(parts)}; END"
    return f"DO {_dollar(body)}"


def _frame(wire: bytes) -> Frame:
    return Frame(wire[:1], wire[5:])


class Denials:
    """Per-session: builds denial messages and restores the policy error on the way back.

    Used as the session's ResultHook (always active, so the upstream stream is framed
    from the first byte and never has to be re-synchronised).
    """

    active = True

    def __init__(self) -> None:
        # marker -> (the policy's ErrorResponse, the tracker position when it was made)
        self._pending: dict[bytes, tuple[bytes, int]] = {}
        self._tracker: Position | None = None

    def follow(self, tracker: Position) -> None:
        """Let a ReadyForQuery forget only the markers of messages it ends: in a
        pipeline, a later denial's marker must survive an earlier message's end."""
        self._tracker = tracker

    def query(self, exc: RegogateError) -> Frame:
        """A DO block raising a marker; the upstream's error is swapped for the policy's
        own ErrorResponse (no PL/pgSQL CONTEXT line leaks the mechanism)."""
        raised = RegogateError(self._marker(exc))
        raised.sqlstate = exc.sqlstate
        return _frame(Query(deny_sql(raised)).encode())

    def _marker(self, exc: RegogateError) -> str:
        marker = f"rg_denied_{secrets.token_hex(8)}"
        owner = self._tracker.seq if self._tracker is not None else 0
        self._pending[marker.encode()] = (ErrorResponse.from_error(exc).encode(), owner)
        return marker

    def bind(self, portal: str, exc: RegogateError) -> Frame:
        """A Bind to a statement that cannot exist: the upstream fails at Bind, in order."""
        return _frame(Bind(portal, self._marker(exc)).encode())

    def parse(self, name: str, exc: RegogateError) -> Frame:
        marker = self._marker(exc)
        return _frame(Parse(name, f"SELECT {marker}").encode())

    def on_backend(self, frame: Frame) -> Sequence[Frame]:
        if self._pending:
            if frame.tag == b"E":
                for marker in self._pending:
                    if marker in frame.body:
                        return (_frame(self._pending.pop(marker)[0]),)
            elif frame.tag == b"Z":
                # The messages up to this one are over; a pending marker among them never
                # failed (e.g. the transaction was already aborted, so PostgreSQL reported
                # that instead, as it would have).
                if self._tracker is None:
                    self._pending.clear()
                else:
                    done = self._tracker.done
                    for marker in [m for m, (_, o) in self._pending.items() if o < done]:
                        del self._pending[marker]
        return (frame,)
