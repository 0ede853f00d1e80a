"""The mask methods, their order of strictness and derived outputs (pure)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from regogate.masking.methods import (
    NULL,
    REDACT,
    REDACTED,
    Mask,
    for_derived,
    from_spec,
    mask_text,
    strictest,
)

KEY = b"k" * 32


@pytest.mark.parametrize(
    ("mask", "value", "out"),
    [
        (Mask("redact"), b"123-45-6789", REDACTED),
        (Mask("null"), b"123-45-6789", None),
        (Mask("partial", 4), b"123-45-6789", b"*******6789"),
        (Mask("partial", 0), b"abc", b"***"),
        (Mask("partial", 4), b"abc", b"***"),  # shorter than keep: nothing shows
        (Mask("partial", 2), "z\u00fcr\u00fcck".encode(), b"****ck"),
        (Mask("email"), b"ada@example.com", b"***@example.com"),
        (Mask("email"), b"no-at-sign", REDACTED),
        (Mask("email"), b"@example.com", REDACTED),
        (Mask("partial", 4), b"\xff\xfe", REDACTED),
    ],
)
def test_methods(mask: Mask, value: bytes, out: bytes | None) -> None:
    assert mask_text(mask, value, KEY) == out


def test_hash_is_keyed_full_and_stable() -> None:
    h = mask_text(Mask("hash"), b"123-45-6789", KEY)
    assert h == hmac.new(KEY, b"123-45-6789", hashlib.sha256).hexdigest().encode()
    assert len(h or b"") == 64
    assert h == mask_text(Mask("hash"), b"123-45-6789", KEY)  # equal values still join
    assert h != hashlib.sha256(b"123-45-6789").hexdigest().encode()  # never a bare hash
    assert h != mask_text(Mask("hash"), b"123-45-6789", b"other-key-0123456789")


def test_strictest_wins() -> None:
    order = [NULL, REDACT, Mask("hash"), Mask("email"), Mask("partial", 2), Mask("partial", 4)]
    for i, stricter in enumerate(order):
        for looser in order[i:]:
            assert strictest([looser, stricter]) == stricter


def test_derived_outputs_never_print_part_of_a_value() -> None:
    assert for_derived(Mask("partial", 4)) == REDACT
    assert for_derived(Mask("email")) == REDACT
    assert for_derived(Mask("hash")) == Mask("hash")
    assert for_derived(NULL) == NULL


def test_specs() -> None:
    assert from_spec("partial", {"keep": 4}) == Mask("partial", 4)
    assert from_spec("partial", {}) == Mask("partial", 4)
    assert from_spec("partial", {"keep": -1}) == Mask("partial", 0)
    assert from_spec("partial", {"keep": True}) == Mask("partial", 0)
    assert from_spec("rot13", {}) == NULL
