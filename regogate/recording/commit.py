"""Statement text for recordings: literals replaced by ``$n`` and a keyed commitment.

The commitment is HMAC-SHA256 over the RFC 8785 JSON array of the literals (as written),
keyed with a key derived from the log's signing key (HKDF-SHA256, info below). A literal
whose bytes are not UTF-8 (a client in another encoding, or a broken one) has no JSON
string: it is in the array as ``{"base64": <its bytes>}``, so that it stays exact. Whoever
holds the signing key can later prove which literal values a statement carried; nobody
else can brute-force low-entropy values (account numbers, names) from the recording.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from regogate.recording import jcs
from regogate.recording.note import Signer
from regogate.wire.text import has_raw_bytes

INFO = b"regogate literal commitments v1"
DIGEST_INFO = b"regogate result digests v1"


def key_id(signer: Signer) -> str:
    """``name+hexid`` of the signing key (recorded in session.open, so that after a key
    rotation it is known which retired key opens a session's commitments)."""
    return f"{signer.name}+{signer.verifier.id:08x}"


def commitment_key(signer: Signer) -> bytes:
    """The HMAC key of literal commitments, derived from the signing key's seed."""
    return _derive(signer, INFO)


def digest_key(signer: Signer) -> bytes:
    """The HMAC key of result digests (``result.digest``): a plain hash of a result with
    one low-entropy value (a date of birth) would give the value away."""
    return _derive(signer, DIGEST_INFO)


def _derive(signer: Signer, info: bytes) -> bytes:
    seed = base64.b64decode(signer.skey().split("+", 4)[4])[1:]
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(seed)


def commit(key: bytes, literals: tuple[str, ...]) -> str:
    return hmac.new(key, jcs.dumps(committed(literals)), hashlib.sha256).hexdigest()


def committed(literals: tuple[str, ...]) -> list[object]:
    """The JSON array a commitment is over: each literal as a string, or as
    ``{"base64": ...}`` of its exact bytes when they are not UTF-8."""
    return [
        lit
        if not has_raw_bytes(lit)
        else {"base64": base64.b64encode(lit.encode("utf-8", "surrogateescape")).decode()}
        for lit in literals
    ]
