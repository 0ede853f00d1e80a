"""The MAC root secret: the key of literal commitments and result digests, separate from
the log-signing key, with a key per session derived from it (docs/recording-format.md,
"Literal commitments").

The gateway holds the root (it commits and digests on the data path); the signing key
stays with the writer. One session's keys can be handed to an examiner
(``regogate keys disclose --session ID``): they open that session's commitments and
digests and no other session's, and sign nothing.

A literal's commitment is ``HMAC-SHA256(session literal key, JCS([n, literal]))``,
truncated to 128 bits (32 hex digits), for the literal replaced by ``$n`` in the recorded
text, as written in the statement (``sqltext.redact``'s token text: ``'O''Brien'`` with
its quotes and doubled quote, ``E'a\\nb'`` with its backslash, ``-5`` as ``5``: a sign is
an operator and stays in the text). A literal whose bytes are not UTF-8 is
``{"base64": <its bytes>}`` in the array, as in ``commit.committed``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from regogate.recording.format import jcs
from regogate.wire.text import has_raw_bytes

SCHEME = "session-v2"
PREFIX = "regogate-mac-v1:"
LITERAL_INFO = b"regogate literal commitments v2\x00"
DIGEST_INFO = b"regogate result digests v2\x00"
_ID_INFO = b"regogate mac root id"
MAC_HEX = 32  # hex digits kept of each literal's HMAC-SHA256 (128 bits)


class MacError(ValueError):
    """Not a MAC root secret (the message never quotes the secret)."""


class MacRoot:
    """32 random bytes; ``repr`` never shows them."""

    __slots__ = ("_secret", "id")

    def __init__(self, secret: bytes):
        if len(secret) != 32:
            raise MacError("a MAC root secret is 32 bytes")
        self._secret = secret
        digest = _derive(secret, _ID_INFO)
        self.id = f"mac+{digest[:4].hex()}"  # names the root in session.open

    def __repr__(self) -> str:
        return f"MacRoot({self.id!r})"

    @classmethod
    def generate(cls) -> MacRoot:
        return cls(os.urandom(32))

    @classmethod
    def parse(cls, text: str) -> MacRoot:
        text = text.strip()
        if not text.startswith(PREFIX):
            raise MacError(f"not a MAC root secret (want {PREFIX}<base64 of 32 bytes>)")
        try:
            raw = base64.b64decode(text[len(PREFIX) :], validate=True)
        except ValueError:
            raise MacError("a MAC root secret that is not base64") from None
        return cls(raw)

    def text(self) -> str:
        return PREFIX + base64.b64encode(self._secret).decode()

    def literal_key(self, sid: str) -> bytes:
        """The session's key of literal commitments."""
        return _derive(self._secret, LITERAL_INFO + sid.encode())

    def digest_key(self, sid: str) -> bytes:
        """The session's key of result digests."""
        return _derive(self._secret, DIGEST_INFO + sid.encode())


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def literal_mac(key: bytes, n: int, literal: str) -> str:
    """The commitment of the literal ``$n`` (see the module docstring)."""
    value: object = literal
    if has_raw_bytes(literal):
        raw = literal.encode("utf-8", "surrogateescape")
        value = {"base64": base64.b64encode(raw).decode()}
    message = jcs.dumps([n, value])
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:MAC_HEX]


def literal_macs(key: bytes, first: int, literals: tuple[str, ...]) -> dict[str, str]:
    """``{"n": commitment}`` for literals numbered from ``first``."""
    return {str(first + i): literal_mac(key, first + i, lit) for i, lit in enumerate(literals)}
