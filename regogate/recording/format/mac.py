"""The MAC root secret: the key of literal commitments, Bind parameter commitments and
result digests, separate from the log-signing key, with a key per session derived from it
(docs/recording-format.md, "Literal commitments", "Bind parameter commitments").

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

A Bind parameter's commitment is the same with the session's parameter key, over
``JCS([n, {"format": f, "value": <lowercase hex of its bytes> | null}])`` for parameter
``$n`` sent in format code ``f`` (0 text, 1 binary): the bytes exactly as the client sent
them, NULL apart from the empty value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from regogate.recording.format import jcs
from regogate.wire.text import has_raw_bytes

SCHEME = "session-v2"
PREFIX = "regogate-mac-v1:"
LITERAL_INFO = b"regogate literal commitments v2\x00"
DIGEST_INFO = b"regogate result digests v2\x00"
PARAM_INFO = b"regogate param commitments v1\x00"
# Without a MAC root: the parameter key is derived from the old scheme's literal key.
LEGACY_PARAM_INFO = b"regogate param commitments v1"
_ID_INFO = b"regogate mac root id"
MAC_HEX = 32  # hex digits kept of each literal's HMAC-SHA256 (128 bits)
_MAC_BYTES = MAC_HEX // 2
# A Bind with more parameters than this gets one commitment over all of them instead of
# one each (a bulk INSERT of thousands of values must not make a huge record).
MAX_PARAM_MACS = 256


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

    def param_key(self, sid: str) -> bytes:
        """The session's key of Bind parameter commitments."""
        return _derive(self._secret, PARAM_INFO + sid.encode())


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


def legacy_param_key(literal_key: bytes) -> bytes:
    """Without a MAC root: the key of Bind parameter commitments, derived from the old
    scheme's literal key (itself derived from the signing key: key_info.commitment_key)."""
    return _derive(literal_key, LEGACY_PARAM_INFO)


# One Bind parameter: the format code it was sent in, and its bytes (None: NULL).
BoundValue = tuple[int, bytes | None]

_CODE = struct.Struct("!h").unpack_from
_KEYS = tuple(str(n) for n in range(MAX_PARAM_MACS + 1))  # bind_macs' keys, by n
_LENGTH = struct.Struct("!i").unpack_from


def bind_values(body: bytes) -> tuple[bytes, list[BoundValue]] | None:
    """A Bind message body's statement name (as sent) and parameters, each with the
    format code it is in (protocol-message-formats, Bind: no format codes means every
    value is text, one applies to all). None for a Bind PostgreSQL refuses before binding
    anything: malformed, or with format codes neither none, one, nor one per value.
    Counts are unsigned, as PostgreSQL reads them (pq_getmsgint). It reads what
    ``wire.frontend.Bind.decode`` reads (tests/recording/test_bind_commitments.py runs
    both on the same inputs) without building the message: this is on every Bind's path.
    """
    try:
        end = body.index(0)
        stop = body.index(0, end + 1)
        nformats = body[stop + 1] << 8 | body[stop + 2]
        pos = stop + 3
        formats = struct.unpack_from(f"!{nformats}h", body, pos) if nformats > 1 else ()
        code = _CODE(body, pos)[0] if nformats == 1 else 0
        pos += 2 * nformats
        count = body[pos] << 8 | body[pos + 1]
        if nformats > 1 and nformats != count:
            return None
        pos += 2
        values: list[BoundValue] = []
        for i in range(count):
            if formats:
                code = formats[i]
            size = _LENGTH(body, pos)[0]
            pos += 4
            if size >= 0:
                values.append((code, body[pos : pos + size]))
                pos += size
            elif size == -1:
                values.append((code, None))
            else:
                return None
        nresults = body[pos] << 8 | body[pos + 1]
    except (ValueError, IndexError, struct.error):
        return None
    if pos + 2 + 2 * nresults != len(body):  # values cut short, or bytes left over
        return None
    return body[end + 1 : stop], values


def param_message(n: int, code: int, value: bytes | None) -> bytes:
    """RFC 8785 JSON of ``[n, {"format": code, "value": hex | null}]`` (built directly:
    integers, fixed keys in order, and hex digits, which need no escaping)."""
    if value is None:
        return b'[%d,{"format":%d,"value":null}]' % (n, code)
    return b'[%d,{"format":%d,"value":"%b"}]' % (n, code, binascii.hexlify(value))


def bind_message(values: Sequence[BoundValue]) -> bytes:
    """RFC 8785 JSON of ``{"bind": [{"format": code, "value": hex | null}, ...]}``: the
    message of one commitment over all of a Bind's values. An object, never an array, so
    that it is never the message of a literal or a single parameter."""
    items = [
        b'{"format":%d,"value":null}' % code
        if value is None
        else b'{"format":%d,"value":"%b"}' % (code, binascii.hexlify(value))
        for code, value in values
    ]
    return b'{"bind":[' + b",".join(items) + b"]}"


def param_mac(key: bytes, n: int, code: int, value: bytes | None) -> str:
    """The commitment of parameter ``$n`` (see the module docstring)."""
    return hmac.new(key, param_message(n, code, value), hashlib.sha256).hexdigest()[:MAC_HEX]


class ParamCommitter:
    """A session's Bind parameter commitments, keyed once: ``bind_macs`` (one per value)
    with a MAC root, up to ``MAX_PARAM_MACS`` values; else one ``bind_commitment`` over
    all of them (full HMAC-SHA256)."""

    __slots__ = ("_fast", "_inner", "_outer", "each")

    def __init__(
        self,
        key: bytes,
        *,
        each: bool = True,
        fast: Callable[[bytes], tuple[bytes, dict[str, str]] | bool | None] | None = None,
    ):
        # HMAC (RFC 2104) from SHA-256 states keyed once and copied per value: a third
        # cheaper on this path than copying an hmac object (tests check it is HMAC)
        block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        self.each = each  # per value (session-v2); False: one over all (the old scheme)
        # ``commit`` per value, natively (``regogate._native.BindMacs`` over the same key,
        # twin-tested): None, False for more than MAX_PARAM_MACS values, or the result
        self._fast = fast if each else None

    def __repr__(self) -> str:
        return f"ParamCommitter(<key>, each={self.each})"

    def _hmac(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def fields(self, values: Sequence[BoundValue]) -> dict[str, object]:
        """The record fields committing ``values`` ($1 first): the reference of
        ``commit``."""
        if not self.each or len(values) > MAX_PARAM_MACS:
            return {"bind_commitment": self._hmac(bind_message(values)).hex()}
        macs = {
            str(n): self._hmac(param_message(n, code, value))[:_MAC_BYTES].hex()
            for n, (code, value) in enumerate(values, 1)
        }
        return {"bind_macs": macs}

    def commit(self, body: bytes) -> tuple[bytes, dict[str, object]] | None:
        """A Bind message body's statement name (as sent) and the record fields committing
        its values; None when it has none, or PostgreSQL refuses it before binding
        anything (``bind_values``). The same as ``fields(bind_values(body))`` (tests run
        both on the same inputs), read and MACed in one pass: this runs for every Bind.
        """
        if not self.each:
            return self._commit_all(body)
        if self._fast is not None:
            got = self._fast(body)
            if got is None or got is True:
                return None
            if got is False:
                return self._commit_all(body)
            return got[0], {"bind_macs": got[1]}
        try:
            end = body.index(0)
            stop = body.index(0, end + 1)
            nformats = body[stop + 1] << 8 | body[stop + 2]
            formats = struct.unpack_from(f"!{nformats}h", body, stop + 3) if nformats > 1 else ()
            code = _CODE(body, stop + 3)[0] if nformats == 1 else 0
            pos = stop + 3 + 2 * nformats
            count = body[pos] << 8 | body[pos + 1]
            if count == 0 or count > MAX_PARAM_MACS or (formats and nformats != count):
                return self._commit_all(body) if count > MAX_PARAM_MACS else None
            pos += 2
            inner, outer, hexlify, keys = self._inner, self._outer, binascii.hexlify, _KEYS
            macs = {}
            for n in range(1, count + 1):
                if formats:
                    code = formats[n - 1]
                size = _LENGTH(body, pos)[0]
                pos += 4
                mac = inner.copy()
                if size >= 0:
                    value = hexlify(body[pos : pos + size])
                    mac.update(b'[%d,{"format":%d,"value":"%b"}]' % (n, code, value))
                    pos += size
                elif size == -1:
                    mac.update(b'[%d,{"format":%d,"value":null}]' % (n, code))
                else:
                    return None
                whole = outer.copy()
                whole.update(mac.digest())
                macs[keys[n]] = whole.digest()[:_MAC_BYTES].hex()
            nresults = body[pos] << 8 | body[pos + 1]
        except (ValueError, IndexError, struct.error):
            return None
        if pos + 2 + 2 * nresults != len(body):  # values cut short, or bytes left over
            return None
        return body[end + 1 : stop], {"bind_macs": macs}

    def _commit_all(self, body: bytes) -> tuple[bytes, dict[str, object]] | None:
        read = bind_values(body)
        if read is None or not read[1]:
            return None
        return read[0], self.fields(read[1])
