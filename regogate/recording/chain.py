"""Verification, record pass: leaf hashes, seq, envelopes, gateway boots, session chains.

Reads each record once, in log order; ``verify.py`` then checks checkpoints against
the tree this pass builds. Pure code over bytes.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass
from typing import NamedTuple

from regogate.recording import jcs
from regogate.recording.findings import Findings
from regogate.recording.layout import SegmentFile, Torn
from regogate.recording.merkle import MerkleTree
from regogate.recording.records import envelope_problem

_sha256 = hashlib.sha256
_START, _STOP, _ROTATE = "gateway.start", "gateway.stop", "key.rotate"
_OPEN, _CLOSE = "session.open", "session.close"
_loads = jcs.loads


class Scanned(NamedTuple):
    """What one line holds, as far as it can be judged alone (``scan_line``).

    ``RecordPass`` only unpacks it by position, so a plain tuple (cheaper to pickle
    between processes) serves as well.
    """

    leaf: bytes
    problem: tuple[str, str] | None  # (code, message) if the line is not a usable record
    seq: int | None
    canonical: bool = True
    kind: str = ""
    boot: str = ""
    ts: str = ""
    sid: str | None = None
    n: int | None = None
    prev: str | None = None
    fields: dict[str, object] | None = None  # all of it, for the types checked further


_FIELDS_KEPT = frozenset({_START, _ROTATE, _CLOSE})


def scan_line(line: bytes) -> Scanned:
    """Leaf hash, parse, canonical form and envelope of one line: no cross-record state."""
    leaf = _sha256(b"\x00" + line).digest()
    try:
        obj, canonical = _loads(line)
    except ValueError as exc:
        return Scanned(leaf, ("record-not-json", f"not a JSON record: {exc}"), None)
    if type(obj) is not dict:
        return Scanned(leaf, ("record-not-object", "record is not a JSON object"), None)
    problem = envelope_problem(obj)
    if problem is not None:
        seq = obj.get("seq")
        return Scanned(leaf, ("record-malformed", problem), seq if type(seq) is int else None)
    kind = obj["type"]
    return Scanned(
        leaf, None, obj["seq"], canonical, kind, obj["gw"]["boot"], obj["ts"], obj["sid"],
        obj["n"], obj["prev"], obj if kind in _FIELDS_KEPT else None,
    )  # fmt: skip


def scan_segment(data: bytes) -> tuple[list[Scanned], int]:
    """Every complete line of a segment scanned; the length of a torn tail (0 if none)."""
    lines = data.split(b"\n")
    tail = lines.pop()
    return [scan_line(line) for line in lines], len(tail)


@dataclass(frozen=True)
class KeyEvent:
    """A signing key the log announces: at a gateway.start, or by key.rotate (old → new)."""

    seq: int
    vkey: str
    rotated_from: str | None = None


@dataclass(slots=True)
class _Chain:
    boot: str
    open_seq: int
    n: int
    head: str  # hex leaf hash of the session's latest record
    last_seq: int
    closed: bool = False


class RecordPass:
    """Feed segments in order with ``segment()``, then call ``finish()``."""

    def __init__(self, findings: Findings, origin: str | None):
        self.tree = MerkleTree()
        self.origin = origin  # pinned by the caller, else the first gateway.start's
        self.origin_at: tuple[str, int, int] | None = None  # where it was taken from
        self.sessions: dict[str, _Chain] = {}
        self.key_events: list[KeyEvent] = []
        self.acks: dict[Torn, int] = {}  # torn region -> seq of the acknowledging gateway.start
        self._f = findings
        self._starts: list[int] = []  # first position of each segment
        self._names: list[str] = []
        self._torn: list[tuple[Torn, int, int]] = []  # region, records before it, its line
        self._next_segment = 1
        self._last_seq = -1
        self._count = 0  # records seen
        self._boot: str | None = None
        self._boots: set[str] = set()
        self._stopped = False
        self._last_ts = ""
        self._key: str | None = None  # the signing key last announced

    def where(self, position: int) -> tuple[str, int]:
        """(segment file, line number) of the record at a position."""
        i = bisect.bisect_right(self._starts, position) - 1
        return self._names[i], position - self._starts[i] + 1

    def segment(self, seg: SegmentFile) -> None:
        """Scan and check one segment's lines as they are read (the serial path)."""
        self._begin(seg.name, seg.number)
        lines = seg.data.split(b"\n")
        tail = lines.pop()
        leaves = bytearray()
        for number, line in enumerate(lines, 1):
            rec = scan_line(line)
            leaves += rec[0]
            self._record(rec, seg.name, number)
        self.tree.extend(leaves)
        self._end(seg.name, len(seg.data), len(tail), len(lines))

    def scanned(self, name: str, number: int, size: int, records: list[Scanned], tail: int) -> None:
        """Take one segment's scanned lines (``scan_segment``, maybe in another process)."""
        self._begin(name, number)
        self.tree.extend(b"".join([rec[0] for rec in records]))
        for line, rec in enumerate(records, 1):
            self._record(rec, name, line)
        self._end(name, size, tail, len(records))

    def _begin(self, name: str, number: int) -> None:
        if number != self._next_segment:
            msg = f"segment numbers jump from {self._next_segment - 1} to {number}"
            self._f.error("segment-missing", msg, file=name)
        self._next_segment = number + 1
        self._starts.append(self._count)
        self._names.append(name)

    def _end(self, name: str, size: int, tail: int, lines: int) -> None:
        if tail:
            self._torn.append((Torn(name, size - tail, tail), self._count, lines + 1))

    def _record(self, rec: Scanned, file: str, number: int) -> None:
        self._count += 1
        leaf, problem, seq, canonical, kind, boot, ts, sid, n, prev, obj = rec
        if problem is not None:
            self._f.error(*problem, file=file, line=number, seq=seq)
            return
        assert seq is not None
        if not canonical:
            msg = "record bytes are not canonical JSON (RFC 8785)"
            self._f.error("record-not-canonical", msg, file=file, line=number, seq=seq)
        if seq != self._last_seq + 1:
            if seq > self._last_seq + 1:
                gap = seq - self._last_seq - 1
                msg = f"seq jumps from {self._last_seq} to {seq}: {gap} record(s) missing"
                self._f.error("seq-gap", msg, file=file, line=number, seq=seq)
            else:
                msg = f"seq {seq} follows seq {self._last_seq}: records reordered or duplicated"
                self._f.error("seq-order", msg, file=file, line=number, seq=seq)
        self._last_seq = seq
        if boot != self._boot:
            self._new_boot(obj, boot, kind, file, number, seq)
        elif kind == _START:
            msg = f"second gateway.start in boot {boot}"
            self._f.error("boot-restarted", msg, file=file, line=number, seq=seq)
        elif self._stopped:
            msg = f"{kind} record after gateway.stop of boot {boot}"
            self._f.error("record-after-stop", msg, file=file, line=number, seq=seq)
        if ts < self._last_ts:
            msg = f"ts {ts} is earlier than {self._last_ts}, the previous record of boot {boot}"
            self._f.error("ts-backwards", msg, file=file, line=number, seq=seq)
        self._last_ts = ts
        if sid is not None:
            self._session_record(sid, kind, seq, n, prev, obj, leaf.hex(), file, number)
        elif obj is None:
            if kind == _STOP:
                self._stopped = True
        elif kind == _START:
            self._start(obj, seq, file, number)
        elif kind == _ROTATE:
            self._rotate(obj, seq, file, number)

    def _new_boot(
        self, obj: dict[str, object] | None, boot: str, kind: str, file: str, number: int, seq: int
    ) -> None:
        if kind != _START or obj is None:
            msg = f"first record of boot {boot} is {kind}, not gateway.start"
            self._f.error("boot-without-start", msg, file=file, line=number, seq=seq)
        elif obj.get("prev_boot") != self._boot:
            msg = f"gateway.start names prev_boot {obj.get('prev_boot')}, but the previous"
            msg += f" record is of boot {self._boot}"
            self._f.error("prev-boot-mismatch", msg, file=file, line=number, seq=seq)
        if boot in self._boots:
            msg = f"boot {boot} reappears after another boot started (interleaved writers?)"
            self._f.error("boot-reused", msg, file=file, line=number, seq=seq)
        self._boot, self._stopped, self._last_ts = boot, False, ""
        self._boots.add(boot)

    def _start(self, obj: dict[str, object], seq: int, file: str, number: int) -> None:
        position = self._count - 1
        if obj["last_seen_tree_size"] != position:
            msg = (
                f"gateway.start found {obj['last_seen_tree_size']} records when it started, "
                f"but it is record {position}: records were removed or inserted before it"
            )
            self._f.error("start-size-mismatch", msg, file=file, line=number, seq=seq)
        origin = obj["origin"]
        if self.origin is None and isinstance(origin, str):
            self.origin, self.origin_at = origin, (file, number, seq)
        elif origin != self.origin:
            msg = f"gateway.start names origin {origin!r}, not {self.origin!r}"
            self._f.error("origin-mismatch", msg, file=file, line=number, seq=seq)
        vkey = obj["vkey"]
        if not isinstance(vkey, str):
            self._f.error(
                "record-malformed", "vkey is not a string", file=file, line=number, seq=seq
            )
            return
        if self._key is not None and vkey != self._key:
            msg = (
                f"gateway.start announces signing key {_short(vkey)}, but the last key the "
                f"log announced is {_short(self._key)} (no key.rotate record)"
            )
            self._f.warning("key-changed-without-rotate", msg, file=file, line=number, seq=seq)
        self._key = vkey
        self.key_events.append(KeyEvent(seq, vkey))
        recovered = obj["recovered"]
        try:
            assert isinstance(recovered, list)
            for t in recovered:
                self.acks[Torn(str(t["file"]), int(t["offset"]), int(t["bytes"]))] = seq
        except (AssertionError, KeyError, TypeError, ValueError):
            msg = "recovered is not a list of {file, offset, bytes}"
            self._f.error("record-malformed", msg, file=file, line=number, seq=seq)

    def _rotate(self, obj: dict[str, object], seq: int, file: str, number: int) -> None:
        old, new = obj["old"], obj["new"]
        if not isinstance(old, str) or not isinstance(new, str):
            msg = "key.rotate old and new are not strings"
            self._f.error("record-malformed", msg, file=file, line=number, seq=seq)
            return
        if old != self._key:
            msg = f"key.rotate retires {_short(old)}, but the key in use is {_short(self._key)}"
            self._f.error("key-rotate-mismatch", msg, file=file, line=number, seq=seq)
        self._key = new
        self.key_events.append(KeyEvent(seq, new, old))

    def _session_record(
        self,
        sid: str,
        kind: str,
        seq: int,
        n: int | None,
        prev: str | None,
        obj: dict[str, object] | None,
        leaf: str,
        file: str,
        number: int,
    ) -> None:
        chain = self.sessions.get(sid)
        assert n is not None
        if kind == _OPEN:
            if chain is not None:
                msg = f"session {sid} is opened again (first opened at seq {chain.open_seq})"
                self._f.error("session-reopened", msg, file=file, line=number, seq=seq)
            elif n != 0 or prev is not None:
                msg = "session.open must have n 0 and prev null"
                self._f.error("chain-broken", msg, file=file, line=number, seq=seq)
            assert self._boot is not None
            self.sessions[sid] = _Chain(self._boot, seq, n, leaf, seq)
            return
        if chain is None:
            msg = f"{kind} record of session {sid}, which has no session.open"
            self._f.error("session-not-opened", msg, file=file, line=number, seq=seq)
            self.sessions[sid] = _Chain(self._boot or "", seq, n, leaf, seq)
            return
        if chain.closed:
            msg = f"{kind} record after session.close of session {sid} (seq {chain.last_seq})"
            self._f.error("record-after-close", msg, file=file, line=number, seq=seq)
        if n != chain.n + 1:
            msg = f"n is {n}, expected {chain.n + 1} (session {sid}'s previous record is seq"
            self._f.error(
                "chain-broken", f"{msg} {chain.last_seq})", file=file, line=number, seq=seq
            )
        if prev != chain.head:
            msg = (
                f"prev does not match the leaf hash of session {sid}'s previous record "
                f"(seq {chain.last_seq}): the session chain is broken"
            )
            self._f.error("chain-broken", msg, file=file, line=number, seq=seq)
        if chain.boot != self._boot:
            msg = f"session {sid} of boot {chain.boot} continues in boot {self._boot}"
            self._f.error("session-spans-boots", msg, file=file, line=number, seq=seq)
        if kind == _CLOSE and obj is not None:
            self._close(obj, chain, sid, n, seq, file, number)
        chain.n, chain.head, chain.last_seq = n, leaf, seq

    def _close(
        self,
        obj: dict[str, object],
        chain: _Chain,
        sid: str,
        n: int,
        seq: int,
        file: str,
        number: int,
    ) -> None:
        chain.closed = True
        if obj["chain_head"] != obj["prev"]:
            msg = f"session.close chain_head of session {sid} differs from its prev"
            self._f.error("chain-head-mismatch", msg, file=file, line=number, seq=seq)
        counts = obj["counts"]
        if not isinstance(counts, dict) or counts.get("records") != n + 1:
            msg = f"session.close counts.records should be {n + 1} (n + 1)"
            self._f.error("close-count-mismatch", msg, file=file, line=number, seq=seq)

    def finish(self) -> None:
        size = self.tree.size
        for torn, before, line in self._torn:
            at = f"{torn.bytes} bytes at byte {torn.offset}"
            if torn in self.acks:
                msg = f"a line torn by a crash ({at}), acknowledged by gateway.start"
                msg += f" seq {self.acks[torn]}"
                self._f.info("torn-acknowledged", msg, file=torn.file, line=line)
            elif before == size:
                msg = (
                    f"the log ends with a truncated line ({at}): a crash while writing; it is "
                    "not a record"
                )
                self._f.warning("torn-tail", msg, file=torn.file, line=line)
            else:
                msg = (
                    f"incomplete line ({at}) followed by more records, and no gateway.start "
                    "acknowledges it: bytes were removed here"
                )
                self._f.error("torn-unacknowledged", msg, file=torn.file, line=line)
        for sid, chain in self.sessions.items():
            if chain.closed:
                continue
            if chain.boot == self._boot and not self._stopped:
                msg = f"session {sid} is still open at the end of the log"
                self._f.info("session-open", msg, seq=chain.last_seq)
            else:
                msg = (
                    f"session {sid} (opened at seq {chain.open_seq}) has no session.close: "
                    f"its gateway boot {chain.boot} ended without closing it (a crash?)"
                )
                self._f.warning("session-not-closed", msg, seq=chain.last_seq)


def _short(vkey: str | None) -> str:
    """name+keyid of a verifier key (enough to identify it in a message)."""
    return "none" if vkey is None else "+".join(vkey.split("+")[:2])
