"""Whether the recording's hot path runs natively: ``regogate._native`` (``native/hotpath``,
docs/decisions/0009) when it is built, unless ``$REGOGATE_HOTPATH`` is ``python``.

Callers import ``regogate._native`` themselves once this says yes (typed by its stub).
"""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from regogate._native import BindMacs as NativeBindMacs

ENGINE_ENV = "REGOGATE_HOTPATH"  # "python": never the native module

BUILT = importlib.util.find_spec("regogate._native") is not None


def use_native(choice: str = "auto") -> bool:
    """``"auto"``: native when built and not turned off by ``$REGOGATE_HOTPATH``;
    ``"native"``: native, or ``RuntimeError`` when it is not built; ``"python"``: never."""
    if choice not in ("auto", "native", "python"):
        raise ValueError(f"hot path {choice!r}: expected auto, native or python")
    if choice == "python" or (choice == "auto" and os.environ.get(ENGINE_ENV) == "python"):
        return False
    if not BUILT:
        if choice == "native":
            raise RuntimeError("the native hot path (regogate._native) is not built")
        return False
    return True


def bind_macs(key: bytes, most: int, choice: str = "auto") -> NativeBindMacs | None:
    """``recording.format.mac.ParamCommitter``'s native pass over a Bind body (per-value
    MACs under ``key``, up to ``most`` values), when the hot path is native."""
    if not use_native(choice):
        return None
    from regogate import _native

    return _native.BindMacs(key, most)
