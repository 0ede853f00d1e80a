"""How long a call of pg_sleep, pg_sleep_for or pg_sleep_until sleeps, read from its
constant argument: the ``statement.sleep_seconds`` fact. Pure.

Only a constant the analyser can read exactly gives a number: ``pg_sleep(5)``,
``pg_sleep(0.1)``, ``pg_sleep('2')``, ``pg_sleep_for('1 hour')``, ``pg_sleep_for(interval
'90 s')``. A column, a parameter, an expression, a named argument, an interval with a
field restriction (``interval '1' hour``), an ISO 8601 interval and every
``pg_sleep_until`` (its duration depends on the clock) give None: unknown.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from pglast import ast

SLEEP_FUNCTIONS = frozenset({"pg_sleep", "pg_sleep_for", "pg_sleep_until"})

# Interval units PostgreSQL's interval input accepts (datetime.c's deltatktbl), in
# seconds. A month is 30 days and a year 365.25 days, as PostgreSQL counts them.
_DAY = 86400.0
_UNITS: dict[str, float] = {
    **dict.fromkeys(("us", "usec", "usecs", "microsecond", "microseconds"), 1e-6),
    **dict.fromkeys(("ms", "msec", "msecs", "millisecond", "milliseconds"), 1e-3),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
    **dict.fromkeys(("d", "day", "days"), _DAY),
    **dict.fromkeys(("w", "week", "weeks"), 7 * _DAY),
    **dict.fromkeys(("mon", "mons", "month", "months"), 30 * _DAY),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), 365.25 * _DAY),
}
_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_PART = re.compile(
    rf"\s*(?:(?P<clock>[+-]?[0-9]+:[0-9]+(?::[0-9]+(?:\.[0-9]*)?)?)"
    rf"|(?P<n>{_NUMBER})\s*(?P<unit>[a-z]*))\s*"
)
_FLOAT_TYPES = frozenset({"float8", "float4", "numeric"})


def sleep_seconds(name: str, args: Sequence[Any] | None) -> float | None:
    """Seconds the call ``name(args)`` sleeps (0 for a negative duration), or None."""
    if not args or len(args) != 1 or name == "pg_sleep_until":
        return None
    value = _constant(args[0], "interval" if name == "pg_sleep_for" else "float")
    if value is None:
        return None
    seconds = interval_seconds(value) if name == "pg_sleep_for" else _number(value)
    if seconds is None or not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def _constant(node: Any, want: str) -> str | None:
    """The text of a constant argument, through one cast to the type the function takes."""
    if isinstance(node, ast.TypeCast):
        type_name = node.typeName
        if type_name is None or type_name.typmods or type_name.arrayBounds:
            return None
        names = [str(n.sval) for n in type_name.names or ()]
        last = names[-1] if names else ""
        if not (last == "interval" if want == "interval" else last in _FLOAT_TYPES):
            return None
        node = node.arg
    if not isinstance(node, ast.A_Const) or node.isnull:
        return None
    val = node.val
    if isinstance(val, ast.Integer):
        return None if want == "interval" else str(val.ival)
    if isinstance(val, ast.Float):
        return None if want == "interval" else str(val.fval)
    if isinstance(val, ast.String):
        return str(val.sval)
    return None


def _number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def interval_seconds(text: str) -> float | None:
    """Seconds in PostgreSQL's traditional interval syntax (``1 hour 30 min``, ``@ 5
    secs ago``, ``1 day 02:00:00``, a bare number of seconds); None for anything else."""
    s = text.strip().lower()
    s = s.removeprefix("@").strip()
    sign = 1.0
    if s.endswith(" ago"):
        s, sign = s[:-4], -1.0
    if not s:
        return None
    total = 0.0
    pos = 0
    while pos < len(s):
        match = _PART.match(s, pos)
        if match is None or match.end() == pos:
            return None
        pos = match.end()
        if match["clock"] is not None:
            total += _clock(match["clock"])
        elif match["unit"]:
            unit = _UNITS.get(match["unit"])
            if unit is None:
                return None
            total += float(match["n"]) * unit
        else:
            total += float(match["n"])  # a bare number counts seconds
    return sign * total


def _clock(text: str) -> float:
    """``hh:mm`` or ``hh:mm:ss[.f]``."""
    negative = text.startswith("-")
    parts = [float(p) for p in text.lstrip("+-").split(":")]
    seconds = parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) > 2 else 0.0)
    return -seconds if negative else seconds
