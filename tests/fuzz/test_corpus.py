"""Every input of the corpus (tests/fuzz/corpus/<target>/: real captured sessions, edge
cases, and each failure the fuzzer found) replayed on its target, every run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.case import CORPUS, Case, corpus_files, load, replays
from tests.fuzz.targets import TARGETS

FILES = [(t, p) for t in sorted(TARGETS) for p in corpus_files(t)]


@pytest.mark.parametrize(("target", "path"), FILES, ids=[f"{t}/{p.name}" for t, p in FILES])
def test_corpus_input(target: str, path: Path) -> None:
    for case in replays(load(path)):
        TARGETS[target].check(case)


def test_every_corpus_folder_has_a_target_and_seeds() -> None:
    folders = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    assert folders == {name for name, t in TARGETS.items() if t.corpus}
    for folder in folders:
        assert len(corpus_files(folder)) >= 5, folder
    sidecars = {p.with_suffix(".bin") for p in CORPUS.glob("*/*.json")}
    assert all(p.exists() for p in sidecars), "a .json without its .bin"


def test_replays_split_everywhere() -> None:
    cases = list(replays(Case(b"abcdef")))
    assert cases[0] == Case(b"abcdef")
    assert cases[1].chunks() == [b"a", b"b", b"c", b"d", b"e", b"f"]
    assert all(b"".join(c.chunks()) == b"abcdef" for c in cases)
