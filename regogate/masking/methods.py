"""The mask methods (docs/policy-contract.md, docs/masking.md): what one text value
becomes, which of two methods is stricter, and what a derived output gets.

A value here is the text form of a cell (UTF-8: the gateway pins client_encoding).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

REDACTED = b"REDACTED"
# Strictest first: what each method reveals grows down the list (docs/masking.md).
STRICTNESS: tuple[str, ...] = ("null", "redact", "hash", "email", "partial")
# Methods that print part of the value: over a derived output (substr(ssn, 1, 3)) they
# would print part of what the expression derived, so such outputs get ``redact``.
REVEALING = frozenset({"partial", "email"})
DEFAULT_KEEP = 4
MAX_KEEP = 64


@dataclass(frozen=True, slots=True)
class Mask:
    """One column's mask: a method and, for ``partial``, how many trailing characters
    stay."""

    method: str
    keep: int = 0

    @property
    def rank(self) -> tuple[int, int]:
        """Smaller is stricter; a smaller ``keep`` is stricter among partials."""
        return (STRICTNESS.index(self.method), self.keep)


NULL = Mask("null")
REDACT = Mask("redact")


def from_spec(method: str, params: Mapping[str, object]) -> Mask:
    """A decision's mask spec; an unusable ``keep`` is taken as 0 (keeps nothing)."""
    if method not in STRICTNESS:
        return NULL  # unknown: reveal nothing (the decision parser refuses these anyway)
    if method != "partial":
        return Mask(method)
    keep = params.get("keep", DEFAULT_KEEP)
    if not isinstance(keep, int) or isinstance(keep, bool) or not 0 <= keep <= MAX_KEEP:
        keep = 0
    return Mask("partial", keep)


def strictest(masks: list[Mask]) -> Mask:
    return min(masks, key=lambda m: m.rank)


def for_derived(mask: Mask) -> Mask:
    """The mask of an output derived from a column masked with ``mask``."""
    return REDACT if mask.method in REVEALING else mask


def mask_text(mask: Mask, value: bytes, key: bytes) -> bytes | None:
    """``value`` (a text cell) masked; None is SQL NULL."""
    method = mask.method
    if method == "null":
        return None
    if method == "redact":
        return REDACTED
    if method == "hash":
        # Keyed: without the deployment key equal values cannot be confirmed by
        # hashing guesses; the full 256 bits, never truncated.
        return hmac.new(key, value, hashlib.sha256).hexdigest().encode()
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return REDACTED
    if method == "email":
        local, at, domain = text.rpartition("@")
        if not at or not local:
            return REDACTED
        return b"***@" + domain.encode()
    keep = mask.keep
    if len(text) <= keep:  # the whole value would show: show none of it
        return b"*" * len(text)
    shown = text[len(text) - keep :] if keep else ""
    return ("*" * (len(text) - keep) + shown).encode()
