"""The report's scan for raw classified values: the upstream's values of the classified
columns, and every string of the period's records searched for them.

A value is searched for as it is, in any letter case (lower, upper) and as its digits
alone (``123-45-6789`` also as ``123456789``). Forms shorter than ``MIN_LENGTH``
characters are not searched for (they would match everywhere), and strings that are
hex digests (``HEX_DIGEST``: hashes regogate writes) are not searched in: a digits-only
form would match one by chance. The scan names the columns and record sequence numbers
of hits, never a value. Pure: the values are read elsewhere (cli/report_pii.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from regogate.recording.format.jcs import JSONValue

MIN_LENGTH = 6
GRAM = 4  # the index's key: each form's first GRAM characters (MIN_LENGTH >= GRAM)
HEX_DIGEST = re.compile(r"[0-9a-f]{32,}")
_CACHE_LIMIT = 200_000  # strings remembered per scanner (texts, names repeat)


def forms(value: str) -> set[str]:
    """What a value is searched for as (lower case: the search ignores letter case)."""
    found = {value.lower()}
    digits = "".join(c for c in value if c.isdigit())
    found.add(digits)
    return {f for f in found if len(f) >= MIN_LENGTH}


@dataclass(frozen=True)
class PiiValues:
    """The classified columns (``schema.table.column``) and the upstream's values of each
    (distinct, as text), in the columns' order."""

    columns: tuple[str, ...]
    values: tuple[tuple[str, ...], ...]

    def needles(self) -> dict[str, list[int]]:
        """Each searched-for form: the columns (indices) it is a value of."""
        out: dict[str, list[int]] = {}
        for index, values in enumerate(self.values):
            for value in values:
                for form in forms(value):
                    cols = out.setdefault(form, [])
                    if index not in cols:
                        cols.append(index)
        return out


class PiiScanner:
    """Finds the classified columns whose values occur in a record's strings (its keys
    and values, at any depth)."""

    def __init__(self, columns: Sequence[str], needles: Mapping[str, Sequence[int]]):
        self.columns = tuple(columns)
        self.index: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
        for needle, cols in needles.items():
            if len(needle) >= MIN_LENGTH:
                self.index.setdefault(needle[:GRAM], []).append((needle, tuple(cols)))
        self.grams = frozenset(self.index)
        self.cache: dict[str, frozenset[int]] = {}

    @classmethod
    def of(cls, values: PiiValues) -> PiiScanner:
        return cls(values.columns, values.needles())

    def hits(self, record: JSONValue) -> tuple[str, ...]:
        """The columns (names, sorted) with a value in ``record``; () for none."""
        found: set[int] = set()
        cache, todo = self.cache, [record]
        while todo:  # runs for every record of the period: a loop, not a recursion
            value = todo.pop()
            if isinstance(value, str):
                seen = cache.get(value)
                if seen is None:
                    seen = self._in(value)
                if seen:
                    found |= seen
            elif isinstance(value, dict):
                todo += value.keys()
                todo += value.values()
            elif isinstance(value, list):
                todo += value
        return tuple(sorted(self.columns[i] for i in found)) if found else ()

    def _in(self, text: str) -> frozenset[int]:
        found: set[int] = set()
        if len(text) >= MIN_LENGTH and not HEX_DIGEST.fullmatch(text):
            low, index = text.lower(), self.index
            grams = {low[i : i + GRAM] for i in range(len(low) - MIN_LENGTH + 1)}
            for gram in grams & self.grams:
                for needle, cols in index[gram]:
                    if needle in low:
                        found.update(cols)
        if len(self.cache) >= _CACHE_LIMIT:
            self.cache.clear()
        result = self.cache[text] = frozenset(found)
        return result


def scan_args(values: PiiValues | None) -> list[object] | None:
    """The scanner as JSON, for the verifier's worker processes (``scanner_of``)."""
    if values is None:
        return None
    return [list(values.columns), values.needles()]


_last: tuple[object, PiiScanner | None] = (None, None)


def scanner_of(args: object) -> PiiScanner | None:
    """The scanner ``scan_args`` describes; built once for the same ``args`` object (each
    chunk of a pass gets the same one)."""
    global _last  # noqa: PLW0603 - one scanner per worker process, not one per chunk
    if args is None:
        return None
    if _last[0] is args:
        return _last[1]
    assert isinstance(args, list)
    columns, needles = args
    scanner = PiiScanner(columns, needles)
    _last = (args, scanner)
    return scanner


def scan_json(values: PiiValues, hits: list[tuple[int, int, tuple[str, ...]]]) -> JSONValue:
    """The masking section's scan: what was searched for, and where it was found."""
    ordered = sorted(hits)
    return {
        "run": True,
        "columns": list(values.columns),
        "values": sum(len(v) for v in values.values),
        "forms": len(values.needles()),
        "hits": len(ordered),
        "records": [
            {"origin": origin, "seq": seq, "columns": list(cols)} for origin, seq, cols in ordered
        ],
    }
