"""The statement budget with its worker processes and the real engine: a large text the
engine has not cached is analysed in a worker (cached after), within the time budget
(past it: 54000, the worker killed); the recording's redaction of a large text is made
there too, never on the event loop; the workers start and stop with the budget."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from regogate.errors import ProgramLimitExceeded
from regogate.policy.catalog_cache import CatalogCache
from regogate.policy.engine import PolicyEngine
from regogate.policy.facts import Analysis, analyze
from regogate.proxy.analysis_budget import BIG_TEXT, StatementBudget
from regogate.recording.write.redactor import Redactor
from tests.policy.test_engine_decisions import Clock, FakeSource, NoCatalog
from tests.policy.test_facts import CATALOG
from tests.proxy.test_analysis_pool import in_list

KEY = b"k" * 32
PATH = ("public",)
BIG = in_list(3000)  # ~17 KiB


def _engine() -> PolicyEngine:
    return PolicyEngine(
        FakeSource(),
        CatalogCache(NoCatalog()),  # type: ignore[arg-type]
        revision=lambda: "r1",
        clock=Clock(),
    )


def _analyse(budget: StatementBudget, engine: PolicyEngine, sql: str) -> Analysis:
    return anyio.run(budget.run, lambda: engine.analyze(sql, CATALOG, 1, PATH, {}, path_known=True))


def test_a_large_text_is_analysed_in_a_worker_once() -> None:
    assert len(BIG) > BIG_TEXT
    engine = _engine()
    with StatementBudget(workers=1, analysis_timeout=20) as budget:
        got = _analyse(budget, engine, BIG)
        assert got == analyze(BIG, CATALOG)
        assert budget.pool.stats.requests == 1 and engine.stats.analyses == 1
        assert _analyse(budget, engine, BIG) is got  # cached by digest: no worker
        assert budget.pool.stats.requests == 1


def test_past_the_budget_the_statement_is_refused_and_its_worker_killed() -> None:
    engine = _engine()
    with StatementBudget(workers=1, analysis_timeout=0.4) as budget:
        started = time.monotonic()
        with pytest.raises(ProgramLimitExceeded) as caught:
            _analyse(budget, engine, in_list(200_000))
        assert time.monotonic() - started < 1.5
        assert caught.value.sqlstate == "54000"
        give_up = time.monotonic() + 5  # the thread kills the worker at the same deadline
        while budget.pool.stats.killed == 0 and time.monotonic() < give_up:
            time.sleep(0.01)
        assert budget.pool.stats.killed == 1
        assert engine.stats.analyses == 1


def test_the_recordings_redaction_of_a_large_text_is_made_in_the_worker() -> None:
    engine = _engine()
    with StatementBudget(workers=1, analysis_timeout=20) as budget:
        redactor = Redactor(KEY)
        budget.record_redactions(redactor)
        _analyse(budget, engine, BIG)
        assert redactor.has(BIG)
        assert redactor(BIG) == Redactor(KEY)(BIG)  # as if it were made here
        # Its analysis cached, its redaction not (another redactor): a redaction only.
        other = Redactor(KEY)
        budget.record_redactions(other)
        _analyse(budget, engine, BIG)
        assert budget.pool.stats.requests == 2 and engine.stats.analyses == 1
        assert other(BIG) == redactor(BIG)


def test_a_large_text_without_its_redaction_is_not_redacted_on_the_loop() -> None:
    redactor = Redactor(KEY)
    redactor.offload_above(BIG_TEXT)
    body = redactor(BIG)  # its analysis was denied before the worker redacted it
    assert body["literals"] == 0 and f"{len(BIG)} characters" in str(body["text"])
    assert not redactor.has(BIG)
    small = "select 1 where a = 'x'"
    assert redactor(small)["literals"] == 2  # small texts as ever


def test_redactions_are_cached_by_digest_and_bounded_in_bytes() -> None:
    # an entry (its text and its ~2,000 literals: ~150 KB) up to 256 KiB is kept
    redactor = Redactor(KEY, cache_bytes=2 * 1024 * 1024)
    texts = [in_list(2000 + i) for i in range(16)]  # ~10 KiB each: not all of them fit
    for text in texts:
        redactor(text)
    assert not redactor.has(texts[0]) and redactor.has(texts[-1])
    assert all(isinstance(k, bytes) for k in redactor._cache._data)  # digests, not texts


def test_workers_start_and_stop_with_the_budget() -> None:
    async def go() -> set[int]:
        async with StatementBudget(workers=2) as budget:
            pids = {w.pid for w in budget.pool._live}
            assert len(pids) == 2 and all(Path(f"/proc/{p}").exists() for p in pids)
        return pids

    pids = anyio.run(go)
    assert not any(Path(f"/proc/{p}").exists() for p in pids)


def test_without_workers_the_thread_analyses() -> None:
    engine = _engine()
    budget = StatementBudget(workers=0)
    assert _analyse(budget, engine, BIG) == analyze(BIG, CATALOG)
    assert budget._pool is None


def test_a_remembered_redaction_too_large_to_cache_is_still_at_hand() -> None:
    redactor = Redactor(KEY, cache_bytes=8 * 1024)  # keeps nothing over 1 KiB
    redactor.offload_above(BIG_TEXT)
    redactor.remember(BIG, "select $1", ("'x'",))
    assert redactor.has(BIG)
    assert redactor(BIG)["text"] == "select $1" and redactor(BIG)["literals"] == 1
