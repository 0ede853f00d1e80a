"""LruCache's byte budget, and the engine's caches keyed by digests of long texts, not
the texts."""

from __future__ import annotations

import pytest

from regogate.policy.cache import LARGEST_SHARE, LruCache
from regogate.policy.engine import TEXT_KEY_MAX, analysis_bytes, text_key
from regogate.policy.facts import Analysis, StatementFacts


def sized(max_bytes: int = 800, maxsize: int = 100) -> LruCache[str, bytes]:
    return LruCache(maxsize, max_bytes=max_bytes, size=len)


def test_bytes_bound_evicts_least_recent_first() -> None:
    cache = sized()
    for key in "abcd":
        cache.put(key, b"x" * 100)
    assert cache.get("a") is not None  # a is now the most recent
    for key in "efghi":
        cache.put(key, b"x" * 100)
    assert cache.nbytes <= 800 and len(cache) == 8
    assert cache.get("b") is None and cache.get("a") is not None


@pytest.mark.parametrize(
    ("size", "kept"),
    [(800 // LARGEST_SHARE, True), (800 // LARGEST_SHARE + 1, False)],
)
def test_an_entry_over_its_share_of_the_budget_is_not_cached(size: int, kept: bool) -> None:
    cache = sized()
    cache.put("small", b"s")
    cache.put("big", b"x" * size)
    assert (cache.get("big") is not None) is kept
    assert cache.get("small") is not None  # nothing was pushed out for it


def test_replacing_or_expiring_an_entry_gives_its_bytes_back() -> None:
    now = [0.0]
    cache: LruCache[str, bytes] = LruCache(10, lambda: now[0], max_bytes=1000, size=len)
    cache.put("a", b"x" * 50)
    cache.put("a", b"x" * 20)
    assert cache.nbytes == 20
    cache.put("a", b"x" * 500)  # too big now: the old, smaller value goes too
    assert cache.get("a") is None and cache.nbytes == 0
    cache.put("t", b"x" * 30, ttl=1.0)
    now[0] = 2.0
    assert cache.get("t") is None and cache.nbytes == 0
    cache.put("c", b"x" * 10)
    cache.clear()
    assert cache.nbytes == 0 and len(cache) == 0


def test_entries_bound_still_holds_without_a_byte_budget() -> None:
    cache: LruCache[int, int] = LruCache(3)
    for i in range(10):
        cache.put(i, i)
    assert len(cache) == 3 and cache.nbytes == 0


def test_long_texts_are_keyed_by_digest() -> None:
    short = "select 1"
    assert text_key(short) == short
    long = "select " + "1," * TEXT_KEY_MAX + "1"
    key = text_key(long)
    assert isinstance(key, bytes) and len(key) == 32
    assert key == text_key(long) and key != text_key(long + " ")


def test_analysis_bytes_grows_with_what_it_holds() -> None:
    one = Analysis((StatementFacts("SELECT", read=("public.t.a",)),))
    prepared = Analysis(one.statements, prepared={"p": "select " + "x" * 10_000})
    assert analysis_bytes(one) < 2048
    assert analysis_bytes(prepared) > 10_000
