"""Canonical JSON (RFC 8785, JCS): the exact bytes every record is hashed and stored as.

``rfc8785`` is the reference; orjson is the fast path where it provably agrees: no
float, no integer beyond ±(2**53 - 1) (``dumps``: beyond 15 digits), no non-BMP
character (orjson escapes every BMP code point exactly as JCS does, and sorts BMP keys
in the same order; tests/recording/test_jcs.py checks all of them). Anything else takes
the reference implementation.
"""

from __future__ import annotations

import json
import json.encoder
import json.scanner
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias, cast

import orjson
import rfc8785

JSONValue: TypeAlias = (
    bool | int | float | str | Sequence["JSONValue"] | Mapping[str, "JSONValue"] | None
)

# The stdlib encoder with sorted keys and no whitespace writes exactly the JCS bytes
# of a "plain" value: one with no float (JCS formats numbers as ECMAScript does), no
# integer beyond 15 digits (JCS refuses those outside ±(2**53 - 1)) and no non-BMP
# character (JCS sorts keys by UTF-16 code units, Python by code points). Floats are
# caught by a decoding hook; long digit runs and 4-byte UTF-8 sequences by one
# translate() of the bytes (this may also hit string contents: never a miss). Anything
# not plain takes the reference implementation.


def _make_encode() -> Callable[[object], str]:
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:
        return json.JSONEncoder(
            ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
        ).encode
    # CPython: the same C encoder JSONEncoder.encode builds on every call, built once.
    encode = c_make_encoder(
        None, None, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )
    return lambda value: "".join(encode(value, 0))


_ENCODE = _make_encode()
# digits -> "0", UTF-8 lead bytes of 4-byte sequences -> "!", anything else -> "."
_CLASSES = bytes(48 if 48 <= b <= 57 else 33 if 0xF0 <= b <= 0xF4 else 46 for b in range(256))
_LONG_RUN = b"0" * 16
_SORTED_SAFE = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER  # refuses |int| > 2**53 - 1


def _needs_reference(data: bytes) -> bool:
    classes = data.translate(_CLASSES)
    return _LONG_RUN in classes or b"!" in classes


class CanonicalizationError(ValueError):
    """The value has no RFC 8785 form (not JSON, NaN, unsafe integer, lone surrogate)."""


class _NotPlain(Exception):
    pass


def _float(text: str) -> float:
    raise _NotPlain


def _number(text: str) -> int | float:
    """A JSON integer as JCS sees it: an IEEE double, kept as int while exact."""
    value = int(text)
    return value if -(2**53) < value < 2**53 else float(text)


_SCAN_PLAIN: Callable[[str, int], tuple[object, int]] = cast(Any, json.scanner).make_scanner(
    json.JSONDecoder(parse_float=_float, parse_constant=_float)
)


def _decode_plain(text: str) -> tuple[object, bool]:
    """(value, True) if ``text`` is exactly one JSON value without floats; (value,
    False) if it has whitespace around it; raises ``_NotPlain`` or ``ValueError``."""
    try:
        value, end = _SCAN_PLAIN(text, 0)
    except StopIteration:
        return json.loads(text), False  # raises the precise JSONDecodeError
    if end != len(text):
        return json.loads(text), False
    return value, True


_ALL = object()


def _has_float(value: object) -> bool:
    """Whether a JSON-ready value holds a float anywhere (orjson writes NaN as null)."""
    if isinstance(value, float):
        return True
    if not isinstance(value, dict | list | tuple):
        return False
    todo: list[Any] = [value]
    for container in todo:  # grows as nested containers are found
        for v in container.values() if isinstance(container, dict) else container:
            t = type(v)
            if t is str or t is int or t is bool or v is None:
                continue
            if isinstance(v, float):
                return True
            if isinstance(v, dict | list | tuple):
                todo.append(v)
    return False


def dumps(value: object, *, floats_in: object = _ALL) -> bytes:
    """The RFC 8785 bytes of a JSON value (dicts with str keys, lists, str, int, …).

    ``floats_in``: the part of ``value`` that may hold floats (the caller vouches for the
    rest, e.g. a record envelope built from ints and strings); default all of it.
    """
    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        if not _needs_reference(data) and not _has_float(value if floats_in is _ALL else floats_in):
            return data
    except (TypeError, orjson.JSONEncodeError, RecursionError):
        pass  # the reference implementation says what is wrong
    try:
        return rfc8785.dumps(cast(Any, value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError, RecursionError) as exc:
        raise CanonicalizationError(f"not canonicalizable JSON: {exc}") from None


def _holds_float(value: object) -> bool:
    """Whether a value parsed by orjson holds a float anywhere (only exact types)."""
    if type(value) is not dict and type(value) is not list:
        return type(value) is float
    todo: list[Any] = [value]
    for container in todo:  # grows as nested containers are found
        for v in container.values() if type(container) is dict else container:
            t = type(v)
            if t is str or t is int:
                continue
            if t is float:
                return True
            if t is dict or t is list:
                todo.append(v)
    return False


def loads(data: bytes) -> tuple[object, bool]:
    """Parse JSON bytes; also say whether they are exactly the value's JCS form.

    Raises ``ValueError`` if ``data`` is not UTF-8 JSON.
    """
    # orjson parses integers of 16 to 19 digits exactly, and longer ones (beyond 64
    # bits) as floats: the float check and the strict dump leave both to the reference.
    if data.isascii() or b"!" not in data.translate(_CLASSES):  # nothing beyond the BMP
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # not JSON, or beyond orjson: the slow path says which
        else:
            if not _holds_float(value):
                try:
                    return value, orjson.dumps(value, option=_SORTED_SAFE) == data
                except orjson.JSONEncodeError:
                    pass  # an integer beyond ±(2**53 - 1)
    return _loads_slow(data)


def _loads_slow(data: bytes) -> tuple[object, bool]:
    try:
        text = data.decode("utf-8")
        try:
            value, end = _SCAN_PLAIN(text, 0)
            if end != len(text):
                return json.loads(text), False  # whitespace after it, or not JSON
            if not _needs_reference(data):
                return value, _ENCODE(value) == text
        except StopIteration:
            return json.loads(text), False  # raises the precise JSONDecodeError
        except _NotPlain:
            pass
        value = json.loads(text, parse_int=_number)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    try:
        return value, bool(rfc8785.dumps(cast(Any, value)) == data)
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        return value, False
