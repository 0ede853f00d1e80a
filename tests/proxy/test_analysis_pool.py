"""Analysis worker processes: they analyse (and redact) exactly as the gateway would
in-process, within a deadline; a worker past it is killed and replaced, a dead one
denies and is replaced, a full pool makes callers wait only until their deadline, and
workers get no secret and stop with the pool. Real processes; no sockets."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from regogate.errors import PolicyUnavailable, ProgramLimitExceeded
from regogate.policy.catalog import CatalogSnapshot
from regogate.policy.facts import analyze
from regogate.policy.sqltext import redact
from regogate.proxy.analysis_pool import AnalysisPool, Redacted
from regogate.recording.write import native
from tests.policy.corpus import CASES
from tests.policy.test_facts import CATALOG

START = 20.0  # seconds a call may take while a worker starts (slow CI)


def in_list(items: int) -> str:
    """A long IN list: the slowest text per byte for the analyser (~2.5 us a byte)."""
    return "select * from customers where id in (" + ",".join(map(str, range(items))) + ")"


@pytest.fixture(scope="module")
def pool() -> Iterator[AnalysisPool]:
    p = AnalysisPool(1)
    yield p
    p.close()


def _deadline(seconds: float = START) -> float:
    return time.monotonic() + seconds


def _pids(pool: AnalysisPool) -> set[int]:
    return {w.pid for w in pool._live}


def test_the_corpus_is_analysed_as_in_process(pool: AnalysisPool) -> None:
    for case in CASES:
        path = CATALOG.search_path
        got = pool.analyze(case.sql, CATALOG, path, case.prepared, True, _deadline())
        assert got == analyze(case.sql, CATALOG, case.prepared), case.name


@pytest.mark.parametrize(
    ("path", "known"), [(("public",), True), (("other", "public"), False), (("$user",), True)]
)
def test_search_path_and_its_knowledge_reach_the_worker(
    pool: AnalysisPool, path: tuple[str, ...], known: bool
) -> None:
    sql = "select full_name from customers; set search_path = audit; select * from t"
    got = pool.analyze(sql, CATALOG, path, {}, known, _deadline())
    want = analyze(sql, CATALOG.with_search_path(path), {}, search_path_known=known)
    assert got == want


@pytest.mark.parametrize(
    "sql",
    [
        "select 'a', 1, x'1f' from t where b = E'\\n' and c = $1",
        "select 'caf\u00e9', $$dollar$$ /* comment */",
        "select '\udcff' from t",  # a byte that is not UTF-8 (surrogateescape)
        "select 'unterminated",
    ],
)
@pytest.mark.parametrize("mode", ["python", "native"])
def test_redaction_is_the_recordings_own(pool: AnalysisPool, sql: str, mode: str) -> None:
    if mode == "native" and not native.BUILT:
        pytest.skip("the native hot path is not built")
    got: list[Redacted] = []
    analysis = pool.analyze(sql, CATALOG, ("public",), {}, True, _deadline(), (mode, got.append))
    assert analysis == analyze(sql, CATALOG.with_search_path(("public",)))
    want = redact(sql)
    assert got == [Redacted(want.text, want.literals)]
    assert pool.redact(sql, mode, _deadline()) == got[0]


def test_past_its_deadline_the_worker_is_killed_and_replaced() -> None:
    pool = AnalysisPool(1)
    try:
        pool.start()
        (pid,) = _pids(pool)
        started = time.monotonic()
        with pytest.raises(ProgramLimitExceeded) as caught:
            pool.analyze(in_list(200_000), CATALOG, ("public",), {}, True, _deadline(0.5))
        assert time.monotonic() - started < 1.5
        assert caught.value.sqlstate == "54000"
        assert "analysis_timeout" in caught.value.message
        assert not Path(f"/proc/{pid}").exists()  # killed and reaped: no work piles up
        assert pool.stats.killed == 1
        sql = "select 1"
        assert pool.analyze(sql, CATALOG, ("public",), {}, True, _deadline()).statements
        assert _pids(pool) and pid not in _pids(pool)
    finally:
        pool.close()


def test_a_full_pool_makes_callers_wait_only_until_their_deadline() -> None:
    pool = AnalysisPool(1)

    def occupy() -> None:
        with contextlib.suppress(ProgramLimitExceeded):
            pool.analyze(in_list(300_000), CATALOG, ("public",), {}, True, _deadline(3))

    busy = threading.Thread(target=occupy)
    try:
        pool.start()
        busy.start()
        time.sleep(0.2)
        started = time.monotonic()
        with pytest.raises(ProgramLimitExceeded) as caught:
            pool.analyze("select 1", CATALOG, ("public",), {}, True, _deadline(0.3))
        assert 0.25 < time.monotonic() - started < 2.0  # (a loaded machine is slow)
        assert caught.value.sqlstate == "54000" and "busy" in caught.value.message
    finally:
        busy.join()
        pool.close()


def test_a_worker_that_dies_denies_and_is_replaced() -> None:
    pool = AnalysisPool(1)
    try:
        pool.start()
        (pid,) = _pids(pool)
        threading.Timer(0.3, os.kill, (pid, signal.SIGKILL)).start()
        with pytest.raises(PolicyUnavailable) as caught:
            pool.analyze(in_list(200_000), CATALOG, ("public",), {}, True, _deadline())
        assert caught.value.sqlstate == "42501"
        assert pool.stats.failed == 1
        assert pool.analyze("select 1", CATALOG, ("public",), {}, True, _deadline()).statements
    finally:
        pool.close()


def test_a_new_catalog_reaches_the_worker(pool: AnalysisPool) -> None:
    sql = "select full_name from customers"
    empty = CatalogSnapshot()
    for catalog in (CATALOG, empty, CATALOG, empty):
        got = pool.analyze(sql, catalog, catalog.search_path, {}, True, _deadline())
        assert got == analyze(sql, catalog)


def test_workers_get_no_secret_and_stop_with_the_pool() -> None:
    environ = {**os.environ, "REGOGATE_SIGNING_KEY": "secret", "UPSTREAM_PW": "secret"}
    pool = AnalysisPool(2, environ=environ)
    pool.start()
    pids = _pids(pool)
    assert len(pids) == 2
    for pid in pids:
        env = Path(f"/proc/{pid}/environ").read_bytes()
        assert b"secret" not in env
    pool.close()
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    with pytest.raises(PolicyUnavailable):
        pool.analyze("select 1", CATALOG, ("public",), {}, True, _deadline())


def test_texts_of_one_shape_share_an_analysis_from_the_second(pool: AnalysisPool) -> None:
    texts = [f"select full_name from customers where id in ({i}, 2, 3)" for i in range(4)]
    shared = pool.stats.shared
    for sql in texts:
        got = pool.analyze(sql, CATALOG, ("public",), {}, True, _deadline())
        assert got == analyze(sql, CATALOG.with_search_path(("public",)))
    assert pool.stats.shared - shared == 2  # seen, checked (inert), then shared twice
    read = "select set_config('search_path', 'x', false) where 1 = "  # reads its constant
    for i in range(3):
        pool.analyze(f"{read}{i}", CATALOG, ("public",), {}, True, _deadline())
    assert pool.stats.shared - shared == 2


def _nice_of_threads(pid: int) -> list[int]:
    """Linux: the niceness of each thread of ``pid`` (field 19 of its stat)."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            stat = (task / "stat").read_text()
            out.append(int(stat.rsplit(")", 1)[1].split()[16]))
    return out


def test_a_long_analysis_goes_on_at_a_lower_priority() -> None:
    pool = AnalysisPool(1, nice=7)
    try:
        pool.start()
        (pid,) = _pids(pool)
        seen: list[list[int]] = []
        done = threading.Event()

        def watch() -> None:  # the worker's threads, every 20 ms while it analyses
            while not done.wait(0.02):
                seen.append(_nice_of_threads(pid))

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            pool.analyze(in_list(150_000), CATALOG, ("public",), {}, True, _deadline())
        finally:
            done.set()
            watcher.join()
        base = os.getpriority(os.PRIO_PROCESS, pid)  # the test may run under nice
        # the worker at its own, the analysis lower (a single look at 0.8 s missed it
        # when the analysis was quicker or later than that)
        assert any(base in s and min(19, base + 7) in s for s in seen), seen
        give_up = time.monotonic() + 2  # (the analysis thread is ending)
        while len(_nice_of_threads(pid)) > 1 and time.monotonic() < give_up:
            time.sleep(0.01)
        assert _nice_of_threads(pid) == [base]  # the next one starts at full priority again
    finally:
        pool.close()
