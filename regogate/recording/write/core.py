"""The write side of the log: frames in; canonical records, chains, tree, store, checkpoints out.

The gateway's event loop only assigns ``seq``/``n``/``ts`` and serializes a record's body
into a *frame* (``frame()``, about half a microsecond); everything that costs — RFC 8785
canonicalization, the leaf hash, each session's ``prev``, the Merkle tree, the appends,
fsync and the checkpoint signature — happens here, in the writer process
(``recording.worker``) or, for an injected store, in a worker thread. Nothing here is
async and nothing here is shared: one ``LogCore`` per log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

import orjson

from regogate.recording.format.checkpoint import Checkpoint
from regogate.recording.format.merkle import leaf_hash
from regogate.recording.format.note import Signer
from regogate.recording.format.records import (
    ENVELOPE,
    GATEWAY_TYPES,
    RecordError,
    RecordType,
    encode,
    format_ts,
)
from regogate.recording.write.store import StoreState
from regogate.wire.text import json_safe

_CLOSE = RecordType.SESSION_CLOSE.value
# |int| > 2**53 - 1 has no exact JSON number; sorted keys let the native writer copy a
# body as it is when it is already canonical (native/writer/src/fast.rs)
_OPTS = orjson.OPT_STRICT_INTEGER | orjson.OPT_SORT_KEYS


class RecordStore(Protocol):
    """Where records go (``store.SegmentStore``; tests inject failing ones)."""

    state: StoreState

    def write(self, lines: Sequence[bytes]) -> None: ...

    def flush(self) -> None: ...

    def append_checkpoint(self, note: str) -> None: ...


# A record body: a mapping, or the bytes of one serialized once — by ``prepared`` (a body
# recorded many times, e.g. the stmt record of a statement a session runs again and
# again) or by code of this package that builds a body as bytes (the result summary).
Body: TypeAlias = Mapping[str, object] | bytes


def prepared(body: Mapping[str, object]) -> bytes:
    """``body`` checked and serialized once, to be recorded any number of times."""
    return serialize("a", body)


def serialize(type: str, body: Mapping[str, object]) -> bytes:
    """A ``type`` record's body, checked and serialized (the bytes ``frame`` embeds)."""
    _check(body)
    return _dumps(type, body)


def _check(body: Mapping[str, object]) -> None:
    if not ENVELOPE.isdisjoint(body):
        raise RecordError(
            f"record body may not set envelope fields {sorted(ENVELOPE.intersection(body))}"
        )


def _dumps(type: str, value: object) -> bytes:
    try:
        return orjson.dumps(value, option=_OPTS)
    except (TypeError, orjson.JSONEncodeError) as exc:
        error = exc
    try:
        # a byte a client sent that is not UTF-8 is recorded as U+FFFD (wire.text); a
        # literal never reaches a record, and its commitment keeps such bytes exactly
        return orjson.dumps(json_safe(value), option=_OPTS)
    except (TypeError, orjson.JSONEncodeError):
        raise RecordError(f"{type} record: not canonicalizable JSON: {error}") from None


def frame(seq: int, ts: int, type: str, sid: str | None, n: int | None, body: Body) -> bytes:
    """One record as the event loop hands it on: compact JSON, one line, no envelope hashes.

    Raises ``RecordError`` for a body that has no JSON form or sets envelope fields.
    Non-finite floats have no JSON form either; orjson writes them as null. A bytes body
    is taken as it is (``prepared``).
    """
    if isinstance(body, bytes):
        return orjson.dumps((seq, ts, type, sid, n, orjson.Fragment(body)))
    _check(body)
    return _dumps(type, (seq, ts, type, sid, n, body))


@dataclass
class StoreSummary:
    """Where the log stands when a writer starts (for gateway.start and the counters)."""

    size: int
    sealed: int
    last_boot: str | None
    recovered: list[dict[str, str | int]] = field(default_factory=list)  # Torn.to_json()
    sealed_root: str | None = None  # hex Merkle root at ``sealed`` (the last checkpoint's)
    # the checkpoint kept outside the log that the log was checked against: {size, root}
    anchor: dict[str, str | int] | None = None

    @classmethod
    def of(cls, state: StoreState, anchor: Checkpoint | None = None) -> StoreSummary:
        last = state.last_checkpoint
        return cls(
            state.size,
            last.size if last else 0,
            state.last_boot,
            [t.to_json() for t in state.recovered],
            last.root.hex() if last else None,
            {"size": anchor.size, "root": anchor.root.hex()} if anchor is not None else None,
        )

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, ok: dict[str, object]) -> StoreSummary:
        return cls(
            int(ok["size"]),  # type: ignore[call-overload]
            int(ok["sealed"]),  # type: ignore[call-overload]
            ok.get("last_boot"),  # type: ignore[arg-type]
            ok.get("recovered") or [],  # type: ignore[arg-type]
            ok.get("sealed_root"),  # type: ignore[arg-type]
            ok.get("anchor"),  # type: ignore[arg-type]
        )


class LogCore:
    """Turns frames into the log (docs/recording-format.md §3-§7). One writer at a time.

    ``clock``: POSIX seconds, for each checkpoint's signing time (tests inject one).
    """

    def __init__(
        self,
        store: RecordStore,
        signer: Signer,
        gw: Mapping[str, str],
        origin: str,
        clock: Callable[[], float] = time.time,
    ):
        self.store, self.signer, self.origin = store, signer, origin
        self.tree = store.state.tree
        self._gw = dict(gw)
        self._heads: dict[str, bytes] = {}  # session id -> leaf hash of its latest record
        self._clock = clock
        self._last_ts = 0  # µs: the ts of the latest record written
        self._signed_at = 0  # the signing time of the latest checkpoint signed

    def __repr__(self) -> str:
        return f"LogCore({self.origin!r}, size={self.tree.size})"

    def commit(
        self, frames: Sequence[bytes], seal: bool, rotate_to: Signer | None = None
    ) -> str | None:
        """Append ``frames``, flush (fsync by policy), maybe sign a checkpoint; return it.

        With ``rotate_to`` the batch ends with key.rotate: it is sealed under the current
        key, and the new key signs from then on.
        """
        if frames:
            self.store.write([self._record(f) for f in frames])
            self.store.flush()
        note = None
        if seal or rotate_to is not None:
            note = self.signer.sign(
                Checkpoint(self.origin, self.tree.size, self.tree.root()).text(),
                self.signing_time(),
            )
            self.store.append_checkpoint(note)
        if rotate_to is not None:
            self.signer = rotate_to
        return note

    def signing_time(self) -> int:
        """A checkpoint's signing time: the clock's second, never before the previous
        checkpoint's or the second of the latest record it covers (§5, "The signing
        time"; the gateway records a clock that went back as clock.step)."""
        now = int(self._clock())
        self._signed_at = max(now, self._signed_at, self._last_ts // 1_000_000)
        return self._signed_at

    def _record(self, data: bytes) -> bytes:
        seq, ts, type, sid, n, body = orjson.loads(data)
        if isinstance(ts, int):
            self._last_ts = max(self._last_ts, ts)
        if seq != self.tree.size:
            raise RecordError(f"record seq {seq} out of order: the log has {self.tree.size}")
        prev = None
        if sid is not None and type not in GATEWAY_TYPES:
            prev = self._heads.get(sid) if n else None
            if type == _CLOSE:
                body["chain_head"] = None if prev is None else prev.hex()
        line = encode(
            seq=seq, ts=format_ts(ts), gw=self._gw, type=type, sid=sid, n=n, prev=prev, body=body
        )
        leaf = leaf_hash(line)
        self.tree.append(leaf)
        if sid is not None:
            if type == _CLOSE:
                self._heads.pop(sid, None)
            else:
                self._heads[sid] = leaf
        return line
