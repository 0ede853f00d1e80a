"""Masking on the data path: which upstream answers carry masked columns, and their
rewriting (regogate/masking does the pure work; docs/masking.md).

Per session, driven by the gate. The gate registers, by the response tracker's seq of
the message: a simple Query's per-statement masks, and before an Execute of a masked
portal a Describe it injects (its RowDescription gives the row types and formats the
Execute's DataRows come in; the answer is swallowed, the client never asked for it).
Between a masked RowDescription and the end of its statement every DataRow is
rewritten. While a masked statement is in flight, and until the transaction it ran in
ends, ErrorResponse and NoticeResponse are redacted (a deferred constraint can fail at
COMMIT). Everything else passes untouched; a session without masks never gets here.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from regogate.errors import ProtocolViolation
from regogate.masking.copy import CopyRewriter
from regogate.masking.plan import RowPlan, StatementMasks, copy_masked, row_plan
from regogate.masking.reports import redact_report
from regogate.masking.rows import RowMasker, row_masker
from regogate.proxy.responses import ResponseTracker
from regogate.wire.backend import CopyOutResponse, RowDescription
from regogate.wire.framing import Frame

_I16 = struct.Struct("!h")


@dataclass(frozen=True, slots=True)
class QueryMasks:
    """A simple Query: the masks of each of its statements (None: none masked)."""

    statements: tuple[StatementMasks | None, ...]


@dataclass(frozen=True, slots=True)
class DescribeMasks:
    """A Describe the gate injected before an Execute of a masked portal."""

    masks: StatementMasks


_Pending = QueryMasks | DescribeMasks


class ResultMasker:
    def __init__(self, tracker: ResponseTracker, key: bytes) -> None:
        self.tracker = tracker
        self.key = key
        self.pending: dict[int, _Pending] = {}
        self.rows: RowMasker | None = None  # DataRows now are rewritten with this
        self._row_cells = 0  # len(self.rows)
        self.copy: CopyRewriter | None = None  # CopyData now is rewritten with this
        # A masked portal described as NoData (a COPY): the masks of its Execute's COPY.
        self._copy_next: StatementMasks | None = None
        self.tainted: tuple[str, ...] = ()  # masked columns whose values errors may quote
        self._taint_until = 0
        self.used = False
        self.cells = 0  # cells masked, for the recording and metrics

    @property
    def idle(self) -> bool:
        return not self.pending and self.rows is None and not self.tainted and not self.used

    # -- registered by the gate, in the order messages go upstream --------------------------
    def query(self, seq: int, masks: QueryMasks) -> None:
        self.used = True
        self.pending[seq] = masks
        self._taint(seq, [m for m in masks.statements if m is not None])

    def describe(self, seq: int, masks: StatementMasks) -> None:
        self.used = True
        self.pending[seq] = DescribeMasks(masks)
        self._taint(seq + 1, [masks])

    def _taint(self, seq: int, masks: list[StatementMasks]) -> None:
        keys = {k for m in masks for k in m.masked}
        if keys:
            self.tainted = tuple(sorted(keys | set(self.tainted)))
            self._taint_until = max(self._taint_until, seq)

    # -- the upstream's answers ---------------------------------------------------------------
    def head(self) -> tuple[int, int]:
        """The seq the next answer belongs to and, for a Query, how many of its statements
        completed: read before the tracker sees the message."""
        tracker = self.tracker
        if not tracker.queue:
            return 0, 0
        return tracker.done + 1, tracker.queue[0].index

    def row(self, frame: Frame) -> Frame:
        rows = self.rows
        if rows is None:
            return frame
        self.cells += self._row_cells
        return Frame(b"D", rows(frame.body))

    def answer(self, frame: Frame, head: tuple[int, int]) -> Sequence[Frame]:
        """Any upstream message but DataRow, after the tracker saw it."""
        tag = frame.tag
        seq, index = head
        if tag == b"T":
            return self._described(frame, seq, index)
        if tag == b"d":
            if self.copy is not None:
                return (Frame(b"d", self.copy.data(frame.body)),)
            return (frame,)
        if tag == b"H":
            self._copy_out(frame, seq, index)
        elif tag in (b"C", b"I", b"s"):
            self.rows = None
            self.copy = self._copy_next = None
        elif tag == b"n":
            entry = self.pending.get(seq)
            if isinstance(entry, DescribeMasks):
                del self.pending[seq]
                self.rows = None
                self._copy_next = entry.masks  # no rows: a COPY's data may follow
                return ()
        elif tag in (b"E", b"N"):
            if tag == b"E":
                self.rows = None
                self.copy = self._copy_next = None
            if self.tainted:
                return (Frame(tag, redact_report(tag, frame.body, self.tainted)),)
        elif tag == b"Z":
            self.rows = None
            self.copy = self._copy_next = None
            self._ready(frame.body[:1])
        if self.pending:
            self._prune()
        if self.tracker.model.lost:
            self.rows = None
        return (frame,)

    def _described(self, frame: Frame, seq: int, index: int) -> Sequence[Frame]:
        entry = self.pending.get(seq)
        masks: StatementMasks | None = None
        if isinstance(entry, QueryMasks):
            if index < len(entry.statements):
                masks = entry.statements[index]
        elif isinstance(entry, DescribeMasks):
            del self.pending[seq]
            masks = entry.masks
        plan = row_plan(masks, RowDescription.decode(frame.body)) if masks else None
        if self.tracker.model.lost and self.used:
            plan = _all_null(frame.body)  # out of step: nothing is shown
        self.rows = row_masker(plan, self.key) if plan else None
        self._row_cells = len(plan) if plan else 0
        if isinstance(entry, DescribeMasks):
            return ()  # the gate asked, not the client
        return (frame,)

    def _copy_out(self, frame: Frame, seq: int, index: int) -> None:
        """CopyOutResponse: the CopyData that follows is rewritten when the statement has
        masked outputs (masking/copy.py)."""
        entry = self.pending.get(seq)
        masks: StatementMasks | None = None
        if isinstance(entry, QueryMasks):
            if index < len(entry.statements):
                masks = entry.statements[index]
        elif self._copy_next is not None:
            masks, self._copy_next = self._copy_next, None
        self.copy = None
        if self.tracker.model.lost and self.used:
            raise ProtocolViolation("regogate lost step with the upstream during a masked COPY")
        if masks is None:
            return
        response = CopyOutResponse.decode(frame.body)
        columns = len(response.column_formats)
        masked = copy_masked(masks, columns)
        if not masked:
            return
        options = masks.copy
        binary = response.format == 1
        if options is None or (options.format == "binary") != binary:
            # Masked outputs in a COPY whose rows cannot be read: end the session rather
            # than let them through (the gate denies such statements before they run).
            raise ProtocolViolation("regogate cannot mask the rows of this COPY")
        self.copy = CopyRewriter(options, columns, masked)

    def _ready(self, status: bytes) -> None:
        if self.tainted and status == b"I" and self.tracker.done >= self._taint_until:
            self.tainted = ()

    def _prune(self) -> None:
        done = self.tracker.done
        for seq in [s for s in self.pending if s <= done]:
            del self.pending[seq]


def _all_null(desc: bytes) -> RowPlan:
    from regogate.masking.methods import NULL
    from regogate.masking.plan import CellMask

    (count,) = _I16.unpack_from(desc, 0)
    return tuple(CellMask(i, NULL, False) for i in range(count))
