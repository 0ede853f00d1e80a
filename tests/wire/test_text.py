"""Peer text on its way into JSON: bytes that were not UTF-8 become U+FFFD, one for one."""

from __future__ import annotations

from regogate.wire.text import has_raw_bytes, json_safe, replace_raw_bytes

RAW = b"caf\xe9 \xff\xfe!".decode("utf-8", "surrogateescape")
CLEAN = "caf\ufffd \ufffd\ufffd!"


def test_raw_bytes_are_found_and_replaced_one_for_one() -> None:
    assert has_raw_bytes(RAW)
    assert not has_raw_bytes("café 😀") and not has_raw_bytes("ascii")
    assert replace_raw_bytes(RAW) == CLEAN and len(CLEAN) == len(RAW)
    assert replace_raw_bytes("café") == "café"


def test_json_safe_reaches_keys_and_nested_values() -> None:
    value = {RAW: [RAW, (1, None, {"k": RAW})], "n": 2.5, "b": True}
    assert json_safe(value) == {CLEAN: [CLEAN, [1, None, {"k": CLEAN}]], "n": 2.5, "b": True}
