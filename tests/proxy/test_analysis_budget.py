"""The statement budget: texts over ``[policy] max_statement_bytes`` refused unread with
54000 (Query, Parse, the bound text of a deferred set_config Bind), large texts analysed
in a worker thread within ``[policy] analysis_timeout``, and the threads bounded. A fake
engine; no sockets."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import anyio
import pytest

from regogate.errors import ProgramLimitExceeded
from regogate.policy.catalog import CatalogSnapshot
from regogate.policy.facts import Analysis
from regogate.proxy.analysis_budget import BIG_TEXT, StatementBudget
from regogate.proxy.deny import Denials
from regogate.proxy.gate import GateResults, PolicyGate
from regogate.proxy.hooks import RecordBody
from regogate.proxy.statement_record import Redactor
from regogate.wire.backend import ErrorResponse
from regogate.wire.framing import Frame
from regogate.wire.frontend import Bind, Parse, Query
from tests.proxy.test_gate_unit import SET_CONFIG, FakeEngine, admit, answer, context, denied

LIMIT = 4096


@dataclass
class SpyEngine(FakeEngine):
    """Notes the texts it analyses and the thread that analyses them; ``delay`` slows
    every analysis (seconds)."""

    delay: float = 0.0
    analysed: list[tuple[int, bool]] = field(default_factory=list)  # (length, on main)

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
        self.analysed.append((len(sql), threading.current_thread() is threading.main_thread()))
        if self.delay:
            time.sleep(self.delay)
        return super().analyze(
            sql, catalog, generation, search_path, prepared, path_known=path_known
        )


class ListSink:
    wants_boundaries = False
    observes_results = False

    def __init__(self) -> None:
        self.events: list[tuple[str, RecordBody]] = []

    def upstream(self, data: bytes) -> None:
        return None

    def event(self, kind: str, body: RecordBody) -> None:
        self.events.append((kind, body))

    async def boundary(self) -> None:
        return None


def _redact(sql: str) -> Mapping[str, object]:
    return {"text": sql, "literals": 0, "literals_commitment": None}


def gate(
    engine: SpyEngine | None = None, budget: StatementBudget | None = None
) -> tuple[PolicyGate, SpyEngine, ListSink]:
    engine = engine or SpyEngine()
    sink = ListSink()
    redact: Redactor = _redact
    g = PolicyGate(
        engine,
        context(),
        Denials(),
        sink,
        redact=redact,
        budget=budget or StatementBudget(max_bytes=LIMIT),
    )
    g.start({"search_path": "public"}, {"search_path": "public"})
    return g, engine, sink


def client_error(g: PolicyGate, out: list[Frame]) -> ErrorResponse:
    """The error the client sees for a denial: the upstream fails on the marker, the
    gate's results hook swaps the policy's own ErrorResponse in."""
    marker = b"rg_denied_" + out[0].body.split(b"rg_denied_", 1)[1][:16]
    upstream = ErrorResponse.make("42703", f"column {marker.decode()} does not exist")
    (swapped,) = GateResults(g, g.denials).on_backend(Frame(b"E", upstream.encode()[5:]))
    return ErrorResponse.decode(swapped.body)


def _select(size: int, filler: str = "x") -> str:
    """A statement of ``size`` characters (more bytes when ``filler`` is not ASCII)."""
    head = "select id from customers where id = 1 or '"
    return head + filler * (size - len(head) - 1) + "'"


def test_oversized_is_told_by_utf8_bytes() -> None:
    budget = StatementBudget(max_bytes=LIMIT)
    assert budget.oversized("x" * LIMIT) is None
    assert budget.oversized("x" * (LIMIT + 1)) is not None
    assert budget.oversized("é" * (LIMIT // 2)) is None  # 2 bytes each: exactly the limit
    too_big = budget.oversized("é" * (LIMIT // 2 + 1))
    assert too_big is not None and f"{LIMIT + 2} bytes" in too_big.message
    assert budget.oversized("\udcff" * LIMIT) is None  # a raw byte (surrogateescape): 1 byte


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(lambda sql: Query(sql).encode(), id="query"),
        pytest.param(lambda sql: Parse("s", sql).encode(), id="parse"),
        pytest.param(lambda sql: Parse("", sql).encode(), id="parse-unnamed"),
    ],
)
def test_text_over_the_limit_is_refused_unread_with_54000(message: object) -> None:
    assert callable(message)
    g, engine, sink = gate()
    out = admit(g, message(_select(LIMIT + 1)))
    assert denied(out) and engine.analysed == [] and engine.inputs == []
    error = client_error(g, out)
    assert error.get("C") == "54000"
    assert str(LIMIT) in str(error.get("M")) and "max_statement_bytes" in str(error.get("M"))
    assert g.denied == 1
    ((kind, record),) = sink.events
    assert kind == "stmt" and str(LIMIT + 1) in str(record["text"])
    decisions = record["decisions"]
    assert isinstance(decisions, list) and decisions[0]["sqlstate"] == "54000"


def test_text_at_the_limit_is_decided_and_the_session_goes_on() -> None:
    g, engine, _ = gate()
    assert denied(admit(g, Query(_select(LIMIT + 1)).encode()))
    answer(g, (b"E", b""), (b"Z", b"I"))
    assert not denied(admit(g, Query(_select(LIMIT)).encode()))
    assert engine.analysed == [(LIMIT, True)]  # small: analysed inline, no thread


def test_bound_set_config_text_over_the_limit_is_refused_at_bind() -> None:
    g, engine, _ = gate()
    assert not denied(admit(g, Parse("s", SET_CONFIG).encode()))  # decided at Bind
    answer(g, (b"1", b""))
    value = b"v" * LIMIT
    out = admit(g, Bind("", "s", (), (b"application_name", value)).encode())
    assert denied(out)
    assert client_error(g, out).get("C") == "54000"
    assert all(length < LIMIT for length, _ in engine.analysed)


def test_a_large_text_is_analysed_in_a_worker_thread() -> None:
    big = BIG_TEXT + 100
    g, engine, _ = gate(budget=StatementBudget(max_bytes=4 * BIG_TEXT))
    assert not denied(admit(g, Query(_select(big)).encode()))
    assert engine.analysed == [(big, False)]
    answer(g, (b"C", b"SELECT 1\x00"), (b"Z", b"I"))
    assert not denied(admit(g, Query(_select(big, "é")).encode()))


def test_an_analysis_past_its_time_budget_is_refused_with_54000() -> None:
    budget = StatementBudget(max_bytes=4 * BIG_TEXT, analysis_timeout=0.1)
    g, _, _ = gate(SpyEngine(delay=0.5), budget)
    started = time.monotonic()
    out = admit(g, Query(_select(BIG_TEXT + 1)).encode())
    assert time.monotonic() - started < 0.45  # the gate did not wait for the thread
    error = client_error(g, out)
    assert error.get("C") == "54000" and "analysis_timeout" in str(error.get("M"))


def test_budget_threads_are_bounded_even_past_their_time() -> None:
    budget = StatementBudget(analysis_timeout=0.1, threads=1)
    release = threading.Event()
    ran: list[str] = []

    def blocked() -> str:
        release.wait(5)
        ran.append("first")
        return "first"

    async def go() -> None:
        with pytest.raises(ProgramLimitExceeded):
            await budget.run(blocked)  # abandoned, still running, still holds the slot
        with pytest.raises(ProgramLimitExceeded):
            await budget.run(lambda: ran.append("second"))  # never got a thread
        release.set()
        with anyio.fail_after(5):
            while not ran:
                await anyio.sleep(0.01)
        assert await budget.run(lambda: "third") == "third"  # the slot came back

    anyio.run(go)
    assert ran == ["first"]  # the job that never started never runs
