"""Run a script through the gateway and compare what PostgreSQL executed (its log) with
what the gate decided (the recording): every statement PostgreSQL ran must be one the
gate allowed, in order, and every relation in its plan one the gate decided on.

A decision whose policy input said that names could not be resolved for sure (the
search_path unknown, an unknown relation, an opaque statement) is not a mismatch: the
gate told the policy it could not know (the default library denies those to every
identity with masked reads). Such decisions are counted.
"""

from __future__ import annotations

import re
import socket
import struct
import time
from dataclasses import dataclass, field

from regogate.policy.sqltext import normalize
from regogate.proxy.hooks import SESSION_SETTINGS_SQL
from regogate.proxy.recording_sink import SYSTEM_IDENTIFIER_SQL
from regogate.wire.backend import ErrorResponse
from regogate.wire.framing import Frame, MessageReader
from regogate.wire.frontend import PasswordMessage, Terminate
from tests.differential.pglog import Executed, ServerLog, executed
from tests.differential.recordings import Decided, Recording, StmtRecord
from tests.differential.sequences import Step, encode
from tests.rawpg import startup

_PREPARED_NAMES = re.compile(r"\bPREPARE\s+(\w+)", re.I)
PLANNED_VERBS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE"})
SYNC_POINTS = frozenset({"Q", "S"})


def signature(problem: str) -> str:
    """A problem without its particulars (markers, texts, relations): the failure's kind,
    kept while a failing script is shrunk."""
    return re.sub(r"m\d+|'[^']*'|\"[^\"]*\"|\d+", "_", problem)


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    uncertain: int = 0
    plans: int = 0
    statements: int = 0
    fatal: str | None = None


def closing_portals(msgs: tuple[tuple[str, ...], ...]) -> list[tuple[str, ...]]:
    """The step's messages, each portal closed right after its Execute (or its Bind when
    the step does not execute it), so that PostgreSQL logs its plan right away
    (tests/differential/pglog.py)."""
    out: list[tuple[str, ...]] = []
    for i, m in enumerate(msgs):
        out.append(m)
        if m[0] == "E" or (m[0] == "B" and not any(n[:2] == ("E", m[1]) for n in msgs[i:])):
            out.append(("C", "P", m[1]))
    return out


class Session:
    """A raw protocol session through the gateway (exact bytes, pipelines in one write)."""

    def __init__(self, port: int, user: str, token: str, dbname: str, timeout: float):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.reader = MessageReader(max_size=1 << 30)
        self.sock.sendall(startup({"user": user, "database": dbname}))
        self.frame()  # AuthenticationCleartextPassword
        self.sock.sendall(PasswordMessage(token).encode())
        self.pid = 0
        self.fatal: str | None = None
        self.received: list[Frame] = []
        while (f := self.frame()).tag != b"Z":
            if f.tag == b"K":
                self.pid = struct.unpack("!I", f.body[:4])[0]
            if f.tag == b"E":
                raise ConnectionError(ErrorResponse.decode(f.body).message)
        self.waiting = 0  # ReadyForQuery messages still to come
        self.unsynced = False  # extended-protocol messages sent since the last Sync

    def frame(self) -> Frame:
        while (frame := self.reader.next_frame()) is None:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.reader.feed(data)
        return frame

    def send(self, steps: list[Step]) -> None:
        """Writes the steps' messages at once. Like libpq, a Query after extended-protocol
        messages goes after a Sync (PostgreSQL skips a Query while it discards messages
        after an error, up to the next Sync)."""
        msgs: list[tuple[str, ...]] = []
        for m in (m for s in steps for m in closing_portals(s.msgs)):
            if m[0] == "Q" and self.unsynced:
                msgs.append(("S",))
            msgs.append(m)
            self.unsynced = m[0] not in SYNC_POINTS
        self.sock.sendall(b"".join(encode(m) for m in msgs))
        self.waiting += sum(1 for m in msgs if m[0] in SYNC_POINTS)

    def drain(self) -> None:
        while self.waiting > 0 and self.fatal is None:
            f = self.frame()
            self.received.append(f)
            if f.tag == b"Z":
                self.waiting -= 1
            elif f.tag == b"E":
                err = ErrorResponse.decode(f.body)
                if err.severity == "FATAL":
                    self.fatal = f"{err.sqlstate} {err.message}"

    def close(self) -> None:
        try:
            if self.fatal is None:
                self.sock.sendall(Terminate().encode())
        except OSError:
            pass
        self.sock.close()


def run(
    port: int, token: str, dbname: str, script: list[Step], timeout: float = 5.0
) -> tuple[int, str | None]:
    """Play ``script``; returns the upstream backend's pid and a FATAL error if one ended it."""
    s = Session(port, "agent", token, dbname, timeout)
    try:
        batch: list[Step] = []
        for step in script:
            batch.append(step)
            if step.pipelined:
                continue
            s.send(batch)
            batch = []
            s.drain()
            if s.fatal:
                return s.pid, s.fatal
        s.send([*batch, Step((("S",),))])
        s.drain()
        return s.pid, s.fatal
    except TimeoutError:
        return s.pid, f"no answer within {timeout:g} s (the gateway or PostgreSQL hung)"
    except (ConnectionError, OSError) as exc:
        return s.pid, s.fatal or f"connection lost: {exc}"
    finally:
        s.close()


def _decisions_for(gate: list[StmtRecord], idx: int) -> tuple[Decided, ...]:
    """A re-run of a prepared statement is recorded without decisions when nothing
    changed since its Parse: the decisions are those of its Parse."""
    rec = gate[idx]
    if rec.decisions:
        return rec.decisions
    for earlier in reversed(gate[:idx]):
        if earlier.text == rec.text and earlier.decisions:
            return earlier.decisions
    return ()


def _matches(rec: StmtRecord, ev: Executed, want: str) -> bool:
    """Whether ``rec`` is the gate's record of a protocol Execute (or started plan) of
    ``ev``: its Parse, a later Bind, or the Query that SQL-PREPAREd it (a prepared
    statement keeps the whole query string of its PREPARE as its text)."""
    if rec.protocol == "bind" and rec.text.startswith("EXECUTE ") and rec.prepared:
        # A Bind of an SQL-PREPAREd statement, decided again as EXECUTE of it.
        if ev.kind == "execute":
            return ev.name == rec.prepared
        return rec.prepared in _PREPARED_NAMES.findall(ev.text)
    if rec.text != want:
        return False
    if rec.protocol == "bind":
        return (rec.prepared or "") == ev.name or ev.kind == "started"
    return rec.protocol == "extended" or (
        rec.protocol == "simple" and any(d.verb == "PREPARE" for d in rec.decisions)
    )


def compare(pg: list[Executed], gate: list[StmtRecord]) -> Report:
    """Pair each statement PostgreSQL ran with the gate's record of it: Queries one to
    one, in order (a denied Query ran as the gate's DO block); a protocol Execute (or a
    plan a Bind started) with the latest decision on its statement recorded before the
    next Query. Then compare relations."""
    report = Report()
    # the gateway's own reads before the relay: the upstream's system identifier (for
    # session.open), the session's settings
    while pg and pg[0].text in (SYSTEM_IDENTIFIER_SQL, SESSION_SETTINGS_SQL):
        pg = pg[1:]
    simple = [i for i, r in enumerate(gate) if r.protocol == "simple"]
    next_simple = 0
    for ev in pg:
        report.statements += 1
        if ev.kind == "simple":
            if next_simple >= len(simple):
                report.problems.append(
                    f"PostgreSQL ran Query {ev.text!r}, which the gate did not decide"
                )
                continue
            idx = simple[next_simple]
            next_simple += 1
            rec = gate[idx]
            if ev.text.startswith("DO $rg"):  # the DO block a denied Query became
                if not rec.denied:
                    report.problems.append(
                        f"a gate's denial ran where the gate allowed {rec.text!r}"
                    )
                continue
            if rec.text != normalize(ev.text):
                report.problems.append(
                    f"PostgreSQL ran Query {ev.text!r} where the gate decided {rec.text!r}"
                )
                continue
        else:
            # The latest decision on this statement before the next Query PostgreSQL
            # ran: its Parse, or the Bind that decided it again (search_path, catalog or
            # policy changed since).
            want = normalize(ev.text)
            bound = simple[next_simple] if next_simple < len(simple) else len(gate)
            found = [i for i, r in enumerate(gate[:bound]) if _matches(r, ev, want)]
            decided = [i for i in found if gate[i].decisions]
            if not found:
                report.problems.append(
                    f"PostgreSQL ran {ev.kind} {ev.text!r}, which the gate did not decide"
                )
                continue
            idx = (decided or found)[-1]
            rec = gate[idx]
        if rec.denied:
            report.problems.append(f"PostgreSQL ran {ev.text!r}, which the gate denied")
            continue
        _relations(report, ev, _decisions_for(gate, idx))
    return report


def _planned(d: Decided) -> bool:
    """Whether PostgreSQL plans the statement: a query, or EXECUTE of one (whose verbs
    include the prepared statement's), or an EXECUTE the gate could not see into."""
    if d.verb == "EXECUTE":
        return bool(d.verbs & PLANNED_VERBS) or d.uncertain
    return d.verb in PLANNED_VERBS


def _relations(report: Report, ev: Executed, decisions: tuple[Decided, ...]) -> None:
    planned = [d for d in decisions if _planned(d)]
    prepares = [d for d in decisions if d.verb == "PREPARE"]
    if ev.kind != "simple" and prepares:
        # A statement SQL-PREPAREd and run by a protocol Bind: the PREPAREs' decisions.
        union = frozenset().union(*(d.tables for d in prepares))
        uncertain = any(d.uncertain for d in prepares)
        planned = [Decided("allow", "PREPARE", frozenset(), union, uncertain, ())]
        planned *= len(ev.plans)
    if len(ev.plans) > len(planned):
        report.problems.append(
            f"PostgreSQL ran {len(ev.plans)} plans for {ev.text!r}; the gate decided "
            f"{len(planned)} planned statements"
        )
    for plan, d in zip(ev.plans, planned, strict=False):
        report.plans += 1
        missing = plan.relations - d.tables
        if not missing:
            continue
        if d.uncertain:
            report.uncertain += 1
            continue
        report.problems.append(
            f"{plan.marker or ev.text!r}: PostgreSQL used {sorted(missing)}; the gate "
            f"decided {d.verb} on {sorted(d.tables)}"
        )


class Differential:
    """The gateway, its recording and PostgreSQL's log, for running scripts."""

    def __init__(self, port: int, token: str, dbname: str, log: ServerLog, rec: Recording):
        self.port = port
        self.token = token
        self.dbname = dbname
        self.log = log
        self.rec = rec
        self.entries: list[tuple[int, str, str]] = []
        self.last: tuple[list[Executed], list[StmtRecord]] = ([], [])

    def check(self, script: list[Step]) -> Report:
        pid, fatal = run(self.port, self.token, self.dbname, script)
        sid = None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            self.rec.poll()
            sid = self.rec.session(pid)
            if sid is not None and self.rec.closed(sid):
                break
            time.sleep(0.02)
        self.entries = list(self.log.entries())  # complete: the client saw its answers
        report = Report(fatal=fatal)
        if sid is None:
            report.problems.append(f"no recorded session for backend {pid}")
            return report
        self.last = (executed(self.entries, pid), self.rec.statements(sid))
        report = compare(*self.last)
        report.fatal = fatal
        # PostgreSQL's own FATAL for transaction control run through EXECUTE of a
        # protocol-prepared statement ("RollbackToSavepoint: unexpected state STARTED").
        if fatal is not None and "regogate" not in fatal and "unexpected state" not in fatal:
            report.problems.append(f"the session ended: {fatal}")
        return report
