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
from collections.abc import Callable, Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from regogate.policy.cache import LruCache
from regogate.policy.sqltext import redact
from regogate.recording import jcs, native
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


class Redactor:
    """sql -> {text, literals, literals_commitment}; cached per distinct text."""

    def __init__(self, key: bytes, key_id: str = "", cache_size: int = 4096, engine: str = "auto"):
        self._key = key
        self._mac = hmac.new(key, digestmod=hashlib.sha256)  # keyed once, copied per use
        # the native commitment and plain-text redaction when the hot path is native
        # (recording.native); text the native scanner leaves alone goes to pglast's
        self._native: Callable[[bytes, tuple[str, ...]], str] | None = None
        self._plain: Callable[[str], tuple[str, tuple[str, ...], int] | None] | None = None
        if native.use_native(engine):
            from regogate import _native

            self._native = _native.commitment
            self._plain = _native.redact_plain
        self.key_id = key_id  # which signing key the commitment key was derived from
        self._cache: LruCache[str, Mapping[str, object]] = LruCache(cache_size)

    def __repr__(self) -> str:
        return "Redactor(<key>)"

    def __call__(self, sql: str) -> Mapping[str, object]:
        hit = self._cache.get(sql)
        if hit is not None:
            return hit
        plain = self._plain(sql) if self._plain is not None else None
        if plain is not None:
            text, literals, _ = plain
        else:
            red = redact(sql)
            text, literals = red.text, red.literals
        body: Mapping[str, object] = {
            "text": text,
            "literals": len(literals),
            "literals_commitment": self._commit(literals) if literals else None,
        }
        self._cache.put(sql, body)
        return body

    def _commit(self, literals: tuple[str, ...]) -> str:
        """``commit(key, literals)``, from the keyed state (literals are strings: no floats)."""
        if self._native is not None:
            try:
                return self._native(self._key, literals)
            except UnicodeEncodeError:  # a lone surrogate (text decoded with surrogateescape)
                pass
        mac = self._mac.copy()
        mac.update(jcs.dumps(committed(literals), floats_in=()))
        return mac.hexdigest()
