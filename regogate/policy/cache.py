"""Bounded caches for the hot path: analysis per statement text, decision per input."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """A small LRU map with optional per-entry expiry (monotonic seconds)."""

    def __init__(self, maxsize: int, clock: Callable[[], float] = time.monotonic):
        self._data: OrderedDict[K, tuple[V, float]] = OrderedDict()
        self._max = maxsize
        self._clock = clock
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        item = self._data.get(key)
        if item is None:
            self.misses += 1
            return None
        value, expires = item
        if expires and expires < self._clock():
            del self._data[key]
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: K, value: V, ttl: float = 0.0) -> None:
        if self._max <= 0:
            return
        self._data[key] = (value, self._clock() + ttl if ttl > 0 else 0.0)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
