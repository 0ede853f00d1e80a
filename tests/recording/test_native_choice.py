"""Which hot path runs (recording.native): the choice, the environment, a missing build."""

from __future__ import annotations

import pytest

from regogate.recording.write import hotpath, native


def test_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.ENGINE_ENV, raising=False)
    assert not native.use_native("python")
    assert hotpath.select("python") is hotpath.PYTHON
    assert native.use_native("auto") == native.BUILT
    monkeypatch.setenv(native.ENGINE_ENV, "python")
    assert not native.use_native("auto")  # the environment turns it off for "auto" only
    assert hotpath.select("auto") is hotpath.PYTHON
    with pytest.raises(ValueError, match="expected auto, native or python"):
        native.use_native("rust")


def test_a_missing_build_falls_back_unless_native_is_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(native.ENGINE_ENV, raising=False)
    monkeypatch.setattr(native, "BUILT", False)
    assert hotpath.select("auto") is hotpath.PYTHON
    with pytest.raises(RuntimeError, match="not built"):
        hotpath.select("native")
