"""The recorder's statement texts: each text's literals replaced by ``$n``, committed
(``commit``), cached per distinct text; used from the event loop and the statement
budget's threads (recording.commit has the pure parts)."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping

from regogate.policy.cache import LruCache
from regogate.policy.sqltext import redact
from regogate.recording.format import jcs
from regogate.recording.write import native
from regogate.recording.write.commit import committed

REDACTION_CACHE_BYTES = 64 * 1024 * 1024
# A text up to this long is its own cache key; a longer one is keyed by its digest, so
# that the cache does not keep it (as policy.engine.text_key).
_TEXT_KEY_MAX = 1024
_FRESH_KEPT = 16  # Redactor._fresh


class _Entry:
    """A redaction: the record's fields, and the literals (never recorded) that a
    session's per-literal commitments are made of (recording.session_commit)."""

    __slots__ = ("body", "values")

    def __init__(self, body: Mapping[str, object], values: tuple[str, ...]):
        self.body, self.values = body, values


class Redactor:
    """sql -> {text, literals, literals_commitment}; cached per distinct text (a long
    text by its digest), bounded in entries and in bytes.

    Thread-safe. With ``offload_above(n)`` (the statement budget's analysis workers make
    the plain redaction of texts over n characters and ``remember`` it), a long text
    whose redaction is not at hand is not redacted on the caller's thread (the event
    loop): that happens only when its analysis was denied (out of time, a worker
    failed), and its record then says how long the text was, as for a text refused
    unread."""

    def __init__(
        self,
        key: bytes,
        key_id: str = "",
        cache_size: int = 4096,
        engine: str = "auto",
        cache_bytes: int = REDACTION_CACHE_BYTES,
    ):
        self._key = key
        self._mac = hmac.new(key, digestmod=hashlib.sha256)  # keyed once, copied per use
        # the native commitment and plain-text redaction when the hot path is native
        # (recording.native); text the native scanner leaves alone goes to pglast's
        self._native: Callable[[bytes, tuple[str, ...]], str] | None = None
        self._plain: Callable[[str], tuple[str, tuple[str, ...], int] | None] | None = None
        if native.use_native(engine):
            from regogate import _native

            self._native = _native.commitment
            self._plain = _native.redact_plain
        self.key_id = key_id  # which signing key the commitment key was derived from
        self._cache: LruCache[str | bytes, _Entry] = LruCache(
            cache_size, max_bytes=cache_bytes, size=_entry_bytes
        )
        self._lock = threading.Lock()  # the statement budget's threads remember
        self._offload_above: int | None = None
        # The latest remembered, whatever their size (the cache may not keep a large
        # one): the gate reads a redaction right after the budget's thread remembers it.
        self._fresh: OrderedDict[str | bytes, _Entry] = OrderedDict()

    def __repr__(self) -> str:
        return "Redactor(<key>)"

    def __call__(self, sql: str) -> Mapping[str, object]:
        hit = self._entry(sql)
        if hit is not None:
            return hit.body
        key = _text_key(sql)
        if self._offload_above is not None and len(sql) > self._offload_above:
            return {
                "text": f"/* regogate: statement text of {len(sql)} characters, "
                "not redacted (its analysis was denied) */",
                "literals": 0,
                "literals_commitment": None,
            }
        plain = self._plain(sql) if self._plain is not None else None
        if plain is not None:
            text, literals, _ = plain
        else:
            red = redact(sql)
            text, literals = red.text, red.literals
        return self._put(key, text, literals).body

    def values(self, sql: str) -> tuple[str, ...] | None:
        """The literals of ``sql`` as written, if its redaction is at hand."""
        hit = self._entry(sql)
        return None if hit is None else hit.values

    def _entry(self, sql: str) -> _Entry | None:
        key = _text_key(sql)
        with self._lock:
            return self._cache.get(key) or self._fresh.get(key)

    @property
    def plain_mode(self) -> str:
        """How the plain redaction is made: "native" (the native scanner where it reads
        the text, else pglast's) or "python" (pglast's)."""
        return "native" if self._plain is not None else "python"

    def offload_above(self, chars: int) -> None:
        """Texts over ``chars`` characters are redacted elsewhere and ``remember``ed."""
        self._offload_above = chars

    def has(self, sql: str) -> bool:
        key = _text_key(sql)
        with self._lock:
            return self._cache.get(key) is not None or key in self._fresh

    def remember(self, sql: str, text: str, literals: tuple[str, ...]) -> None:
        """The plain redaction of ``sql`` made elsewhere (an analysis worker, in the same
        way: ``plain_mode``); its commitment is made here, with the key."""
        key = _text_key(sql)
        entry = self._put(key, text, literals)
        with self._lock:
            self._fresh[key] = entry
            while len(self._fresh) > _FRESH_KEPT:
                self._fresh.popitem(last=False)

    def _put(self, key: str | bytes, text: str, literals: tuple[str, ...]) -> _Entry:
        body: Mapping[str, object] = {
            "text": text,
            "literals": len(literals),
            "literals_commitment": self._commit(literals) if literals else None,
        }
        entry = _Entry(body, literals)
        with self._lock:
            self._cache.put(key, entry)
        return entry

    def _commit(self, literals: tuple[str, ...]) -> str:
        """``commit(key, literals)``, from the keyed state (literals are strings: no floats)."""
        if self._native is not None:
            try:
                return self._native(self._key, literals)
            except UnicodeEncodeError:  # a lone surrogate (text decoded with surrogateescape)
                pass
        mac = self._mac.copy()
        mac.update(jcs.dumps(committed(literals), floats_in=()))
        return mac.hexdigest()


def _text_key(sql: str) -> str | bytes:
    if len(sql) <= _TEXT_KEY_MAX:
        return sql
    return hashlib.sha256(sql.encode("utf-8", "surrogatepass")).digest()


def _entry_bytes(entry: _Entry) -> int:
    """About what a cached redaction holds: its text and its literals."""
    text = entry.body.get("text")
    size = 256 + (len(text) if isinstance(text, str) else 0)
    return size + sum(64 + len(v) for v in entry.values)
