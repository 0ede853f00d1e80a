"""A faster ``pglast.ast.Node.__setattr__`` with the same result: pglast checks and
coerces every attribute the parser sets, and finds an attribute's enum with an import and
``hasattr`` each time (measured: a sixth of the gateway's CPU on PostgreSQL's regression
suite, docs/benchmarks.md). Here what a C type needs is found once per type; every case
that is not a plain assignment after the same check (a coercion to an enum, a serialized
child, an error) is left to pglast's own method. ``tests/policy/test_facts_pglast.py``
compares the trees both build.
"""

from __future__ import annotations

from typing import Any, Final

from pglast import ast, enums

PGLAST_SETATTR: Final = ast.Node.__setattr__

# What setting an attribute of a C type needs beyond its py_type check and adaptor.
_PLAIN, _ENUM, _POINTER, _PGLAST = 0, 1, 2, 3
_kinds: dict[str, tuple[int, Any]] = {}


def _kind(ctype: str) -> tuple[int, Any]:
    """pglast's own branches (ast.Node.__setattr__), decided once per C type."""
    found = _kinds.get(ctype)
    if found is None:
        if ctype == "char*":
            found = (_PLAIN, None)
        elif hasattr(enums, ctype):
            found = (_ENUM, getattr(enums, ctype))
        elif ctype.endswith("*"):
            found = (_POINTER, None) if hasattr(ast, ctype[:-1]) else (_PGLAST, None)
        else:
            found = (_PLAIN, None)
        _kinds[ctype] = found
    return found


def fast_setattr(self: Any, name: str, value: Any) -> None:
    if value is not None:
        slots = self.__slots__
        if name in slots:
            ctype, ptype, adaptor = slots[name]
            if not isinstance(value, ptype):
                PGLAST_SETATTR(self, name, value)  # raises pglast's ValueError
                return
            if adaptor is not None:
                value = adaptor(value)
            else:
                kind, enum = _kind(ctype)
                if (
                    (kind == _ENUM and not isinstance(value, enum))
                    or (kind == _POINTER and isinstance(value, dict) and "@" in value)
                    or kind == _PGLAST
                ):
                    PGLAST_SETATTR(self, name, value)
                    return
    object.__setattr__(self, name, value)


def install() -> None:
    """Use ``fast_setattr`` for every pglast node (idempotent)."""
    ast.Node.__setattr__ = fast_setattr  # type: ignore[method-assign]
