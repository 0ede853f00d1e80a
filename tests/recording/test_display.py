"""display.escape and display.json_text: every hidden character visible, long fields cut."""

from __future__ import annotations

import json

import pytest

from regogate.recording.read.display import FIELD_LIMIT, escape, hidden, json_text

ESCAPES = [
    # (what was recorded, what is shown)
    ("SELECT 1", "SELECT 1"),
    ("", ""),
    ("naïve café 東京 😀", "naïve café 東京 😀"),  # printable text stays readable
    ("a\nb", "a\\nb"),
    ("a\r\nb\tc", "a\\r\\nb\\tc"),
    ("\x00\x07\x08\x0b\x0c\x1f", "\\x00\\x07\\x08\\x0b\\x0c\\x1f"),  # C0
    ("\x1b[2K\x1b[1GSELECT", "\\x1b[2K\\x1b[1GSELECT"),  # an ANSI escape sequence
    ("\x7f", "\\x7f"),  # DEL
    ("\x80\x85\x9b2J\x9f", "\\x80\\x85\\x9b2J\\x9f"),  # C1, CSI among them
    ("\u202aa\u202bb\u202cc\u202dd\u202ee", "\\u202aa\\u202bb\\u202cc\\u202dd\\u202ee"),
    ("\u2066a\u2067b\u2068c\u2069", "\\u2066a\\u2067b\\u2068c\\u2069"),  # bidi isolates
    ("\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"),  # bidi marks
    ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),  # line and paragraph separators
    ("\u200b\u200d\ufeff\u00ad\u2060", "\\u200b\\u200d\\ufeff\\xad\\u2060"),  # invisible
    ("a\u00a0b\u3000c\u2007d", "a\\xa0b\\u3000c\\u2007d"),  # spaces that are not U+0020
    ("\U000e0041\U000e007f", "\\U000e0041\\U000e007f"),  # tag characters
    ("\ue000", "\\ue000"),  # private use
    ("\ud800", "\\ud800"),  # a lone surrogate
    ("C:\\temp\\x1b", "C:\\\\temp\\\\x1b"),  # a backslash is doubled: \x1b above is ours
    ("cut…[+9 chars]", "cut\\u2026[+9 chars]"),  # a marker a client wrote is not ours
]


@pytest.mark.parametrize(("recorded", "shown"), ESCAPES)
def test_escape(recorded: str, shown: str) -> None:
    assert escape(recorded) == shown


@pytest.mark.parametrize(
    ("recorded", "limit", "shown"),
    [
        ("abcdef", 6, "abcdef"),
        ("abcdefg", 6, "abcdef…[+1 chars]"),
        ("x" * 300, None, "x" * 300),
        ("x" * 300, FIELD_LIMIT, "x" * FIELD_LIMIT + "…[+100 chars]"),
        # Escapes count at their shown length: the limit bounds what reaches the screen.
        ("\x1b" * 10, 8, "\\x1b\\x1b…[+8 chars]"),
        ("ab\x1b", 4, "ab…[+1 chars]"),  # no half escape
        ("\U000e0041" * 3, 10, "\\U000e0041…[+2 chars]"),
    ],
)
def test_escape_caps_what_is_shown(recorded: str, limit: int | None, shown: str) -> None:
    assert escape(recorded, limit) == shown


def test_nothing_hidden_is_left_raw() -> None:
    """Every code point: either shown as itself (visible) or escaped to printable ASCII."""
    for code in range(0x110000):
        ch = chr(code)
        out = escape(ch, None)
        if hidden(ch):
            assert out.isascii() and out.isprintable() and out.startswith("\\"), hex(code)
        else:
            assert out == ch and ch.isprintable(), hex(code)


@pytest.mark.parametrize(
    "value",
    ["\x1b[31mred", "a\u2067b\u202ec", "\x9b2J\x7f", "line\u2028sep", "😀 \U000e0041", "…"],
)
def test_json_text_keeps_the_data_and_shows_no_hidden_character(value: str) -> None:
    doc = {"field": value, "list": [value], value: 1}
    text = json_text(doc)
    assert json.loads(text) == doc  # a program reads exactly what was recorded
    assert not [c for c in text if c != "\n" and hidden(c) and c not in "\\…"], text


def test_json_text_escapes_as_json_does() -> None:
    assert json_text({"a": "\u2067é\U000e0041\x9b"}, indent=None) == (
        '{"a": "\\u2067é\\udb40\\udc41\\u009b"}'
    )
