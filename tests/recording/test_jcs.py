"""Canonical JSON: the fast path agrees with the rfc8785 reference, and loads() judges bytes."""

from __future__ import annotations

import random

import pytest
import rfc8785

from regogate.recording.format import jcs

VALUES: list[object] = [
    {},
    [],
    {"b": 1, "a": [True, False, None], "c": {"z": "", "y": -0}},
    {"s": 'quote " backslash \\ slash / tab \t nl \n cr \r bs \b ff \f nul \x00 us \x1f del \x7f'},
    {"é": "ünïcødé", "中": "文", "emoji": "😀", "😀": 1, "\uffff": 2, "\ue000": 3},
    {"n": 9007199254740991, "m": -9007199254740991, "k": 123456789012345},
    {"f": 1.5, "g": 5.0, "h": 1e21, "i": 1e-7, "j": -0.0, "k": 0.1 + 0.2, "l": 1e16},
    [1.0, 2, "3.0", [4.5e300]],
    {"t": "2026-11-24T16:41:20.029115Z", "x": ":20.0", "y": "[1.5,", "z": '":1e5'},
    {"digits": "12345678901234567890", "hex": "0123456789abcdef" * 4},
]


@pytest.mark.parametrize("value", VALUES)
def test_dumps_matches_the_reference(value: object) -> None:
    data = jcs.dumps(value)
    assert data == rfc8785.dumps(value)  # type: ignore[arg-type]
    parsed, canonical = jcs.loads(data)
    assert canonical and parsed == value


def test_random_values_agree_with_the_reference() -> None:
    rng = random.Random(8785)
    alphabet = [
        "a",
        "Z",
        "é",
        "\u2014",
        "\ue000",
        "\uffff",
        "😀",
        "𝄞",
        '"',
        "\\",
        "\n",
        "\x01",
        "0",
    ]

    def value(depth: int) -> object:
        kind = rng.randrange(8 if depth < 4 else 5)
        if kind == 0:
            return rng.randrange(-(2**53) + 1, 2**53)
        if kind == 1:
            return rng.choice(
                [rng.random() * 10 ** rng.randrange(-30, 30), float(rng.randrange(100))]
            )
        if kind == 2:
            return "".join(rng.choice(alphabet) for _ in range(rng.randrange(6)))
        if kind == 3:
            return rng.choice([True, False, None])
        if kind == 4:
            return rng.randrange(100)
        if kind == 5:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        return {
            "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 4))): value(depth + 1)
            for _ in range(rng.randrange(5))
        }

    for _ in range(2000):
        v = value(0)
        data = jcs.dumps(v)
        assert data == rfc8785.dumps(v)  # type: ignore[arg-type]
        parsed, canonical = jcs.loads(data)
        assert canonical and jcs.dumps(parsed) == data


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), {"x": 2**53}, {"x": object()}, {"x": "\ud800"}, {1: {1, 2}}],
)
def test_values_without_a_canonical_form(value: object) -> None:
    with pytest.raises(jcs.CanonicalizationError):
        jcs.dumps(value)


@pytest.mark.parametrize(
    "data",
    [
        b'{"b":1,"a":2}',  # key order
        b'{"a": 1}',  # whitespace
        b' {"a":1}',
        b'{"a":1}\n',
        b'{"a":1,"a":2}',  # duplicate key
        b'{"a":"\\u00e9"}',  # escaped where JCS writes the character
        b'{"a":"\\/"}',
        b'{"a":1.50}',  # number forms
        b'{"a":1E5}',
        b'{"a":1.0}',
        b'{"a":-0}',
        b'{"a":9007199254740993}',  # no double has this JCS form
        b'{"a":NaN}',
        b'{"a":"\\ud800"}',  # lone surrogate
        b'{"\xef\xbf\xbf":1,"\xf0\x9f\x98\x80":2}',  # code point order, not UTF-16 order
    ],
)
def test_loads_spots_non_canonical_bytes(data: bytes) -> None:
    _, canonical = jcs.loads(data)
    assert not canonical


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "Expecting value"),
        (b"{", "Expecting property name"),
        (b'{"a":1}x', "Extra data"),
        (b"\xff", "can't decode byte 0xff"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_loads_rejects_non_json(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        jcs.loads(data)


def test_fast_path_escapes_every_bmp_code_point_as_the_reference() -> None:
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        s = chr(cp)
        assert jcs.dumps({s: s}) == rfc8785.dumps({s: s}), hex(cp)
        assert jcs.loads(rfc8785.dumps([s]))[1], hex(cp)


def test_fast_path_sorts_bmp_keys_as_the_reference() -> None:
    rng = random.Random(8785)
    for _ in range(200):
        keys = {
            chr(rng.randint(0x20, 0xD7FF)) + chr(rng.randint(0xE000, 0xFFFD)) for _ in range(20)
        }
        value = {k: i for i, k in enumerate(sorted(keys))}
        assert jcs.dumps(value) == rfc8785.dumps(value)


def test_floats_and_nan_never_take_the_fast_path() -> None:
    assert jcs.dumps({"a": 1.5}) == rfc8785.dumps({"a": 1.5})
    assert jcs.dumps({"a": 1e21}) == b'{"a":1e+21}'
    with pytest.raises(jcs.CanonicalizationError):
        jcs.dumps({"a": float("nan")})
    with pytest.raises(jcs.CanonicalizationError):
        jcs.dumps([[float("inf")]])
    assert jcs.loads(b'{"a":1.0}') == ({"a": 1.0}, False)
    assert jcs.loads(b'{"a":1}') == ({"a": 1}, True)
    assert jcs.loads(b'{"a":1,"a":2}')[1] is False
