"""The policy gate: every statement a client sends is analysed and decided before it runs.

Per session. Simple Query: every statement of the message is decided; one deny denies the
whole message (it becomes a DO block raising the policy error, so nothing of it runs and
PostgreSQL aborts a transaction block as for any error). Parse: decided at parse time (a
named statement runs what was decided then). FunctionCall: decided as an opaque
``FUNCTION CALL``. Everything else (Bind, Execute, Sync, COPY data...) passes.

Fail closed: an unreachable or undecided policy, an unreadable catalog or a recorder that
cannot record means the statement is denied with a message that says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from regogate.errors import PolicyDenied, PolicyUnavailable, RecordingUnavailable, RegogateError
from regogate.policy.cache import LruCache
from regogate.policy.catalog import parse_search_path
from regogate.policy.decision import Decision
from regogate.policy.engine import Decided, PolicyEngine
from regogate.policy.facts import Analysis, StatementFacts, synthetic_statement, to_input
from regogate.proxy.deny import Denials
from regogate.proxy.hooks import RecordSink, SessionContext
from regogate.recording.core import prepared
from regogate.wire.framing import Frame
from regogate.wire.frontend import Parse, Query

log = logging.getLogger("regogate.gate")

# Settings whose change would let a client leave the role the policy put it in.
ROLE_SETTINGS = frozenset({"role", "session_authorization", "all"})

FUNCTION_CALL = synthetic_statement("FUNCTION CALL", functions=["unknown"], opaque=True)


Redactor = Callable[[str], Mapping[str, object]]


def session_input(ctx: SessionContext) -> dict[str, object]:
    """The ``identity`` and ``connection`` parts of every policy input of a session."""
    return {
        "identity": ctx.identity.policy_input(ctx.client),
        "connection": {"name": ctx.connection.name, "database": ctx.connection.database},
    }


MEMO_SIZE = 256
MEMO_TTL = 60.0
# (catalog generation, search_path, revision), analysis, decisions, and the stmt record
# bodies of its replays by protocol, serialized once (recording.core.prepared).
_Memo = tuple[tuple[int, tuple[str, ...], str], Analysis, tuple["Decided", ...], dict[str, bytes]]


@dataclass
class _Verdict:
    analysis: Analysis | None
    refusal: RegogateError | None


class PolicyGate:
    passthrough = False

    def __init__(
        self,
        engine: PolicyEngine | None,
        ctx: SessionContext,
        denials: Denials,
        record: RecordSink,
        *,
        redact: Redactor | None = None,
        healthy: Callable[[], RegogateError | None] | None = None,
        upstream_role: str | None = None,
    ):
        self.engine = engine
        self.ctx = ctx
        self.conn = ctx.connection
        self.denials = denials
        self.record = record
        self.redact = redact
        self.healthy = healthy
        self.upstream_role = upstream_role
        self._session_input = session_input(ctx)
        start_path = ctx.params.get("search_path")
        self.search_path: tuple[str, ...] | None = (
            parse_search_path(start_path) if start_path is not None else None
        )
        self.prepared: dict[str, str] = {}
        self._pending: dict[str, object] | bytes | None = None  # the stmt record
        self.parsed: dict[str, str] = {}  # protocol-level prepared statements (recording)
        self._bind_bodies: dict[str, bytes] = {}  # their stmt records, serialized
        self.fresh: set[str] = set()
        self.catalog_stale = False
        # Per-session verdict memo: statement text -> (catalog generation, search_path,
        # revision), analysis, decisions; honours the decisions' ttl (LruCache expiry).
        self._memo: LruCache[str, _Memo] = LruCache(
            MEMO_SIZE if engine is not None and engine.cache_size > 0 else 0
        )
        self.statements = 0
        self.denied = 0

    def policy_input(self, statement: Mapping[str, object]) -> dict[str, object]:
        return {**self._session_input, "statement": statement}

    # -- the StatementGate protocol -------------------------------------------------------
    async def admit(self, frame: Frame) -> Sequence[Frame]:
        try:
            try:
                out = await self._admit(frame)
            finally:
                if self._pending is not None and self.redact is not None:
                    self._flush_stmt()
            return out
        except RecordingUnavailable as exc:  # the statement cannot be recorded: not run
            self._pending = None
            self.denied += 1
            if frame.tag == b"P":
                return (self.denials.parse(Parse.decode(frame.body).name, exc),)
            if frame.tag == b"B":
                portal = frame.body.split(b"\x00", 1)[0].decode("utf-8", "replace")
                return (self.denials.bind(portal, exc),)
            return (self.denials.query(exc),)

    async def _admit(self, frame: Frame) -> Sequence[Frame]:
        tag = frame.tag
        if tag == b"Q":
            sql = Query.decode(frame.body).query
            verdict = await self._verdict(sql, "simple")
            if verdict.refusal is not None:
                return (self.denials.query(verdict.refusal),)
            self._apply(verdict.analysis)
            return (frame,)
        if tag == b"P":
            parse = Parse.decode(frame.body)
            verdict = await self._verdict(parse.query, "extended")
            if verdict.refusal is not None:
                self.parsed.pop(parse.name, None)
                self._bind_bodies.pop(parse.name, None)
                return (self.denials.parse(parse.name, verdict.refusal),)
            self._apply(verdict.analysis)
            if self.redact is not None:
                self.parsed[parse.name] = parse.query
                self._bind_bodies.pop(parse.name, None)
                self.fresh.add(parse.name)
            return (frame,)
        if tag == b"B" and self.redact is not None:
            # Each run of a prepared statement is recorded; the first Bind after its Parse
            # is covered by the Parse's own record.
            name = frame.body.split(b"\x00", 2)[1].decode("utf-8", "replace")
            if name in self.fresh:
                self.fresh.discard(name)
            elif name in self.parsed:
                self.statements += 1  # a statement run again: counted as it is recorded
                body = self._bind_bodies.get(name)
                if body is None:  # its first re-run: the record is built once
                    self._record_stmt(self.parsed[name], "bind", "", prepared=name or None)
                    assert isinstance(self._pending, dict)
                    body = self._bind_bodies[name] = prepared(self._pending)
                self._pending = body
            return (frame,)
        if tag == b"F":
            refusal = await self._function_call()
            if refusal is not None:
                return (self.denials.query(refusal),)
        return (frame,)

    # -- deciding ---------------------------------------------------------------------------
    async def _verdict(self, sql: str, protocol: str) -> _Verdict:
        self.statements += 1
        try:
            blocked = self.healthy() if self.healthy is not None else None
            if blocked is not None:
                return self._refuse(_Verdict(None, blocked))
            engine = self.engine
            if engine is None:  # [policy] mode = "off": recorded, not decided
                self._record_stmt(sql, protocol, "")
                return _Verdict(None, None)
            if self.catalog_stale:
                engine.invalidate_catalog(self.conn)
                self.catalog_stale = False
            catalog, generation = await engine.catalog(self.conn)
            path = self.search_path if self.search_path is not None else catalog.search_path
            memo_key = None if self.prepared else (generation, path, engine.revision)
            if memo_key is not None and engine.ready():
                memo = self._memo.get(sql)
                if memo is not None and memo[0] == memo_key:
                    return self._replay(sql, protocol, memo)
            analysis = engine.analyze(sql, catalog, generation, path, self.prepared)
        except RegogateError as exc:
            self._record_stmt(sql, protocol, "")
            self._record_unavailable(exc)
            return self._refuse(_Verdict(None, exc))
        except Exception:  # an analyser bug must deny, never pass or crash the session
            log.exception("statement analysis failed")
            exc2 = PolicyUnavailable("regogate could not analyse the statement; denied")
            self._record_stmt(sql, protocol, "")
            self._record_unavailable(exc2)
            return self._refuse(_Verdict(None, exc2))
        statements = analysis.statements
        self._record_stmt(sql, protocol, statements[0].fingerprint if statements else "")
        decideds: list[Decided] = []
        for index, facts in enumerate(statements):
            decided, refusal = await self._decide(facts, index, len(statements))
            if refusal is not None:
                return self._refuse(_Verdict(analysis, refusal))
            if decided is not None:
                decideds.append(decided)
        ttl = min((d.decision.ttl for d in decideds), default=0.0)
        if memo_key is not None and ttl > 0 and len(decideds) == len(statements):
            memo = (memo_key, analysis, tuple(decideds), {})
            self._memo.put(sql, memo, min(ttl, MEMO_TTL))
        return _Verdict(analysis, None)

    def _replay(self, sql: str, protocol: str, memo: _Memo) -> _Verdict:
        """A statement text this session had allowed, same catalog, path and revision,
        within the decisions' ttl: the same verdict, recorded as cached decisions."""
        assert self.engine is not None
        _, analysis, decideds, bodies = memo
        stats = self.engine.stats
        stats.decisions += len(decideds)
        stats.cache_hits += len(decideds)
        if self.redact is not None:
            body = bodies.get(protocol)
            if body is None:  # the first replay: build the record once
                statements = analysis.statements
                self._record_stmt(sql, protocol, statements[0].fingerprint if statements else "")
                for index, decided in enumerate(decideds):
                    cached = Decided(decided.decision, decided.input_sha256, True)
                    self._record_decision(cached, index)
                assert isinstance(self._pending, dict)
                body = bodies[protocol] = prepared(self._pending)
            self._pending = body
        return _Verdict(analysis, None)

    async def _decide(
        self, facts: StatementFacts, index: int, total: int
    ) -> tuple[Decided | None, RegogateError | None]:
        statement = to_input(facts)
        assert self.engine is not None
        try:
            decided = await self.engine.decide(self.policy_input(statement))
        except RegogateError as exc:
            self._record_unavailable(exc)
            return None, exc
        except Exception:
            log.exception("policy decision failed")
            failed = PolicyUnavailable("the policy engine failed; statement denied (fail closed)")
            self._record_unavailable(failed)
            return None, failed
        self._record_decision(decided, index)
        return decided, self._refusal(decided.decision, facts, index, total)

    def _refusal(
        self, decision: Decision, facts: StatementFacts, index: int, total: int
    ) -> RegogateError | None:
        where = f"statement {index + 1} of {total} ({facts.verb})" if total > 1 else facts.verb
        detail = f"{where}; policy revision {decision.revision}"
        if decision.rules:
            detail += f"; rules: {', '.join(decision.rules)}"
        why = decision.refusal()
        if why is not None:
            return PolicyDenied(why, detail=detail)
        if self.upstream_role is not None and ROLE_SETTINGS & set(facts.settings):
            return PolicyDenied(
                f"this session runs as role {self.upstream_role!r} chosen by the policy; "
                f"changing {', '.join(sorted(ROLE_SETTINGS & set(facts.settings)))} is not "
                f"allowed",
                detail=detail,
            )
        if decision.upstream_role is not None and decision.upstream_role != self.upstream_role:
            return PolicyDenied(
                f"the policy requires role {decision.upstream_role!r} for this statement, but "
                f"this session runs as {self.upstream_role or 'the connection login role'!r}",
                detail=detail,
                hint="reconnect so the session starts under the role the policy names",
            )
        return None

    async def _function_call(self) -> RegogateError | None:
        self.statements += 1
        self._record_stmt("<FunctionCall>", "function", "")
        blocked = self.healthy() if self.healthy is not None else None
        if blocked is not None:
            self.denied += 1
            return blocked
        if self.engine is None:
            return None
        try:
            decided = await self.engine.decide(self.policy_input(FUNCTION_CALL))
        except RegogateError as exc:
            self.denied += 1
            self._record_unavailable(exc)
            return exc
        self._record_decision(decided, 0)
        why = decided.decision.refusal()
        if why is not None:
            self.denied += 1
            return PolicyDenied(why, detail=f"FUNCTION CALL; revision {decided.decision.revision}")
        return None

    def _refuse(self, verdict: _Verdict) -> _Verdict:
        self.denied += 1
        return verdict

    def _apply(self, analysis: Analysis | None) -> None:
        """Session effects of an allowed message: search_path, SQL-level prepared
        statements, and a catalog refresh after DDL."""
        if analysis is None:
            return
        if analysis.search_path is not None:
            self.search_path = analysis.search_path
        if analysis.deallocate_all:
            self.prepared.clear()
        for name in analysis.deallocated:
            self.prepared.pop(name, None)
        self.prepared.update(analysis.prepared)
        if any(f.ddl for f in analysis.statements):
            self.catalog_stale = True

    # -- recording --------------------------------------------------------------------------
    def _record_stmt(
        self, sql: str, protocol: str, fingerprint: str, prepared: str | None = None
    ) -> None:
        """Start the statement's record; its decisions are added, then ``_flush_stmt``."""
        if self.redact is None:
            return
        body: dict[str, object] = {
            **self.redact(sql),
            "protocol": protocol,
            "fingerprint": fingerprint,
            "decisions": [],
        }
        if prepared is not None:
            body["prepared"] = prepared
        self._pending = body

    def _add_decision(self, decision: dict[str, object]) -> None:
        if isinstance(self._pending, dict):
            decisions = self._pending["decisions"]
            assert isinstance(decisions, list)
            decisions.append(decision)

    def _flush_stmt(self) -> None:
        """One ``stmt`` record per message: text, literal commitment and its decisions."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self.record.event("stmt", pending)

    def _record_decision(self, decided: Decided, index: int) -> None:
        if self.redact is None:
            return
        self._add_decision(
            {
                **decided.decision.recorded,
                "input_sha256": decided.input_sha256,
                "cached": decided.cached,
            }
        )

    def _record_unavailable(self, exc: RegogateError) -> None:
        if self.redact is None:
            return
        self._add_decision(
            {
                "revision": self.engine.revision if self.engine else "off",
                "input_sha256": None,
                "outcome": "deny",
                "reasons": [exc.message],
                "rules": [],
                "masks": {},
                "approval": False,
                "cached": False,
                "sqlstate": exc.sqlstate,
            }
        )
