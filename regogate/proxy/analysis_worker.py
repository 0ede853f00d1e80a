"""The analysis worker process: statement facts (and the recording's plain redaction) of
large texts, away from the gateway's GIL (``analysis_pool`` starts and feeds it).

On stdin, frames of a 4-byte big-endian length and a pickle from the gateway (trusted):
``("catalog", token, pickled snapshot)`` installs a catalog; ``("analyze", token,
search_path, sql, prepared, path_known, redact)`` and ``("redact", sql, redact)`` ask
for work. On stdout, one frame per answer (``_serve``): ``b"o"`` + orjson or ``b"j"`` + stdlib JSON
(for text with lone surrogates), never a pickle: the gateway does not trust what comes
back from a process that parses hostile text with C code (``analysis_codec``). It exits
when its input closes: the gateway closed it, or exited (a PR_SET_PDEATHSIG would follow
the gateway thread that started it, not the gateway).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import signal
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO, TypeVar

import orjson

from regogate.policy.catalog import CatalogSnapshot
from regogate.policy.facts import Analysis, analyze
from regogate.policy.facts_shape import constants_inert, shape
from regogate.policy.sqltext import redact

T = TypeVar("T")

CATALOGS_KEPT = 8  # analysis_pool mirrors this: the same installs evict the same tokens
SHAPE_TEXT_MAX = 64 * 1024  # as policy.engine: longer texts rarely repeat
SHAPES_KEPT = 4096
SHARED_KEPT = 1024  # analyses shared by shape (small: facts, no text)
_HEADER = 4


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the gateway's Ctrl-C is the gateway's
    demote = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    catalogs: dict[int, CatalogSnapshot] = {}
    plain = _native_plain()
    shapes = Shapes()
    sink.write(_frame(b"o" + orjson.dumps({"ready": os.getpid()})))
    sink.flush()
    while True:
        request = _read(source)
        if request is None:
            return 0  # the gateway closed the pipe: it is done with us
        kind = request[0]
        if kind == "catalog":
            _, token, data = request
            assert isinstance(token, int)
            assert isinstance(data, bytes)
            catalogs[token] = pickle.loads(data)
            while len(catalogs) > CATALOGS_KEPT:
                del catalogs[next(iter(catalogs))]
            continue
        for reply in _serve(request, catalogs, plain, shapes, demote):
            sink.write(_frame(_dumps(reply)))
            sink.flush()


def _serve(
    request: tuple[object, ...],
    catalogs: Mapping[int, CatalogSnapshot],
    plain: object,
    shapes: Shapes,
    demote: int = 0,
) -> Iterator[dict[str, object]]:
    """The answers to one request: its redaction first (when asked for: it is quicker,
    and the recording gets it even when the analysis runs out of time), then its
    analysis. A failure is an answer too (``error``): the gateway denies the statement."""
    try:
        if request[0] == "redact":
            _, text, mode = request
            if not isinstance(text, str):
                raise TypeError("a redact request is (sql, mode)")
            yield {"redacted": _demoted(lambda: _redacted(text, mode, plain), demote)}
            return
        _, token, path, sql, prepared, known, mode = request
        if not (isinstance(token, int) and isinstance(sql, str) and isinstance(path, tuple)):
            raise TypeError("an analyze request is (token, search_path, sql, ...)")
        if not (isinstance(prepared, dict) and isinstance(known, bool)):
            raise TypeError("an analyze request is (..., prepared, path_known, redact)")
    except Exception as exc:
        yield {"error": f"{type(exc).__name__}: {exc}"}
        return
    if mode is not None:
        try:
            yield {"redacted": _demoted(lambda: _redacted(sql, mode, plain), demote)}
        except Exception as exc:
            yield {"error": f"{type(exc).__name__}: {exc}"}
    try:
        shape_key = shapes.key(sql, (token, path, known, tuple(sorted(prepared.items()))))
        shared = shapes.shared(shape_key) if shape_key is not None else None
        if shared is not None:
            yield {"analysis": shared, "shared": True}
            return
        base = catalogs[token]
        catalog = base if path == base.search_path else base.with_search_path(path)
        analysis = _demoted(
            lambda: analyze(sql, catalog, prepared, search_path_known=known), demote
        )
        plain_facts = _plain_analysis(analysis)
        if shape_key is not None:
            shapes.remember(shape_key, plain_facts)
        yield {"analysis": plain_facts}
    except Exception as exc:
        yield {"error": f"{type(exc).__name__}: {exc}"}


class Shapes:
    """The engine's shape sharing (``policy.engine.PolicyEngine._shaped``), for the texts
    this worker analyses: texts that differ only in constants the analyser never reads
    share one analysis, from the second time their shape is seen."""

    def __init__(self) -> None:
        self.seen: OrderedDict[bytes, bool | None] = OrderedDict()  # None: seen once
        self.analyses: OrderedDict[tuple[object, ...], dict[str, object]] = OrderedDict()

    def key(self, sql: str, scope: tuple[object, ...]) -> tuple[object, ...] | None:
        """Where ``sql``'s analysis is shared, or None (a new shape is only noted)."""
        if len(sql) > SHAPE_TEXT_MAX:
            return None
        normal = shape(sql)
        if normal is None:
            return None
        digest = hashlib.sha256(normal.encode("utf-8", "surrogatepass")).digest()
        if digest not in self.seen:
            self.seen[digest] = None
            _trim(self.seen)
            return None
        inert = self.seen[digest]
        if inert is None:
            inert = self.seen[digest] = constants_inert(sql)
        return (*scope, digest) if inert else None

    def shared(self, key: tuple[object, ...]) -> dict[str, object] | None:
        found = self.analyses.get(key)
        if found is not None:
            self.analyses.move_to_end(key)
        return found

    def remember(self, key: tuple[object, ...], analysis: dict[str, object]) -> None:
        self.analyses[key] = analysis
        _trim(self.analyses, SHARED_KEPT)


def _trim(entries: OrderedDict[Any, Any], most: int = SHAPES_KEPT) -> None:
    while len(entries) > most:
        entries.popitem(last=False)


def _demoted(work: Callable[[], T], nice: int) -> T:
    """``work()`` in a thread of its own (a task of its own to the kernel), so that the
    gateway can lower that thread's priority when it goes on for long
    (``analysis_pool``) while this main thread, and the threads it starts next, keep
    theirs. (The main thread cannot do it: pglast holds the GIL for seconds at a time.)"""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return work()
    done: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(work())
        except BaseException as exc:
            failed.append(exc)

    worker = threading.Thread(target=run, name="analysis")
    worker.start()
    worker.join()
    if failed:
        raise failed[0]
    return done[0]


def _redacted(sql: str, mode: object, plain: object) -> dict[str, object] | None:
    """What ``recording.redactor.Redactor`` redacts ``sql`` to before its commitment: the
    native scanner's text when the gateway's Redactor uses it and it reads the text, else
    pglast's."""
    if mode is None:
        return None
    done = plain(sql) if mode == "native" and callable(plain) else None
    if done is not None:
        text, literals = done[0], done[1]
    else:
        red = redact(sql)
        text, literals = red.text, red.literals
    return {"text": text, "literals": list(literals)}


def _native_plain() -> object:
    try:
        from regogate import _native
    except ImportError:
        return None
    return _native.redact_plain


def _plain_analysis(analysis: Analysis) -> dict[str, object]:
    plain = dataclasses.asdict(analysis)
    plain["prepared"] = dict(analysis.prepared)
    return plain


def _dumps(reply: dict[str, object]) -> bytes:
    try:
        return b"o" + orjson.dumps(reply)
    except TypeError:  # a lone surrogate (a byte that is not UTF-8, wire.text)
        return b"j" + json.dumps(reply, ensure_ascii=True).encode("ascii")


def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(_HEADER, "big") + payload


def _read(source: BinaryIO) -> tuple[object, ...] | None:
    header = source.read(_HEADER)
    if len(header) < _HEADER:
        return None
    size = int.from_bytes(header, "big")
    data = source.read(size)
    if len(data) < size:
        return None
    request = pickle.loads(data)
    assert isinstance(request, tuple)
    return request


if __name__ == "__main__":
    raise SystemExit(main())
