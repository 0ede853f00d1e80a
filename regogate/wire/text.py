"""Text a peer sent, on its way into JSON (policy input, recordings).

The wire codec decodes bytes that are not UTF-8 with surrogateescape: each such byte is
a lone surrogate in the str, so that the bytes go back out unchanged. JSON has no such
strings; there, each of them becomes U+FFFD (one character for one, positions kept).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def has_raw_bytes(text: str) -> bool:
    """Whether ``text`` holds bytes that were not UTF-8."""
    return not text.isascii() and LONE_SURROGATE.search(text) is not None


def replace_raw_bytes(text: str) -> str:
    return text if text.isascii() else LONE_SURROGATE.sub("\ufffd", text)


def json_safe(value: object) -> object:
    """``value`` with :func:`replace_raw_bytes` applied to every string in it (keys too)."""
    if isinstance(value, str):
        return replace_raw_bytes(value)
    if isinstance(value, Mapping):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
