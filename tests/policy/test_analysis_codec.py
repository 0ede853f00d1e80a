"""An Analysis as JSON and back (what analysis workers answer): the statement corpus
round-trips exactly, and an answer of any other shape is refused, never half-built."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from regogate.policy.analysis_codec import decode, encode
from regogate.policy.facts import Analysis, StatementFacts, TableAccess, analyze
from regogate.policy.setting_change import SettingChange
from tests.policy.corpus import CASES
from tests.policy.test_facts import CATALOG

RICH = Analysis(
    statements=(
        StatementFacts(
            verb="SELECT",
            verbs=("SELECT",),
            tables=(TableAccess("public", "t", ("read",), "table"),),
            read=("public.t.a",),
            outputs=(("a", ("public.t.a",)),),
            setting_changes=(SettingChange("search_path", "x", "set", certain=False),),
            sleeps=True,
            sleep_seconds=1.5,
            parse_error=None,
        ),
    ),
    search_path=("x",),
    prepared={"p": "select 1"},
    deallocated=("q",),
    deallocate_all=True,
    search_path_known=False,
)


def test_the_corpus_round_trips() -> None:
    for case in CASES:
        analysis = analyze(case.sql, CATALOG, case.prepared)
        assert decode(encode(analysis)) == analysis, case.name


def test_every_field_round_trips() -> None:
    assert decode(encode(RICH)) == RICH
    assert decode(encode(dataclasses.replace(RICH, search_path=None))).search_path is None


def _mangled(path: tuple[object, ...], value: object) -> bytes:
    plain = orjson.loads(encode(RICH))
    where = plain
    for step in path[:-1]:
        where = where[step]
    where[path[-1]] = value
    return orjson.dumps(plain)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("statements",), {"verb": "SELECT"}),
        (("statements", 0, "verb"), 1),
        (("statements", 0, "tables", 0, "access"), "read"),
        (("statements", 0, "has_where"), 1),
        (("statements", 0, "sleep_seconds"), True),
        (("statements", 0, "outputs", 0), ["a"]),
        (("statements", 0, "setting_changes", 0, "action"), "os.system"),
        (("prepared",), {"p": 1}),
        (("search_path",), "x"),
        (("deallocate_all",), None),
    ],
)
def test_a_wrong_shape_is_refused(path: tuple[object, ...], value: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (any ValueError: the statement is denied)
        decode(_mangled(path, value))


@pytest.mark.parametrize("data", [b"[]", b"null", b"{}", b'{"statements": [null]}'])
def test_not_an_analysis_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        decode(data)
