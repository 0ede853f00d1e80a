"""The evidence report's aggregation: verified records in, the report's figures out.

Fed one record at a time in log order (``Aggregator.add``), per log (origin); memory
grows with sessions, identities and exception rows, never with statements. Record types
are dispatched through one table (``HANDLERS``); outcomes and verbs through
``report_rows``. Pure: no I/O.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from regogate.recording.format.jcs import JSONValue
from regogate.recording.read.report_pii import PiiScanner, PiiValues
from regogate.recording.read.report_rows import (
    Event,
    StatementClass,
    Verb,
    classify,
    outcome,
    record_event,
)

JSONObject = dict[str, JSONValue]
TEXT_LIMIT = 240
# Every exceptions-register row has these (null where its event has none), whatever made it.
EXCEPTION_FIELDS = (
    "outcome",
    "rules",
    "reasons",
    "sqlstate",
    "revision",
    "text",
    "approver",
    "ref_seq",
    "ticket",
    "expires",
)  # characters of a statement's (literal-free) text kept for a row


def _obj(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


@dataclass(frozen=True)
class Window:
    """The period and filters: ``since`` ≤ ts < ``until`` (record ``ts`` strings)."""

    since: str | None = None
    until: str | None = None
    connection: str | None = None  # glob over the connection or database name
    identity: str | None = None  # glob over sub, email or a group
    protected: tuple[str, ...] = ()  # globs of tables whose writes are privileged

    def in_period(self, ts: str) -> bool:
        return (self.since is None or ts >= self.since) and (self.until is None or ts < self.until)

    def selects(self, who: Identity, connection: str | None, database: str | None) -> bool:
        if self.connection is not None and not _glob(self.connection, (connection, database)):
            return False
        names = (who.name, who.email, *who.groups)
        return self.identity is None or _glob(self.identity, names)

    def is_protected(self, target: str | None) -> bool:
        if target is None:
            return False
        bare = target.replace('"', "").lower()
        short = bare.rsplit(".", 1)[-1]
        return any(fnmatch.fnmatchcase(n, p.lower()) for p in self.protected for n in (bare, short))


def _glob(pattern: str, values: Iterable[str | None]) -> bool:
    return any(v is not None and fnmatch.fnmatchcase(v, pattern) for v in values)


@dataclass(frozen=True)
class Identity:
    """Who a session was: the workforce identity the gateway authenticated (never a token)."""

    name: str
    email: str | None = None
    groups: tuple[str, ...] = ()

    @classmethod
    def of(cls, body: dict[str, object]) -> Identity:
        who = _obj(body.get("identity")) or _obj(body.get("subject"))
        client = _obj(body.get("client"))
        name = _text(who.get("sub")) or _text(who.get("email")) or _text(client.get("user"))
        return cls(name or "(unknown)", _text(who.get("email")), tuple(_strings(who.get("groups"))))


@dataclass
class Session:
    """What the report keeps of a session while its records stream by."""

    origin: int
    identity: Identity
    connection: str | None
    database: str | None
    selected: bool
    opened: str
    counted: bool = False  # counted as a session of the period
    statements: int = 0
    close_seq: int | None = None


@dataclass
class Activity:
    """One identity's figures over the period."""

    groups: set[str] = field(default_factory=set)
    sessions: int = 0
    statements: int = 0
    by_class: Counter[str] = field(default_factory=Counter)
    by_verb: Counter[str] = field(default_factory=Counter)
    denials: int = 0
    masked: int = 0
    approvals: int = 0
    errors: int = 0

    def to_json(self, name: str) -> JSONObject:
        return {
            "identity": name,
            "groups": sorted(self.groups),
            "sessions": self.sessions,
            "statements": self.statements,
            "by_class": {c.value: self.by_class[c.value] for c in StatementClass},
            "by_verb": dict(sorted(self.by_verb.items())),
            "denials": self.denials,
            "masked_reads": self.masked,
            "approvals": self.approvals,
            "errors": self.errors,
        }


@dataclass
class Gateway:
    """A gateway (``gw.id``) as its start and stop records show it."""

    id: str
    origin: int
    version: str | None
    first: str
    last: str = ""
    boots: int = 0

    def to_json(self) -> JSONObject:
        return {
            "id": self.id,
            "origin": self.origin,
            "version": self.version,
            "boots": self.boots,
            "first": self.first,
            "last": self.last,
        }


@dataclass
class OriginFigures:
    """Per log: records of the period, and the gateways, boots and keys it holds."""

    records_in_period: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    boots: int = 0
    stops: int = 0
    rotations: list[JSONObject] = field(default_factory=list)


class Aggregator:
    """Feed each log's verified records in order (``begin`` then ``add``); ``figures()``."""

    def __init__(self, window: Window, pii: PiiValues | None = None):
        self.window = window
        self.pii = pii  # the classified values searched for (report_pii), if any
        self.scanner = None if pii is None else PiiScanner.of(pii)
        self.pii_hits: list[tuple[int, int, tuple[str, ...]]] = []  # (origin, seq, columns)
        self.origins: list[OriginFigures] = []
        self.sessions: dict[tuple[int, str], Session] = {}
        self.activity: dict[str, Activity] = {}
        self.totals: Counter[str] = Counter()
        self.by_class: Counter[str] = Counter()
        self.exceptions: list[JSONObject] = []
        self.privileged: list[tuple[tuple[int, int], JSONObject]] = []  # ((origin, seq), row)
        self.writes: Counter[tuple[str, str]] = Counter()  # (identity, table): writes
        self.masks: Counter[tuple[str, str]] = Counter()  # (column, method): decisions
        self.revisions: dict[str, JSONObject] = {}
        self.revision_use: Counter[str] = Counter()
        self.revision_loads: Counter[str] = Counter()
        self.gateways: dict[tuple[int, str], Gateway] = {}
        self.connections: Counter[str] = Counter()
        self.approved_by: dict[tuple[int, int], str] = {}  # (origin, ref seq): approver

    def begin(self, origin: int) -> None:
        assert origin == len(self.origins)
        self.origins.append(OriginFigures())

    def add(self, record: dict[str, object]) -> None:
        """One record (its parsed JSON) of the current log, in log order."""
        origin = len(self.origins) - 1
        ts, seq = str(record.get("ts", "")), record.get("seq")
        assert isinstance(seq, int)
        here = self.origins[origin]
        in_period = self.window.in_period(ts)
        if in_period:
            here.records_in_period += 1
            here.first_seq = seq if here.first_seq is None else here.first_seq
            here.last_seq = seq
            if self.scanner is not None and (found := self.scanner.hits(record)):  # type: ignore[arg-type]
                self.pii_hits.append((origin, seq, found))
        kind = str(record.get("type", ""))
        handler = HANDLERS.get(kind)
        sid = record.get("sid")
        if handler is None:
            if isinstance(sid, str) and (event := record_event(kind)) is not None:
                handler = _event_handler(event)
            else:
                return
        handler(
            self, _Ctx(origin, seq, ts, in_period, sid if isinstance(sid, str) else None), record
        )

    # -- helpers the handlers share ---------------------------------------------------------

    def session(self, ctx: _Ctx) -> Session | None:
        """The record's session if it is selected and the record is in the period."""
        if ctx.sid is None or not ctx.in_period:
            return None
        s = self.sessions.get((ctx.origin, ctx.sid))
        if s is None or not s.selected:
            return None
        if not s.counted:
            s.counted = True
            self.totals["sessions"] += 1
            self.act(s).sessions += 1
            self.connections[s.connection or s.database or "(unknown)"] += 1
        return s

    def session_in_period(self, sid: str) -> Session | None:
        """``session`` for a record of ``sid`` of the current log that is in the period."""
        return self.session(_Ctx(len(self.origins) - 1, -1, "", True, sid))

    def act(self, s: Session) -> Activity:
        a = self.activity.get(s.identity.name)
        if a is None:
            a = self.activity[s.identity.name] = Activity()
        a.groups.update(s.identity.groups)
        return a

    def exception(self, ctx: _Ctx, s: Session, event: Event, fields: JSONObject) -> None:
        row: JSONObject = {
            "origin": ctx.origin,
            "seq": ctx.seq,
            "ts": ctx.ts,
            "identity": s.identity.name,
            "connection": s.connection,
            "event": event.value,
            **dict.fromkeys(EXCEPTION_FIELDS),
        }
        row.update(fields)
        self.exceptions.append(row)
        self.totals[f"event:{event.value}"] += 1


@dataclass(frozen=True)
class _Ctx:
    origin: int
    seq: int
    ts: str
    in_period: bool
    sid: str | None


Handler = Callable[[Aggregator, _Ctx, dict[str, object]], None]


def _on_start(agg: Aggregator, ctx: _Ctx, record: dict[str, object]) -> None:
    agg.origins[ctx.origin].boots += 1
    _gateway(agg, ctx, record).boots += 1


def _on_stop(agg: Aggregator, ctx: _Ctx, record: dict[str, object]) -> None:
    agg.origins[ctx.origin].stops += 1
    _gateway(agg, ctx, record)


def _gateway(agg: Aggregator, ctx: _Ctx, record: dict[str, object]) -> Gateway:
    gw = _obj(record.get("gw"))
    gw_id = _text(gw.get("id")) or "(unknown)"
    entry = agg.gateways.get((ctx.origin, gw_id))
    if entry is None:
        entry = agg.gateways[(ctx.origin, gw_id)] = Gateway(
            gw_id, ctx.origin, _text(gw.get("ver")), ctx.ts
        )
    entry.last = ctx.ts
    return entry


def _on_rotate(agg: Aggregator, ctx: _Ctx, record: dict[str, object]) -> None:
    row: JSONObject = {
        "seq": ctx.seq,
        "ts": ctx.ts,
        "old": _text(record.get("old")),
        "new": _text(record.get("new")),
    }
    agg.origins[ctx.origin].rotations.append(row)


def _on_policy(agg: Aggregator, ctx: _Ctx, record: dict[str, object]) -> None:
    revision = _text(record.get("revision")) or "(unnamed)"
    agg.revision_loads[revision] += 1
    if revision in agg.revisions:
        return
    agg.revisions[revision] = {
        "revision": revision,
        "git_commit": _text(record.get("git_commit")),
        "digest": _text(record.get("digest")),
        "loaded": ctx.ts,
        "seq": ctx.seq,
        "origin": ctx.origin,
        "gateway": _text(_obj(record.get("gw")).get("id")),
    }


def _on_open(agg: Aggregator, ctx: _Ctx, record: dict[str, object]) -> None:
    if ctx.sid is None:
        return
    who = Identity.of(record)
    conn_value = record.get("connection")
    conn = _obj(conn_value)
    name = _text(conn.get("name")) if conn else _text(conn_value)
    database = _text(conn.get("database"))
    selected = agg.window.selects(who, name, database)
    agg.sessions[(ctx.origin, ctx.sid)] = Session(ctx.origin, who, name, database, selected, ctx.ts)
    agg.session(ctx)


def _decisions(record: dict[str, object]) -> list[dict[str, object]]:
    listed = record.get("decisions")
    return [d for d in listed if isinstance(d, dict)] if isinstance(listed, list) else []


def _on_stmt(agg: Aggregator, ctx: _Ctx, record: dict[str, object]) -> None:
    s = agg.session(ctx)
    if s is None:
        return
    text = _text(record.get("text")) or ""
    verb = classify(text)
    a = count_statements(agg, s, verb, 1)
    allowed = _decide(agg, ctx, s, a, _decisions(record), text)
    count_write(agg, s, verb, allowed, 1)
    if is_privileged(agg.window, verb):
        agg.totals[f"privileged:{verb.cls.value}"] += 1
        row: JSONObject = {
            "origin": ctx.origin,
            "seq": ctx.seq,
            "ts": ctx.ts,
            "identity": s.identity.name,
            "connection": s.connection,
            "class": verb.cls.value,
            "verb": verb.word,
            "target": verb.target,
            "text": text[:TEXT_LIMIT],
            "allowed": allowed,
        }
        agg.privileged.append(((ctx.origin, ctx.seq), row))


def count_statements(agg: Aggregator, s: Session, verb: Verb, n: int) -> Activity:
    """``n`` statements of ``s`` with this verb (the counts every statement makes)."""
    a = agg.act(s)
    s.statements += n
    a.statements += n
    agg.totals["statements"] += n
    a.by_class[verb.cls.value] += n
    a.by_verb[verb.word or "(none)"] += n
    agg.by_class[verb.cls.value] += n
    return a


def count_write(agg: Aggregator, s: Session, verb: Verb, allowed: bool, n: int) -> None:
    if verb.cls is StatementClass.WRITE and verb.target is not None and allowed:
        agg.writes[(s.identity.name, verb.target.replace('"', ""))] += n


def is_privileged(window: Window, verb: Verb) -> bool:
    """A statement the privileged-activity section lists (one row each)."""
    protected = verb.cls is StatementClass.WRITE and window.is_protected(verb.target)
    return verb.cls in {StatementClass.DDL, StatementClass.ROLE} or protected


def _decide(
    agg: Aggregator,
    ctx: _Ctx,
    s: Session,
    a: Activity,
    decisions: list[dict[str, object]],
    text: str,
) -> bool:
    """Count a statement's decisions; whether it ran (no decision refused it)."""
    allowed, masked, events = True, False, []
    for d in decisions:
        word = _text(d.get("outcome"))
        o = outcome(word, d.get("sqlstate"))
        allowed = allowed and o.allowed
        masks = _obj(d.get("masks"))
        masked = masked or o.masked or bool(masks)
        for column, method in sorted(masks.items()):
            agg.masks[(column, str(method))] += 1
        revision = _text(d.get("revision"))
        if revision is not None:
            agg.revision_use[revision] += 1
        if o.event is not None:
            events.append((o.event, d, word))
    if not allowed:
        agg.totals["denials"] += 1
        a.denials += 1
    if masked:
        agg.totals["masked_reads"] += 1
        a.masked += 1
    for event, d, word in events:
        agg.exception(
            ctx,
            s,
            event,
            {
                "outcome": word,
                "rules": _strings(d.get("rules")),
                "reasons": _strings(d.get("reasons")),
                "sqlstate": _text(d.get("sqlstate")),
                "revision": _text(d.get("revision")),
                "text": text[:TEXT_LIMIT],
            },
        )
    return allowed


def _on_decision(agg: Aggregator, ctx: _Ctx, record: dict[str, object]) -> None:
    # Readers accept separate decision records (recording-format.md, "stmt").
    s = agg.session(ctx)
    if s is not None:
        _decide(agg, ctx, s, agg.act(s), [record], _text(record.get("text")) or "")


def _on_result(agg: Aggregator, ctx: _Ctx, record: dict[str, object]) -> None:
    s = agg.session(ctx)
    if s is None:
        return
    if record.get("error") is not None:
        agg.act(s).errors += 1
        agg.totals["errors"] += 1
    for tag, count in sorted(_obj(record.get("masked_cells")).items()):
        if isinstance(count, int):
            agg.totals[f"masked_cells:{tag}"] += count


def _on_close(agg: Aggregator, ctx: _Ctx, record: dict[str, object]) -> None:
    if ctx.sid is None:
        return
    s = agg.sessions.get((ctx.origin, ctx.sid))
    if s is not None:
        s.close_seq = ctx.seq


def _event_handler(event: Event) -> Handler:
    def handle(agg: Aggregator, ctx: _Ctx, record: dict[str, object]) -> None:
        s = agg.session(ctx)
        if s is None:
            return
        approver = _obj(record.get("approver"))
        who = _text(approver.get("sub")) or _text(record.get("approver"))
        ref = record.get("ref_seq")
        if event is Event.APPROVAL:
            agg.act(s).approvals += 1
            agg.totals["approvals"] += 1
            if isinstance(ref, int) and who is not None:
                agg.approved_by[(ctx.origin, ref)] = who
        agg.exception(
            ctx,
            s,
            event,
            {
                "outcome": _text(record.get("type")),
                "rules": _strings(record.get("rules")),
                "reasons": _strings(record.get("reasons")) or _strings([record.get("reason")]),
                "approver": who,
                "ref_seq": ref if isinstance(ref, int) else None,
                "ticket": _text(record.get("ticket")),
                "expires": _text(record.get("expires")),
            },
        )

    return handle


HANDLERS: dict[str, Handler] = {
    "gateway.start": _on_start,
    "gateway.stop": _on_stop,
    "key.rotate": _on_rotate,
    "policy.load": _on_policy,
    "session.open": _on_open,
    "stmt": _on_stmt,
    "decision": _on_decision,
    "result": _on_result,
    "session.close": _on_close,
}
