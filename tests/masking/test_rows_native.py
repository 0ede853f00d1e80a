"""The native DataRow masker (regogate._native.RowMasker, native/hotpath/src/rows.rs)
against the reference, masking/rows.mask_row: the same bytes for many generated rows and
plans (NULLs, empty values, non-text and binary-format cells, multibyte and invalid
UTF-8, every method, the hash's key), the same error for rows shorter than their
lengths."""

from __future__ import annotations

import random
import struct

import pytest

from regogate.errors import ProtocolViolation
from regogate.masking.methods import Mask
from regogate.masking.plan import CellMask, RowPlan
from regogate.masking.rows import PythonRowMasker, RowMasker, compile_plan, row_masker
from regogate.recording.write import native

pytestmark = pytest.mark.skipif(
    not native.BUILT, reason="regogate._native is not built (scripts/setup.sh builds it)"
)

KEY = b"k" * 32
MASKS = [
    Mask("null"),
    Mask("redact"),
    Mask("hash"),
    Mask("email"),
    *(Mask("partial", keep) for keep in (0, 1, 2, 4, 9, 64)),
]
VALUES: list[bytes | None] = [
    None,
    b"",
    b"x",
    b"123-45-6789",
    b"ada@example.com",
    b"a@b@c.org",
    b"@example.com",
    b"no at sign",
    b"ada@",
    "zoë@exämple.org".encode(),
    "日本語のテキスト".encode(),
    "héllo wörld 🙂".encode(),
    b"\xff\xfe\xfd",
    b"ok@\xff",
    b"\xff@ok",
    b"\xed\xa0\x80",  # a UTF-16 surrogate: not UTF-8 in Python nor Rust
    b"\x00\x00\x00\x00\x00\x00\x00\x2a",  # a binary int8
    b"a" * 300,
]


def _body(values: list[bytes | None]) -> bytes:
    out = [struct.pack("!h", len(values))]
    for v in values:
        out.append(struct.pack("!i", -1) if v is None else struct.pack("!i", len(v)) + v)
    return b"".join(out)


def _value(rng: random.Random) -> bytes | None:
    if rng.random() < 0.7:
        return rng.choice(VALUES)
    alphabet = "abc@.-_ 0é日🙂"
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12))).encode()


def _plan(rng: random.Random, columns: int) -> RowPlan:
    chosen = sorted(rng.sample(range(columns), rng.randrange(1, columns + 1)))
    return tuple(CellMask(i, rng.choice(MASKS), rng.random() < 0.8) for i in chosen)


def _both(plan: RowPlan, key: bytes) -> tuple[RowMasker, RowMasker]:
    made = row_masker(plan, key, "native")
    assert not isinstance(made, PythonRowMasker)
    return made, PythonRowMasker(compile_plan(plan, key))


@pytest.mark.parametrize("seed", range(20))
def test_native_rows_are_the_reference_rows(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        columns = rng.randrange(1, 9)
        key = KEY if rng.random() < 0.9 else rng.choice([b"", b"short", b"\x01" * 16])
        fast, ref = _both(_plan(rng, columns), key)
        assert len(fast) == len(ref)
        for _ in range(20):
            body = _body([_value(rng) for _ in range(columns)])
            assert fast(body) == ref(body)


def test_a_row_with_fewer_columns_than_the_plan_has_none() -> None:
    fast, ref = _both((CellMask(0, MASKS[2], True), CellMask(3, MASKS[3], True)), KEY)
    body = _body([b"a", b"b"])
    assert fast(body) == ref(body) == b"\x00\x00"


@pytest.mark.parametrize("cut", [1, 2, 3, 5, 9])
def test_short_rows_fail_alike(cut: int) -> None:
    fast, ref = _both((CellMask(1, Mask("email"), True), CellMask(2, Mask("hash"), True)), KEY)
    body = _body([b"first", b"ada@example.com", b"secret"])[:-cut]
    for masker in (fast, ref):
        with pytest.raises(ProtocolViolation):
            masker(body)
    for masker in (fast, ref):
        with pytest.raises(ProtocolViolation):
            masker(body[:1])


def test_python_is_used_when_asked() -> None:
    assert isinstance(
        row_masker((CellMask(0, Mask("null"), True),), KEY, "python"), PythonRowMasker
    )
