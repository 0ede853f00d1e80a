"""Sessions in a recording: an index to list and filter them, and the replay of one.

Pure code over parsed ``records.Record``s (the CLI reads the directory). It tolerates
missing optional fields and record types it does not know; it checks nothing but the
session's own chain (``regogate verify`` checks the log).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase

from regogate.recording.format.jcs import JSONValue
from regogate.recording.format.records import Record, format_ts

JSONObject = Mapping[str, JSONValue]
_SPAN = re.compile(r"([0-9]+)([smhdw])")
_SPAN_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TimeError(ValueError):
    """A time the user gave that is neither RFC 3339 / ISO 8601 nor a span like 2h."""


def parse_time(text: str, now_micros: int) -> str:
    """A user's time as a record ``ts`` (so times compare as strings).

    ISO 8601 (``2026-01-02``, ``2026-01-02T03:04:05+02:00``; no zone means UTC),
    ``now``, or a span back from now: ``90s``, ``15m``, ``2h``, ``7d``, ``1w``.
    """
    value = text.strip()
    if value == "now":
        return format_ts(now_micros)
    span = _SPAN.fullmatch(value)
    if span:
        seconds = int(span.group(1)) * _SPAN_SECONDS[span.group(2)]
        return format_ts(max(0, now_micros - seconds * 1_000_000))
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise TimeError(
            f"bad time {text!r}: want ISO 8601 (2026-01-02T03:04:05Z), 'now' or a span"
            " back from now (30m, 2h, 7d)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return format_ts((when - _EPOCH) // timedelta(microseconds=1))


def ts_micros(ts: str) -> int:
    """Microseconds since the epoch of a record ``ts`` (0 if malformed: replay goes on)."""
    try:
        return (datetime.fromisoformat(ts) - _EPOCH) // timedelta(microseconds=1)
    except (ValueError, TypeError):
        return 0


def obj(value: JSONValue | None) -> JSONObject:
    """``value`` if it is a JSON object, else {} (fields are optional everywhere)."""
    return value if isinstance(value, Mapping) else {}


def text(value: JSONValue | None) -> str | None:
    """``value`` as a string if it is a scalar, else None."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def strings(value: JSONValue | None) -> tuple[str, ...]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return tuple(s for s in (text(v) for v in value) if s is not None)
    return ()


@dataclass(frozen=True)
class Opening:
    """Who, from where, to what: the fields of session.open a listing shows."""

    sub: str | None = None
    email: str | None = None
    groups: tuple[str, ...] = ()
    issuer: str | None = None
    auth: str | None = None
    connection: str | None = None
    database: str | None = None
    client: str | None = None  # addr:port
    application: str | None = None
    tls: str | None = None  # "TLSv1.3 TLS_AES_256_GCM_SHA384"

    @classmethod
    def of(cls, body: JSONObject) -> Opening:
        # "identity" is what the gateway writes; "subject" is the format draft's name.
        who = obj(body.get("identity")) or obj(body.get("subject"))
        client = obj(body.get("client"))
        tls = obj(client.get("tls"))
        conn_value = body.get("connection")
        conn = obj(conn_value)
        name = text(conn_value) if not conn else text(conn.get("name"))
        addr, port = text(client.get("addr")), text(client.get("port"))
        tls_text = " ".join(x for x in (text(tls.get("version")), text(tls.get("cipher"))) if x)
        return cls(
            sub=text(who.get("sub")),
            email=text(who.get("email")),
            groups=strings(who.get("groups")),
            issuer=text(who.get("issuer")),
            auth=text(who.get("auth")),
            connection=name,
            database=text(conn.get("database")) or text(body.get("db")),
            client=f"{addr}:{port}" if addr and port else addr,
            application=text(client.get("application_name")),
            tls=tls_text or None,
        )


@dataclass
class SessionSummary:
    """One session as a listing shows it; ``status`` is closed, open or unclosed."""

    sid: str
    boot: str
    opened: str  # ts of session.open (or of its first record if that is missing)
    last: str  # ts of its latest record
    first_seq: int
    last_seq: int
    opening: Opening = field(default_factory=Opening)
    has_open: bool = True
    closed: str | None = None
    close_reason: str | None = None
    records: int = 0
    statements: int = 0
    denied: int = 0
    masked: int = 0
    approvals: int = 0
    errors: int = 0
    status: str = "open"

    @property
    def duration_us(self) -> int:
        return ts_micros(self.last) - ts_micros(self.opened)

    def to_json(self) -> dict[str, JSONValue]:
        o = self.opening
        return {
            "sid": self.sid,
            "status": self.status,
            "opened": self.opened,
            "closed": self.closed,
            "last": self.last,
            "duration_ms": self.duration_us // 1000,
            "close_reason": self.close_reason,
            "identity": {
                "sub": o.sub,
                "email": o.email,
                "groups": list(o.groups),
                "issuer": o.issuer,
                "auth": o.auth,
            },
            "client": {"addr": o.client, "application_name": o.application, "tls": o.tls},
            "connection": {"name": o.connection, "database": o.database},
            "counts": {
                "records": self.records,
                "statements": self.statements,
                "denied": self.denied,
                "masked": self.masked,
                "approvals": self.approvals,
                "errors": self.errors,
            },
            "seq": [self.first_seq, self.last_seq],
            "boot": self.boot,
        }


def _count(summary: SessionSummary, record: Record) -> None:
    summary.records += 1
    summary.last, summary.last_seq = record.ts, record.seq
    body = record.body
    match record.type:
        case "session.open":
            summary.opening = Opening.of(body)
        case "stmt":
            summary.statements += 1
            decisions = body.get("decisions")
            listed = (
                [d for d in decisions if isinstance(d, dict)] if isinstance(decisions, list) else []
            )
            summary.denied += any(refused(d) for d in listed)
            summary.masked += sum(text(d.get("outcome")) == "allow_masked" for d in listed)
        case "decision":
            summary.denied += refused(body)
            summary.masked += text(body.get("outcome")) == "allow_masked"
        case "approval":
            summary.approvals += 1
        case "error":
            summary.errors += 1
        case "result":
            summary.errors += body.get("error") is not None
        case "session.close":
            summary.closed, summary.close_reason = record.ts, text(body.get("reason"))
            summary.status = "closed"
        case _:
            pass  # other types are shown by replay, not counted


ALLOWED = frozenset({"allow", "allow_masked"})


def refused(decision: JSONObject) -> bool:
    """A decision that refused its statement, whatever its outcome word: anything but
    ``allow`` / ``allow_masked`` (``deny``, ``needs_approval``, a word a later policy
    library uses), or a gate refusal (it carries the SQLSTATE the client got)."""
    return text(decision.get("outcome")) not in ALLOWED or decision.get("sqlstate") is not None


class SessionIndex:
    """Feed every record in log order with ``add``; ``sessions()`` in order of opening."""

    def __init__(self) -> None:
        self._sessions: dict[str, SessionSummary] = {}
        self._ended: set[str] = set()  # boots that stopped or were followed by another
        self._boot: str | None = None

    def add(self, record: Record) -> None:
        boot = record.gw.get("boot", "")
        if boot != self._boot:
            if self._boot is not None:
                self._ended.add(self._boot)
            self._boot = boot
        if record.sid is None:
            if record.type == "gateway.stop":
                self._ended.add(boot)
            return
        summary = self._sessions.get(record.sid)
        if summary is None:
            summary = SessionSummary(record.sid, boot, record.ts, record.ts, record.seq, record.seq)
            summary.has_open = record.type == "session.open"
            self._sessions[record.sid] = summary
        _count(summary, record)

    def sessions(self) -> list[SessionSummary]:
        out = list(self._sessions.values())
        for s in out:
            if s.status != "closed" and s.boot in self._ended:
                s.status = "unclosed"  # its gateway ended without closing it: a crash
        return out


def index_sessions(records: Iterable[Record]) -> list[SessionSummary]:
    index = SessionIndex()
    for record in records:
        index.add(record)
    return index.sessions()


@dataclass(frozen=True)
class SessionFilter:
    """Globs on identity (sub, email or a group) and connection (name or database); a window.

    A session matches the window if it was active in it: opened before ``until`` and
    its last record at or after ``since`` (both record ``ts`` strings).
    """

    identity: str | None = None
    connection: str | None = None
    since: str | None = None
    until: str | None = None

    def matches(self, s: SessionSummary) -> bool:
        o = s.opening
        if self.identity is not None and not _any_glob(self.identity, (o.sub, o.email, *o.groups)):
            return False
        if self.connection is not None and not _any_glob(
            self.connection, (o.connection, o.database)
        ):
            return False
        if self.until is not None and s.opened > self.until:
            return False
        return self.since is None or s.last >= self.since

    def in_window(self, ts: str) -> bool:
        return (self.since is None or ts >= self.since) and (self.until is None or ts <= self.until)


def _any_glob(pattern: str, values: Iterable[str | None]) -> bool:
    return any(v is not None and fnmatchcase(v, pattern) for v in values)


@dataclass(frozen=True)
class ReplayEvent:
    """One record of the session; ``offset_us`` from its session.open."""

    seq: int
    n: int | None
    ts: str
    offset_us: int
    type: str
    body: JSONObject

    def to_json(self) -> dict[str, JSONValue]:
        envelope: dict[str, JSONValue] = {
            "seq": self.seq,
            "n": self.n,
            "ts": self.ts,
            "offset_ms": round(self.offset_us / 1000, 3),
            "type": self.type,
        }
        return {**self.body, **envelope}


@dataclass(frozen=True)
class Replay:
    """A session as it happened; ``chain_problem`` is None when its hash chain holds."""

    summary: SessionSummary
    opening: JSONObject  # the session.open fields as recorded
    events: list[ReplayEvent]
    chain_problem: str | None

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "session": self.summary.to_json(),
            "open": dict(self.opening),
            "chain": {"intact": self.chain_problem is None, "problem": self.chain_problem},
            "events": [e.to_json() for e in self.events],
        }


def build_replay(records: Iterable[Record], sid: str) -> Replay | None:
    """The replay of session ``sid`` from records in log order (others are skipped)."""
    mine = [r for r in records if r.sid == sid]
    if not mine:
        return None
    index = SessionIndex()
    for r in mine:
        index.add(r)
    summary = index.sessions()[0]
    summary.status = "closed" if summary.closed else "open"  # ended boots are not known here
    start = ts_micros(mine[0].ts)
    events = [ReplayEvent(r.seq, r.n, r.ts, ts_micros(r.ts) - start, r.type, r.body) for r in mine]
    opening = mine[0].body if mine[0].type == "session.open" else {}
    return Replay(summary, opening, events, chain_problem(mine))


def chain_problem(chain: Sequence[Record]) -> str | None:
    """The first break in a session's hash chain (n and prev), or None."""
    prev: Record | None = None
    for i, r in enumerate(chain):
        if r.n != i:
            return f"record seq {r.seq} has n {r.n}, expected {i}: a record is missing or moved"
        want = None if prev is None else prev.leaf.hex()
        if r.prev != want:
            before = "none (session.open)" if prev is None else f"seq {prev.seq}"
            return f"record seq {r.seq}: prev does not match the previous record ({before})"
        prev = r
    return None


def match_sessions(sids: Iterable[str], wanted: str) -> list[str]:
    """Session ids equal to ``wanted``, else those starting with it (a unique prefix)."""
    found = sorted(set(sids))
    if wanted in found:
        return [wanted]
    return [s for s in found if s.startswith(wanted)]
