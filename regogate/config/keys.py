"""Which keys a regogate.toml table accepts: the fields of the dataclass it fills.

A field read from differently named keys, or from none, says so in its metadata
(``field(metadata=toml("key"))``); every other field is read from the key of its name.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# The metadata entry; regogate/oidc/config.py spells it out to avoid importing this package.
TOML = "toml"


def toml(*keys: str) -> dict[str, tuple[str, ...]]:
    """Field metadata: the field is read from these TOML keys; none: not from the file."""
    return {TOML: keys}


def known_keys(shape: type[DataclassInstance]) -> frozenset[str]:
    """The TOML keys of a table that fills ``shape``."""
    return frozenset(
        key for f in dataclasses.fields(shape) for key in f.metadata.get(TOML, (f.name,))
    )


def unknown_key_problem(key: str, known: frozenset[str], section: str) -> str:
    """What to tell the user about ``key``: the closest known key, else all of them."""
    close = difflib.get_close_matches(key, sorted(known), n=1)
    if close:
        return f'unknown key in {section}; did you mean "{close[0]}"?'
    return f"unknown key in {section} (known keys: {', '.join(sorted(known))})"
