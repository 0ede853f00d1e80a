"""Showing recorded text to a person: nothing a client sent can steer the terminal or hide.

Every recorded string a report prints goes through ``escape``: control characters (C0,
DEL, C1), bidirectional overrides and isolates, invisible format characters, line and
paragraph separators and unusual spaces are written as visible escapes (``\\x1b``,
``\\u202e``, ``\\n``), and a field longer than its limit is cut with a marker that says
how much was left out (``…[+123 chars]``). Backslash and ``…`` are escaped too, so an
escape or a marker on screen always comes from here, never from the recording.
``json_text`` does the same for JSON output without changing the data. Pure code.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence

__all__ = ["FIELD_LIMIT", "MARKER", "TEXT_LIMIT", "escape", "hidden", "json_text"]

FIELD_LIMIT = 200  # characters shown of a short field: names, addresses, reasons
TEXT_LIMIT = 2000  # of a statement's text
MARKER = "…[+{} chars]"

# Categories shown escaped: controls (Cc), format characters (Cf: bidi marks, overrides
# and isolates, zero-width characters, soft hyphen, BOM, tags), surrogates, private use,
# unassigned, line and paragraph separators; and every space but U+0020 (Zs).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
_ELLIPSIS = "\u2026"  # only markers written here may show it


def hidden(ch: str) -> bool:
    """Whether ``ch`` (one character) is shown as an escape rather than as itself."""
    if " " <= ch <= "~":  # printable ASCII: the common case, decided without a lookup
        return ch == "\\"
    if ch == _ELLIPSIS:
        return True
    category = unicodedata.category(ch)
    return category in _HIDDEN_CATEGORIES or (category == "Zs" and ch != " ")


def _plain(text: str) -> bool:
    """Printable ASCII without a backslash: shown as it is (the common case)."""
    return text.isascii() and text.isprintable() and "\\" not in text


def _escaped(ch: str) -> str:
    short = _SHORT.get(ch)
    if short is not None:
        return short
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape(text: str, limit: int | None = FIELD_LIMIT) -> str:
    """``text`` safe to print: hidden characters escaped, at most about ``limit``
    characters shown (escapes count at their shown length), then ``…[+N chars]`` with
    N the number of characters of ``text`` left out. ``None``: no limit."""
    if (limit is None or len(text) <= limit) and _plain(text):
        return text
    out: list[str] = []
    shown = 0
    for i, ch in enumerate(text):
        piece = _escaped(ch) if hidden(ch) else ch
        if limit is not None and shown + len(piece) > limit:
            out.append(MARKER.format(len(text) - i))
            break
        out.append(piece)
        shown += len(piece)
    return "".join(out)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a JSON escape of a non-BMP character is its UTF-16 surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


JSONLike = Mapping[str, object] | Sequence[object] | str | int | float | bool | None


def json_text(doc: JSONLike, indent: int | None = 2) -> str:
    """``doc`` as JSON whose text shows no hidden character raw: each is a ``\\uXXXX``
    escape, so the data a program reads is unchanged and a terminal shows it harmlessly.
    Other non-ASCII text stays readable."""
    text = json.dumps(doc, indent=indent, ensure_ascii=False)
    # json.dumps escapes C0 controls itself; backslash and "…" are harmless inside JSON.
    return _NOT_ASCII.sub(_json_sub, text)


_NOT_ASCII = re.compile("[^\x00-\x7e]")


def _json_sub(match: re.Match[str]) -> str:
    ch = match.group()
    return _json_escape(ch) if ch != _ELLIPSIS and hidden(ch) else ch
