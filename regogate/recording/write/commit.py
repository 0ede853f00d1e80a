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

from regogate.recording.format import jcs
from regogate.recording.format.key_info import (
    COMMIT_INFO,
    DIGEST_INFO,
    commitment_key,
    digest_key,
    key_id,
)
from regogate.wire.text import has_raw_bytes

# The keys of the old scheme, derived from the signing key, live in recording.key_info;
# named here too for their readers.
INFO = COMMIT_INFO
__all__ = [
    "DIGEST_INFO",
    "INFO",
    "commit",
    "commitment_key",
    "committed",
    "digest_key",
    "key_id",
]


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
