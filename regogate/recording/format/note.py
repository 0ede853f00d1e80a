"""C2SP signed notes with Ed25519 (type 0x01), as golang.org/x/mod/sumdb/note.

A note is UTF-8 text ending in a newline, a blank line, then one line per signature:
"— <name> <base64(key id || signature)>". The key id is the first four bytes of
SHA-256(name || "\\n" || 0x01 || public key). Pure code over ``cryptography``.

A checkpoint's signing time is a second line by the same key: a C2SP tlog-cosignature/v1
timestamped signature (type 0x04), over "cosignature/v1\\ntime <t>\\n" and the note text
(docs/recording-format.md §5, "The signing time"). Verifiers that do not know it ignore it.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04  # C2SP tlog-cosignature: timestamped Ed25519
_DASH = "\u2014 "
_COSIGNATURE = "cosignature/v1\ntime {time}\n{text}"
MAX_TIME = 2**63 - 1


class NoteError(ValueError):
    """A note that is malformed or whose signature does not verify (message says which)."""


def key_id(name: str, public: bytes, alg: int = ALG_ED25519) -> int:
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public).digest()
    value: int = struct.unpack(">I", digest[:4])[0]
    return value


def cosigned_message(text: str, time: int) -> bytes:
    """What a tlog-cosignature/v1 (Ed25519) signature signs: header, time, note text."""
    return _COSIGNATURE.format(time=time, text=text).encode()


def _check_name(name: str) -> None:
    if not name or any(c in name for c in "+ \n\t") or not name.isprintable():
        raise NoteError(f"invalid key name {name!r}")


@dataclass(frozen=True)
class Verifier:
    name: str
    public: bytes
    id: int = field(init=False)

    def __post_init__(self) -> None:
        _check_name(self.name)
        object.__setattr__(self, "id", key_id(self.name, self.public))

    def vkey(self) -> str:
        blob = base64.b64encode(bytes([ALG_ED25519]) + self.public).decode()
        return f"{self.name}+{self.id:08x}+{blob}"

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Parse ``name+keyid+base64(0x01 || public key)``; the key id must match."""
        try:
            name, hexid, blob = vkey.strip().split("+", 2)  # base64 may contain "+"
            raw = base64.b64decode(blob, validate=True)
        except ValueError:
            raise NoteError("malformed verifier key (want name+keyid+base64)") from None
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError(f"verifier key {name!r} is not an Ed25519 key")
        v = cls(name, raw[1:])
        if f"{v.id:08x}" != hexid.lower():
            raise NoteError(f"verifier key {name!r}: key id {hexid} does not match the key")
        return v

    @property
    def timed_id(self) -> int:
        """The key id of this key's timestamped signatures (type 0x04)."""
        return key_id(self.name, self.public, ALG_COSIGNATURE_V1)

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


class Signer:
    """An Ed25519 signing key with a name; never shows the private key in repr."""

    def __init__(self, name: str, private: Ed25519PrivateKey):
        _check_name(name)
        self.name = name
        self._key = private
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier(name, public)

    def __repr__(self) -> str:
        return f"Signer({self.name!r}, id={self.verifier.id:08x})"

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls(name, Ed25519PrivateKey.generate())

    def skey(self) -> str:
        """The secret signer key string: write it only to a 0600 file (``keys.py``)."""
        seed = self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        blob = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.id:08x}+{blob}"

    @classmethod
    def parse(cls, skey: str) -> Signer:
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("malformed signer key (want PRIVATE+KEY+name+keyid+base64)")
        try:
            raw = base64.b64decode(parts[4], validate=True)
        except ValueError:
            raise NoteError("malformed signer key: bad base64") from None
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("signer key is not an Ed25519 key")
        signer = cls(parts[2], Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if f"{signer.verifier.id:08x}" != parts[3].lower():
            raise NoteError("signer key: key id does not match the key")
        return signer

    def sign(self, text: str, time: int | None = None) -> str:
        """Sign note text (must end in a newline); return the complete signed note.

        With ``time`` (POSIX seconds) a second line follows: the timestamped signature
        (tlog-cosignature/v1) of the same key, saying the note was signed at ``time``.
        """
        if not text.endswith("\n") or "\n\n" in text:
            raise NoteError("note text must end in a newline and contain no blank line")
        sig = self._key.sign(text.encode())
        blob = base64.b64encode(struct.pack(">I", self.verifier.id) + sig).decode()
        note = f"{text}\n{_DASH}{self.name} {blob}\n"
        if time is None:
            return note
        if not 0 <= time <= MAX_TIME:
            raise NoteError(f"signing time {time} is out of range")
        timed = self._key.sign(cosigned_message(text, time))
        raw = struct.pack(">IQ", self.verifier.timed_id, time) + timed
        return f"{note}{_DASH}{self.name} {base64.b64encode(raw).decode()}\n"


def open_note(note: str, verifiers: list[Verifier]) -> tuple[str, list[Verifier]]:
    """Return (text, verifiers whose signatures verified); raise if none verifies."""
    text, sep, sigs = note.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise NoteError("malformed note: no signature block")
    text += "\n"
    known = {(v.name, v.id): v for v in verifiers}
    good: list[Verifier] = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith(_DASH):
            raise NoteError(f"malformed signature line {line[:40]!r}")
        try:
            name, blob = line[len(_DASH) :].split(" ")
            raw = base64.b64decode(blob, validate=True)
        except ValueError:
            raise NoteError(f"malformed signature line {line[:40]!r}") from None
        if len(raw) < 5:
            raise NoteError("malformed signature: too short")
        kid = struct.unpack(">I", raw[:4])[0]
        v = known.get((name, kid))
        if v is None:
            continue  # signatures by unknown keys are ignored, as in sumdb/note
        if not v.verify(text.encode(), raw[4:]):
            raise NoteError(f"invalid signature by {name} (key {kid:08x})")
        good.append(v)
    if not good:
        raise NoteError("no signature by a trusted key")
    return text, good


def signing_times(note: str, verifiers: list[Verifier]) -> dict[Verifier, int]:
    """The signing times in a note (tlog-cosignature/v1 lines) by ``verifiers``' keys.

    Lines by other keys are ignored; raises ``NoteError`` for a malformed note or a
    timestamped signature by one of the keys that does not verify.
    """
    text, sep, sigs = note.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise NoteError("malformed note: no signature block")
    text += "\n"
    known = {(v.name, v.timed_id): v for v in verifiers}
    times: dict[Verifier, int] = {}
    for line in sigs[:-1].split("\n"):
        name, _, blob = line[len(_DASH) :].partition(" ")
        try:
            raw = base64.b64decode(blob, validate=True)
        except ValueError:
            raise NoteError(f"malformed signature line {line[:40]!r}") from None
        if len(raw) < 4:
            raise NoteError("malformed signature: too short")
        v = known.get((name, struct.unpack(">I", raw[:4])[0]))
        if v is None:
            continue
        if len(raw) != 4 + 8 + 64:
            raise NoteError(f"malformed timestamped signature by {name}")
        (time,) = struct.unpack(">Q", raw[4:12])
        if time > MAX_TIME or not v.verify(cosigned_message(text, time), raw[12:]):
            raise NoteError(f"invalid timestamped signature by {name} (time {time})")
        times[v] = time
    return times


def parse_verifier_list(text: str) -> list[Verifier]:
    """Verifier keys from a trust file: the first word of each line (``#`` starts a comment line).

    The key history file written by ``keys.py`` (vkey, then activation time) is one.
    """
    out: list[Verifier] = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if words and not words[0].startswith("#"):
            try:
                out.append(Verifier.parse(words[0]))
            except NoteError as exc:
                raise NoteError(f"line {number}: {exc}") from None
    return out
