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
    kind: EntryKind
    seq: int
    effects: Sequence[StatementEffect] = ()
    name: str = ""  # parse: statement name; close: "S"/"P" + name
    added: bool = False  # parse: the name was new (removed again if the Parse fails)
    index: int = 0  # query: statements completed so far


@dataclass
class ResponseTracker:
    model: SessionModel
    # A Parse that failed or was skipped: the statement name it would have created.
    on_parse_failed: Callable[[str, int], None] = lambda name, seq: None
    on_close: Callable[[str, int], None] = lambda name, seq: None
    queue: deque[Entry] = field(default_factory=deque)
    seq: int = 0  # of the last entry queued
    done: int = 0  # every entry up to this seq is answered
    # After an error in the extended protocol PostgreSQL ignores every message, simple
    # Query and FunctionCall included, until it reads a Sync (postgres.c
    # ignore_till_sync): what is sent meanwhile is never answered.
    discarding: bool = False
    _mattering: int = 0

    # -- what was sent ---------------------------------------------------------------------
    def sent(
        self,
        kind: EntryKind,
        effects: Sequence[StatementEffect] = (),
        name: str = "",
        *,
        added: bool = False,
    ) -> int:
        self.seq += 1
        if self.discarding and kind != "sync":
            if not self.queue:
                self.done = self.seq
            if kind == "parse" and added:
                self.on_parse_failed(name, self.seq)
            return self.seq  # PostgreSQL will skip it: nothing to wait for
        self.discarding = False
        self.queue.append(Entry(kind, self.seq, effects, name, added))
        if effects and (kind == "call" or any(e.matters for e in effects)):
            self._mattering = self.seq
        return self.seq

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
        if tag in _ASYNC:
            return
        head = self.queue[0] if self.queue else None
        if head is None:
            if tag != 0x45:  # an ErrorResponse answering nothing is a FATAL: the end
                self._lost(tag)
            return
        if tag == 0x45:  # E ErrorResponse
            self._error(head)
        elif tag in (0x43, 0x49):  # C CommandComplete, I EmptyQueryResponse
            self._complete(head, body if tag == 0x43 else b"")
        elif tag == 0x5A:  # Z ReadyForQuery
            if head.kind not in SYNC_POINTS:
                self._lost(tag)
                return
            self._pop()
            self.model.ready(body[:1])
        elif tag == 0x31:  # 1 ParseComplete
            self._expect(head, "parse", tag)
        elif tag == 0x32:  # 2 BindComplete
            self._expect(head, "bind", tag)
        elif tag == 0x33:  # 3 CloseComplete
            if self._expect(head, "close", tag):
                self.on_close(head.name, head.seq)
        elif tag in (0x54, 0x6E):  # T RowDescription, n NoData
            if head.kind == "describe":
                self._pop()
            elif head.kind not in ("execute", "query") or tag == 0x6E:
                self._lost(tag)
        elif tag == 0x73:  # s PortalSuspended
            if self._expect(head, "execute", tag):
                self._apply(head.effects[0] if head.effects else NO_EFFECT, b"")
        elif tag == 0x56:  # V FunctionCallResponse
            if head.kind == "call":
                self._apply(head.effects[0] if head.effects else NO_EFFECT, b"")
            else:
                self._lost(tag)
        elif tag == 0x74 and head.kind != "describe":  # t: half of a statement Describe
            self._lost(tag)
        # D DataRow, G/H/W copy responses, d/c copy data: inside an Execute or a Query.

    def _expect(self, head: Entry, kind: EntryKind, tag: int) -> bool:
        if head.kind != kind:
            self._lost(tag)
            return False
        self._pop()
        return True

    def _pop(self) -> Entry:
        entry = self.queue.popleft()
        self.done = entry.seq
        return entry

    def _complete(self, head: Entry, tag_text: bytes) -> None:
        if head.kind == "query":
            effect = head.effects[head.index] if head.index < len(head.effects) else NO_EFFECT
            head.index += 1
            self._apply(effect, tag_text)
        elif head.kind == "execute":
            self._pop()
            self._apply(head.effects[0] if head.effects else NO_EFFECT, tag_text)
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
            skipped = self._pop()
            if skipped.kind == "parse" and skipped.added:
                self.on_parse_failed(skipped.name, skipped.seq)
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
                if self._pop().kind in SYNC_POINTS:
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
