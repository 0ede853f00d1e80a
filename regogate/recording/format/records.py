"""The record envelope ``regogate.audit/1``: fields, record types, canonical bytes, leaf hash.

A record is one JSON object: the envelope fields below plus its type's own fields, at
the top level. Its identity is SHA-256(0x00 || its RFC 8785 bytes), the Merkle leaf hash.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from regogate.recording.format import jcs
from regogate.recording.format.merkle import leaf_hash

SCHEMA = "regogate.audit/1"
ENVELOPE = frozenset({"v", "seq", "ts", "gw", "type", "sid", "n", "prev"})
TS_FORMAT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
LEAF_HEX = re.compile(r"[0-9a-f]{64}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RecordType(StrEnum):
    """The record types regogate writes; verifiers accept others (the set is open)."""

    GATEWAY_START = "gateway.start"
    GATEWAY_STOP = "gateway.stop"
    KEY_ROTATE = "key.rotate"
    CHECKPOINT = "checkpoint"  # reserved: a checkpoint mirrored into the log
    CLOCK_STEP = "clock.step"  # the gateway's clock went back (written by the hot path)
    SESSION_OPEN = "session.open"
    STMT = "stmt"
    DECISION = "decision"
    APPROVAL = "approval"
    RESULT = "result"
    ERROR = "error"
    CANCEL = "cancel"
    SESSION_CLOSE = "session.close"


# Gateway-scoped records have sid, n and prev null; session-scoped ones have all three
# (prev null only on session.open). A type not listed is scoped by whether sid is null.
GATEWAY_TYPES = frozenset(
    {"gateway.start", "gateway.stop", "key.rotate", "checkpoint", "clock.step"}
)
SESSION_TYPES = frozenset(t.value for t in RecordType) - GATEWAY_TYPES

# Fields the verifier requires (and checks) beyond the envelope.
REQUIRED: Mapping[str, frozenset[str]] = {
    RecordType.GATEWAY_START: frozenset(
        {"origin", "vkey", "last_seen_tree_size", "prev_boot", "recovered"}
    ),
    RecordType.KEY_ROTATE: frozenset({"old", "new"}),
    RecordType.SESSION_CLOSE: frozenset({"reason", "counts", "chain_head"}),
    RecordType.CHECKPOINT: frozenset({"size", "root"}),
    RecordType.CLOCK_STEP: frozenset({"clock", "previous"}),
}


class RecordError(ValueError):
    """Bytes that are not a well-formed ``regogate.audit/1`` record (message says why)."""


@dataclass(frozen=True)
class GatewayInfo:
    """``gw``: which gateway process wrote a record. ``boot`` is a UUID per process start."""

    id: str
    boot: str
    ver: str
    build_digest: str | None = None

    @classmethod
    def new(cls, id: str, ver: str, build_digest: str | None = None) -> GatewayInfo:
        """This process's identity, with a fresh boot id."""
        return cls(id, new_session_id(), ver, build_digest)

    def to_json(self) -> dict[str, str]:
        out = {"id": self.id, "boot": self.boot, "ver": self.ver}
        if self.build_digest is not None:
            out["build_digest"] = self.build_digest
        return out


def new_session_id() -> str:
    """A UUIDv7 (time-ordered, RFC 9562 §5.7)."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 68) << 64 | 0b10 << 62
    return str(uuid.UUID(int=value | rand & (2**62 - 1)))


def format_ts(micros: int) -> str:
    """RFC 3339 UTC with exactly six fractional digits, from microseconds since the epoch."""
    seconds, fraction = divmod(micros, 1_000_000)
    cached = _ts_last[0]
    if cached[0] != seconds:  # strftime once per second: this runs for every record
        stamp = (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
        cached = _ts_last[0] = (seconds, stamp)
    return f"{cached[1]}.{fraction:06d}Z"


_ts_last: list[tuple[int, str]] = [(-1, "")]


def encode(
    *,
    seq: int,
    ts: str,
    gw: Mapping[str, str],
    type: str,
    sid: str | None,
    n: int | None,
    prev: bytes | None,
    body: Mapping[str, object],
) -> bytes:
    """The canonical bytes of one record; ``prev`` is the previous leaf hash (raw)."""
    clash = ENVELOPE.intersection(body)
    if clash:
        raise RecordError(f"record body may not set envelope fields {sorted(clash)}")
    record = dict(body)
    record.update(
        v=SCHEMA,
        seq=seq,
        ts=ts,
        gw=gw,
        type=type,
        sid=sid,
        n=n,
        prev=None if prev is None else prev.hex(),
    )
    try:
        # The envelope is ints, strings, None and the gw dict of strings: only the body
        # can hold a float.
        return jcs.dumps(record, floats_in=body)
    except jcs.CanonicalizationError as exc:
        raise RecordError(f"{type} record: {exc}") from None


@dataclass(frozen=True)
class Record:
    """One parsed record with its exact bytes (for replay, reports and proofs)."""

    seq: int
    ts: str
    gw: Mapping[str, str]
    type: str
    sid: str | None
    n: int | None
    prev: str | None
    body: Mapping[str, jcs.JSONValue]
    data: bytes

    @property
    def leaf(self) -> bytes:
        return leaf_hash(self.data)

    @classmethod
    def parse(cls, data: bytes) -> Record:
        """Parse and check the envelope's shape (not the chains: see ``verify``)."""
        try:
            obj = json.loads(data)
        except ValueError as exc:
            raise RecordError(f"not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise RecordError("not a JSON object")
        problem = envelope_problem(obj)
        if problem:
            raise RecordError(problem)
        body = {k: v for k, v in obj.items() if k not in ENVELOPE}
        return cls(
            obj["seq"],
            obj["ts"],
            obj["gw"],
            obj["type"],
            obj["sid"],
            obj["n"],
            obj["prev"],
            body,
            data,
        )


def envelope_problem(obj: dict[str, object]) -> str | None:
    """What is wrong with a parsed record's envelope, or None (the verifier's hot path)."""
    if obj.get("v") != SCHEMA:
        return f"v is {obj.get('v')!r}, want {SCHEMA!r}"
    if not obj.keys() >= ENVELOPE:
        return f"missing envelope fields {sorted(ENVELOPE.difference(obj))}"
    seq, ts, gw, kind = obj["seq"], obj["ts"], obj["gw"], obj["type"]
    if type(seq) is not int or seq < 0:
        return "seq is not a non-negative integer"
    if type(ts) is not str or not _ts_match(ts):
        return "ts is not RFC 3339 UTC with microseconds (YYYY-MM-DDTHH:MM:SS.ffffffZ)"
    if not (
        type(gw) is dict
        and type(gw.get("id")) is str
        and type(gw.get("boot")) is str
        and type(gw.get("ver")) is str
    ):
        return "gw is not an object with string id, boot and ver"
    if type(kind) is not str or not kind:
        return "type is not a non-empty string"
    sid, n, prev = obj["sid"], obj["n"], obj["prev"]
    if sid is None:
        if n is not None or prev is not None:
            return "a gateway record (sid null) must have n and prev null"
        if kind in SESSION_TYPES:
            return f"{kind} record without a sid"
    else:
        if kind in GATEWAY_TYPES:
            return f"{kind} is a gateway record but has a sid"
        if type(sid) is not str or not sid:
            return "sid is not a non-empty string"
        if type(n) is not int or n < 0:
            return "n is not a non-negative integer"
        if prev is not None and not (type(prev) is str and _leaf_match(prev)):
            return "prev is not a lowercase hex SHA-256 or null"
    required = REQUIRED.get(kind)
    if required is not None and not obj.keys() >= required:
        return f"{kind} record lacks {', '.join(f for f in sorted(required) if f not in obj)}"
    return None


_ts_match = TS_FORMAT.fullmatch
_leaf_match = LEAF_HEX.fullmatch
