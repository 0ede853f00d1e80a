"""What the gateway may know of the log-signing key: its public half and two keys derived
from it one way (HKDF), never the key itself (docs/recording-format.md §9).

The recording writer process reads the signing key (a file, or an environment variable it
removes from its own environment) and answers with a ``KeyInfo``; the gateway keys the
literal commitments and the result digests with the derived keys and announces the
public key in gateway.start. Whoever holds the signing key can derive both again.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from regogate.recording.format.note import Signer, Verifier

COMMIT_INFO = b"regogate literal commitments v1"
DIGEST_INFO = b"regogate result digests v1"


def key_id(signer: Signer) -> str:
    """``name+hexid`` of the signing key (recorded in session.open, so that after a key
    rotation it is known which retired key opens a session's commitments)."""
    return f"{signer.name}+{signer.verifier.id:08x}"


def commitment_key(signer: Signer) -> bytes:
    """The HMAC key of literal commitments, derived from the signing key's seed."""
    return derive(signer, COMMIT_INFO)


def digest_key(signer: Signer) -> bytes:
    """The HMAC key of result digests (``result.digest``): a plain hash of a result with
    one low-entropy value (a date of birth) would give the value away."""
    return derive(signer, DIGEST_INFO)


def derive(signer: Signer, info: bytes) -> bytes:
    """HKDF-SHA256 of the signing key's seed, for ``info``: one way."""
    seed = base64.b64decode(signer.skey().split("+", 4)[4])[1:]
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(seed)


@dataclass(frozen=True)
class KeyInfo:
    name: str  # the key's name (a log's default origin)
    vkey: str  # the public key, as in a trust file
    key_id: str  # name+hexid, recorded in session.open beside the commitments
    commit_key: bytes = field(repr=False)  # HMAC key of literal commitments
    digest_key: bytes = field(repr=False)  # HMAC key of result digests

    @classmethod
    def of(cls, signer: Signer) -> KeyInfo:
        return cls(
            signer.name,
            signer.verifier.vkey(),
            key_id(signer),
            commitment_key(signer),
            digest_key(signer),
        )

    @property
    def verifier(self) -> Verifier:
        return Verifier.parse(self.vkey)

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "vkey": self.vkey,
            "key_id": self.key_id,
            "commit_key": self.commit_key.hex(),
            "digest_key": self.digest_key.hex(),
        }

    @classmethod
    def from_json(cls, obj: object) -> KeyInfo:
        if not isinstance(obj, dict):
            raise ValueError("key info is not an object")
        return cls(
            str(obj["name"]),
            str(obj["vkey"]),
            str(obj["key_id"]),
            bytes.fromhex(str(obj["commit_key"])),
            bytes.fromhex(str(obj["digest_key"])),
        )
