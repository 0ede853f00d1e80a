"""The report's aggregation, first half: one chunk of a log's bytes to a short summary.

Run by the verifier's worker processes on the bytes they verify (``chunk_reader``),
so the log is read once. Statements and results that add only to counters are summed
per (session, text, decisions) in ``Batch``es; every other record (session and gateway
records, exceptions-register and privileged rows, masked cells) is kept as its line, for
``Aggregator.add``. ``apply`` then gives the aggregator exactly what adding each record in
order would: a batch holds no record that changes a session, and its sums commute.
Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

from regogate.recording.format import jcs
from regogate.recording.read.report_aggregate import (
    Aggregator,
    Window,
    count_statements,
    count_write,
    is_privileged,
)
from regogate.recording.read.report_pii import scanner_of
from regogate.recording.read.report_rows import OUTCOMES, classify

# A decision that makes no exceptions-register row, as the counts need it:
# (outcome word, ((column, method), …) masked, policy revision).
DecisionKey = tuple[str, tuple[tuple[str, str], ...], str | None]


class Batch(NamedTuple):
    """Consecutive in-period records that only add to counters."""

    records: int  # records of the period (of any type)
    first_seq: int
    last_seq: int
    sids: list[str]  # sessions with a statement or result here, in order of first record
    statements: list[tuple[str, str, tuple[DecisionKey, ...], int]]  # (sid, text, ds, count)
    errors: list[tuple[str, int]]  # (sid, results with an error)
    hits: list[tuple[int, tuple[str, ...]]]  # (seq, columns): classified values (report_pii)


Item = Batch | bytes  # a batch, or a record's line for Aggregator.add
_KEEP = frozenset(
    {"gateway.start", "gateway.stop", "key.rotate", "policy.load", "session.open",
     "decision", "session.close"}
)  # fmt: skip
_COUNTED = frozenset({"stmt", "result"})
# Outcome words that make no exceptions-register row, whatever the SQLSTATE
# (report_rows.outcome): a statement decided only so is counted in a batch.
_PLAIN = frozenset(w for w, o in OUTCOMES.items() if o.event is None)
Statement = tuple[str, str, tuple[DecisionKey, ...]]  # (sid, text, decisions)


def _decision_keys(listed: object) -> tuple[DecisionKey, ...] | None:
    """A statement's decisions as counters need them; None if one makes a register row."""
    if type(listed) is not list:
        return ()
    keys = []
    for d in listed:
        if type(d) is not dict:
            continue
        word = d.get("outcome")
        if word not in _PLAIN:
            return None
        masks = d.get("masks")
        masked = (
            tuple(sorted((c, str(m)) for c, m in masks.items()))
            if type(masks) is dict and masks
            else ()
        )
        revision = d.get("revision")
        keys.append((word, masked, revision if type(revision) is str else None))
    return tuple(keys)


def record_of(line: bytes) -> dict[str, object] | None:
    """A line's record, if it is a JSON object with an integer seq (else nothing to count:
    verify reports the line). Parsed as the verifier parses it."""
    try:
        value, _ = jcs.loads(line)
    except ValueError:
        return None
    if type(value) is not dict or not isinstance(value.get("seq"), int):
        return None
    return value


class ChunkSummary:
    """One chunk's summary, line by line as the verifier's scan parses it
    (``chunk_reader.ChunkReading``); ``result()`` when the chunk is done. ``line`` runs once
    per record of the log, hence one method with few calls."""

    def __init__(
        self,
        since: str | None,
        until: str | None,
        protected: list[str] | None,
        pii: object = None,  # report_pii.scan_args
    ):
        self.window = Window(since, until, protected=tuple(protected or ()))
        self.scanner = scanner_of(pii)
        self.since, self.until = since or "", until
        self.items: list[Item] = []
        self.plain_texts: dict[str, bool] = {}  # text: a statement no privileged row lists
        self._open()

    def _open(self) -> None:
        self.records = 0
        self.first = self.last = -1
        self.sids: dict[str, None] = {}
        self.statements: Counter[Statement] = Counter()
        self.errors: Counter[str] = Counter()
        self.hits: list[tuple[int, tuple[str, ...]]] = []

    def _close(self) -> None:
        if self.records:
            statements = [(sid, t, ds, n) for (sid, t, ds), n in self.statements.items()]
            errors = list(self.errors.items())
            batch = Batch(
                self.records, self.first, self.last, list(self.sids), statements, errors,
                self.hits,
            )  # fmt: skip
            self.items.append(batch)
            self._open()

    def _keep(self, line: bytes) -> None:
        self._close()
        self.items.append(line)

    def line(self, line: bytes, value: object) -> None:
        if type(value) is not dict:
            return None
        seq = value.get("seq")
        if not isinstance(seq, int):
            return None
        kind = value.get("type", "")
        if type(kind) is not str:
            kind = str(kind)
        if kind in _KEEP:
            return self._keep(line)
        ts = value.get("ts", "")
        if type(ts) is not str:
            ts = str(ts)
        if ts < self.since or (self.until is not None and ts >= self.until):
            if kind not in _COUNTED:
                self._keep(line)  # other types may be register rows: Aggregator.add decides
            return None  # out of the period: a statement or result counts for nothing
        sid = value.get("sid")
        if kind == "result":
            cells = value.get("masked_cells")
            if type(cells) is dict and cells:
                return self._keep(line)
            if type(sid) is str:
                self.sids[sid] = None
                if value.get("error") is not None:
                    self.errors[sid] += 1
        elif kind == "stmt":
            if type(sid) is str:
                text = value.get("text")
                if type(text) is not str:
                    text = ""
                keys = _decision_keys(value.get("decisions"))
                if keys is None or not self._plain(text):
                    return self._keep(line)
                self.statements[(sid, text, keys)] += 1
                self.sids[sid] = None
        elif type(sid) is str:
            return self._keep(line)  # a session's record of another type: maybe a register row
        self.records += 1
        if self.first < 0:
            self.first = seq
        self.last = seq
        if self.scanner is not None and (found := self.scanner.hits(value)):
            self.hits.append((seq, found))
        return None

    def _plain(self, text: str) -> bool:
        plain = self.plain_texts.get(text)
        if plain is None:
            plain = self.plain_texts[text] = not is_privileged(self.window, classify(text))
        return plain

    def result(self) -> list[Item]:
        self._close()
        return self.items


def summarize(
    data: bytes,
    since: str | None,
    until: str | None,
    protected: list[str] | None,
    pii: object = None,
) -> list[Item]:
    """A chunk of whole lines (a torn last line is no record) as batches and kept lines."""
    summary = ChunkSummary(since, until, protected, pii)
    lines = data.split(b"\n")
    lines.pop()
    for line in lines:
        try:
            value, _ = jcs.loads(line)
        except ValueError:
            value = None
        summary.line(line, value)
    return summary.result()


def shared(items: list[Item], same: dict[object, object]) -> list[Item]:
    """``items`` with each text, session id and decision key equal to one seen before
    replaced by that one (``same``): summaries wait in memory until the verdict, and
    their strings repeat from batch to batch."""

    def one(value: object) -> Any:
        return same.setdefault(value, value)

    out: list[Item] = []
    for item in items:
        if isinstance(item, Batch):
            statements = [(one(sid), one(t), one(ds), n) for sid, t, ds, n in item.statements]
            errors = [(one(sid), n) for sid, n in item.errors]
            sids = [one(s) for s in item.sids]
            out.append(item._replace(sids=sids, statements=statements, errors=errors))
        else:
            out.append(item)
    return out


def apply(agg: Aggregator, items: list[Item]) -> None:
    """Give the current log's aggregation a chunk's summary, in order."""
    for item in items:
        if isinstance(item, bytes):
            record = record_of(item)
            assert record is not None  # kept because it is one
            agg.add(record)
        else:
            _apply_batch(agg, item)


def _apply_batch(agg: Aggregator, batch: Batch) -> None:
    here = agg.origins[-1]
    here.records_in_period += batch.records
    if here.first_seq is None:
        here.first_seq = batch.first_seq
    here.last_seq = batch.last_seq
    for sid in batch.sids:
        agg.session_in_period(sid)
    for sid, text, keys, n in batch.statements:
        s = agg.session_in_period(sid)
        if s is None:
            continue
        verb = classify(text)
        a = count_statements(agg, s, verb, n)
        allowed = all(OUTCOMES[word].allowed for word, _, _ in keys)
        masked = any(OUTCOMES[word].masked or masks for word, masks, _ in keys)
        for _, masks, revision in keys:
            for column_method in masks:
                agg.masks[column_method] += n
            if revision is not None:
                agg.revision_use[revision] += n
        if not allowed:
            agg.totals["denials"] += n
            a.denials += n
        if masked:
            agg.totals["masked_reads"] += n
            a.masked += n
        count_write(agg, s, verb, allowed, n)
    origin = len(agg.origins) - 1
    agg.pii_hits += [(origin, seq, found) for seq, found in batch.hits]
    for sid, errors in batch.errors:
        s = agg.session_in_period(sid)
        if s is not None:
            agg.act(s).errors += errors
            agg.totals["errors"] += errors
