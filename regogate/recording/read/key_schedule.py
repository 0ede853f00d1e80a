"""Verification, keys: which key must sign each checkpoint and which keys are retired
(from the log's gateway.start and key.rotate records), and the log's keys against the
signed key histories the examiner trusts (``key_history``). Pure code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from regogate.recording.format.key_history import HistoryEntry, check_chain
from regogate.recording.format.note import Verifier
from regogate.recording.read.chain import KeyEvent
from regogate.recording.read.findings import Findings

__all__ = ["KeySchedule", "TrustHistory", "history_vs_log", "trusted_keys"]


class KeySchedule:
    """Which key must sign a checkpoint of a given size, from gateway.start / key.rotate,
    and which keys no checkpoint of that size may be signed by (``retired``).

    key.rotate is sealed by the old key: the first checkpoint covering it is signed by
    the old key, later ones by the new key, and never again by the old one. Sizes must
    be asked in increasing order.
    """

    def __init__(self, events: list[KeyEvent]):
        self._events, self._i = events, 0
        self._current: str | None = None
        self._pending: str | None = None
        self._fresh: list[KeyEvent] = []  # rotations the last checkpoint asked about covers
        self.retired: dict[str, int] = {}  # vkey -> seq of the key.rotate that retired it

    def signer_for(self, size: int) -> str | None:
        if self._pending is not None:
            self._current, self._pending = self._pending, None
        for event in self._fresh:
            assert event.rotated_from is not None
            self.retired.setdefault(event.rotated_from, event.seq)
        self._fresh = []
        while self._i < len(self._events) and self._events[self._i].seq < size:
            event = self._events[self._i]
            if event.rotated_from is None:
                self._current, self._pending = event.vkey, None
            else:
                self._pending = event.vkey
                self._fresh.append(event)
            self._i += 1
        return self._current


@dataclass(frozen=True)
class TrustHistory:
    """A signed key history the examiner trusts (``key_history``), and where it came from."""

    source: str
    entries: list[HistoryEntry]


def trusted_keys(
    keys: Sequence[Verifier], histories: Sequence[TrustHistory], findings: Findings
) -> tuple[list[Verifier], list[TrustHistory]]:
    """The keys to trust: those given, and each history's entries up to the first whose
    signature by the key before it fails (``history-invalid``); the sound histories."""
    out = list(keys)
    sound: list[TrustHistory] = []
    for history in histories:
        check = check_chain(history.entries)
        if check.problem is not None:
            msg = f"key history: {check.problem}; this entry and those after it are not trusted"
            findings.error("history-invalid", msg, file=history.source, line=check.line)
        entries = history.entries[: check.valid]
        out += [e.verifier for e in entries if e.verifier not in out]
        if entries:
            sound.append(TrustHistory(history.source, entries))
    return out, sound


def history_vs_log(
    history: TrustHistory, events: list[KeyEvent], origin: str | None, findings: Findings
) -> None:
    """The log's keys must follow the signed history: its first key first, each
    key.rotate from one entry to the next, no retired key again, none left out."""
    index = {e.verifier.vkey(): i for i, e in enumerate(history.entries)}
    keys = [e.verifier for e in history.entries]

    def mismatch(msg: str, seq: int | None = None) -> None:
        findings.error("history-mismatch", msg, file=history.source, seq=seq)

    if not events:
        return
    if not any(event.vkey in index for event in events):
        names = ", ".join(sorted({k.name for k in keys}))
        mismatch(
            f"the key history names none of the keys this log announces (it is for {names},"
            f" the log for {origin!r}): the trust file is another log's, or was swapped"
        )
        return
    at = -1  # the history entry of the key in use
    for event in events:
        i = index.get(event.vkey)
        what = "key.rotate" if event.rotated_from is not None else "gateway.start"
        if i is None:
            mismatch(
                f"{what} announces {_short(event.vkey)}, which the key history lacks", event.seq
            )
        elif at < 0 and i != 0:
            mismatch(
                f"the log's first key is {_short(event.vkey)}, entry {i} of the key history,"
                f" which starts with {_short(keys[0].vkey())}",
                event.seq,
            )
        elif event.rotated_from is not None and i != at + 1:
            mismatch(
                f"key.rotate to {_short(event.vkey)} (entry {i} of the key history) does not"
                f" follow the key in use (entry {at})",
                event.seq,
            )
        elif event.rotated_from is None and 0 <= i < at:
            mismatch(
                f"gateway.start announces {_short(event.vkey)}, which the key history retired"
                f" (entry {i}; the key in use is entry {at})",
                event.seq,
            )
        elif event.rotated_from is None and 0 <= at < i:
            mismatch(
                f"gateway.start announces {_short(event.vkey)} (entry {i} of the key history)"
                f" without a key.rotate from the key in use (entry {at})",
                event.seq,
            )
        at = max(at, i if i is not None else at)
    if 0 <= at < len(keys) - 1:
        later = keys[at + 1]
        mismatch(
            f"the key history goes on after the log's last key {_short(keys[at].vkey())}: it"
            f" activated {_short(later.vkey())} at {history.entries[at + 1].activated}, and the"
            " log has no key.rotate to it. The log was truncated after a rotation (and re-signed"
            " with the retired key?), or a rotation was interrupted (run `regogate keys rotate`"
            f" again), or this copy is older than the history (verify it with the history's"
            f" first {at + 1} entries)"
        )


def _short(vkey: str) -> str:
    return "+".join(vkey.split("+")[:2])
