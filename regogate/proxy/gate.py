"""The policy gate: every statement a client sends is analysed and decided, on the session
state PostgreSQL will run it in, before it runs.

Per session. Simple Query: every statement of the message is decided; one deny denies the
whole message (it becomes a DO block raising the policy error). Parse: decided at parse
time, and again at Bind when the policy revision or the catalog changed since. Execute
carries the statement's session effects. FunctionCall: decided as ``FUNCTION CALL``.

Session state (search_path, role, the lexing settings, transaction, prepared
statements) follows PostgreSQL's answers (``responses.ResponseTracker`` over
``session_state.SessionModel``), not the messages admitted. Before a message is analysed,
every message in flight that could change what it is decided on must be answered: the
gate waits for it (a Flush makes PostgreSQL answer an unsynced Execute at once).
Statement text that PostgreSQL could lex differently under other settings (a backslash,
a non-ASCII byte) waits until no statement in flight could have changed them unseen, and
is refused where that cannot be known before it runs.

A text over ``[policy] max_statement_bytes`` is refused unread (54000), and a large one is
analysed in a worker thread within ``[policy] analysis_timeout`` (``analysis_budget``).

Fail closed: an unreachable or undecided policy, an unreadable catalog, a recorder that
cannot record, a session state the gate lost: the statement is denied with a reason.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import anyio

from regogate.approvals.binding import BoundStatement, statement_params
from regogate.config import ConnectionConfig
from regogate.errors import (
    PolicyDenied,
    PolicyUnavailable,
    RecordingUnavailable,
    RegogateError,
    SessionStateLost,
)
from regogate.masking.plan import StatementMasks
from regogate.policy.cache import LruCache
from regogate.policy.catalog import SNAPSHOT_UNCHANGED, CatalogSnapshot, parse_search_path
from regogate.policy.decision import Approval, Decision
from regogate.policy.engine import Decided, EngineStats, text_key
from regogate.policy.facts import Analysis, StatementFacts, synthetic_statement, to_input
from regogate.proxy.analysis_budget import BIG_TEXT, StatementBudget
from regogate.proxy.approval_hold import ApprovalHold, StreamEdge, merge
from regogate.proxy.deny import Denials
from regogate.proxy.effects import bound_text, lexically_invariant, statement_effects
from regogate.proxy.gate_masks import (
    CURSOR_READS,
    Cursors,
    Masks,
    decided_masks,
    opaque_cursor,
)
from regogate.proxy.hooks import RecordSink, SessionContext
from regogate.proxy.masker import QueryMasks, ResultMasker
from regogate.proxy.pinned import PINNED, acceptable, expected_value, refused_change
from regogate.proxy.responses import ANSWERED, ResponseTracker
from regogate.proxy.session_state import NO_EFFECT, SessionModel, StatementEffect
from regogate.proxy.statement_record import Redactor, StatementRecorder
from regogate.recording.format.mac import ParamCommitter
from regogate.wire.framing import Frame
from regogate.wire.frontend import Bind, Close, Describe, Execute, FunctionCall, Parse, Query

log = logging.getLogger("regogate.gate")

# Settings whose change would let a client leave the role the policy put it in.
ROLE_SETTINGS = frozenset({"role", "session_authorization", "all"})
GATE_RULE = "regogate.gate"

FUNCTION_CALL = synthetic_statement("FUNCTION CALL", functions=["unknown"], opaque=True)
FUNCTION_CALL_EFFECT = StatementEffect(user_code=True)
_FLUSH = Frame(b"H", b"")
# NOWAIT, VACUUM as words (``autovacuum_enabled`` in a CREATE TABLE is neither): a text
# that may fail at once on a lock, or do less under a catalog read's snapshot.
_LOCK_WORDS = re.compile(r"\b(?:nowait|vacuum)\b", re.IGNORECASE)

Drain = Callable[[bytes], Awaitable[None]]


class CatalogWaits(Protocol):
    """What the gate needs of the catalog cache (``policy.catalog_cache.CatalogCache``)."""

    def invalidate(self, conn: ConnectionConfig, *, changed: bool = True) -> int: ...

    async def settled(
        self, conn: ConnectionConfig, *, after: int | None = None, timeout: float
    ) -> bool: ...

    def completed(self, conn: ConnectionConfig) -> int: ...

    def replaced(self, conn: ConnectionConfig) -> int: ...


class Engine(Protocol):
    """What the gate needs of the policy engine (``policy.engine.PolicyEngine``)."""

    cache_size: int
    stats: EngineStats

    @property
    def catalogs(self) -> CatalogWaits: ...

    @property
    def revision(self) -> str: ...

    def ready(self) -> bool: ...

    async def catalog(self, conn: ConnectionConfig) -> tuple[CatalogSnapshot, int]: ...

    def catalog_generation(self, conn: ConnectionConfig) -> int | None: ...

    async def refresh_catalog(
        self, conn: ConnectionConfig, *, timeout: float
    ) -> tuple[CatalogSnapshot, int]: ...

    async def lookup_catalog(
        self, conn: ConnectionConfig, names: Sequence[tuple[str, str]], *, timeout: float
    ) -> tuple[CatalogSnapshot, int]: ...

    def analyze(
        self,
        sql: str,
        catalog: CatalogSnapshot,
        generation: int,
        search_path: tuple[str, ...],
        prepared: Mapping[str, str],
        *,
        path_known: bool = True,
    ) -> Analysis: ...

    async def decide(self, policy_input: Mapping[str, object]) -> Decided: ...


def session_input(ctx: SessionContext) -> dict[str, object]:
    """The ``identity`` and ``connection`` parts of every policy input of a session."""
    return {
        "identity": ctx.identity.policy_input(ctx.client),
        "connection": {"name": ctx.connection.name, "database": ctx.connection.database},
    }


# Generations of session-local catalogs (catalog.without): negative, never a snapshot's.
_OVERLAYS = itertools.count(-1, -1)
MAX_STALE_NAMES = 256
# A name looked up and not found is not looked up again for this long (seconds) by the
# same session: a relation created outside the gateway is seen within it (docs/catalog.md).
LOOKED_UP_TTL = 1.0
MAX_LOOKED_UP = 1024  # relations a session's DDL changed, looked up until read again
LOOK_AGAIN_TIMEOUT = 2.0  # seconds a statement naming an unknown relation waits for the catalog
# Seconds a statement that fails rather than waits for a lock (NOWAIT, lock_timeout) waits
# for the catalog reads in flight, whose side session may hold AccessShareLock on the
# relations of a view it reads (pg_get_viewdef); docs/catalog.md, Lock safety.
CATALOG_QUIET_TIMEOUT = 2.0
MEMO_SIZE = 256
MEMO_BYTES = 4 * 1024 * 1024  # per session; a text over BIG_TEXT is never memoised
MEMO_TTL = 60.0
DEFAULT_BUDGET = StatementBudget()


# What a memoised verdict was reached on: catalog generation, search_path, whether the
# path is known, policy revision, the session's DDL commits (its epoch). A plain tuple:
# one is made for every statement.
_MemoKey = tuple[int, tuple[str, ...], bool, str, int]


@dataclass
class _Memo:
    """A verdict this session already reached for a statement text."""

    key: _MemoKey
    analysis: Analysis
    decided: tuple[Decided, ...]
    effects: tuple[StatementEffect, ...]
    text_chars: int  # its records hold (about) the text, once per protocol
    bodies: dict[str, bytes] = field(default_factory=dict)  # stmt records by protocol
    masks: Masks = ()  # per statement (masking.plan), as decided
    # The FETCH/MOVE statements decided as reading an unknown cursor (Cursors.unknown):
    # replayed only while the same ones are unknown.
    cursors: tuple[int, ...] = ()

    def nbytes(self) -> int:
        return 1024 + 3 * self.text_chars


@dataclass
class _Verdict:
    analysis: Analysis | None
    refusal: RegogateError | None
    effects: tuple[StatementEffect, ...] = ()
    # A setting change that depends on parameter values: decided again at each Bind.
    deferred: bool = False
    masks: Masks = ()  # per statement; () when nothing is masked


@dataclass
class _Prepared:
    """A protocol-level prepared statement as the gate decided it at Parse."""

    text: str
    search_path: tuple[str, ...]
    path_known: bool
    revision: str
    generation: int
    effect: StatementEffect
    bind_body: bytes | None = None  # its stmt record for re-runs, serialized once
    path_state: tuple[str | None, bool, bool] = (None, True, False)
    fresh: bool = True  # its first Bind is covered by the Parse's own record
    sql_prepared: bool = False  # ``text`` is a SQL PREPARE, not a protocol Parse
    deferred: bool = False  # its setting changes depend on the values bound
    masks: StatementMasks | None = None  # its result columns' masks (docs/masking.md)
    # A FETCH or MOVE: the cursor it reads (its masks are the cursor's at each Bind), and
    # whether it was decided as reading an unknown cursor.
    cursor: str | None = None
    cursor_unknown: bool = False
    approval: Approval | None = None  # its decision requires approval: held at each Bind


class PolicyGate:
    passthrough = False

    def __init__(
        self,
        engine: Engine | None,
        ctx: SessionContext,
        denials: Denials,
        record: RecordSink,
        *,
        redact: Redactor | None = None,
        healthy: Callable[[], RegogateError | None] | None = None,
        upstream_role: str | None = None,
        model: SessionModel | None = None,
        budget: StatementBudget = DEFAULT_BUDGET,
        mask_key: bytes = b"",
        params: ParamCommitter | None = None,
    ):
        self.engine = engine
        self.budget = budget
        self.ctx = ctx
        self.conn = ctx.connection
        self.denials = denials
        self.recorder = StatementRecorder(record, redact, params)
        self.healthy = healthy
        self.upstream_role = upstream_role
        self._session_input = session_input(ctx)
        start_path = ctx.params.get("search_path")
        self.model = model or SessionModel.start(
            {"search_path": start_path} if start_path is not None else {}, {}
        )
        self._path_from_catalog = model is None and start_path is None
        self.tracker = ResponseTracker(
            self.model, on_parse_failed=self._parse_failed, on_close=self._closed
        )
        denials.follow(self.tracker)
        self.masker = ResultMasker(self.tracker, mask_key)
        self.cursors = Cursors()
        self._statements: dict[str, _Prepared] = {}  # protocol statements, "" unnamed
        # Relations looked up and not found (mistyped, temporary, another session's
        # uncommitted DDL), with when: not looked up again for LOOKED_UP_TTL seconds,
        # unless this session's DDL committed since.
        self._looked_up: dict[tuple[str, str], float] = {}
        self._portals: dict[str, _Prepared | None] = {}
        self._closing: dict[int, tuple[_Prepared | None, str | None]] = {}  # by tracker seq
        self._closing_names: dict[str, int] = {}  # statement Closes in flight, by name
        # What a Parse in flight replaced, by tracker seq: restored if it fails.
        self._replaced: dict[int, tuple[_Prepared | None, str | None]] = {}
        self._drain: Drain | None = None
        self._parsed_path: tuple[str | None, tuple[str, ...]] = (None, ())
        self._progress: anyio.Event | None = None  # set while the gate waits for answers
        # The search_path and catalog generation the last Query or Parse was decided on.
        self._last_path: tuple[tuple[str, ...], bool] = ((), True)
        self._decided_generation = 0
        self._ddl_pending = False
        self._ddl_changes = False  # ... of more than temporary relations
        self._catalog_ticket = 0  # the catalog refresh that sees this session's last DDL
        # Relations this session's DDL changed (in the transaction, then committed): until
        # the refresh that sees the commit completes, each statement naming one reads it
        # again first (a lookup), so none is decided on its definition from before.
        self._ddl_names: set[tuple[str, str]] = set()
        self._stale_names: set[tuple[str, str]] = set()
        self._stale_ticket = 0
        # Stale names a lookup read after the commit, with the catalog's count of full
        # reads then (CatalogCache.replaced): fresh while no full read has replaced the
        # snapshot since (a read begun before the commit could bring back the old rows).
        self._stale_fresh: dict[tuple[str, str], int] = {}
        # DDL commits of this session: a memoised decision made before one is not replayed
        # after it (the snapshot's generation has not changed yet).
        self._ddl_epoch = 0
        self._overlay: tuple[tuple[int, frozenset[tuple[str, str]]], CatalogSnapshot, int] | None
        self._overlay = None
        self._memo: LruCache[str | bytes, _Memo] = LruCache(
            MEMO_SIZE if engine is not None and engine.cache_size > 0 else 0,
            max_bytes=MEMO_BYTES,
            size=_Memo.nbytes,
        )
        self.statements = 0
        self.denied = 0
        # Approvals ([approvals]): the hold (set by the runtime), and what the statement
        # being decided needs (proxy/approval_hold.py).
        self.approval_hold: ApprovalHold | None = None
        self._approval: Approval | None = None

    def policy_input(self, statement: Mapping[str, object]) -> dict[str, object]:
        return {**self._session_input, "statement": statement}

    # -- wiring ---------------------------------------------------------------------------
    def attach_client(
        self, send: Callable[[bytes], Awaitable[None]], closed: Callable[[], bool]
    ) -> None:
        """The client's side, for a held statement's NOTICE and to see its client go."""
        if self.approval_hold is not None:
            self.approval_hold.attach(StreamEdge(send, closed))

    def cancel_hold(self) -> None:
        """A CancelRequest for this session: withdraw the statement held now, if any."""
        if self.approval_hold is not None:
            self.approval_hold.cancel()

    def _needs_approval(self) -> Approval | None:
        """What the statement just decided needs approved (None: nothing)."""
        return self._approval

    async def _hold(self, bound: BoundStatement, approval: Approval) -> RegogateError | None:
        """Hold a statement until approved (None: forward it now) or refused."""
        assert self.approval_hold is not None
        self._approval = None
        if self._drain is not None:  # what came before it runs meanwhile
            await self._drain(b"")
        refusal = await self.approval_hold.hold(bound, approval)
        if refusal is not None:
            self.denied += 1
        return refusal

    def attach(self, drain: Drain) -> None:
        """``drain(extra)`` sends what the session holds for the upstream, then ``extra``."""
        self._drain = drain

    def start(self, values: Mapping[str, str | None], reset: Mapping[str, str | None]) -> None:
        """The session's settings as PostgreSQL holds them when the relay begins."""
        self.model.params.values.update(values)
        self.model.params.reset.update(reset)
        self.model.params.values.setdefault("role", self.upstream_role or "none")
        self.model.params.reset.setdefault("role", "none")
        self._path_from_catalog = "search_path" not in values

    def on_backend(self, frame: Frame) -> None:
        """Every message from the upstream, in order (part of the session's result hook).
        Raises SessionStateLost when PostgreSQL reports a lexing setting the gate does
        not read statements under: the session must end before anything else is relayed."""
        tag = frame.tag
        self.tracker.received(tag[0], frame.body)
        if tag == b"Z":
            self._ready()
        elif tag == b"S":
            self._reported(frame.body)
        if self._progress is not None:
            self._wake()

    def _reported(self, body: bytes) -> None:
        """ParameterStatus."""
        name_b, _, rest = body.partition(b"\x00")
        name = name_b.decode("utf-8", "replace").lower()
        value = rest.rstrip(b"\x00").decode("utf-8", "replace")
        self.model.params.reported(name, value)
        if name in PINNED and not acceptable(name, value):
            self._wake()
            raise SessionStateLost(
                f"terminating connection: PostgreSQL reports {name} = {value!r}, a "
                f"change regogate did not let through (code it cannot see changed it); "
                f"regogate cannot read statements as PostgreSQL would any more",
                hint="reconnect; do not change how statement text is read "
                f"({name} stays {expected_value(name)!r})",
            )

    def _ready(self) -> None:
        """ReadyForQuery: what ended with the request cycle or the transaction."""
        if self._replaced or self._closing or self._closing_names:
            self._prune()
        if self.model.block == "idle":
            if self._portals:
                self._portals.clear()  # portals end with their transaction
            if self._ddl_pending and self.engine is not None:
                # The catalog session sees DDL once its transaction has committed.
                changed, self._ddl_pending, self._ddl_changes = self._ddl_changes, False, False
                self._catalog_ticket = self.engine.catalogs.invalidate(self.conn, changed=changed)
                self._stale_names |= self._ddl_names
                self._stale_ticket = self._catalog_ticket
                for name in self._ddl_names:  # not read since this commit
                    self._stale_fresh.pop(name, None)
                self._ddl_epoch += 1
                self._ddl_names = set()

    # -- the StatementGate protocol -------------------------------------------------------
    async def admit(self, frame: Frame) -> Sequence[Frame]:
        tag = frame.tag
        if tag == b"B":
            bound = self._bind_again(frame)
            if bound is not None:
                return bound
        elif tag == b"E":
            return self._execute(frame)
        elif tag in (b"S", b"D"):  # Sync, Describe: nothing to decide or record
            self.tracker.sent_plain("sync" if tag == b"S" else "describe")
            return (frame,)
        try:
            try:
                return await self._admit(frame)
            finally:
                self.recorder.flush()
        except RecordingUnavailable as exc:  # the statement cannot be recorded: not run
            self.recorder.drop()
            self.denied += 1
            return self._denied(frame, exc)

    def _denied(self, frame: Frame, exc: RegogateError) -> Sequence[Frame]:
        """``frame`` refused in order: PostgreSQL reports the error where it stands."""
        tag = frame.tag
        if tag == b"P":
            name = Parse.decode(frame.body).name
            if name == "":
                self._statements.pop("", None)  # PostgreSQL drops it at any Parse
            denial = self.denials.parse(name, exc)
            self.tracker.sent("parse", name=name)
            return (denial,)
        if tag == b"B":
            portal, _ = _bind_names(frame.body)
            self._portals[portal] = None
            denial = self.denials.bind(portal, exc)
            self.tracker.sent("bind")
            return (denial,)
        denial = self.denials.query(exc)
        self.tracker.sent("call" if tag == b"F" else "query")
        return (denial,)

    async def _admit(self, frame: Frame) -> Sequence[Frame]:
        tag = frame.tag
        self._approval = None
        if tag == b"Q":
            sql = Query.decode(frame.body).query
            verdict = await self._verdict(sql, "simple")
            if verdict.refusal is None:
                verdict = self._follow_cursors(verdict)
            if verdict.refusal is not None:
                return self._denied(frame, verdict.refusal)
            need = self._needs_approval()
            if need is not None:
                held = await self._hold(BoundStatement(sql), need)
                if held is not None:
                    return self._denied(frame, held)
            seq = self.tracker.sent("query", verdict.effects)
            if any(m is not None for m in verdict.masks):
                self.masker.query(seq, QueryMasks(verdict.masks))
            self.note_ddl(verdict.analysis)
            return (frame,)
        if tag == b"P":
            return await self._parse(frame)
        if tag == b"B":
            return await self._bind(frame)
        if tag == b"F":
            refusal = await self._function_call(frame)
            if refusal is not None:
                denial = self.denials.query(refusal)
                self.tracker.sent("call")
                return (denial,)
            self.tracker.sent("call", (FUNCTION_CALL_EFFECT,))
            return (frame,)
        if tag == b"C":
            close = Close.decode(frame.body)
            seq = self.tracker.sent("close", name=close.kind.decode() + close.name)
            if close.kind == b"S":
                # What the Close closes: the statement as it is now, not one a Parse
                # pipelined after it will have made by the time PostgreSQL confirms.
                self._closing[seq] = (
                    self._statements.get(close.name),
                    self.model.prepared.get(close.name),
                )
                self._closing_names[close.name] = self._closing_names.get(close.name, 0) + 1
            return (frame,)
        kind = ANSWERED.get(tag)
        if kind is not None:  # Describe, Sync
            self.tracker.sent(kind)
        return (frame,)

    # -- extended protocol ------------------------------------------------------------------
    def _execute(self, frame: Frame) -> Sequence[Frame]:
        end = frame.body.find(b"\x00")
        if end < 0:
            Execute.decode(frame.body)  # raises the protocol error
        portal = frame.body[:end].decode("utf-8", "replace")
        info = self._portals.get(portal)
        if info is not None and info.masks is not None:
            return self._execute_masked(portal, info, frame)
        effect = info.effect if info is not None else NO_EFFECT
        if effect is NO_EFFECT:
            self.tracker.sent_plain("execute")
            return (frame,)
        self.tracker.sent("execute", (effect,))
        # PostgreSQL answers an Execute only at the next Sync or Flush. Most clients send
        # the Sync with it; a statement that must wait for the answer before a Sync asks
        # for it then (_settle), so no Flush is added here.
        return (frame,)

    def _execute_masked(self, portal: str, info: _Prepared, frame: Frame) -> Sequence[Frame]:
        """An Execute of a masked portal: a Describe of the portal goes first, so that its
        DataRows' types and formats are known even when the client never described it
        (its answer is the masker's, not the client's)."""
        assert info.masks is not None
        describe = Describe(b"P", portal).encode()
        self.tracker.sent_plain("describe")
        self.masker.describe(self.tracker.seq, info.masks)
        if info.effect is NO_EFFECT:
            self.tracker.sent_plain("execute")
        else:
            self.tracker.sent("execute", (info.effect,))
        return (Frame(describe[:1], describe[5:]), frame)

    def _follow_cursors(self, verdict: _Verdict) -> _Verdict:
        """FETCH takes the masks of the cursor it reads; DECLARE and CLOSE say which."""
        analysis = verdict.analysis
        if analysis is None or not any(f.cursor is not None for f in analysis.statements):
            return verdict
        masks, refusal = self.cursors.resolve(analysis.statements, verdict.masks)
        if refusal is not None:
            self.denied += 1
            return _Verdict(analysis, refusal)
        return replace(verdict, masks=masks)

    async def _parse(self, frame: Frame) -> Sequence[Frame]:
        parse = Parse.decode(frame.body)
        name = parse.name
        verdict = await self._verdict(parse.query, "extended")
        if verdict.refusal is None:
            verdict = self._follow_cursors(verdict)
        if verdict.refusal is not None:
            return self._denied(frame, verdict.refusal)
        effect = verdict.effects[0] if len(verdict.effects) == 1 else NO_EFFECT
        if len(verdict.effects) > 1:
            effect = StatementEffect(user_code=True)  # PostgreSQL refuses it anyway
        previous = (self._statements.get(name), self.model.prepared.get(name))
        exists = name != "" and name in self.model.prepared and not self._closing_names.get(name)
        if not exists:  # else PostgreSQL refuses it: the old statement stays
            info = self._statements[name] = self._prepared_info(parse.query, effect)
            info.deferred = verdict.deferred
            info.masks = verdict.masks[0] if len(verdict.masks) == 1 else None
            self._note_cursor(info, verdict)
            info.approval = self._approval
            if name:
                self.model.prepared[name] = parse.query
        seq = self.tracker.sent("parse", name=name, added=not exists)
        if name and not exists and self.tracker.done < seq:
            # (A failed Parse of the unnamed statement leaves none: nothing to restore.)
            self._replaced[seq] = previous
        self.note_ddl(verdict.analysis)
        return (frame,)

    def _prepared_info(self, text: str, effect: StatementEffect) -> _Prepared:
        path, known = self._last_path
        engine = self.engine
        return _Prepared(
            text,
            path,
            known,
            engine.revision if engine is not None else "",
            self._decided_generation,
            effect,
            path_state=self._path_state(),
        )

    async def _bind(self, frame: Frame) -> Sequence[Frame]:
        portal, statement = _bind_names(frame.body)
        info = self._statements.get(statement)
        if statement:
            text = self.model.prepared.get(statement)
            if text is None:
                info = None  # dropped by DEALLOCATE or Close since: PostgreSQL refuses it
            elif info is None or info.text != text:
                # Made by SQL PREPARE: decided as the EXECUTE it amounts to.
                info = self._statements[statement] = _Prepared(
                    text, (), False, "", -1, StatementEffect(user_code=True), sql_prepared=True
                )
        if info is None and self.engine is not None:
            # PostgreSQL may hold a statement the gate never saw defined (or none): it
            # cannot be let run undecided.
            unknown = PolicyDenied(
                f"regogate does not know the prepared statement {statement!r} this Bind refers to",
                hint="Parse it again before binding it",
            )
            return self._deny_bind(portal, unknown)
        if info is not None and self.engine is not None and not self._unchanged(info):
            refusal = await self._recheck(info, statement)
            if refusal is not None:
                return self._deny_bind(portal, refusal)
        if info is not None and info.deferred and self.engine is not None:
            refusal, info = await self._bind_values(info, frame, statement)
            if refusal is not None:
                return self._deny_bind(portal, refusal)
        if info is not None and info.cursor is not None and self.engine is not None:
            refusal, info = await self._bind_cursor(info, statement)
            if refusal is not None:
                return self._deny_bind(portal, refusal)
        approval = info.approval if info is not None else None
        if info is not None and self.approval_hold is not None and (approval or self._approval):
            bind = Bind.decode(frame.body)
            bound = BoundStatement(
                info.text, bind.param_formats, statement_params(bind.params), bind.result_formats
            )
            need = approval if self._approval is None else merge(approval, self._approval)
            assert need is not None
            held = await self._hold(bound, need)
            if held is not None:
                return self._deny_bind(portal, held)
        self._portals[portal] = info
        if portal:
            self.cursors.portal(portal, info.masks if info is not None else None)
        self.tracker.sent("bind")
        self._record_bind(info, statement)
        self.recorder.bound(frame.body)
        return (frame,)

    def _bind_again(self, frame: Frame) -> Sequence[Frame] | None:
        """The usual Bind: a statement decided before, nothing it was decided on changed
        and nothing in flight can change it. Let through without awaiting anything; None
        when the full path (``_bind``) must decide."""
        engine = self.engine
        if engine is None:
            return None
        body = frame.body
        end = body.find(b"\x00")
        stop = body.find(b"\x00", end + 1)
        if end < 0 or stop < 0:
            return None
        statement = body[end + 1 : stop].decode("utf-8", "replace")
        info = self._statements.get(statement)
        if info is None or info.deferred or info.cursor is not None or info.approval is not None:
            return None
        if statement:
            text = self.model.prepared.get(statement)
            if text is not info.text and text != info.text:
                return None
        model = self.model
        params = model.params
        tracker = self.tracker
        if (
            info.revision != engine.revision
            or info.generation != engine.catalog_generation(self.conn)
            or info.path_state
            != (params.values.get("search_path"), model.lost, self._path_from_catalog)
            or tracker.last_mattering() > tracker.done
            or params.tentative
            or model.savepoints
        ):
            return None
        if self.recorder.enabled:
            try:
                self._record_bind(info, statement)
                self.recorder.bound(body)
                self.recorder.flush()
            except RecordingUnavailable as exc:  # the statement cannot be recorded: not run
                self.recorder.drop()
                self.denied += 1
                return self._denied(frame, exc)
        portal = body[:end].decode("utf-8", "replace")
        self._portals[portal] = info
        if portal:
            self.cursors.portal(portal, info.masks)
        tracker.sent_plain("bind")
        return (frame,)

    def _deny_bind(self, portal: str, exc: RegogateError) -> Sequence[Frame]:
        """A Bind refused in order: it binds to a statement that cannot exist."""
        self.denied += 1
        self._portals[portal] = None
        denial = self.denials.bind(portal, exc)
        self.tracker.sent("bind")
        return (denial,)

    async def _bind_values(
        self, info: _Prepared, frame: Frame, name: str
    ) -> tuple[RegogateError | None, _Prepared]:
        """A statement whose setting changes depend on its parameters (set_config($1,
        $2, false)): decided with the values bound, and the portal carries the change."""
        engine = self.engine
        assert engine is not None
        bind = Bind.decode(frame.body)
        sql = bound_text(info.text, bind.params, bind.param_formats)
        if sql is None:
            return PolicyDenied(
                "this statement changes a setting through parameters regogate cannot read "
                "(binary format, missing or not UTF-8)",
                hint="send the parameters in text format",
            ), info
        oversized = self.budget.oversized(sql)
        if oversized is not None:
            self.statements += 1
            return self._unread(sql, "bind", oversized, name).refusal, info
        blocked = await self._settle(None)
        if blocked is not None:
            return blocked, info
        catalog, generation = await self._catalog()
        path, known = self._search_path(catalog)
        self.statements += 1
        verdict = await self._decide_text(sql, "bind", catalog, generation, path, known, name)
        if verdict.refusal is not None:
            return verdict.refusal, info
        effect = (
            verdict.effects[0] if len(verdict.effects) == 1 else StatementEffect(user_code=True)
        )
        masks = verdict.masks[0] if len(verdict.masks) == 1 else None
        return None, replace(info, effect=effect, masks=masks)

    def _note_cursor(self, info: _Prepared, verdict: _Verdict) -> None:
        """A prepared FETCH or MOVE: which cursor, and whether it was decided unknown."""
        analysis = verdict.analysis
        if analysis is None or len(analysis.statements) != 1:
            return
        facts = analysis.statements[0]
        if facts.cursor is not None and facts.verb in CURSOR_READS:
            info.cursor = facts.cursor
            info.cursor_unknown = facts.cursor not in self.cursors.known

    async def _bind_cursor(
        self, info: _Prepared, name: str
    ) -> tuple[RegogateError | None, _Prepared]:
        """A prepared FETCH reads the cursor of that name as it is now: its masks are the
        cursor's now (it may have been closed and declared again since the Parse), and if
        the cursor became known or unknown since, the FETCH is decided again."""
        engine = self.engine
        cursor = info.cursor
        assert engine is not None
        assert cursor is not None
        unknown = cursor not in self.cursors.known
        if unknown != info.cursor_unknown:
            blocked = await self._settle(None)
            if blocked is not None:
                return blocked, info
            catalog, generation = await self._catalog()
            path, known = self._search_path(catalog)
            self.statements += 1
            verdict = await self._decide_text(
                info.text, "bind", catalog, generation, path, known, name
            )
            if verdict.refusal is None:
                verdict = self._follow_cursors(verdict)
            if verdict.refusal is not None:
                return verdict.refusal, info
            info.cursor_unknown = unknown
        masks, refusal = self.cursors.resolve_one(cursor, info.masks)
        return refusal, replace(info, masks=masks)

    async def _recheck(self, info: _Prepared, name: str) -> RegogateError | None:
        """Decide a prepared statement again when the policy, the catalog or the
        search_path changed since it was last decided: PostgreSQL re-analyses a cached
        plan under the current search_path when it differs (plancache.c,
        RevalidateCachedQuery)."""
        engine = self.engine
        assert engine is not None
        blocked = await self._settle(None)
        if blocked is not None:
            return blocked
        catalog, generation = await self._catalog()
        path, known = self._search_path(catalog)
        if (engine.revision, generation, path, known) == (
            info.revision,
            info.generation,
            info.search_path,
            info.path_known,
        ):
            return None
        self.statements += 1
        text = f"EXECUTE {quote_ident(name)}" if info.sql_prepared else info.text
        verdict = await self._decide_text(text, "bind", catalog, generation, path, known, name)
        if verdict.refusal is None:
            verdict = self._follow_cursors(verdict)
        if verdict.refusal is None:
            info.masks = verdict.masks[0] if len(verdict.masks) == 1 else None
            if info.sql_prepared and len(verdict.effects) == 1:
                info.effect = verdict.effects[0]
            info.revision, info.generation = engine.revision, generation
            info.search_path, info.path_known = path, known
            info.path_state = self._path_state()
            info.bind_body = None
        return verdict.refusal

    def _unchanged(self, info: _Prepared) -> bool:
        """The usual re-run of a prepared statement: nothing it was decided on changed
        and nothing in flight can change it."""
        engine = self.engine
        assert engine is not None
        return (
            info.path_state == self._path_state()
            and info.revision == engine.revision
            and info.generation == engine.catalog_generation(self.conn)
            and self._settled()
        )

    def _record_bind(self, info: _Prepared | None, name: str) -> None:
        """Each run of a prepared statement is recorded; the first Bind after its Parse is
        covered by the Parse's own record."""
        rec = self.recorder
        if info is None or not rec.enabled or rec.pending is not None:
            return
        if info.fresh:
            info.fresh = False
            return
        self.statements += 1
        if info.bind_body is None:
            rec.start(info.text, "bind", "", prepared=name or None)
            info.bind_body = rec.serialized()
        rec.reuse(info.bind_body)

    def _wake(self) -> None:
        if self._progress is not None:
            self._progress.set()

    def _prune(self) -> None:
        """Forget Parses and Closes that are answered or were skipped."""
        done = self.tracker.done
        for seq in [k for k in self._replaced if k <= done]:
            del self._replaced[seq]
        for seq in [k for k in self._closing if k <= done]:
            del self._closing[seq]  # skipped after an error: it closed nothing
        if not self._closing_names:
            return
        self._closing_names = {}
        for entry in self.tracker.queue:
            if entry.kind == "close" and entry.name.startswith("S"):
                name = entry.name[1:]
                self._closing_names[name] = self._closing_names.get(name, 0) + 1

    def _parse_failed(self, name: str, seq: int) -> None:
        """A Parse failed or was skipped: what it would have replaced is still there."""
        info, text = self._replaced.pop(seq, (None, None))
        if info is None or name == "":  # PostgreSQL drops the unnamed one at any Parse
            self._statements.pop(name, None)
        else:
            self._statements[name] = info
        if name:
            if text is None:
                self.model.prepared.pop(name, None)
            else:
                self.model.prepared[name] = text

    def _closed(self, what: str, seq: int) -> None:
        kind, name = what[:1], what[1:]
        if kind != "S":
            self._portals.pop(name, None)
            return
        info, text = self._closing.pop(seq, (None, None))
        if self._closing_names.get(name, 0) > 1:
            self._closing_names[name] -= 1
        else:
            self._closing_names.pop(name, None)
        if self._statements.get(name) is info:
            self._statements.pop(name, None)
        if text is not None and self.model.prepared.get(name) == text:
            self.model.prepared.pop(name, None)

    # -- waiting for what is in flight --------------------------------------------------------
    async def _settle(self, sql: str | None) -> RegogateError | None:
        """Wait until no message in flight can change what ``sql`` is decided on."""
        tracker = self.tracker
        if tracker.idle:
            return None
        invariant = sql is None or lexically_invariant(sql)
        if not invariant and tracker.runs_unsynced():
            return PolicyDenied(
                "this statement text has a backslash or a non-ASCII character, and "
                "statements still running before it could change how PostgreSQL "
                "reads such text",
                hint="send Sync (or wait for the results) before this statement",
            )
        flushed = False
        # The target is computed again after every answer: a statement completing may
        # make a setting tentative (SET LOCAL), and then everything in flight matters
        # (a Sync ending its transaction takes it back).
        while not self.model.lost:
            target = tracker.seq if not invariant else tracker.last_mattering()
            if self.model.params.tentative or self.model.savepoints:
                target = tracker.seq  # an error anywhere in flight would roll settings back
            if target <= tracker.done:
                break
            if not flushed and self._drain is not None:
                flushed = True
                await self._drain(_FLUSH.encode() if tracker.needs_flush() else b"")
            progress = self._progress = anyio.Event()
            await progress.wait()
        self._progress = None
        return None

    def _fails_on_locks(self, sql: str) -> bool:
        """Whether ``sql`` may fail at once on a lock instead of waiting for it: it says
        NOWAIT, or the session has a lock_timeout; or whether it may do less while a
        catalog read is in flight: VACUUM (a read's snapshot holds back the horizon, so
        rows the session just wrote are not yet all-visible to it; PostgreSQL's
        create_index test then plans without index-only scans). (Only when to wait for
        the catalog; nothing is decided on it.)"""
        timeout = self.model.value("lock_timeout")
        if timeout is not None and timeout.strip("'\" ").lower() not in ("0", "0ms", "0s"):
            return True
        return _LOCK_WORDS.search(sql) is not None

    def _search_path(self, catalog: CatalogSnapshot) -> tuple[tuple[str, ...], bool]:
        if self.model.lost:
            return catalog.search_path, False
        if self._path_from_catalog:
            return catalog.search_path, True
        value = self.model.value("search_path")
        if value is None:
            return catalog.search_path, False
        cached = self._parsed_path
        if cached[0] != value:
            cached = self._parsed_path = (value, parse_search_path(value))
        return cached[1], True

    def _path_state(self) -> tuple[str | None, bool, bool]:
        """What the search_path a statement is decided on depends on, besides the
        catalog: for a cheap "unchanged since" test at Bind."""
        return self.model.value("search_path"), self.model.lost, self._path_from_catalog

    def _settled(self) -> bool:
        """Nothing in flight can change what a statement is decided on."""
        tracker = self.tracker
        return tracker.last_mattering() <= tracker.done and not (
            self.model.params.tentative or self.model.savepoints
        )

    # -- deciding ---------------------------------------------------------------------------
    async def _verdict(self, sql: str, protocol: str) -> _Verdict:
        self.statements += 1
        try:
            blocked = self.healthy() if self.healthy is not None else None
            if blocked is not None:
                return self._refuse(_Verdict(None, blocked))
            engine = self.engine
            if engine is None:  # [policy] mode = "off": recorded, not decided
                self.recorder.start(sql, protocol, "")
                return _Verdict(None, None)
            oversized = self.budget.oversized(sql)
            if oversized is not None:
                return self._refuse(self._unread(sql, protocol, oversized))
            settle = await self._settle(sql)
            if settle is not None:
                self.recorder.start(sql, protocol, "")
                self.recorder.refusal(settle, self._revision(), (GATE_RULE,))
                return self._refuse(_Verdict(None, settle))
            if self._fails_on_locks(sql):
                # Such a statement would see the side session's brief AccessShareLock
                # (a catalog read after DDL) or its snapshot: it runs once the reads in
                # flight are done.
                await engine.catalogs.settled(self.conn, timeout=CATALOG_QUIET_TIMEOUT)
            catalog, generation = await self._catalog()
        except RegogateError as exc:
            self.recorder.start(sql, protocol, "")
            self.recorder.refusal(exc, self._revision())
            return self._refuse(_Verdict(None, exc))
        path, known = self._search_path(catalog)
        self._last_path, self._decided_generation = (path, known), generation
        return await self._decide_text(sql, protocol, catalog, generation, path, known, None)

    async def _decide_text(
        self,
        sql: str,
        protocol: str,
        catalog: CatalogSnapshot,
        generation: int,
        path: tuple[str, ...],
        known: bool,
        prepared_name: str | None,
    ) -> _Verdict:
        engine = self.engine
        assert engine is not None
        memo_key: _MemoKey | None = (generation, path, known, engine.revision, self._ddl_epoch)
        big = len(sql) > BIG_TEXT  # analysed in a worker thread, never memoised
        sql_key = text_key(sql) if not big else b""
        memo = self._memo.get(sql_key) if not big else None  # texts without EXECUTE only
        if (
            memo is not None
            and memo.key == memo_key
            and engine.ready()
            and memo.cursors == self.cursors.unknown(memo.analysis.statements)
        ):
            return self._replay(sql, protocol, memo)
        executes = "execute" in sql.lower()
        if executes or big:
            memo_key = None
        try:
            prepared = self.model.prepared if executes else {}
            analysis = await self._analysis(sql, catalog, generation, path, prepared, known)
            unknown = self._unknown(analysis, generation)
            if unknown:
                # Created since the snapshot was read (most often by this session's own
                # DDL, just committed; or outside the gateway)? Those names are read now.
                catalog, generation = await self._look_again(unknown)
                analysis = await self._analysis(sql, catalog, generation, path, prepared, known)
                if len(self._looked_up) > MAX_LOOKED_UP:
                    self._looked_up.clear()
                now = time.monotonic()
                for name in _unknown_relations(analysis) & unknown:
                    self._looked_up[name] = now
            effects = statement_effects(sql, analysis, catalog)
        except RegogateError as exc:
            self.recorder.start(sql, protocol, "")
            self.recorder.refusal(exc, self._revision())
            return self._refuse(_Verdict(None, exc))
        except Exception:  # an analyser bug must deny, never pass or crash the session
            log.exception("statement analysis failed")
            failed = PolicyUnavailable("regogate could not analyse the statement; denied")
            self.recorder.start(sql, protocol, "")
            self.recorder.refusal(failed, self._revision())
            return self._refuse(_Verdict(None, failed))
        statements = analysis.statements
        self.recorder.start(
            sql, protocol, statements[0].fingerprint if statements else "", prepared_name
        )
        gate_refusal, settings_only = self._gate_refusal(analysis)
        if gate_refusal is not None:
            if settings_only and protocol == "extended" and "$" in sql:
                # The values come at Bind: the statement is decided then, on them
                # (nothing runs before a Bind).
                return _Verdict(analysis, None, effects, deferred=True)
            self.recorder.refusal(gate_refusal, engine.revision, (GATE_RULE,))
            return self._refuse(_Verdict(analysis, gate_refusal))
        decided: list[Decided] = []
        unknown_cursors = self.cursors.unknown(statements)
        if unknown_cursors:  # decided as opaque: the policy says whether they may run
            statements = tuple(
                opaque_cursor(f) if i in unknown_cursors else f for i, f in enumerate(statements)
            )
        for index, facts in enumerate(statements):
            one, refusal = await self._decide(facts, catalog, index, len(statements))
            if refusal is not None:
                return self._refuse(_Verdict(analysis, refusal))
            if one is not None:
                decided.append(one)
        masks, refusal = decided_masks(statements, [d.decision for d in decided], catalog)
        if refusal is not None:
            self.recorder.refusal(refusal, engine.revision, (GATE_RULE,))
            return self._refuse(_Verdict(analysis, refusal))
        if not any(m is not None for m in masks):
            masks = ()
        ttl = min((d.decision.ttl for d in decided), default=0.0)
        if (
            memo_key is not None
            and ttl > 0
            and len(decided) == len(statements)
            and self._approval is None  # held each time: never replayed
        ):
            memo = _Memo(
                memo_key,
                analysis,
                tuple(decided),
                effects,
                len(sql),
                masks=masks,
                cursors=unknown_cursors,
            )
            self._memo.put(sql_key, memo, min(ttl, MEMO_TTL))
        return _Verdict(analysis, None, effects, masks=masks)

    def _unknown(self, analysis: Analysis, generation: int) -> set[tuple[str, str]]:
        """The relations ``analysis`` names that the snapshot does not know and that a
        lookup might find: not looked up (and not found) in the last LOOKED_UP_TTL
        seconds, and not in ``pg_temp`` (a snapshot never holds temporary relations).
        (An unqualified name of a temporary relation is reported in the path's schema: it
        cannot be told from a qualified name there, so it is looked up.) And the
        relations the session's committed DDL changed, until they are read again."""
        if self._catalog_ticket:  # this session's DDL committed since: they may exist now
            self._looked_up.clear()
        recent = time.monotonic() - LOOKED_UP_TTL
        unknown = {
            (schema, name)
            for schema, name in _unknown_relations(analysis)
            if self._looked_up.get((schema, name), -math.inf) < recent
            and not schema.startswith("pg_temp")
        }
        stale = self._stale()
        if stale:
            named = {(t.schema, t.name) for f in analysis.statements for t in f.tables} & stale
            assert self.engine is not None
            replaced = self.engine.catalogs.replaced(self.conn)
            unknown |= {n for n in named if self._stale_fresh.get(n) != replaced}
        # What this session's open transaction changed cannot be read by a lookup.
        return unknown - self._ddl_names

    async def _catalog(self) -> tuple[CatalogSnapshot, int]:
        """The catalog statements are decided on: the connection's snapshot, without the
        relations DDL in this session's open transaction changed (the side session
        cannot see uncommitted DDL: they are analysed as unknown, fail closed), as a
        generation of this session's own."""
        engine = self.engine
        assert engine is not None
        catalog, generation = await engine.catalog(self.conn)
        if not self._ddl_names:
            return catalog, generation
        key = (generation, frozenset(self._ddl_names))
        overlay = self._overlay
        if overlay is None or overlay[0] != key:
            overlay = self._overlay = (key, catalog.without(self._ddl_names), next(_OVERLAYS))
        return overlay[1], overlay[2]

    def _stale(self) -> set[tuple[str, str]]:
        """The relations this session's committed DDL changed that the background
        refresh may not have read yet (cleared once the refresh that sees the commit has
        completed: docs/catalog.md, *After a session's own DDL*)."""
        engine = self.engine
        seen = engine is not None and engine.catalogs.completed(self.conn) >= self._stale_ticket
        if self._stale_names and seen:
            self._stale_names = set()
            self._stale_fresh.clear()
        return self._stale_names

    async def _analysis(
        self,
        sql: str,
        catalog: CatalogSnapshot,
        generation: int,
        path: tuple[str, ...],
        prepared: Mapping[str, str],
        known: bool,
    ) -> Analysis:
        """The facts of ``sql``: on the event loop, or in a worker when it is large."""
        if len(sql) > BIG_TEXT:
            return await self._analyze_big(sql, catalog, generation, path, prepared, known)
        assert self.engine is not None
        return self.engine.analyze(sql, catalog, generation, path, prepared, path_known=known)

    async def _analyze_big(
        self,
        sql: str,
        catalog: CatalogSnapshot,
        generation: int,
        path: tuple[str, ...],
        prepared: Mapping[str, str],
        known: bool,
    ) -> Analysis:
        """A large text's analysis off the event loop (the budget's analysis workers),
        within the time budget (raises ProgramLimitExceeded past it): the event loop
        serves other sessions meanwhile."""
        engine = self.engine
        assert engine is not None
        mine = dict(prepared)  # the session's own may change while the thread reads it
        return await self.budget.run(
            lambda: engine.analyze(sql, catalog, generation, path, mine, path_known=known)
        )

    def _unread(
        self, sql: str, protocol: str, exc: RegogateError, prepared: str | None = None
    ) -> _Verdict:
        """A text refused before anything read it: recorded by its length only."""
        self.recorder.start_unread(len(sql), protocol, prepared)
        self.recorder.refusal(exc, self._revision(), (GATE_RULE,))
        return _Verdict(None, exc)

    async def _look_again(self, names: set[tuple[str, str]]) -> tuple[CatalogSnapshot, int]:
        """The snapshot with ``names`` read now (bounded wait); the current one if the
        lookup fails: the names stay unknown and the policy decides on that."""
        engine = self.engine
        assert engine is not None
        self._catalog_ticket = 0
        began = time.perf_counter()
        replaced = engine.catalogs.replaced(self.conn)  # before: a read may replace it meanwhile
        try:
            catalog, generation = await engine.lookup_catalog(
                self.conn, sorted(names), timeout=LOOK_AGAIN_TIMEOUT
            )
        except RegogateError as exc:
            log.info("catalog lookup of unknown relations failed: %s", exc.message)
            return await self._catalog()
        finally:
            engine.stats.look_agains += 1
            engine.stats.look_again_seconds += time.perf_counter() - began
        if self._ddl_names:  # uncommitted DDL changed these: unknown still (_catalog)
            return catalog.without(self._ddl_names), next(_OVERLAYS)
        for name in self._stale_names & names:
            self._stale_fresh[name] = replaced
        return catalog, generation

    def _gate_refusal(self, analysis: Analysis) -> tuple[RegogateError | None, bool]:
        """What the gate refuses whatever the policy says: changes of the lexing settings,
        settings it cannot follow, and leaving the role the policy chose; and whether
        only setting changes are refused (values bound later may make them acceptable)."""
        reset = self.model.params.reset
        for index, facts in enumerate(analysis.statements):
            changes = facts.setting_changes
            why = refused_change(changes, reset)
            if why is not None and facts.verb == "EXECUTE" and any(c.name is None for c in changes):
                why = (
                    "EXECUTE of a prepared statement regogate does not know (or cannot read): "
                    "what it would run cannot be decided"
                )
            where = _where(facts, index, len(analysis.statements))
            if self.upstream_role is not None and ROLE_SETTINGS & set(facts.settings):
                return PolicyDenied(
                    f"this session runs as role {self.upstream_role!r} chosen by the policy; "
                    f"changing {', '.join(sorted(ROLE_SETTINGS & set(facts.settings)))} is "
                    f"not allowed",
                    detail=where,
                ), False
            if why is not None:
                settings_only = facts.verb != "EXECUTE"
                refusal = PolicyDenied(why, detail=f"{where}; refused by regogate itself")
                return refusal, settings_only
        return None, False

    def _replay(self, sql: str, protocol: str, memo: _Memo) -> _Verdict:
        """A statement text this session had allowed, same catalog, path and revision,
        within the decisions' ttl: the same verdict, recorded as cached decisions."""
        assert self.engine is not None
        stats = self.engine.stats
        stats.decisions += len(memo.decided)
        stats.cache_hits += len(memo.decided)
        rec = self.recorder
        if rec.enabled:
            body = memo.bodies.get(protocol)
            if body is None:  # the first replay: build the record once
                statements = memo.analysis.statements
                rec.start(sql, protocol, statements[0].fingerprint if statements else "")
                for decided in memo.decided:
                    rec.decision(Decided(decided.decision, decided.input_sha256, True))
                body = memo.bodies[protocol] = rec.serialized()
            rec.reuse(body)
        return _Verdict(memo.analysis, None, memo.effects, masks=memo.masks)

    async def _decide(
        self, facts: StatementFacts, catalog: CatalogSnapshot, index: int, total: int
    ) -> tuple[Decided | None, RegogateError | None]:
        statement = to_input(facts, catalog)
        assert self.engine is not None
        try:
            decided = await self.engine.decide(self.policy_input(statement))
        except RegogateError as exc:
            self.recorder.refusal(exc, self._revision())
            return None, exc
        except Exception:
            log.exception("policy decision failed")
            failed = PolicyUnavailable("the policy engine failed; statement denied (fail closed)")
            self.recorder.refusal(failed, self._revision())
            return None, failed
        self.recorder.decision(decided)
        return decided, self._refusal(decided.decision, facts, index, total)

    def _refusal(
        self, decision: Decision, facts: StatementFacts, index: int, total: int
    ) -> RegogateError | None:
        detail = f"{_where(facts, index, total)}; policy revision {decision.revision}"
        if decision.rules:
            detail += f"; rules: {', '.join(decision.rules)}"
        if self.approval_hold is not None and decision.outcome == "needs_approval":
            self._approval = merge(self._approval, decision.approval)  # held, not refused
        else:
            why = decision.refusal()
            if why is not None:
                return PolicyDenied(why, detail=detail)
        if decision.upstream_role is not None and decision.upstream_role != self.upstream_role:
            return PolicyDenied(
                f"the policy requires role {decision.upstream_role!r} for this statement, but "
                f"this session runs as {self.upstream_role or 'the connection login role'!r}",
                detail=detail,
                hint="reconnect so the session starts under the role the policy names",
            )
        return None

    async def _function_call(self, frame: Frame) -> RegogateError | None:
        self.statements += 1
        self.recorder.start("<FunctionCall>", "function", "")
        blocked = self.healthy() if self.healthy is not None else None
        if blocked is None:
            blocked = await self._settle(None)
        if blocked is not None:
            self.denied += 1
            return blocked
        if self.engine is None:
            return None
        try:
            decided = await self.engine.decide(self.policy_input(FUNCTION_CALL))
        except RegogateError as exc:
            self.denied += 1
            self.recorder.refusal(exc, self._revision())
            return exc
        self.recorder.decision(decided)
        decision = decided.decision
        if self.approval_hold is not None and decision.outcome == "needs_approval":
            # Held like a statement: bound to the function and the exact argument bytes.
            call = FunctionCall.decode(frame.body)
            bound = BoundStatement(
                f'<FunctionCall of function "{call.oid}">',
                call.arg_formats,
                statement_params(call.args),
                (call.result_format,),
            )
            return await self._hold(bound, decision.approval)
        why = decision.refusal()
        if why is not None:
            self.denied += 1
            return PolicyDenied(why, detail=f"FUNCTION CALL; revision {decision.revision}")
        return None

    def _refuse(self, verdict: _Verdict) -> _Verdict:
        self.denied += 1
        return verdict

    def _revision(self) -> str:
        return self.engine.revision if self.engine else "off"

    def note_ddl(self, analysis: Analysis | None) -> None:
        if analysis is None:
            return
        for facts in analysis.statements:
            if facts.ddl and facts.verb not in SNAPSHOT_UNCHANGED:
                self._ddl_pending = True
                made = [t for t in facts.tables if "ddl" in t.access]
                if not made or any(t.schema != "pg_temp" for t in made):
                    self._ddl_changes = True  # else: no snapshot holds temporary relations
                if len(self._ddl_names) < MAX_STALE_NAMES:
                    self._ddl_names.update(
                        (t.schema, t.name) for t in made if not t.schema.startswith("pg_temp")
                    )


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _unknown_relations(analysis: Analysis) -> set[tuple[str, str]]:
    return {
        (t.schema, t.name) for f in analysis.statements for t in f.tables if t.kind == "unknown"
    }


def _bind_names(body: bytes) -> tuple[str, str]:
    """A Bind's portal and statement names, without decoding its parameters."""
    parts = body.split(b"\x00", 2)
    if len(parts) < 3:
        return Bind.decode(body).portal, ""  # malformed: decode raises the protocol error
    return parts[0].decode("utf-8", "replace"), parts[1].decode("utf-8", "replace")


def _where(facts: StatementFacts, index: int, total: int) -> str:
    return f"statement {index + 1} of {total} ({facts.verb})" if total > 1 else facts.verb


class GateResults:
    """The session's result hook while a policy gate runs: the gate follows every
    upstream message, then the denials put the policy's errors back in place."""

    active = True

    def __init__(self, gate: PolicyGate, denials: Denials):
        self.gate = gate
        self.denials = denials

    def on_backend(self, frame: Frame) -> Sequence[Frame]:
        masker = self.gate.masker
        if frame.tag == b"D":  # rows answer nothing; rewritten while masks apply
            return (masker.row(frame),) if masker.rows is not None else (frame,)
        if masker.idle:
            self.gate.on_backend(frame)
            return self.denials.on_backend(frame)
        head = masker.head()
        self.gate.on_backend(frame)
        out = self.denials.on_backend(frame)
        if len(out) != 1 or out[0] is not frame:
            return out  # the policy's own error, in place of the upstream's
        return masker.answer(frame, head)
