"""Which frontend message each backend message answers (protocol §55.2), so that session
effects apply when PostgreSQL reports them, in order, pipelines included.

Pure. ``sent`` is called for every message forwarded upstream, ``received`` for every
message coming back. Every message that gets an answer is an entry of a queue: Parse
(ParseComplete), Bind (BindComplete), Describe (RowDescription / NoData), Execute
(CommandComplete, EmptyQueryResponse, PortalSuspended), Close (CloseComplete), Sync and
Query and FunctionCall (ReadyForQuery). An ErrorResponse fails the head entry; in the
extended protocol PostgreSQL then skips every message up to the next Sync, and so do we.
A message that answers nothing we sent means the gate has lost step with PostgreSQL:
the model forgets what it knew (``SessionModel.lose``), so nothing is decided on it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from regogate.proxy.session_state import NO_EFFECT, SessionModel, StatementEffect

log = logging.getLogger("regogate.gate")

EntryKind = Literal["query", "parse", "bind", "describe", "execute", "close", "sync", "call"]
# Entries after which PostgreSQL sends ReadyForQuery.
SYNC_POINTS = frozenset({"query", "sync", "call"})


@dataclass(slots=True)
class Entry:
    """One message in flight. Its seq is positional: the entries queued are the last
    ``len(queue)`` messages sent (a message PostgreSQL will skip is never queued, and
    that happens only while nothing is queued)."""

    kind: EntryKind
    effects: Sequence[StatementEffect] = ()
    name: str = ""  # parse: statement name; close: "S"/"P" + name
    added: bool = False  # parse: the name was new (removed again if the Parse fails)
    index: int = 0  # query: statements completed so far


# Entries with nothing of their own (no effects, no name, never changed once queued):
# shared, so that the usual Bind / Execute / Sync cycle allocates nothing.
_PLAIN_KINDS: tuple[EntryKind, ...] = ("bind", "describe", "sync", "execute")
_PLAIN: dict[str, Entry] = {k: Entry(k) for k in _PLAIN_KINDS}


@dataclass
class ResponseTracker:
    model: SessionModel
    # A Parse that failed or was skipped: the statement name it would have created.
    on_parse_failed: Callable[[str, int], None] = lambda name, seq: None
    on_close: Callable[[str, int], None] = lambda name, seq: None
    queue: deque[Entry] = field(default_factory=deque)
    seq: int = 0  # of the last message sent
    # After an error in the extended protocol PostgreSQL ignores every message, simple
    # Query and FunctionCall included, until it reads a Sync (postgres.c
    # ignore_till_sync): what is sent meanwhile is never answered.
    discarding: bool = False
    _mattering: int = 0

    @property
    def done(self) -> int:
        """Every message up to this seq is answered (or will never be)."""
        return self.seq - len(self.queue)

    # -- what was sent ---------------------------------------------------------------------
    def sent(
        self,
        kind: EntryKind,
        effects: Sequence[StatementEffect] = (),
        name: str = "",
        *,
        added: bool = False,
    ) -> int:
        self.seq = seq = self.seq + 1
        if self.discarding:
            if kind != "sync":
                if kind == "parse" and added:
                    self.on_parse_failed(name, seq)
                return seq  # PostgreSQL will skip it: nothing to wait for
            self.discarding = False
        if effects:
            if kind == "call" or any(e.matters for e in effects):
                self._mattering = seq
            self.queue.append(Entry(kind, effects, name, added))
        else:
            plain = _PLAIN.get(kind)
            self.queue.append(plain if plain is not None else Entry(kind, (), name, added))
        return seq

    def sent_plain(self, kind: EntryKind) -> None:
        """``sent`` for a Bind, Describe, Sync or Execute without effects: the usual
        cycle of a prepared statement, kept short."""
        self.seq += 1
        if self.discarding:
            if kind != "sync":
                return
            self.discarding = False
        self.queue.append(_PLAIN[kind])

    # -- questions the gate asks -----------------------------------------------------------
    @property
    def idle(self) -> bool:
        return not self.queue

    def last_mattering(self) -> int:
        """The seq of the last entry sent whose completion changes the model (it is in
        flight when above ``done``)."""
        return self._mattering

    def runs_unsynced(self) -> bool:
        """Whether statements in flight run before a ReadyForQuery we will see: a Bind,
        Execute or FunctionCall not yet followed by a Sync."""
        for entry in reversed(self.queue):
            if entry.kind in SYNC_POINTS:
                return False
            if entry.kind in ("bind", "execute"):
                return True
        return False

    def needs_flush(self) -> bool:
        """The last entry in flight is answered only after a Flush or a Sync."""
        return bool(self.queue) and self.queue[-1].kind not in SYNC_POINTS

    # -- what came back --------------------------------------------------------------------
    def received(self, tag: int, body: bytes) -> None:
        queue = self.queue
        if not queue:
            if tag not in _ASYNC and tag != 0x45:  # an ErrorResponse here is a FATAL
                self._lost(tag)
            return
        head = queue[0]
        kind = head.kind
        # The usual answers first: this runs for every message but DataRow.
        if tag == 0x43:  # C CommandComplete
            self._complete(head, body)
        elif tag == 0x5A:  # Z ReadyForQuery
            if kind not in SYNC_POINTS:
                self._lost(tag)
                return
            queue.popleft()
            self.model.ready(body[:1])
        elif tag == 0x32:  # 2 BindComplete
            if kind == "bind":
                queue.popleft()
            else:
                self._lost(tag)
        elif tag == 0x45:  # E ErrorResponse
            self._error(head)
        elif tag == 0x49:  # I EmptyQueryResponse
            self._complete(head, b"")
        elif tag == 0x31:  # 1 ParseComplete
            self._expect(head, "parse", tag)
        elif tag == 0x33:  # 3 CloseComplete
            seq = self.done + 1
            if self._expect(head, "close", tag):
                self.on_close(head.name, seq)
        elif tag in (0x54, 0x6E):  # T RowDescription, n NoData
            if kind == "describe":
                queue.popleft()
            elif kind not in ("execute", "query") or tag == 0x6E:
                self._lost(tag)
        elif tag == 0x73:  # s PortalSuspended
            if self._expect(head, "execute", tag):
                self._apply(head.effects[0] if head.effects else NO_EFFECT, b"")
        elif tag == 0x56:  # V FunctionCallResponse
            if kind == "call":
                self._apply(head.effects[0] if head.effects else NO_EFFECT, b"")
            else:
                self._lost(tag)
        elif tag == 0x74 and kind != "describe":  # t: half of a statement Describe
            self._lost(tag)
        # D DataRow, G/H/W copy responses, d/c copy data: inside an Execute or a Query;
        # N, A, S, K, v: not answers to anything.

    def _expect(self, head: Entry, kind: EntryKind, tag: int) -> bool:
        if head.kind != kind:
            self._lost(tag)
            return False
        self.queue.popleft()
        return True

    def _complete(self, head: Entry, tag_text: bytes) -> None:
        if head.kind == "query":
            effect = head.effects[head.index] if head.index < len(head.effects) else NO_EFFECT
            head.index += 1
            self._apply(effect, tag_text)
        elif head.kind == "execute":
            self.queue.popleft()
            if head.effects:
                self._apply(head.effects[0], tag_text)
            else:
                self.model.complete(NO_EFFECT)
        else:
            self._lost(0x43)

    def _apply(self, effect: StatementEffect, tag_text: bytes) -> None:
        if effect.txn == "commit" and tag_text.startswith(b"ROLLBACK"):
            self.model.rolled_back_commit()
        else:
            self.model.complete(effect)

    def _error(self, head: Entry) -> None:
        self.model.failed()
        if head.kind in SYNC_POINTS:
            if head.kind == "query":
                head.index = len(head.effects)  # the rest of the query string is skipped
            return
        # Extended protocol: PostgreSQL discards every message up to the next Sync.
        while self.queue and self.queue[0].kind != "sync":
            seq = self.done + 1
            skipped = self.queue.popleft()
            if skipped.kind == "parse" and skipped.added:
                self.on_parse_failed(skipped.name, seq)
        if not self.queue:
            self.discarding = True

    def _lost(self, tag: int) -> None:
        if not self.model.lost:  # once per session: the upstream must not flood the log
            log.warning(
                "the gate lost step with the upstream at a message of type %r; session "
                "state is unknown from here",
                chr(tag),
            )
        self.model.lose()
        if tag == 0x5A:
            # Best effort to be in step again: a ReadyForQuery ends everything sent up to
            # the first Sync, Query or FunctionCall in flight.
            while self.queue:
                if self.queue.popleft().kind in SYNC_POINTS:
                    break


# NoticeResponse, NotificationResponse, ParameterStatus, BackendKeyData,
# NegotiateProtocolVersion: not answers to anything.
_ASYNC = frozenset(b"NASKv")
# Every message a client may send during the relay, and whether it gets an answer.
ANSWERED: dict[bytes, EntryKind] = {
    b"Q": "query",
    b"P": "parse",
    b"B": "bind",
    b"D": "describe",
    b"E": "execute",
    b"C": "close",
    b"S": "sync",
    b"F": "call",
}
