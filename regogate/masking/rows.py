"""DataRow rewriting: the cells a row plan masks, the other cells' bytes untouched
(protocol §55.7, DataRow: Int16 column count, then per column Int32 length, -1 for NULL,
and the value bytes). A plan is compiled once per RowDescription: a cell that always
becomes the same bytes (NULL, REDACTED, any non-text type) is a constant.

``row_masker`` gives the masker the session uses: ``regogate._native.RowMasker``
(native/hotpath, src/rows.rs) when it is built and ``$REGOGATE_HOTPATH`` is not
``python``, else ``mask_row`` here: the reference the native one is tested against
(tests/masking/test_rows_native.py)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from regogate.errors import ProtocolViolation
from regogate.masking.methods import REDACT, Mask, mask_text
from regogate.masking.plan import RowPlan
from regogate.recording.write import native

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_NULL = _I32.pack(-1)


def _cell(value: bytes | None) -> bytes:
    return _NULL if value is None else _I32.pack(len(value)) + value


def _partial(keep: int) -> Callable[[bytes], bytes]:
    def apply(value: bytes) -> bytes:
        if value.isascii():  # one byte a character: no decoding
            n = len(value)
            if n <= keep:
                return b"*" * n
            return b"*" * (n - keep) + value[n - keep :] if keep else b"*" * n
        return mask_text(Mask("partial", keep), value, b"") or b""

    return apply


def _email(value: bytes) -> bytes:
    local, at, domain = value.rpartition(b"@")
    if not at or not local:
        return b"REDACTED"
    try:
        domain.decode("utf-8")
    except UnicodeDecodeError:
        return b"REDACTED"
    return b"***@" + domain


@dataclass(frozen=True, slots=True)
class CompiledCell:
    index: int
    constant: bytes | None  # the whole cell (length and value), when it never varies
    apply: Callable[[bytes], bytes] | None  # value -> masked value (text cells)
    method: str = ""  # of ``apply``: partial, email or hash
    keep: int = 0  # characters a partial keeps


CompiledPlan = tuple[CompiledCell, ...]


# A hash key shorter than this (none configured reached the masker) must not be used:
# an unkeyed hash of a value from a small space is reversed by hashing guesses.
MIN_HASH_KEY = 16


def compile_plan(plan: RowPlan, key: bytes) -> CompiledPlan:
    out: list[CompiledCell] = []
    for cell in plan:
        mask = cell.mask
        if mask.method == "hash" and len(key) < MIN_HASH_KEY:
            mask = REDACT  # fail closed rather than hash without a key
        if not cell.text or mask.method in ("null", "redact"):
            value = None if not cell.text else mask_text(mask, b"", key)
            out.append(CompiledCell(cell.index, _cell(value), None))
        elif mask.method == "partial":
            out.append(CompiledCell(cell.index, None, _partial(mask.keep), "partial", mask.keep))
        elif mask.method == "email":
            out.append(CompiledCell(cell.index, None, _email, "email"))
        else:  # hash

            def hashed(value: bytes, m: Mask = mask) -> bytes:
                return mask_text(m, value, key) or b""

            out.append(CompiledCell(cell.index, None, hashed, "hash"))
    return tuple(out)


def mask_row(body: bytes, plan: CompiledPlan) -> bytes:
    """A DataRow body with the planned cells masked (``plan`` in column order)."""
    if not plan:
        return body
    try:
        return _mask_row(body, plan)
    except struct.error:  # a length read past the row's end
        raise ProtocolViolation("the upstream sent a DataRow shorter than its lengths") from None


def _mask_row(body: bytes, plan: CompiledPlan) -> bytes:
    unpack = _I32.unpack_from
    pack = _I32.pack
    (count,) = _I16.unpack_from(body, 0)
    size = len(body)
    out: list[bytes] = []
    append = out.append
    pos = 2
    start = 0
    index = 0
    for cell in plan:
        target = cell.index
        if target >= count:  # fewer columns than described: nothing can be trusted
            return _I16.pack(0)
        while index < target:
            (length,) = unpack(body, pos)
            pos += 4 + length if length > 0 else 4
            index += 1
        (length,) = unpack(body, pos)
        end = pos + 4 + length if length > 0 else pos + 4
        if end > size:
            raise ProtocolViolation("the upstream sent a DataRow shorter than its lengths")
        append(body[start:pos])
        constant = cell.constant
        if constant is not None:
            append(constant)
        elif length < 0:
            append(_NULL)
        else:
            apply = cell.apply
            assert apply is not None
            value = apply(body[pos + 4 : end])
            append(pack(len(value)))
            append(value)
        start = pos = end
        index += 1
    append(body[start:])
    return b"".join(out)


class RowMasker(Protocol):
    """Masks DataRow bodies by one compiled plan; ``len`` is its cells a row."""

    def __len__(self) -> int: ...
    def __call__(self, body: bytes, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class PythonRowMasker:
    """The reference: ``mask_row`` over one compiled plan."""

    plan: CompiledPlan

    def __len__(self) -> int:
        return len(self.plan)

    def __call__(self, body: bytes, /) -> bytes:
        return mask_row(body, self.plan)


_KINDS = {"partial": 1, "email": 2, "hash": 3}


def native_cells(plan: CompiledPlan) -> list[tuple[int, int, int, bytes | None]]:
    """``plan`` as ``regogate._native.RowMasker`` takes it: (index, kind, keep, constant),
    kind 0 a constant cell."""
    return [
        (c.index, 0, 0, c.constant)
        if c.constant is not None
        else (c.index, _KINDS[c.method], c.keep, None)
        for c in plan
    ]


def row_masker(plan: RowPlan, key: bytes, engine: str = "auto") -> RowMasker:
    """The masker of ``plan``'s rows: native when built (``engine`` as
    ``recording.write.native.use_native`` takes it), else the Python reference."""
    compiled = compile_plan(plan, key)
    if native.use_native(engine):
        from regogate import _native

        return _native.RowMasker(native_cells(compiled), key)
    return PythonRowMasker(compiled)
