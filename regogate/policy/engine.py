"""The gateway's policy engine: statement analysis, decisions and their caches.

One per gateway process, shared by every session:

- analysis cache: statement text (with the catalog generation, the session's search_path
  and, when it has any, its SQL-level prepared statements) -> facts; so each distinct text
  is parsed once; texts that differ only in constants the analyser never reads share one
  entry (``facts_shape``) from the second time their shape is seen;
- decision cache: (canonical policy input, policy revision) -> decision, for the decision's
  ``ttl``; cleared whenever the policy revision changes (file edit, SIGHUP, OPA restart);

both keyed by digests of long texts and inputs (``text_key``), not the texts, and bounded
in (estimated) bytes as well as in entries;
- the catalog cache (``catalog_cache.CatalogCache``): one snapshot per configured
  connection, served without waiting and refreshed in the background (``run`` hosts the
  refreshes; docs/catalog.md).

Errors from the decision source are PolicyUnavailable: the statement is denied.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import anyio
import anyio.abc
import orjson

from regogate.config import ConnectionConfig
from regogate.errors import PolicyUnavailable
from regogate.policy.cache import LruCache
from regogate.policy.catalog import CatalogSnapshot
from regogate.policy.catalog_cache import CatalogCache
from regogate.policy.decision import Decision
from regogate.policy.facts import Analysis, analyze
from regogate.policy.facts_shape import constants_inert, shape
from regogate.policy.offload import BIG_ANALYSIS
from regogate.policy.opa import DecisionSource, Metrics
from regogate.wire.text import json_safe

log = logging.getLogger("regogate.policy")

_SEEN, _INERT, _READ = 0, 1, 2  # what is known of a shape (PolicyEngine._shapes)
TextKey = str | bytes
AnalysisKey = tuple[int, tuple[str, ...], bool, TextKey, tuple[tuple[str, str], ...]]

# A text up to this long is its own cache key (hashing it would cost more than it
# saves); a longer one is keyed by its SHA-256 digest, so a cache does not keep it.
TEXT_KEY_MAX = 1024
# Shapes are looked for only in texts up to this long: normalising a large text costs
# as much as analysing it, and large texts rarely repeat.
SHAPE_TEXT_MAX = 64 * 1024
ANALYSIS_CACHE_BYTES = 64 * 1024 * 1024
DECISION_CACHE_BYTES = 64 * 1024 * 1024


def text_key(text: str) -> TextKey:
    """A cache key for ``text``: the text when short, else its digest (bytes, so that it
    never equals a text)."""
    if len(text) <= TEXT_KEY_MAX:
        return text
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def analysis_bytes(analysis: Analysis) -> int:
    """About what an analysis holds in memory (its facts' names, the texts it prepares)."""
    size = 512 + sum(len(k) + len(v) for k, v in analysis.prepared.items())
    for f in analysis.statements:
        names = len(f.tables) + len(f.read) + len(f.written) + len(f.filtered)
        size += 512 + 96 * (names + len(f.functions) + len(f.settings) + len(f.outputs))
    return size


def decision_bytes(decision: Decision) -> int:
    """About what a cached decision holds in memory."""
    return 512 + 128 * (len(decision.deny) + len(decision.rules) + len(decision.mask))


@dataclass
class EngineStats:
    decisions: int = 0
    cache_hits: int = 0
    unavailable: int = 0
    analyses: int = 0
    shape_hits: int = 0  # analyses served from another text of the same shape
    # Statements that looked up names the snapshot did not know ("look again").
    look_agains: int = 0
    look_again_seconds: float = 0.0
    # Round-trip times (seconds) of the latest decision requests, for the benchmark.
    latencies: list[float] = field(default_factory=list)

    def observe(self, seconds: float) -> None:
        if len(self.latencies) >= 100_000:
            del self.latencies[:50_000]
        self.latencies.append(seconds)


@dataclass(frozen=True)
class Decided:
    decision: Decision
    input_sha256: str
    cached: bool


def canonical(policy_input: Mapping[str, object]) -> bytes:
    """Deterministic JSON of a policy input (the decision cache key and its hash). A byte a
    client sent that is not UTF-8 (in a startup parameter, say) is U+FFFD (wire.text)."""
    try:
        return orjson.dumps(policy_input, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return orjson.dumps(json_safe(policy_input), option=orjson.OPT_SORT_KEYS)


class PolicyEngine:
    def __init__(
        self,
        source: DecisionSource,
        catalogs: CatalogCache,
        *,
        revision: Callable[[], str],
        cache_size: int = 10000,
        analysis_cache_size: int = 4096,
        clock: Callable[[], float] = time.monotonic,
        available: Callable[[], bool] | None = None,
        wait_limit: float = 0.5,
        metrics: Metrics | None = None,
    ):
        self._metrics = metrics
        self._source = source
        self._available = available
        self._wait_limit = wait_limit
        self.catalogs = catalogs
        self._revision = revision
        self._decisions: LruCache[tuple[str, str], Decision] = LruCache(
            cache_size, clock, max_bytes=DECISION_CACHE_BYTES, size=decision_bytes
        )
        self.cache_size = cache_size
        self._analyses: LruCache[AnalysisKey, Analysis] = LruCache(
            analysis_cache_size, clock, max_bytes=ANALYSIS_CACHE_BYTES, size=analysis_bytes
        )
        # Large texts are analysed from a worker thread (proxy.analysis_budget, in a worker
        # process): the analysis cache is shared with it.
        self._analyses_lock = threading.Lock()
        # Shapes (normalized texts) seen: _SEEN once, then _INERT or _READ once checked. A
        # text whose shape is new costs only its normalisation. Only the event loop uses it.
        self._shapes: LruCache[TextKey, int] = LruCache(analysis_cache_size, clock)
        self.stats = EngineStats()
        self._seen_revision = ""

    @property
    def revision(self) -> str:
        return self._revision()

    def policy_changed(self, revision: str) -> None:
        """A new policy revision is live: cached decisions are dropped."""
        self._decisions.clear()
        self._seen_revision = revision
        log.info("decision cache cleared for policy revision %s", revision)

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Host the background catalog refreshes until cancelled (start it in the
        gateway's task group: ``await tg.start(engine.run)``). Without it, a statement
        that finds its catalog due for a refresh does the refresh itself and waits."""
        await self.catalogs.run(task_status=task_status)

    async def catalog(self, conn: ConnectionConfig) -> tuple[CatalogSnapshot, int]:
        """The connection's current snapshot and its generation, without waiting, except
        for a connection's first read (whose failure raises PolicyUnavailable) and one
        version check after the connection was idle (see CatalogCache)."""
        return await self.catalogs.get(conn)

    def catalog_generation(self, conn: ConnectionConfig) -> int | None:
        """The current snapshot's generation if it can be had without waiting (the
        gate's fast path at Bind); None otherwise."""
        return self.catalogs.generation(conn)

    def invalidate_catalog(self, conn: ConnectionConfig) -> None:
        """A DDL statement ran: refresh in the background (coalesced), serving the
        current snapshot meanwhile."""
        self.catalogs.invalidate(conn)

    async def lookup_catalog(
        self, conn: ConnectionConfig, names: Sequence[tuple[str, str]], *, timeout: float
    ) -> tuple[CatalogSnapshot, int]:
        """The snapshot with the named relations read now (a statement names relations
        it does not know): CatalogCache.lookup. Failure or timeout raises
        PolicyUnavailable."""
        return await self.catalogs.lookup(conn, names, timeout=timeout)

    async def refresh_catalog(
        self, conn: ConnectionConfig, *, timeout: float
    ) -> tuple[CatalogSnapshot, int]:
        """Wait for a refresh that started after this call (a statement names a relation
        the snapshot does not know). Failure or timeout raises PolicyUnavailable."""
        return await self.catalogs.refresh(conn, timeout=timeout)

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
        """The facts of ``sql`` (cached per text, generation, search_path, whether that
        path is known, and the session's SQL-level prepared statements). Safe to call
        from a worker thread for a text over ``SHAPE_TEXT_MAX`` (it skips the shapes);
        where the statement budget offers its worker processes (``BIG_ANALYSIS``), the
        analysis runs there."""
        key: AnalysisKey = (
            generation,
            search_path,
            path_known,
            text_key(sql),
            tuple(sorted(prepared.items())) if prepared else (),
        )
        offload = BIG_ANALYSIS.get()  # set around a large text's analysis (in a thread)
        with self._analyses_lock:
            hit = self._analyses.get(key)
        if hit is not None:
            if offload is not None:
                offload.cached(sql)
            return hit
        if offload is not None:
            # A large text, from the statement budget's thread: analysed in a worker
            # process (pglast would hold the GIL here), never by shape.
            self.stats.analyses += 1
            result = offload.analyze(sql, catalog, search_path, prepared, path_known)
            with self._analyses_lock:
                self._analyses.put(key, result)
            return result
        shaped = self._shaped(sql) if len(sql) <= SHAPE_TEXT_MAX else None
        shape_key: AnalysisKey | None = None
        if shaped is not None:
            # "\0" cannot begin a statement text (protocol strings end at NUL).
            shape_key = (generation, search_path, path_known, text_key("\0" + shaped), key[4])
            with self._analyses_lock:
                hit = self._analyses.get(shape_key)
            if hit is not None:
                self.stats.shape_hits += 1
                return hit
        self.stats.analyses += 1
        snapshot = (
            catalog if search_path == catalog.search_path else catalog.with_search_path(search_path)
        )
        result = analyze(sql, snapshot, prepared, search_path_known=path_known)
        with self._analyses_lock:
            self._analyses.put(shape_key or key, result)
        return result

    def _shaped(self, sql: str) -> str | None:
        """The shape under which ``sql``'s analysis may be shared, or None: on its first
        sighting a shape is only remembered; on the next, checked once (every text of a
        shape has the same node types, so the check holds for all of them)."""
        normal = shape(sql)
        if normal is None:
            return None  # no constants (or not parsable): nothing to share
        normal_key = text_key(normal)
        seen = self._shapes.get(normal_key)
        if seen is None:
            self._shapes.put(normal_key, _SEEN)
            return None
        if seen == _SEEN:
            seen = _INERT if constants_inert(sql) else _READ
            self._shapes.put(normal_key, seen)
        return normal if seen == _INERT else None

    def ready(self) -> bool:
        """The decision source can answer now (not restarting, not half-loaded)."""
        return self._available is None or self._available()

    async def _wait_available(self) -> None:
        """While OPA restarts or a reload is half pushed, wait a little, then fail closed."""
        assert self._available is not None
        deadline = time.monotonic() + self._wait_limit
        while not self._available():
            if time.monotonic() >= deadline:
                self.stats.unavailable += 1
                if self._metrics is not None:
                    self._metrics.inc("regogate_policy_unavailable_total", {"reason": "not ready"})
                raise PolicyUnavailable(
                    "the policy engine is unavailable (restarting or loading policies); "
                    "statement denied (fail closed)",
                    hint="retry in a moment",
                )
            await anyio.sleep(0.01)

    async def decide(self, policy_input: Mapping[str, object]) -> Decided:
        if self._available is not None and not self._available():
            await self._wait_available()
        revision = self._revision()
        if revision != self._seen_revision:
            # A reload we were not told about (e.g. an external OPA's bundle): start afresh.
            self.policy_changed(revision)
        text = canonical(policy_input)
        digest = hashlib.sha256(text).hexdigest()
        key = (digest, revision)
        self.stats.decisions += 1
        hit = self._decisions.get(key)
        if hit is not None:
            self.stats.cache_hits += 1
            return Decided(hit, digest, True)
        started = time.perf_counter()
        try:
            decision = await self._source.decide(policy_input, revision)
        except Exception:
            self.stats.unavailable += 1
            raise
        self.stats.observe(time.perf_counter() - started)
        if decision.ttl > 0:
            self._decisions.put(key, decision, decision.ttl)
        return Decided(decision, digest, False)
