"""The bound digest: what an approval is bound to, so that only that statement, with those
parameter values, runs on it (docs/approvals.md, "Binding").

``HMAC-SHA-256(binding key, JCS([statement text, parameter formats, parameter values,
result formats]))``, hex. A value is the hex of its bytes (``null`` for SQL NULL); a
simple-protocol statement has no parameters and no formats. Keyed, like the literal
commitments, so a digest says nothing of low-entropy values. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from regogate.recording.format import jcs

BINDING_INFO = b"regogate approval binding v1"
KEY_BYTES = 32


@dataclass(frozen=True)
class BoundStatement:
    """What PostgreSQL will execute: the text and, for the extended protocol, the Bind
    message's parameter format codes, values and result format codes."""

    sql: str
    param_formats: tuple[int, ...] = ()
    params: tuple[bytes | None, ...] = ()
    result_formats: tuple[int, ...] = ()

    def canonical(self) -> bytes:
        values = [None if v is None else v.hex() for v in self.params]
        return jcs.dumps([self.sql, list(self.param_formats), values, list(self.result_formats)])


def bound_digest(key: bytes, statement: BoundStatement) -> str:
    return hmac.new(key, statement.canonical(), hashlib.sha256).hexdigest()


def digests_match(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def derive_binding_key(root_secret: bytes) -> bytes:
    """The binding key, derived one way (HKDF-SHA256) from a root secret (the recording's
    MAC root): never the root itself, never the signing key."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=BINDING_INFO).derive(
        root_secret
    )


def statement_params(values: Sequence[bytes | None]) -> tuple[bytes | None, ...]:
    """Bind values as the digest takes them (a memoryview from the codec becomes bytes)."""
    return tuple(None if v is None else bytes(v) for v in values)
