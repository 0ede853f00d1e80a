"""The bound digest changes with every part of what runs, and only with the key."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from regogate.approvals.binding import BoundStatement, bound_digest, derive_binding_key

KEY = b"binding-key-0123456789abcdef0123"
BASE = BoundStatement("SELECT $1::int, $2::text", (0, 1), (b"1", b"\x00\x01"), (1,))


@pytest.mark.parametrize(
    "other",
    [
        BoundStatement("SELECT $1::int, $2::text ", (0, 1), (b"1", b"\x00\x01"), (1,)),
        BoundStatement(BASE.sql, (0, 0), (b"1", b"\x00\x01"), (1,)),
        BoundStatement(BASE.sql, (0, 1), (b"2", b"\x00\x01"), (1,)),
        BoundStatement(BASE.sql, (0, 1), (b"1", None), (1,)),
        BoundStatement(BASE.sql, (0, 1), (b"1", b""), (1,)),
        BoundStatement(BASE.sql, (0, 1), (b"1", b"\x00\x01"), (0,)),
        BoundStatement(BASE.sql, (0, 1), (b"1", b"\x00\x01"), ()),
    ],
)
def test_any_change_changes_the_digest(other: BoundStatement) -> None:
    assert bound_digest(KEY, other) != bound_digest(KEY, BASE)


def test_the_digest_is_the_documented_hmac() -> None:
    canonical = b'["SELECT $1::int, $2::text",[0,1],["31","0001"],[1]]'
    assert BASE.canonical() == canonical
    assert bound_digest(KEY, BASE) == hmac.new(KEY, canonical, hashlib.sha256).hexdigest()
    assert bound_digest(b"another-key-0123456789abcdef0123", BASE) != bound_digest(KEY, BASE)


def test_the_binding_key_is_derived_not_the_root() -> None:
    root = b"r" * 32
    key = derive_binding_key(root)
    assert len(key) == 32
    assert key != root
    assert key == derive_binding_key(root)
