"""The public key history (``.vkeys``): every log-signing key, in order, each signed by the
key before it, so that an entry added, swapped, edited or reordered by someone without the
key in use fails its check. Pure code over ``note.py``.

A history line is ``<verifier key> <activation time> <signature>``. The signature is
``base64(4-byte key id || Ed25519 signature)`` (a C2SP signed-note signature) by the
previous entry's key, or for the first entry by its own key, over the entry statement::

    regogate key history v1
    <index, from 0>
    <the previous entry's verifier key, or "none">
    <verifier key>
    <activation time>

A trust file (``verify --trust``) is either a history or a plain list of verifier keys
(one per line); ``#`` starts a comment line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from regogate.recording.format.note import NoteError, Signer, Verifier, open_note
from regogate.recording.format.records import TS_FORMAT

__all__ = [
    "HistoryEntry",
    "HistoryError",
    "TrustFile",
    "check_chain",
    "entry_line",
    "parse_trust",
    "sign_entry",
    "statement",
]

_HEADER = "regogate key history v1"
_DASH = "\u2014 "


class HistoryError(ValueError):
    """A trust file that cannot be read: ``line`` says where (1-based), 0 if nowhere."""

    def __init__(self, message: str, line: int = 0):
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class HistoryEntry:
    verifier: Verifier
    activated: str  # RFC 3339 UTC, microseconds
    signature: str  # base64(key id || signature), by the previous entry's key
    line: int = field(default=0, compare=False)  # in the file it came from


def statement(index: int, previous: Verifier | None, verifier: Verifier, activated: str) -> str:
    """What the signature of entry ``index`` covers."""
    before = previous.vkey() if previous is not None else "none"
    return f"{_HEADER}\n{index}\n{before}\n{verifier.vkey()}\n{activated}\n"


def sign_entry(
    signer: Signer, index: int, previous: Verifier | None, verifier: Verifier, activated: str
) -> HistoryEntry:
    """Entry ``index``, signed by ``signer``: the previous entry's key (its own if first)."""
    if not TS_FORMAT.fullmatch(activated):
        raise HistoryError(f"activation time {activated!r} is not a record timestamp")
    want = previous if previous is not None else verifier
    if signer.verifier != want:
        raise HistoryError("a history entry is signed by the previous entry's key")
    note = signer.sign(statement(index, previous, verifier, activated))
    blob = note.rstrip("\n").rsplit(" ", 1)[1]
    return HistoryEntry(verifier, activated, blob)


def entry_line(entry: HistoryEntry) -> str:
    return f"{entry.verifier.vkey()} {entry.activated} {entry.signature}\n"


def _signed_by(entry: HistoryEntry, index: int, previous: Verifier | None) -> bool:
    signer = previous if previous is not None else entry.verifier
    text = statement(index, previous, entry.verifier, entry.activated)
    note = f"{text}\n{_DASH}{signer.name} {entry.signature}\n"
    try:
        open_note(note, [signer])
    except NoteError:
        return False
    return True


@dataclass(frozen=True)
class ChainCheck:
    """How much of a history holds: entries[:valid] are sound; then ``problem`` at ``line``."""

    valid: int
    problem: str | None = None
    line: int = 0


def check_chain(entries: list[HistoryEntry]) -> ChainCheck:
    """Check each entry's signature by the key before it; stop at the first that fails."""
    seen: set[Verifier] = set()
    previous: HistoryEntry | None = None
    for index, entry in enumerate(entries):
        key = f"{entry.verifier.name}+{entry.verifier.id:08x}"
        if entry.verifier in seen:
            msg = f"key {key} appears twice: a retired key is never used again"
            return ChainCheck(index, msg, entry.line)
        if not _signed_by(entry, index, previous.verifier if previous else None):
            by = "its own key" if previous is None else "the key of the entry before it"
            msg = (
                f"entry {index} (key {key}) is not signed by {by}: added or changed by someone else"
            )
            return ChainCheck(index, msg, entry.line)
        if previous is not None and entry.activated < previous.activated:
            msg = f"entry {index} (key {key}) is activated before the entry before it"
            return ChainCheck(index, msg, entry.line)
        seen.add(entry.verifier)
        previous = entry
    return ChainCheck(len(entries))


@dataclass(frozen=True)
class TrustFile:
    """A parsed trust file: a key history (checked with ``check_chain``) or plain keys."""

    keys: list[Verifier]
    history: list[HistoryEntry] | None  # None: a plain list of keys, nothing to check


def parse_trust(text: str) -> TrustFile:
    """Parse a trust file; raise ``HistoryError`` on a malformed line or a mix of forms."""
    plain: list[Verifier] = []
    history: list[HistoryEntry] = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        try:
            verifier = Verifier.parse(words[0])
        except NoteError as exc:
            raise HistoryError(str(exc), number) from None
        if len(words) == 1:
            plain.append(verifier)
        elif len(words) == 3 and TS_FORMAT.fullmatch(words[1]):
            history.append(HistoryEntry(verifier, words[1], words[2], number))
        else:
            raise HistoryError(
                "want '<verifier key> <activation time> <signature>' (a key history) or"
                " '<verifier key>' alone",
                number,
            )
        if plain and history:
            raise HistoryError("mixes signed history entries and plain keys", number)
    if history:
        return TrustFile([e.verifier for e in history], history)
    return TrustFile(plain, None)
