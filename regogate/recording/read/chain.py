"""Verification, record pass: leaf hashes, seq, envelopes, gateway boots, session chains.

Reads each record once, in log order; ``verify.py`` then checks checkpoints against
the tree this pass builds. Pure code over bytes.

The log is cut into chunks of whole lines, scanned on their own (``scan_chunk``, in
any process), then taken in log order (``RecordPass.take``). A chunk's scan judges
each line alone, and finds *runs*: records that follow each other as a sound log's
do (next seq, same boot, ts not decreasing, session chains linked within the run).
A run comes back as a summary; ``take`` checks how it joins what came before (its
first seq and ts, its boot, each session's first link) and then applies it, or, if
anything there does not hold, reads the run's lines again and checks them one by one.
Either way the findings are those of checking every record in order.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

from regogate.recording.format import jcs
from regogate.recording.format.layout import Torn
from regogate.recording.format.merkle import MerkleTree
from regogate.recording.format.records import (
    GATEWAY_TYPES,
    SCHEMA,
    SESSION_TYPES,
    TS_FORMAT,
    envelope_problem,
)
from regogate.recording.read.findings import Findings

_sha256 = hashlib.sha256
_LEAF = hashlib.sha256(b"\x00")  # copied, then fed one record: its leaf hash
_START, _STOP, _ROTATE = "gateway.start", "gateway.stop", "key.rotate"
_STEP = "clock.step"
_OPEN, _CLOSE = "session.open", "session.close"
_loads = jcs.loads
_ts_match = TS_FORMAT.fullmatch


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


_FIELDS_KEPT = frozenset({_START, _ROTATE, _CLOSE, _STEP})


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


class RunSession(NamedTuple):
    """One session's records within a run: how its first one links, and where it ends."""

    sid: str
    opened: bool  # its first record in the run is its session.open
    first_n: int
    first_prev: str | None
    n: int  # of its last record in the run
    head: str  # hex leaf hash of its last record in the run
    first_seq: int
    last_seq: int
    closed: bool  # its last record in the run is its session.close


class Run(NamedTuple):
    """Consecutive lines of a chunk that, taken in order, raise no finding among
    themselves (see the module docstring); ``RecordPass.take`` checks the joins."""

    start: int  # index of its first line in the chunk
    lines: int
    lo: int  # its bytes in the chunk, whole lines: [lo, hi)
    hi: int
    boot: str
    first_seq: int
    first_ts: str
    last_seq: int
    last_ts: str
    sessions: list[RunSession]  # in the order of their first record
    # (index in the run, ts[:19]) of each record whose second differs from the one
    # before it: the second of any record of the run (checkpoint signing times)
    seconds: list[tuple[int, str]]


Item: TypeAlias = "Run | tuple[int, Scanned]"  # a run, or (line index, one record)


class Chunk(NamedTuple):
    """A scanned chunk: its leaf hashes (concatenated), runs and the other records."""

    leaves: bytes
    lines: int  # complete lines
    tail: int  # bytes after the last newline (a torn line), 0 if none
    items: list[Item]


class ChangedDuringVerify(Exception):
    """A file's bytes changed between two reads while it was being verified."""


def scan_chunk(data: bytes, each: Callable[[bytes, object], None] | None = None) -> Chunk:
    """Leaf hashes, runs and the other records of a chunk of whole lines (the last
    chunk of a segment may end with a torn line). No cross-chunk state.

    ``each(line, value)``, if given, is called for every complete line with its parsed
    JSON value (None if it is not JSON), so that a second reader of the chunk
    (``chunk_reader.ChunkReader``) need not parse it again.

    A record may join a run only if ``envelope_problem`` would find nothing, it is not
    of a gateway type (those change the log's state: always checked alone), a
    session.open starts its chain and a session.close is consistent in itself. The
    ``prev`` of other session records is left to the chain check: it must equal a leaf
    hash, so its form follows.
    """
    lines = data.split(b"\n")
    tail = lines.pop()
    digests: list[bytes] = []
    items: list[Item] = []
    copy, loads, ts_match, digest = _LEAF.copy, _loads, _ts_match, digests.append
    gateway_types, session_types = GATEWAY_TYPES, SESSION_TYPES
    # the open run: its start (-1: none), bytes, boot, first and last seq and ts, and
    # per session [opened, first n, first prev, n, head, first seq, last seq, closed]
    start = lo = -1
    boot0 = ts0 = last_ts = last_second = ""
    seconds: list[tuple[int, str]] = []
    seq0 = last_seq = 0
    sessions: dict[str, list[Any]] = {}
    obj: Any = None
    pos = 0
    for index, line in enumerate(lines):
        h = copy()
        h.update(line)
        leaf = h.digest()
        digest(leaf)
        joins = False
        obj = None
        try:
            obj, canonical = loads(line)
            if canonical and type(obj) is dict:
                v, seq, ts, gw = obj["v"], obj["seq"], obj["ts"], obj["gw"]
                kind, sid, n, prev = obj["type"], obj["sid"], obj["n"], obj["prev"]
                joins = (
                    v == SCHEMA
                    and type(seq) is int
                    and seq >= 0
                    and type(ts) is str
                    and type(gw) is dict
                    and type(kind) is str
                    and kind != ""
                    and kind not in gateway_types
                    and ts_match(ts) is not None
                )
        except (ValueError, KeyError):  # not JSON, or an envelope field missing
            pass
        if each is not None:
            each(line, obj)
        if joins:
            boot = gw.get("boot")
            joins = (
                type(boot) is str
                and type(gw.get("id")) is str
                and type(gw.get("ver")) is str
                and (start < 0 or (seq == last_seq + 1 and boot == boot0 and ts >= last_ts))
            )
        st = None
        if not joins:
            pass
        elif sid is None:
            joins = n is None and prev is None and kind not in session_types
        elif type(sid) is not str or sid == "" or type(n) is not int or n < 0:
            joins = False
        else:
            st = sessions.get(sid) if start >= 0 else None
            if kind == _OPEN:
                joins = st is None and n == 0 and prev is None
            elif st is not None:
                joins = not st[7] and n == st[3] + 1 and prev == st[4]
            if joins and kind == _CLOSE:
                counts = obj.get("counts")
                joins = (
                    "reason" in obj
                    and type(counts) is dict
                    and counts.get("records") == n + 1
                    and obj.get("chain_head", obj) == prev
                )
        if joins:
            if start < 0:
                start, lo, boot0, seq0, ts0, sessions = index, pos, boot, seq, ts, {}
                seconds, last_second = [], ""
            last_seq, last_ts = seq, ts
            if ts[:19] != last_second:
                last_second = ts[:19]
                seconds.append((index - start, last_second))
            if sid is not None:
                closed = kind == _CLOSE
                if st is None:
                    sessions[sid] = [kind == _OPEN, n, prev, n, leaf.hex(), seq, seq, closed]
                else:
                    st[3], st[4], st[6], st[7] = n, leaf.hex(), seq, closed
        else:
            if start >= 0:
                items.append(
                    _close(
                        start, index, lo, pos, boot0, seq0, ts0, last_seq, last_ts, sessions,
                        seconds,
                    )
                )  # fmt: skip
                start = -1
            items.append((index, scan_line(line)))
        pos += len(line) + 1
    if start >= 0:
        end = len(lines)
        items.append(
            _close(start, end, lo, pos, boot0, seq0, ts0, last_seq, last_ts, sessions, seconds)
        )
    return Chunk(b"".join(digests), len(lines), len(tail), items)


def _close(
    start: int,
    end: int,
    lo: int,
    hi: int,
    boot: str,
    seq0: int,
    ts0: str,
    last_seq: int,
    last_ts: str,
    sessions: dict[str, list[object]],
    seconds: list[tuple[int, str]],
) -> Run:
    summary = [RunSession(sid, *st) for sid, st in sessions.items()]  # type: ignore[arg-type]
    return Run(start, end - start, lo, hi, boot, seq0, ts0, last_seq, last_ts, summary, seconds)


class Mark(NamedTuple):
    """A record the writer always seals (gateway.stop, key.rotate): where it is."""

    position: int  # its leaf index
    file: str
    line: int
    seq: int
    boot: str


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
    """Feed each segment in order (``begin``, ``take`` for each chunk, ``end``), then
    call ``finish()``."""

    def __init__(self, findings: Findings, origin: str | None):
        self.tree = MerkleTree()
        self.origin = origin  # pinned by the caller, else the first gateway.start's
        self.origin_at: tuple[str, int, int] | None = None  # where it was taken from
        self.sessions: dict[str, _Chain] = {}
        self.key_events: list[KeyEvent] = []
        self.acks: dict[Torn, int] = {}  # torn region -> seq of the acknowledging gateway.start
        self.stops: list[Mark] = []  # gateway.stop records
        self.rotations: list[Mark] = []  # key.rotate records
        self._boot_starts: set[int] = set()  # positions of the first record of each boot
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
        # positions whose ts a checkpoint's signing time must not precede (the second,
        # "YYYY-MM-DDTHH:MM:SS"), and the second of the record there when it is later
        self.deadlines: dict[int, str] = {}
        self._deadline_positions: list[int] = []
        self.ts_at: dict[int, str] = {}
        self._sorted_starts: list[int] = []

    def watch(self, deadlines: dict[int, str]) -> None:
        """Keep the second of each record at a position in ``deadlines`` that is later
        than the deadline there (``ts_at``); call before the first ``take``."""
        self.deadlines = deadlines
        self._deadline_positions = sorted(deadlines)

    def _past_deadlines(self, run: Run, base: int) -> None:
        """Keep the second of each record of ``run`` (its first at ``base``) that is
        later than the deadline at its position."""
        positions = self._deadline_positions
        i = bisect.bisect_left(positions, base)
        end = base + run.lines
        while i < len(positions) and positions[i] < end:
            p = positions[i]
            k = bisect.bisect_right(run.seconds, (p - base, "\uffff")) - 1
            if run.seconds[k][1] > self.deadlines[p]:
                self.ts_at[p] = run.seconds[k][1]
            i += 1

    def resume(self, position: int, segment: int, boot: str | None) -> None:
        """Check a log's suffix alone: its first segment is number ``segment`` and starts
        at ``position``; the record before it is of ``boot``. (What came before is taken
        as it is: the recording writer checks an unsealed tail this way.)"""
        self._count = position
        self._last_seq = position - 1
        self._next_segment = segment
        self._boot = boot
        if boot is not None:
            self._boots.add(boot)

    def boot_of(self, position: int) -> int:
        """Which boot (0, 1, …, in log order) the record at ``position`` belongs to."""
        if len(self._sorted_starts) != len(self._boot_starts):
            self._sorted_starts = sorted(self._boot_starts)
        return bisect.bisect_right(self._sorted_starts, position)

    @property
    def boot_starts(self) -> frozenset[int]:
        """Positions of the first record of each boot seen."""
        return frozenset(self._boot_starts)

    def continues_boot(self, position: int) -> bool:
        """Whether a record of the same boot follows the one at ``position``."""
        return position + 1 < self.tree.size and position + 1 not in self._boot_starts

    def where(self, position: int) -> tuple[str, int]:
        """(segment file, line number) of the record at a position."""
        i = bisect.bisect_right(self._starts, position) - 1
        return self._names[i], position - self._starts[i] + 1

    def begin(self, name: str, number: int) -> None:
        """A segment starts; its chunks follow, in order, then ``end``."""
        if number != self._next_segment:
            msg = f"segment numbers jump from {self._next_segment - 1} to {number}"
            self._f.error("segment-missing", msg, file=name)
        self._next_segment = number + 1
        self._starts.append(self._count)
        self._names.append(name)

    def take(
        self, chunk: Chunk, file: str, first_line: int, reread: Callable[[int, int], bytes]
    ) -> None:
        """Check a scanned chunk's records in order; its first line is ``first_line``
        of ``file``. ``reread(lo, hi)`` gives the chunk's bytes [lo, hi) again."""
        for item in chunk.items:
            if type(item) is Run:
                base = self._count
                if not self._join(item):
                    self._recheck(item, chunk.leaves, file, first_line, reread)
                elif self._deadline_positions:
                    self._past_deadlines(item, base)
            else:
                index, rec = item  # type: ignore[misc]
                self._record(rec, file, first_line + index)
        self.tree.extend(chunk.leaves)

    def end(self, name: str, size: int, tail: int, lines: int) -> None:
        """The segment ``name`` (``size`` bytes, ``lines`` complete lines) is done."""
        if tail:
            self._torn.append((Torn(name, size - tail, tail), self._count, lines + 1))

    def _join(self, run: Run) -> bool:
        """Apply a run if it continues the log as checked so far without a finding."""
        boot = self._boot
        if (
            run.boot != boot
            or self._stopped
            or run.first_seq != self._last_seq + 1
            or run.first_ts < self._last_ts
        ):
            return False
        sessions = self.sessions
        for s in run.sessions:
            chain = sessions.get(s.sid)
            if s.opened:
                if chain is not None:
                    return False
            elif (
                chain is None
                or chain.closed
                or chain.boot != boot
                or s.first_n != chain.n + 1
                or s.first_prev != chain.head
            ):
                return False
        assert boot is not None
        for s in run.sessions:
            if s.opened:
                sessions[s.sid] = _Chain(boot, s.first_seq, s.n, s.head, s.last_seq, s.closed)
            else:
                chain = sessions[s.sid]
                chain.n, chain.head, chain.last_seq, chain.closed = (
                    s.n,
                    s.head,
                    s.last_seq,
                    s.closed,
                )
        self._count += run.lines
        self._last_seq, self._last_ts = run.last_seq, run.last_ts
        return True

    def _recheck(
        self,
        run: Run,
        leaves: bytes,
        file: str,
        first_line: int,
        reread: Callable[[int, int], bytes],
    ) -> None:
        """Check a run's records one by one, from its bytes read again."""
        lines = reread(run.lo, run.hi).split(b"\n")
        recs = [scan_line(line) for line in lines[:-1]]
        scanned = leaves[run.start * 32 : (run.start + run.lines) * 32]
        same = b"".join([rec[0] for rec in recs]) == scanned
        if lines[-1] or len(recs) != run.lines or not same:
            raise ChangedDuringVerify(f"{file} changed while it was being verified")
        for i, rec in enumerate(recs, first_line + run.start):
            self._record(rec, file, i)

    def _record(self, rec: Scanned, file: str, number: int) -> None:
        self._count += 1
        leaf, problem, seq, canonical, kind, boot, ts, sid, n, prev, obj = rec
        deadline = self.deadlines.get(self._count - 1) if self.deadlines else None
        if deadline is not None and ts[:19] > deadline:
            self.ts_at[self._count - 1] = ts[:19]
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
            self._new_boot(obj, boot, kind, ts, file, number, seq)
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
                self.stops.append(Mark(self._count - 1, file, number, seq, boot))
        elif kind == _START:
            self._start(obj, seq, file, number)
        elif kind == _ROTATE:
            self.rotations.append(Mark(self._count - 1, file, number, seq, boot))
            self._rotate(obj, seq, file, number)
        elif kind == _STEP:
            self._clock_step(obj, ts, seq, file, number)

    def _clock_step(self, obj: dict[str, object], ts: str, seq: int, file: str, line: int) -> None:
        clock, previous = obj["clock"], obj["previous"]
        if not (
            isinstance(clock, str)
            and isinstance(previous, str)
            and _ts_match(clock)
            and _ts_match(previous)
            and clock < previous <= ts
        ):
            msg = "clock.step clock and previous are not RFC 3339 times with clock < previous <= ts"
            self._f.error("record-malformed", msg, file=file, line=line, seq=seq)
            return
        msg = (
            f"the gateway's clock went back from {previous} to {clock}: records of this boot "
            f"keep ts {ts} (no earlier) until the clock passes it again, so their times are "
            "late by up to the step"
        )
        self._f.warning("clock-step", msg, file=file, line=line, seq=seq)

    def _new_boot(
        self,
        obj: dict[str, object] | None,
        boot: str,
        kind: str,
        ts: str,
        file: str,
        number: int,
        seq: int,
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
        if ts < self._last_ts:
            msg = (
                f"boot {boot} starts at {ts}, before {self._last_ts}, the last record of the "
                f"boot before it ({self._boot}): a clock set back between the two, or a "
                "boot dated wrongly"
            )
            self._f.warning("boot-dated-before-predecessor", msg, file=file, line=number, seq=seq)
        self._boot, self._stopped, self._last_ts = boot, False, ""
        self._boots.add(boot)
        self._boot_starts.add(self._count - 1)

    def _start(self, obj: dict[str, object], seq: int, file: str, number: int) -> None:
        position = self._count - 1
        if obj["last_seen_tree_size"] != position:
            msg = (
                f"gateway.start found {obj['last_seen_tree_size']} records when it started, "
                f"but it is record {position}: records were removed or inserted before it"
            )
            self._f.error("start-size-mismatch", msg, file=file, line=number, seq=seq)
        sealed = obj.get("sealed")
        found = sealed.get("size") if isinstance(sealed, dict) else None
        if type(found) is int and 0 <= found < position:
            msg = (
                f"records seq {found}..{position - 1} were not sealed when this boot started "
                "(the previous boot ended without sealing them: a crash?); this boot's "
                "checkpoints seal them, but nothing vouched for them before"
            )
            self._f.warning("sealed-by-later-boot", msg, file=file, line=number, seq=seq)
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
