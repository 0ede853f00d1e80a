"""The policy gate with a fake engine and the upstream's answers fed by hand: every
protocol message by allow / deny / policy unavailable, and session state as PostgreSQL
reports it. No sockets, no OPA, no PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import anyio
import pytest

from regogate.config import ConnectionConfig
from regogate.errors import PolicyUnavailable
from regogate.identity import ClientInfo, Identity
from regogate.policy.catalog import CatalogSnapshot, Relation
from regogate.policy.decision import Decision
from regogate.policy.engine import Decided, EngineStats
from regogate.policy.facts import Analysis, analyze
from regogate.proxy.deny import Denials
from regogate.proxy.gate import GateResults, PolicyGate
from regogate.proxy.hooks import NullRecordSink, SessionContext
from regogate.wire.backend import ErrorResponse
from regogate.wire.framing import Frame
from regogate.wire.frontend import Bind, Close, Execute, Flush, FunctionCall, Parse, Query, Sync

CATALOG = CatalogSnapshot(
    relations={
        ("public", "customers"): Relation("public", "customers", "table", ("id", "ssn")),
        ("hidden", "customers"): Relation("hidden", "customers", "table", ("id", "note")),
    },
    schemas=frozenset({"public", "hidden", "pg_catalog"}),
)


@dataclass
class FakeEngine:
    """Denies reading any ``*.ssn`` column; ``down`` makes every decision unavailable."""

    cache_size: int = 0
    stats: EngineStats = field(default_factory=EngineStats)
    down: bool = False
    rev: str = "r1"
    generation: int = 1
    inputs: list[Mapping[str, object]] = field(default_factory=list)
    refreshes: int = 0
    looked_up: list[tuple[tuple[str, str], ...]] = field(default_factory=list)
    settles: int = 0
    refreshes_completed: int = 0
    replacements: int = 0  # full reads that replaced the snapshot (CatalogCache.replaced)
    ttl: float = 0.0  # of each decision (memoised by the gate when > 0)
    invalidations: list[bool] = field(default_factory=list)

    @property
    def revision(self) -> str:
        return self.rev

    def ready(self) -> bool:
        return True

    async def catalog(self, conn: ConnectionConfig) -> tuple[CatalogSnapshot, int]:
        return CATALOG, self.generation

    def catalog_generation(self, conn: ConnectionConfig) -> int | None:
        return self.generation

    @property
    def catalogs(self) -> FakeEngine:
        return self  # the catalog cache's part of the engine, too

    def invalidate(self, conn: ConnectionConfig, *, changed: bool = True) -> int:
        self.invalidations.append(changed)
        self.generation += 1
        return self.generation

    async def settled(
        self, conn: ConnectionConfig, *, after: int | None = None, timeout: float
    ) -> bool:
        self.settles += 1
        return True

    def completed(self, conn: ConnectionConfig) -> int:
        return self.refreshes_completed

    def replaced(self, conn: ConnectionConfig) -> int:
        return self.replacements

    async def refresh_catalog(
        self, conn: ConnectionConfig, *, timeout: float
    ) -> tuple[CatalogSnapshot, int]:
        self.refreshes += 1
        self.generation += 1
        return CATALOG, self.generation

    async def lookup_catalog(
        self, conn: ConnectionConfig, names: Sequence[tuple[str, str]], *, timeout: float
    ) -> tuple[CatalogSnapshot, int]:
        self.refreshes += 1  # counted with refreshes: a look at the catalog again
        self.looked_up.append(tuple(names))
        return await self.catalog(conn)

    def analyze(
        self,
        sql: str,
        catalog: CatalogSnapshot,
        generation: int,
        search_path: tuple[str, ...],
        prepared: Mapping[str, str],
        *,
        path_known: bool = True,
    ) -> Analysis:
        return analyze(sql, catalog.with_search_path(search_path), prepared)

    async def decide(self, policy_input: Mapping[str, object]) -> Decided:
        if self.down:
            raise PolicyUnavailable("the policy engine is unavailable (test)")
        self.inputs.append(policy_input)
        statement = policy_input["statement"]
        assert isinstance(statement, dict)
        reads = statement["columns"]["read"]
        deny = tuple(f"reads {c}" for c in reads if c.endswith(".ssn"))
        return Decided(Decision(not deny, deny, revision=self.rev, ttl=self.ttl), "0" * 64, False)


def context() -> SessionContext:
    conn = ConnectionConfig("bank", "127.0.0.1", 5432, "bank", "rg", None)
    ident = Identity("agent", ("mcp-agents",), "token", "static", "0" * 64)
    client = ClientInfo("127.0.0.1", 5000, "agent", None, False)
    return SessionContext("s1", ident, client, conn, {}, 4242)


def gate(engine: FakeEngine | None = None) -> tuple[PolicyGate, FakeEngine]:
    engine = engine or FakeEngine()
    g = PolicyGate(engine, context(), Denials(), NullRecordSink())
    g.start({"search_path": '"$user", public'}, {"search_path": '"$user", public'})
    return g, engine


def frame(encoded: bytes) -> Frame:
    return Frame(encoded[:1], encoded[5:])


def admit(g: PolicyGate, encoded: bytes) -> list[Frame]:
    async def go() -> list[Frame]:
        return list(await g.admit(frame(encoded)))

    return anyio.run(go)


def answer(g: PolicyGate, *messages: tuple[bytes, bytes]) -> None:
    for tag, body in messages:
        g.on_backend(Frame(tag, body))


def denied(frames: list[Frame]) -> bool:
    return any(b"rg_denied_" in f.body for f in frames)


SSN = "select ssn from customers"
OK = "select id from customers"

# (message, engine down?, expected: "pass" | "deny")
MESSAGES = [
    ("query allowed", Query(OK).encode(), False, "pass"),
    ("query denied", Query(SSN).encode(), False, "deny"),
    ("query, policy unavailable", Query(OK).encode(), True, "deny"),
    ("parse allowed", Parse("s", OK).encode(), False, "pass"),
    ("parse denied", Parse("s", SSN).encode(), False, "deny"),
    ("parse, policy unavailable", Parse("", OK).encode(), True, "deny"),
    ("function call, policy unavailable", FunctionCall(1234, (), ()).encode(), True, "deny"),
    ("multi-statement, one denied", Query(f"{OK}; {SSN}").encode(), False, "deny"),
]


@pytest.mark.parametrize(
    ("message", "down", "expected"), [m[1:] for m in MESSAGES], ids=[m[0] for m in MESSAGES]
)
def test_messages(message: bytes, down: bool, expected: str) -> None:
    g, _ = gate(FakeEngine(down=down))
    out = admit(g, message)
    if expected == "pass":
        assert [f.encode() for f in out] == [message]
    else:
        assert denied(out) or b"RAISE EXCEPTION" in out[0].body
        assert g.denied == 1


def test_sync_bind_execute_pass_untouched() -> None:
    g, _ = gate()
    admit(g, Parse("", OK).encode())
    for message in (Bind("", "").encode(), Execute("").encode(), Sync().encode()):
        assert [f.encode() for f in admit(g, message)] == [message]


def test_bind_of_a_statement_the_gate_never_saw_is_denied() -> None:
    g, _ = gate()
    assert denied(admit(g, Bind("", "nosuch").encode()))
    assert denied(admit(g, Bind("", "").encode()))


def test_close_then_parse_pipelined_keeps_the_new_statement() -> None:
    # Close(S, s) and Parse(s) in one write: the CloseComplete that arrives afterwards
    # closes the old statement, not the one the Parse made.
    g, engine = gate()
    admit(g, Parse("s", OK).encode())
    answer(g, (b"1", b""))
    admit(g, Close(b"S", "s").encode())
    admit(g, Parse("s", "select id from hidden.customers").encode())
    admit(g, Sync().encode())
    answer(g, (b"3", b""), (b"1", b""), (b"Z", b"I"))
    engine.rev = "r2"  # so the Bind is decided again, on the new text
    assert not denied(admit(g, Bind("", "s").encode()))
    tables = engine.inputs[-1]["statement"]["tables"]  # type: ignore[index]
    assert [t["schema"] for t in tables] == ["hidden"]


def test_a_failed_parse_leaves_the_old_named_statement() -> None:
    g, engine = gate()
    admit(g, Parse("s", "select id from hidden.customers").encode())
    answer(g, (b"1", b""))
    admit(g, Parse("s", OK).encode())  # PostgreSQL: already exists
    answer(g, (b"E", b""))
    engine.rev = "r2"
    admit(g, Bind("", "s").encode())
    tables = engine.inputs[-1]["statement"]["tables"]  # type: ignore[index]
    assert [t["schema"] for t in tables] == ["hidden"]


def test_a_failed_unnamed_parse_leaves_none() -> None:
    g, _ = gate()
    admit(g, Parse("", OK).encode())
    answer(g, (b"1", b""))
    admit(g, Parse("", "select id from customers where").encode())  # a syntax error
    answer(g, (b"E", b""))
    assert denied(admit(g, Bind("", "").encode()))


def test_bind_is_decided_again_after_a_policy_change() -> None:
    g, engine = gate()
    admit(g, Parse("s", "select id from customers").encode())
    answer(g, (b"1", b""))
    bind = Bind("", "s").encode()
    assert [f.encode() for f in admit(g, bind)] == [bind]
    decisions = len(engine.inputs)
    engine.rev = "r2"
    assert [f.encode() for f in admit(g, bind)] == [bind]
    assert len(engine.inputs) == decisions + 1  # decided again under r2
    engine.rev, engine.down = "r3", True
    assert denied(admit(g, bind))  # fail closed at Bind


def test_bind_after_a_path_change_is_decided_on_the_current_path() -> None:
    # PostgreSQL re-analyses a prepared statement under the current search_path when it
    # differs from the one it was analysed under (plancache.c RevalidateCachedQuery).
    g, engine = gate()
    admit(g, Query("set search_path = hidden").encode())
    answer(g, (b"C", b"SET\x00"), (b"Z", b"I"))
    admit(g, Parse("s", "select * from customers").encode())
    answer(g, (b"1", b""))
    assert [t["schema"] for t in engine.inputs[-1]["statement"]["tables"]] == ["hidden"]  # type: ignore[index]
    admit(g, Query("set search_path = public").encode())
    answer(g, (b"C", b"SET\x00"), (b"Z", b"I"))
    out = admit(g, Bind("", "s").encode())
    assert denied(out)  # public.customers has ssn
    tables = engine.inputs[-1]["statement"]["tables"]  # type: ignore[index]
    assert [t["schema"] for t in tables] == ["public"]


def test_bind_of_a_sql_prepared_statement_is_decided_as_its_execute() -> None:
    g, engine = gate()
    admit(g, Query("prepare s as select * from customers").encode())
    # denied at PREPARE already (reads ssn): PostgreSQL never creates it
    answer(g, (b"E", b""), (b"Z", b"I"))
    admit(g, Query("set search_path = hidden").encode())
    answer(g, (b"C", b"SET\x00"), (b"Z", b"I"))
    admit(g, Query("prepare s as select * from customers").encode())
    answer(g, (b"C", b"PREPARE\x00"), (b"Z", b"I"))
    admit(g, Query("set search_path = public").encode())
    answer(g, (b"C", b"SET\x00"), (b"Z", b"I"))
    assert denied(admit(g, Bind("", "s").encode()))
    assert engine.inputs[-1]["statement"]["verbs"] == ["EXECUTE", "SELECT"]  # type: ignore[index]


def test_a_statement_waiting_on_an_unsynced_execute_asks_for_its_answer() -> None:
    """No Flush after the Execute itself (clients send a Sync with it); the statement
    that must wait for its answer sends one (PostgreSQL answers only at Sync or Flush)."""
    g, engine = gate()
    sent: list[bytes] = []

    async def drain(extra: bytes) -> None:
        sent.append(extra)

    g.attach(drain)
    admit(g, Parse("", "set search_path = hidden").encode())
    admit(g, Bind("", "").encode())
    assert [f.tag for f in admit(g, Execute("").encode())] == [b"E"]

    async def go() -> list[Frame]:
        result: list[Frame] = []
        async with anyio.create_task_group() as tg:

            async def query() -> None:
                result.extend(await g.admit(frame(Query("select * from customers").encode())))

            tg.start_soon(query)
            await anyio.sleep(0.05)
            assert not result and sent == [Flush().encode()]
            answer(g, (b"1", b""), (b"2", b""), (b"C", b"SET\x00"))
        return result

    assert [f.tag for f in anyio.run(go)] == [b"Q"]
    tables = engine.inputs[-1]["statement"]["tables"]  # type: ignore[index]
    assert [t["schema"] for t in tables] == ["hidden"]


@pytest.mark.parametrize(
    ("setup", "answers", "expected_schema"),
    [
        ("set search_path = hidden", [(b"C", b"SET\x00"), (b"Z", b"I")], "hidden"),
        ("set search_path = hidden", [(b"E", b""), (b"Z", b"I")], "public"),
        ("set local search_path = hidden", [(b"C", b"SET\x00"), (b"Z", b"I")], "public"),
        (
            "begin; set search_path = hidden; rollback",
            [(b"C", b"BEGIN\x00"), (b"C", b"SET\x00"), (b"C", b"ROLLBACK\x00"), (b"Z", b"I")],
            "public",
        ),
        (
            "set search_path = hidden; select 1/0",
            [(b"C", b"SET\x00"), (b"E", b""), (b"Z", b"I")],
            "public",
        ),
    ],
)
def test_search_path_as_reported(
    setup: str, answers: list[tuple[bytes, bytes]], expected_schema: str
) -> None:
    g, engine = gate()
    admit(g, Query(setup).encode())
    answer(g, *answers)
    admit(g, Query("select * from customers").encode())
    tables = engine.inputs[-1]["statement"]["tables"]  # type: ignore[index]
    assert [t["schema"] for t in tables] == [expected_schema]


def test_waits_for_a_setting_change_in_flight() -> None:
    g, engine = gate()
    sent: list[bytes] = []

    async def drain(extra: bytes) -> None:
        sent.append(extra)

    g.attach(drain)

    async def go() -> list[Frame]:
        await g.admit(frame(Query("set search_path = hidden").encode()))
        async with anyio.create_task_group() as tg:
            result: list[Frame] = []

            async def second() -> None:
                result.extend(await g.admit(frame(Query("select * from customers").encode())))

            tg.start_soon(second)
            await anyio.sleep(0.05)
            assert not result  # still waiting for the SET's answer
            answer(g, (b"C", b"SET\x00"), (b"Z", b"I"))
        return result

    anyio.run(go)
    tables = engine.inputs[-1]["statement"]["tables"]  # type: ignore[index]
    assert [t["schema"] for t in tables] == ["hidden"]


def test_a_set_local_ended_by_a_sync_in_flight_is_waited_for() -> None:
    """Finding 7: Bind + Execute of a SET LOCAL, a Sync, then a Query, pipelined. When
    the Execute's CommandComplete arrives before the Sync's ReadyForQuery, the setting is
    tentative: the Query must wait for the Sync that takes it back, not be decided under
    it (PostgreSQL reads ``public.customers``)."""
    g, engine = gate()
    flushed: list[bytes] = []

    async def drain(extra: bytes) -> None:
        flushed.append(extra)

    g.attach(drain)
    admit(g, Parse("s1", "set local search_path = hidden").encode())
    admit(g, Sync().encode())
    answer(g, (b"1", b""), (b"Z", b"I"))

    async def go() -> list[Frame]:
        await g.admit(frame(Bind("c1", "s1").encode()))
        await g.admit(frame(Execute("c1").encode()))
        await g.admit(frame(Sync().encode()))
        result: list[Frame] = []
        async with anyio.create_task_group() as tg:

            async def query() -> None:
                result.extend(await g.admit(frame(Query("select * from customers").encode())))

            tg.start_soon(query)
            await anyio.sleep(0.02)
            answer(g, (b"2", b""), (b"C", b"SET\x00"))  # the SET LOCAL is in effect now
            await anyio.sleep(0.05)
            assert not result  # ... until the Sync's answer: still waiting
            answer(g, (b"Z", b"I"))
        return result

    out = anyio.run(go)
    assert [f.tag for f in out] == [b"Q"]
    tables = engine.inputs[-1]["statement"]["tables"]  # type: ignore[index]
    assert [t["schema"] for t in tables] == ["public"]


def test_lexing_setting_reported_ends_the_session() -> None:
    from regogate.errors import SessionStateLost

    g, _ = gate()
    with pytest.raises(SessionStateLost):
        answer(g, (b"S", b"standard_conforming_strings\x00off\x00"))
    answer(g, (b"S", b"client_encoding\x00UTF8\x00"))  # expected values pass


def test_gate_refuses_lexing_changes_whatever_the_policy() -> None:
    g, engine = gate()
    out = admit(g, Query("set standard_conforming_strings = off").encode())
    assert b"RAISE EXCEPTION" in out[0].body and g.denied == 1
    assert not engine.inputs  # refused before any policy decision


def test_error_response_of_a_denial_is_the_policys() -> None:
    g, _ = gate()
    out = admit(g, Parse("s", SSN).encode())
    marker = out[0].body.split(b"SELECT ", 1)[1].split(b"\x00", 1)[0]
    upstream_error = ErrorResponse.make("42703", f'column "{marker.decode()}" does not exist')
    swapped = g.denials.on_backend(Frame(b"E", upstream_error.encode()[5:]))
    assert b"reads public.customers.ssn" in swapped[0].body


def test_unknown_relation_is_looked_up_again_once() -> None:
    g, engine = gate()
    admit(g, Query("select * from newly_created").encode())
    assert engine.refreshes == 1
    tables = engine.inputs[-1]["statement"]["tables"]  # type: ignore[index]
    assert tables[0]["kind"] == "unknown"  # still unknown: the policy decides on that
    admit(g, Query("select * from newly_created").encode())
    assert engine.refreshes == 1  # not looked up again for the same catalog


def test_relations_in_pg_temp_are_never_looked_up_again() -> None:
    # The catalog leaves temporary relations out: a fresh snapshot cannot know them.
    g, engine = gate()
    admit(g, Query("create temp table scratch (id int)").encode())
    answer(g, (b"C", b"CREATE TABLE\x00"), (b"Z", b"I"))
    assert engine.invalidations == [False]  # a version check will do, no read needed
    for sql in ("insert into pg_temp.scratch values (1)", "select * from pg_temp.other"):
        admit(g, Query(sql).encode())
        engine.generation += 1  # the catalog changed meanwhile (other sessions' DDL)
    assert engine.refreshes == 0
    tables = engine.inputs[-2]["statement"]["tables"]  # type: ignore[index]
    assert tables[0]["kind"] == "unknown"  # still decided on as unknown
    # Unqualified, it cannot be told from public.scratch, which a look may find.
    admit(g, Query("select * from scratch").encode())
    assert engine.refreshes == 1


@pytest.mark.parametrize(
    ("sql", "refresh"),
    [
        ("create table t2 (id int)", True),
        ("alter table customers add column note text", True),
        ("create index on customers (id)", False),
        ("grant select on customers to someone", False),
        ("comment on table customers is 'x'", False),
        ("create trigger tr before insert on customers for each row execute function f()", False),
    ],
)
def test_only_ddl_that_may_change_a_snapshot_asks_for_a_refresh(sql: str, refresh: bool) -> None:
    g, engine = gate()
    admit(g, Query(sql).encode())
    answer(g, (b"C", b"OK\x00"), (b"Z", b"I"))
    assert engine.invalidations == ([True] if refresh else [])


@dataclass
class CreatingEngine(FakeEngine):
    """A catalog that holds ``created`` once the refresh after the session's DDL is done."""

    created: bool = False  # committed
    found: bool = False  # read by a lookup (the background refresh has not run)

    async def catalog(self, conn: ConnectionConfig) -> tuple[CatalogSnapshot, int]:
        if not self.found:
            return CATALOG, self.generation
        rel = Relation("public", "created", "table", ("id",))
        return CatalogSnapshot(
            relations={**CATALOG.relations, ("public", "created"): rel},
            schemas=CATALOG.schemas,
        ), self.generation

    def invalidate(self, conn: ConnectionConfig, *, changed: bool = True) -> int:
        self.created = True  # the DDL committed: a lookup finds the table now
        return super().invalidate(conn, changed=changed)

    async def lookup_catalog(
        self, conn: ConnectionConfig, names: Sequence[tuple[str, str]], *, timeout: float
    ) -> tuple[CatalogSnapshot, int]:
        if self.created and ("public", "created") in names:
            self.generation += 1  # found: a new generation with it
            self.found = True
        return await super().lookup_catalog(conn, names, timeout=timeout)


def test_after_ddl_an_unknown_relation_is_looked_up_at_once() -> None:
    g, engine = gate(CreatingEngine())
    assert isinstance(engine, CreatingEngine)
    admit(g, Query("create table created (id int)").encode())
    # Not committed yet: no lookup can see it (decided on as unknown).
    admit(g, Query("insert into created values (1)").encode())
    assert engine.looked_up == []
    tables = engine.inputs[-1]["statement"]["tables"]  # type: ignore[index]
    assert tables[0]["kind"] == "unknown"
    answer(g, (b"C", b"CREATE TABLE\x00"), (b"C", b"INSERT 0 1\x00"))
    answer(g, (b"Z", b"I"))  # committed: the session's DDL may have made it
    admit(g, Query("insert into created values (3)").encode())
    assert engine.looked_up == [(("public", "created"),)]
    assert engine.settles == 0  # no waiting for a full read
    tables = engine.inputs[-1]["statement"]["tables"]  # type: ignore[index]
    assert tables == [{"schema": "public", "name": "created", "access": ["write"], "kind": "table"}]
    admit(g, Query("select * from not_created").encode())  # looked up, not found
    admit(g, Query("select * from not_created").encode())  # ... once per generation
    assert engine.looked_up[1:] == [(("public", "not_created"),)]


def test_a_relation_changed_by_uncommitted_ddl_is_unknown_until_read_again() -> None:
    """BEGIN; CREATE OR REPLACE VIEW v ...; SELECT FROM v: the side session cannot see
    the new definition; the old one must not decide the SELECT."""
    g, engine = gate()
    admit(g, Query("begin").encode())
    answer(g, (b"C", b"BEGIN\x00"), (b"Z", b"T"))
    admit(g, Query("alter table customers add column note text").encode())
    answer(g, (b"C", b"ALTER TABLE\x00"), (b"Z", b"T"))
    admit(g, Query("select id from customers").encode())
    tables = engine.inputs[-1]["statement"]["tables"]  # type: ignore[index]
    assert tables[0]["kind"] == "unknown" and engine.looked_up == []
    answer(g, (b"T", b"\x00\x00"), (b"C", b"SELECT 0\x00"), (b"Z", b"T"))
    admit(g, Query("commit").encode())
    answer(g, (b"C", b"COMMIT\x00"), (b"Z", b"I"))
    # Committed: read again before deciding, until the refresh that sees it completes.
    admit(g, Query("select id from customers").encode())
    assert engine.looked_up == [(("public", "customers"),)]
    assert engine.inputs[-1]["statement"]["tables"][0]["kind"] == "table"  # type: ignore[index]
    engine.refreshes_completed = engine.generation  # that refresh completed
    admit(g, Query("select id, full_name from customers").encode())
    assert len(engine.looked_up) == 1


def test_each_relation_changed_by_committed_ddl_is_read_again_until_read() -> None:
    """Two relations altered in one transaction: a lookup of the first after the commit
    does not make the second fresh (it was decided on its old definition before). A read
    relation stays fresh until a full read replaces the snapshot (one begun before the
    commit would bring its old rows back)."""
    g, engine = gate()
    admit(g, Query("begin").encode())
    answer(g, (b"C", b"BEGIN\x00"), (b"Z", b"T"))
    admit(g, Query("alter table customers add column a text").encode())
    answer(g, (b"C", b"ALTER TABLE\x00"), (b"Z", b"T"))
    admit(g, Query("alter table hidden.customers add column b text").encode())
    answer(g, (b"C", b"ALTER TABLE\x00"), (b"Z", b"T"))
    admit(g, Query("commit").encode())
    answer(g, (b"C", b"COMMIT\x00"), (b"Z", b"I"))
    admit(g, Query("select id from customers").encode())
    assert engine.looked_up == [(("public", "customers"),)]
    answer(g, (b"T", b"\x00\x00"), (b"C", b"SELECT 0\x00"), (b"Z", b"I"))
    admit(g, Query("select id from hidden.customers").encode())
    assert engine.looked_up[1:] == [(("hidden", "customers"),)]
    answer(g, (b"T", b"\x00\x00"), (b"C", b"SELECT 0\x00"), (b"Z", b"I"))
    admit(g, Query("select id from customers where id = 1").encode())
    assert len(engine.looked_up) == 2  # read after the commit, nothing replaced it since
    answer(g, (b"T", b"\x00\x00"), (b"C", b"SELECT 0\x00"), (b"Z", b"I"))
    engine.replacements += 1  # a full read (maybe begun before the commit) replaced it
    admit(g, Query("select id from customers where id = 2").encode())
    assert engine.looked_up[2:] == [(("public", "customers"),)]
    answer(g, (b"T", b"\x00\x00"), (b"C", b"SELECT 0\x00"), (b"Z", b"I"))
    engine.refreshes_completed = engine.generation  # the read that sees the commit is done
    engine.replacements += 1
    admit(g, Query("select id from hidden.customers where id = 3").encode())
    assert len(engine.looked_up) == 3


def test_a_memoised_decision_is_not_replayed_after_the_sessions_own_ddl() -> None:
    """The snapshot's generation does not change at a commit (the refresh comes later): a
    decision memoised before the session's DDL must not be replayed after it."""
    g, engine = gate(FakeEngine(cache_size=100, ttl=60.0))
    for _ in range(2):
        admit(g, Query("select id from customers").encode())
        answer(g, (b"T", b"\x00\x00"), (b"C", b"SELECT 0\x00"), (b"Z", b"I"))
    assert len(engine.inputs) == 1  # the second was replayed
    admit(g, Query("alter table customers rename column ssn to id2").encode())
    answer(g, (b"C", b"ALTER TABLE\x00"), (b"Z", b"I"))
    admit(g, Query("select id from customers").encode())
    assert len(engine.inputs) == 3  # decided again (the ALTER, then this), on a lookup
    assert engine.looked_up == [(("public", "customers"),)]


def test_ddl_earlier_in_the_same_text_makes_the_relation_unknown() -> None:
    g, engine = gate()
    admit(g, Query("alter table customers add column note text; select id from customers").encode())
    tables = engine.inputs[-1]["statement"]["tables"]  # type: ignore[index]
    assert tables[0]["kind"] == "unknown"
    g2, engine = gate()
    admit(g2, Query("grant select on customers to someone; select id from customers").encode())
    tables = engine.inputs[-1]["statement"]["tables"]  # type: ignore[index]
    assert tables[0]["kind"] == "table"  # GRANT changes nothing a snapshot holds


@pytest.mark.parametrize(
    ("sql", "waits"),
    [
        ("lock table customers in access exclusive mode nowait", True),
        ("select * from customers for update NOWAIT", True),
        ("lock table customers in access exclusive mode", False),
        ("select id from customers", False),
        # VACUUM: a catalog read's snapshot in flight would keep it from marking pages
        # all-visible (PostgreSQL's create_index test then plans other scans)
        ("vacuum analyze customers", True),
        ("VACUUM (FREEZE) customers", True),
        ("insert into t values (1);vacuum t", True),
        # words that only contain them: no wait (each made a paced catalog read urgent)
        ("create table t (a int) with (autovacuum_enabled = off)", False),
        ("set vacuum_freeze_min_age = 10", False),
        ("select nowaiting from customers", False),
    ],
)
def test_a_statement_that_fails_on_locks_waits_for_the_catalog_reads(sql: str, waits: bool) -> None:
    # The catalog's side session may hold AccessShareLock on a view's relations while it
    # reads the view (after DDL): a NOWAIT lock would fail on it, a plain one waits.
    g, engine = gate()
    admit(g, Query(sql).encode())
    assert engine.settles == (1 if waits else 0)


def test_under_a_lock_timeout_every_statement_waits_for_the_catalog_reads() -> None:
    g, engine = gate()
    g.model.params.set("lock_timeout", "100ms", local=False)
    admit(g, Query("lock table customers in access exclusive mode").encode())
    assert engine.settles == 1
    g.model.params.set("lock_timeout", "0", local=False)
    admit(g, Query("lock table customers in access exclusive mode").encode())
    assert engine.settles == 1


def test_a_pipelined_denial_keeps_its_message_past_an_earlier_ready() -> None:
    g, _ = gate()
    admit(g, Query(OK).encode())
    out = admit(g, Query(SSN).encode())
    marker = out[0].body.split(b"rg_denied_", 1)[1][:16]
    results = GateResults(g, g.denials)
    results.on_backend(Frame(b"C", b"SELECT 2\x00"))
    results.on_backend(Frame(b"Z", b"I"))  # ends the first Query only
    upstream_error = ErrorResponse.make("P0001", f"rg_denied_{marker.decode()}")
    (swapped,) = results.on_backend(Frame(b"E", upstream_error.encode()[5:]))
    assert b"reads public.customers.ssn" in swapped.body


SET_CONFIG = "select set_config($1, $2, false)"


@pytest.mark.parametrize(
    ("values", "formats", "allowed"),
    [
        ((b"application_name", b"x"), (), True),
        ((b"client_encoding", b"UTF8"), (0,), True),
        ((b"standard_conforming_strings", b"off"), (), False),
        ((b"client_encoding", b"GBK"), (), False),
        ((b"standard_conforming_strings", b"off"), (1,), False),  # binary: unreadable
    ],
)
def test_set_config_with_bound_values_is_decided_at_bind(
    values: tuple[bytes, bytes], formats: tuple[int, ...], allowed: bool
) -> None:
    g, _ = gate()
    assert not denied(admit(g, Parse("s", SET_CONFIG).encode()))  # decided at Bind
    answer(g, (b"1", b""))
    out = admit(g, Bind("", "s", formats, values).encode())
    assert denied(out) is not allowed


def test_set_config_bound_search_path_is_followed() -> None:
    g, engine = gate()
    admit(g, Parse("s", "select set_config($1, $2, false)").encode())
    admit(g, Bind("", "s", (), (b"search_path", b"hidden")).encode())
    assert [f.tag for f in admit(g, Execute("").encode())] == [b"E"]
    admit(g, Sync().encode())
    answer(g, (b"1", b""), (b"2", b""), (b"D", b""), (b"C", b"SELECT 1\x00"), (b"Z", b"I"))
    admit(g, Query("select * from customers").encode())
    tables = engine.inputs[-1]["statement"]["tables"]  # type: ignore[index]
    assert [t["schema"] for t in tables] == ["hidden"]
