"""Per-record evidence: an inclusion proof plus its signed checkpoint, as a C2SP tlog-proof.

``c2sp.org/tlog-proof@v1`` text: header, ``index N``, one base64 hash per line (leaf's
sibling first), an empty line, then the signed checkpoint verbatim. Pure code.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass

from regogate.recording.format.checkpoint import Checkpoint
from regogate.recording.format.merkle import Hash, leaf_hash, verify_inclusion
from regogate.recording.format.note import NoteError, Verifier, open_note

HEADER = "c2sp.org/tlog-proof@v1"


class ProofError(ValueError):
    """A proof that is malformed or does not prove what it claims (message says which)."""


@dataclass(frozen=True)
class RecordProof:
    index: int
    hashes: tuple[Hash, ...]
    note: str  # the signed checkpoint

    def text(self) -> str:
        lines = [HEADER, f"index {self.index}"]
        lines += [base64.b64encode(h).decode() for h in self.hashes]
        return "\n".join(lines) + "\n\n" + self.note

    @classmethod
    def parse(cls, text: str) -> RecordProof:
        head, sep, note = text.partition("\n\n")
        lines = head.split("\n")
        if not sep or lines[0] != HEADER:
            raise ProofError(f"not a tlog-proof: want first line {HEADER!r}")
        body = lines[1:]
        if body and body[0].startswith("extra "):
            body = body[1:]  # opaque and unauthenticated: not used
        if not body or not body[0].startswith("index "):
            raise ProofError("tlog-proof: missing 'index N' line")
        index = body[0][len("index ") :]
        if not (index.isascii() and index.isdigit()) or (len(index) > 1 and index[0] == "0"):
            raise ProofError(f"tlog-proof: bad index {index[:24]!r}")
        try:
            hashes = tuple(base64.b64decode(x, validate=True) for x in body[1:])
        except binascii.Error:
            raise ProofError("tlog-proof: a proof line is not base64") from None
        if any(len(h) != 32 for h in hashes):
            raise ProofError("tlog-proof: a proof hash is not 32 bytes")
        return cls(int(index), hashes, note)


def check_record(
    record: bytes, proof: RecordProof, trusted: Sequence[Verifier], origin: str
) -> Checkpoint:
    """Check that ``record`` (its exact bytes) is in the log under a trusted checkpoint."""
    try:
        text, _ = open_note(proof.note, list(trusted))
        cp = Checkpoint.parse(text)
    except NoteError as exc:
        raise ProofError(f"tlog-proof checkpoint: {exc}") from None
    if cp.origin != origin:
        raise ProofError(f"tlog-proof checkpoint is for origin {cp.origin!r}, not {origin!r}")
    try:
        seq = json.loads(record).get("seq")
    except (ValueError, AttributeError):
        seq = None
    if seq != proof.index:
        raise ProofError(f"record {seq} cannot be proved by a proof for index {proof.index}")
    if not verify_inclusion(proof.index, cp.size, leaf_hash(record), proof.hashes, cp.root):
        raise ProofError(
            f"record is not leaf {proof.index} of the tree of size {cp.size} (bad inclusion proof)"
        )
    return cp
