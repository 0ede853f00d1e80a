"""An ``Analysis`` as JSON and back: what an analysis worker process returns. Pure.

The decoder trusts nothing (a worker parses hostile text with C code): every field is
checked for its type, and anything else is a ValueError, so that a confused or
compromised worker can deny a statement but never hand the gateway an object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar, cast, get_args

import orjson

from regogate.policy.facts import Analysis, StatementFacts, TableAccess
from regogate.policy.setting_change import SettingAction, SettingChange

T = TypeVar("T")
_ACTIONS = frozenset(get_args(SettingAction))


def encode(analysis: Analysis) -> bytes:
    """JSON of ``analysis`` (orjson writes dataclasses as objects, tuples as arrays)."""
    return orjson.dumps(analysis)


def decode(data: bytes | str) -> Analysis:
    """The Analysis ``encode`` wrote; ValueError for anything else."""
    return analysis_from(orjson.loads(data))


def analysis_from(obj: object) -> Analysis:
    d = _object(obj)
    path = d.get("search_path")
    return Analysis(
        statements=_tuple(d.get("statements"), _facts),
        search_path=None if path is None else _tuple(path, _str),
        prepared=_str_map(d.get("prepared")),
        deallocated=_tuple(d.get("deallocated"), _str),
        deallocate_all=_bool(d.get("deallocate_all")),
        search_path_known=_bool(d.get("search_path_known")),
    )


def _facts(obj: object) -> StatementFacts:
    d = _object(obj)
    sleep = d.get("sleep_seconds")
    parse_error = d.get("parse_error")
    cursor = d.get("cursor")
    copy = d.get("copy_options")
    return StatementFacts(
        verb=_str(d.get("verb")),
        verbs=_tuple(d.get("verbs"), _str),
        tables=_tuple(d.get("tables"), _table),
        read=_tuple(d.get("read"), _str),
        written=_tuple(d.get("written"), _str),
        filtered=_tuple(d.get("filtered"), _str),
        functions=_tuple(d.get("functions"), _str),
        settings=_tuple(d.get("settings"), _str),
        has_where=_bool(d.get("has_where")),
        ddl=_bool(d.get("ddl")),
        opaque=_bool(d.get("opaque")),
        multi_statement=_bool(d.get("multi_statement")),
        fingerprint=_str(d.get("fingerprint")),
        outputs=_tuple(d.get("outputs"), _output),
        opaque_reasons=_tuple(d.get("opaque_reasons"), _str),
        parse_error=None if parse_error is None else _str(parse_error),
        setting_changes=_tuple(d.get("setting_changes"), _change),
        search_path_uncertain=_bool(d.get("search_path_uncertain")),
        sleeps=_bool(d.get("sleeps")),
        sleep_seconds=None if sleep is None else _number(sleep),
        cursor=None if cursor is None else _str(cursor),
        copy_options=None if copy is None else _tuple(copy, _pair),
        stored=_tuple(d.get("stored", []), _str),
        filtered_equality=_tuple(d.get("filtered_equality", []), _str),
    )


def _pair(obj: object) -> tuple[str, str]:
    items = _tuple(obj, _str)
    if len(items) != 2:
        raise ValueError("expected a pair of strings")
    return items[0], items[1]


def _table(obj: object) -> TableAccess:
    d = _object(obj)
    return TableAccess(
        schema=_str(d.get("schema")),
        name=_str(d.get("name")),
        access=_tuple(d.get("access"), _str),
        kind=_str(d.get("kind")),
    )


def _output(obj: object) -> tuple[str, tuple[str, ...]]:
    pair = _tuple(obj, lambda x: x)
    if len(pair) != 2:
        raise ValueError("an output is [name, [columns]]")
    return _str(pair[0]), _tuple(pair[1], _str)


def _change(obj: object) -> SettingChange:
    d = _object(obj)
    name, value, action = d.get("name"), d.get("value"), d.get("action")
    if action not in _ACTIONS:
        raise ValueError(f"unknown setting action {action!r}")
    return SettingChange(
        name=None if name is None else _str(name),
        value=None if value is None else _str(value),
        action=cast(SettingAction, action),
        certain=_bool(d.get("certain")),
    )


def _object(obj: object) -> Mapping[str, object]:
    if not isinstance(obj, dict):
        raise ValueError(f"expected an object, got {type(obj).__name__}")
    return cast(Mapping[str, object], obj)


def _tuple(obj: object, item: Callable[[object], T]) -> tuple[T, ...]:
    if not isinstance(obj, list):
        raise ValueError(f"expected an array, got {type(obj).__name__}")
    return tuple(item(x) for x in obj)


def _str_map(obj: object) -> dict[str, str]:
    return {_str(k): _str(v) for k, v in _object(obj).items()}


def _str(obj: object) -> str:
    if not isinstance(obj, str):
        raise ValueError(f"expected a string, got {type(obj).__name__}")
    return obj


def _bool(obj: object) -> bool:
    if not isinstance(obj, bool):
        raise ValueError(f"expected a boolean, got {type(obj).__name__}")
    return obj


def _number(obj: object) -> float:
    if isinstance(obj, bool) or not isinstance(obj, int | float):
        raise ValueError(f"expected a number, got {type(obj).__name__}")
    return obj
