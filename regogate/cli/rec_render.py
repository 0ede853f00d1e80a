"""Terminal text for `regogate sessions list` and `regogate replay`.

Known record types get a one-line summary of their known fields; any other field, and
any record type not known here, is shown as ``key=value`` so nothing recorded is hidden.
Every recorded string is shown through ``display.escape``: no control character, bidi
override or newline a client sent reaches the terminal, and long fields are cut visibly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping

from regogate.recording.format.jcs import JSONValue
from regogate.recording.format.records import format_ts
from regogate.recording.read.display import FIELD_LIMIT, TEXT_LIMIT, escape
from regogate.recording.read.sessions import (
    JSONObject,
    Replay,
    ReplayEvent,
    SessionSummary,
    obj,
    strings,
    text,
)

_BODY_COLUMN = 26  # where a replay line's summary starts: offset (10), 2, type (13), 1


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def duration(us: int) -> str:
    """12.345s, 3m02.5s, 1h02m03s."""
    seconds = max(us, 0) / 1_000_000
    if seconds < 60:
        return f"{seconds:.3f}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}m{secs:04.1f}s"
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}h{minutes:02d}m{int(secs):02d}s"


def when(ts: str) -> str:
    """A record ts shown to the second: 2026-01-02 03:04:05Z."""
    return escape(f"{ts[:10]} {ts[11:19]}Z" if len(ts) >= 19 else ts)


def shown(value: str | None, limit: int = FIELD_LIMIT) -> str:
    """A recorded string as printed: escaped and capped (``display.escape``)."""
    return "" if value is None else escape(value, limit)


def compact(value: JSONValue | None, limit: int = FIELD_LIMIT) -> str:
    """A recorded value as printed: a scalar as text, anything else as compact JSON."""
    scalar = text(value)
    if scalar is None:
        scalar = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return escape(scalar, limit)


def fields(body: JSONObject, skip: Iterable[str] = ()) -> str:
    """``key=value`` for every field not in ``skip``."""
    left = set(skip)
    return "  ".join(f"{shown(k)}={compact(v)}" for k, v in body.items() if k not in left)


def sessions_table(sessions: list[SessionSummary]) -> list[str]:
    header = ["SESSION", "OPENED (UTC)", "DURATION", "IDENTITY", "CONNECTION", "CLIENT"]
    header += ["STMTS", "DENIED", "STATUS"]
    rows = [header]
    for s in sessions:
        o = s.opening
        conn = shown(o.connection) or "-"
        if o.database and o.database != o.connection:
            conn += f"/{shown(o.database)}"
        status = s.status + (f" ({shown(s.close_reason)})" if s.close_reason else "")
        rows.append(
            [
                shown(s.sid),
                when(s.opened),
                duration(s.duration_us),
                shown(o.sub) or "-",
                conn,
                shown(o.client) or "-",
                str(s.statements),
                str(s.denied),
                status,
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _number(value: JSONValue | None) -> int | float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def _stmt(body: JSONObject) -> tuple[str, set[str]]:
    sql = text(body.get("text"))
    if sql is None:
        return "", set()
    tags = [shown(x) for x in (text(body.get("protocol")),) if x]
    fp = text(body.get("fingerprint"))
    if fp:
        tags.append(f"fp {shown(fp[:12])}")
    literals = _number(body.get("literals"))
    if literals:
        tags.append(plural(int(literals), "literal"))
    line = shown(sql, TEXT_LIMIT)  # one line: a newline in it is shown as \n
    line += f"   [{', '.join(tags)}]" if tags else ""
    decisions = body.get("decisions")
    if isinstance(decisions, list):  # regogate writes a message's decisions in its stmt
        many = len(decisions) > 1
        for i, d in enumerate(decisions):
            if isinstance(d, dict):
                summary, _ = _decision({**d, "index": i} if many else d)
                line += "\n" + " " * _BODY_COLUMN + "→ " + summary
    known = {"text", "protocol", "fingerprint", "literals", "literals_commitment", "decisions"}
    return line, known | {"prepared"}


def _decision(body: JSONObject) -> tuple[str, set[str]]:
    parts = [shown((text(body.get("outcome")) or "?").upper())]
    extra = []
    index = _number(body.get("index"))
    if index:  # the statement's place in a multi-statement message, from 0
        extra.append(f"statement {int(index) + 1}")
    if body.get("revision") is not None:
        extra.append(f"policy rev {compact(body.get('revision'))}")
    if body.get("cached") is True:
        extra.append("cached")
    if body.get("sqlstate") is not None:
        extra.append(f"sqlstate {compact(body.get('sqlstate'))}")
    if extra:
        parts.append(f"({', '.join(extra)})")
    if body.get("approval") is True:
        parts.append("approval required")
    reasons = strings(body.get("reasons"))
    if reasons:
        parts.append("reasons: " + "; ".join(shown(r) for r in reasons))
    rules = strings(body.get("rules"))
    if rules:
        parts.append("rules: " + ", ".join(shown(r) for r in rules))
    masks = obj(body.get("masks"))
    if masks:
        parts.append("masks: " + ", ".join(f"{shown(k)}={compact(v)}" for k, v in masks.items()))
    known = {"outcome", "index", "revision", "cached", "sqlstate", "approval", "reasons", "rules"}
    return "  ".join(parts), known | {"masks", "input_sha256"}


def _result(body: JSONObject) -> tuple[str, set[str]]:
    """A request cycle's outcome: command tag(s) or error SQLSTATE, rows, time, digest."""
    error = body.get("error")
    tags = strings(body.get("tags")) or tuple(t for t in (text(body.get("tag")),) if t)
    parts = [", ".join(shown(t) for t in tags)]
    if error is not None:
        parts.append(f"error {compact(error)}")
    known = {"tag", "tags", "elapsed_ms", "elapsed_us", "digest", "error", "bytes", "suspended"}
    rows = _number(body.get("rows"))
    if rows is not None:
        count = plural(int(rows), "row")
        parts.append(f"more than {count}" if body.get("rows_capped") is True else count)
        known |= {"rows", "rows_capped"}
    if body.get("suspended") is True:
        parts.append("suspended (row limit)")
    elapsed = _number(body.get("elapsed_ms"))
    micros = _number(body.get("elapsed_us"))
    if micros is not None:
        elapsed = micros / 1000
    if elapsed is not None:
        parts.append(f"in {elapsed:g} ms")
    sent = _number(body.get("bytes"))
    if sent is not None:
        parts.append(f"{plural(int(sent), 'byte')} sent")
    digest = text(body.get("digest"))
    if digest:
        parts.append(f"digest {shown(digest[:12])}…")
    return "  ".join(p for p in parts if p), known


def _error(body: JSONObject) -> tuple[str, set[str]]:
    code, message = text(body.get("sqlstate")), text(body.get("message"))
    return " ".join(shown(x) for x in (code, message) if x), {"sqlstate", "message"}


def _close(body: JSONObject) -> tuple[str, set[str]]:
    counts = obj(body.get("counts"))
    line = shown(text(body.get("reason"))) or "?"
    if counts:
        line += "  (" + ", ".join(f"{shown(k)} {compact(v)}" for k, v in counts.items()) + ")"
    return line, {"reason", "counts", "chain_head"}


def _approval(body: JSONObject) -> tuple[str, set[str]]:
    """An approval record (recording-format.md, "Approval records"): the request, its
    status, who decided it and when, and the statement as the approvers saw it."""
    parts = [f"request {shown(text(body.get('request')))}", shown(text(body.get("status")))]
    votes = body.get("votes")
    for vote in votes if isinstance(votes, list) else []:
        v = obj(vote)
        at = _number(v.get("at"))
        word = f"{shown(text(v.get('verdict')))} by {shown(text(v.get('approver')))}"
        if at is not None:
            word += f" at {when_unix(float(at))}"
        comment = text(v.get("comment"))
        parts.append(word + (f" ({shown(comment)})" if comment else ""))
    note = text(body.get("note"))
    if note:
        parts.append(f"note: {shown(note)}")
    statement = text(body.get("statement"))
    if statement:
        parts.append(f"statement: {shown(statement)}")
    reason = text(body.get("reason"))
    if reason:
        parts.append(f"reason: {shown(reason)}")
    known = {"request", "status", "votes", "note", "statement", "reason", "created_at"}
    known |= {"decided_at", "expires_at"}
    return "  ".join(p for p in parts if p), known


def when_unix(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


_SUMMARIES: Mapping[str, Callable[[JSONObject], tuple[str, set[str]]]] = {
    "stmt": _stmt,
    "decision": _decision,
    "result": _result,
    "error": _error,
    "session.close": _close,
    "approval": _approval,
    "approval.request": _approval,
    "approval.denied": _approval,
    "approval.expired": _approval,
    "approval.withdrawn": _approval,
}


def event_line(event: ReplayEvent, masked: list[str]) -> str:
    """``+offset  type  summary  other=fields``; ``masked`` names the columns masked."""
    summarize = _SUMMARIES.get(event.type)
    head, known = summarize(event.body) if summarize else ("", set())
    if event.type == "result" and masked:
        head += f"  (masked: {', '.join(shown(m) for m in masked)})"
    rest = fields(event.body, known)
    line = f"{'+' + duration(event.offset_us):>10}  {shown(event.type):<13} {head}"
    if rest:
        line += ("  " if head else "") + rest
    return line.rstrip()


def _expiry(value: JSONValue | None) -> str:
    """An expiry as recorded: epoch seconds (shown as UTC) or a string as it is."""
    seconds = _number(value)
    if seconds is None:
        return compact(value)
    return format_ts(int(seconds) * 1_000_000)[:19] + "Z"


def _opening(replay: Replay) -> list[str]:
    s, body = replay.summary, replay.opening
    who = obj(body.get("identity")) or obj(body.get("subject"))
    o = s.opening
    identity = [shown(o.sub) or "(no subject recorded)"]
    if o.email:
        identity.append(f"<{shown(o.email)}>")
    if o.groups:
        identity.append("groups " + ", ".join(shown(g) for g in o.groups))
    for key in ("issuer", "auth"):
        if who.get(key) is not None:
            identity.append(f"{key} {compact(who.get(key))}")
    if who.get("expires_at") is not None:
        identity.append(f"expires {_expiry(who.get('expires_at'))}")
    token = text(who.get("token_sha256"))
    if token:
        identity.append(f"token sha256 {shown(token[:12])}…")
    client = [shown(o.client) or "(no client recorded)"]
    user = text(obj(body.get("client")).get("user"))
    if user:
        client.append(f"user {shown(user)}")
    if o.application:
        client.append(f"application {shown(o.application)}")
    client.append(f"TLS {shown(o.tls)}" if o.tls else "no TLS")
    conn = [shown(o.connection) or "(no connection recorded)"]
    if o.database:
        conn.append(f"database {shown(o.database)}")
    known = {"identity", "subject", "client", "connection", "db"}
    other = fields(body, known)
    return [
        f"identity    {'  '.join(identity)}",
        f"client      {'  '.join(client)}",
        f"connection  {'  '.join(conn)}",
        *([f"other       {other}"] if other else []),
    ]


def replay_lines(replay: Replay, verified: str) -> list[str]:
    """The replay of a session; ``verified`` is the outcome of verifying its records."""
    s = replay.summary
    status = s.status + (f" ({shown(s.close_reason)})" if s.close_reason else "")
    counts = ", ".join(
        [
            plural(s.statements, "statement"),
            f"{s.denied} denied",
            f"{s.masked} masked",
            plural(s.approvals, "approval"),
            plural(s.errors, "error"),
        ]
    )
    out = [f"session     {shown(s.sid)}  {status}", *_opening(replay)]
    out += [
        f"opened      {shown(s.opened)}  (gateway boot {shown(s.boot)})",
        f"duration    {duration(s.duration_us)}  {counts}",
        f"records     {s.records} (seq {s.first_seq}..{s.last_seq})",
        f"verified    {verified}",
        "",
    ]
    masked: list[str] = []
    for event in replay.events:
        if event.type == "session.open":
            out.append(f"{'+' + duration(event.offset_us):>10}  session.open")
            continue
        decided = [event.body] if event.type == "decision" else []
        if event.type == "stmt" and isinstance(event.body.get("decisions"), list):
            decided = [d for d in event.body["decisions"] if isinstance(d, dict)]  # type: ignore[union-attr]
        if decided:
            masked = [
                str(k)
                for d in decided
                if text(d.get("outcome")) == "allow_masked"
                for k in obj(d.get("masks"))
            ]
        out.append(event_line(event, masked))
    return out
