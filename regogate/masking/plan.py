"""Which result columns of a statement are masked, and how: from the analysis' output
lineage (``StatementFacts.outputs``, the lineage the policy input is built from) and the
decision's ``mask`` map, checked against the RowDescription PostgreSQL sends.

- An output whose lineage holds a masked column is masked. If the output *is* that
  column (its lineage is that one column, and RowDescription's table OID and attribute
  number name exactly that catalog column: PostgreSQL sets them only for a plain column
  reference), it gets the column's own method; otherwise it is derived and gets
  ``for_derived`` of the strictest method among its masked sources (partial and email
  become redact). A column whose OID and attribute number are not known is derived.
- A ``schema.table.*`` marker (columns that cannot be named) of a table with masked
  columns counts as every masked column of that table.
- When RowDescription does not have as many columns as the analysis found, which column
  is which is unknown: every column gets the strictest derived mask of the statement.
- A masked value of a type that is not text (or in an unknown format) becomes NULL:
  every client decodes a NULL of any type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from regogate.masking.copy import CopyOptions
from regogate.masking.methods import Mask, for_derived, from_spec, strictest
from regogate.policy.decision import MaskSpec
from regogate.wire.backend import RowDescription

# Types whose text and binary forms are both the UTF-8 text itself (pg_type: text,
# varchar, bpchar; unknown): a masked text value is a valid value of these.
TEXT_TYPES = frozenset({25, 1043, 1042, 705})


@dataclass(frozen=True, slots=True)
class ColumnRule:
    """One analysed output: its mask if it is the masked column itself (``direct``), and
    if derived; both None when nothing masked is behind it."""

    direct: Mask | None
    derived: Mask | None
    single: bool  # its lineage is exactly one column
    # (pg_class.oid, attnum) of that one column: RowDescription must name exactly it for
    # ``direct`` to apply; None: never direct.
    origin: tuple[int, int] | None = None


UNMASKED = ColumnRule(None, None, False)
# (table OID, attribute number) of a ``schema.table.column`` key, None when not known.
Origins = Callable[[str], "tuple[int, int] | None"]


@dataclass(frozen=True, slots=True)
class StatementMasks:
    """The masks of one statement's result columns (``columns``, by position of the
    analysis' outputs), what every column gets when the result does not match them
    (``fallback``), and the masked column keys."""

    columns: tuple[ColumnRule, ...]
    fallback: Mask
    masked: tuple[str, ...]
    copy: CopyOptions | None = None  # a COPY TO STDOUT: how its rows are written


@dataclass(frozen=True, slots=True)
class CellMask:
    index: int
    mask: Mask
    text: bool  # the cell is text (the method applies); else it becomes NULL


# A row plan: the masked cells of each row, in column order; empty when none is masked.
RowPlan = tuple[CellMask, ...]


def statement_masks(
    outputs: Sequence[tuple[str, Sequence[str]]],
    masks: Mapping[str, Mask],
    origins: Origins | None = None,
    copy: CopyOptions | None = None,
) -> StatementMasks:
    by_table: dict[str, list[Mask]] = {}
    for key, mask in masks.items():
        by_table.setdefault(_table_prefix(key), []).append(mask)
    rules: list[ColumnRule] = []
    for _name, lineage in outputs:
        sources: list[Mask] = []
        for key in lineage:
            found = masks.get(key)
            if found is not None:
                sources.append(found)
            elif key.endswith(".*"):
                sources.extend(by_table.get(key[:-1], ()))
        if not sources:
            rules.append(UNMASKED)
            continue
        single = len(lineage) == 1 and lineage[0] in masks
        derived = strictest([for_derived(m) for m in sources])
        origin = origins(lineage[0]) if single and origins is not None else None
        rules.append(ColumnRule(strictest(sources), derived, single, origin))
    fallback = strictest([for_derived(m) for m in masks.values()]) if masks else Mask("null")
    return StatementMasks(tuple(rules), fallback, tuple(sorted(masks)), copy)


def masks_from_decision(mask: Mapping[str, MaskSpec]) -> dict[str, Mask]:
    return {key: from_spec(spec.method, spec.params) for key, spec in mask.items()}


def merge(a: Mapping[str, Mask], b: Mapping[str, Mask]) -> dict[str, Mask]:
    """Two decisions' masks (a statement decided twice): the strictest per column."""
    out = dict(a)
    for key, mask in b.items():
        out[key] = strictest([out[key], mask]) if key in out else mask
    return out


def row_plan(masks: StatementMasks, desc: RowDescription) -> RowPlan:
    """The masked cells of the rows described by ``desc``."""
    fields = desc.fields
    matches = len(fields) == len(masks.columns)
    cells: list[CellMask] = []
    for index, field in enumerate(fields):
        if matches:
            rule = masks.columns[index]
            if rule.derived is None:
                continue
            origin = rule.origin
            direct = (
                rule.direct
                if origin is not None
                and field.table_oid == origin[0]
                and field.column_attnum == origin[1]
                else None
            )
            mask = direct if direct is not None else rule.derived
        else:
            mask = masks.fallback
        text = field.type_oid in TEXT_TYPES and field.format in (0, 1)
        cells.append(CellMask(index, mask, text))
    return tuple(cells)


def _table_prefix(key: str) -> str:
    """``schema.table.`` of a ``schema.table.column`` key (names quoted by
    catalog.qident, so a dot inside a name is inside quotes)."""
    depth = 0
    quoted = False
    for i, ch in enumerate(key):
        if ch == '"':
            quoted = not quoted
        elif ch == "." and not quoted:
            depth += 1
            if depth == 2:
                return key[: i + 1]
    return key + "."


def split_key(key: str) -> tuple[str, str, str] | None:
    """``(schema, table, column)`` of a ``schema.table.column`` key (catalog.qident
    quoting); None when it is not one."""
    parts: list[str] = []
    cur: list[str] = []
    quoted = False
    i = 0
    while i < len(key):
        ch = key[i]
        if quoted:
            if ch == '"':
                if key[i + 1 : i + 2] == '"':
                    cur.append('"')
                    i += 1
                else:
                    quoted = False
            else:
                cur.append(ch)
        elif ch == '"':
            quoted = True
        elif ch == ".":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    if quoted or len(parts) != 3:
        return None
    return parts[0], parts[1], parts[2]


def copy_masked(masks: StatementMasks, columns: int) -> frozenset[int]:
    """The fields of a COPY TO's rows that become NULL: those with a mask; every field
    when the COPY has another number of columns than the analysis found."""
    if columns != len(masks.columns):
        return frozenset(range(columns))
    return frozenset(i for i, rule in enumerate(masks.columns) if rule.derived is not None)
