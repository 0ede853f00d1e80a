"""Bounded caches for the hot path: analysis per statement text, decision per input."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# An entry larger than this share of a cache's byte budget is not kept: one huge entry
# would otherwise push out everything the common statements need.
LARGEST_SHARE = 8


class LruCache(Generic[K, V]):
    """A small LRU map with optional per-entry expiry (monotonic seconds), bounded in
    entries (``maxsize``) and, with ``max_bytes``, in the bytes ``size(value)`` says its
    values hold (an estimate: keys are small, digests or short texts). An entry over
    ``max_bytes // LARGEST_SHARE`` is not cached."""

    def __init__(
        self,
        maxsize: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_bytes: int = 0,
        size: Callable[[V], int] | None = None,
    ):
        self._data: OrderedDict[K, tuple[V, float, int]] = OrderedDict()
        self._max = maxsize
        self._clock = clock
        self._max_bytes = max_bytes
        self._size = size if max_bytes > 0 else None
        self.nbytes = 0  # what the entries hold, by ``size``
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        item = self._data.get(key)
        if item is None:
            self.misses += 1
            return None
        value, expires, _ = item
        if expires and expires < self._clock():
            self._remove(key)
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: K, value: V, ttl: float = 0.0) -> None:
        if self._max <= 0:
            return
        nbytes = 0
        if self._size is not None:
            nbytes = self._size(value)
            if nbytes > self._max_bytes // LARGEST_SHARE:
                self._remove(key)  # an older, smaller value must not outlive this one
                return
        old = self._data.get(key)
        if old is not None:
            self.nbytes -= old[2]
        self._data[key] = (value, self._clock() + ttl if ttl > 0 else 0.0, nbytes)
        self._data.move_to_end(key)
        self.nbytes += nbytes
        while len(self._data) > self._max or (self._max_bytes and self.nbytes > self._max_bytes):
            self.nbytes -= self._data.popitem(last=False)[1][2]

    def _remove(self, key: K) -> None:
        item = self._data.pop(key, None)
        if item is not None:
            self.nbytes -= item[2]

    def clear(self) -> None:
        self._data.clear()
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._data)
