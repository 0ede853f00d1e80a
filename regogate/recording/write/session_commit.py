"""A session's view of the recording redactor: the statement text without literals, and a
commitment per literal keyed with the session's own key (recording.mac), so that one
session's keys confirm its literals one at a time and open no other session's.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Protocol

from regogate.recording.format.mac import SCHEME, literal_macs
from regogate.recording.write.commit import commit

_PLACEHOLDER = re.compile(r"\$([0-9]+)")
_KEPT = 64  # statement texts a session remembers (a session repeats its statements)
# More literals than this get one commitment over all of them (commit.commit, with the
# session's literal key) instead of one each: a long IN list must not make a huge record.
MAX_LITERAL_MACS = 256


class PlainRedactor(Protocol):
    def __call__(self, sql: str) -> Mapping[str, object]: ...

    def values(self, sql: str) -> tuple[str, ...] | None:
        """The literals of a text it redacted (None: not at hand)."""
        ...


class SessionRedactor:
    """``sql -> {text, literals, literal_macs}`` for one session (statement_record's
    ``Redactor``)."""

    def __init__(self, base: PlainRedactor, key: bytes):
        self._base = base
        self._key = key
        self._kept: OrderedDict[str, Mapping[str, object]] = OrderedDict()

    def __repr__(self) -> str:
        return "SessionRedactor(<key>)"

    def __call__(self, sql: str) -> Mapping[str, object]:
        hit = self._kept.get(sql)
        if hit is not None:
            self._kept.move_to_end(sql)
            return hit
        body = {k: v for k, v in self._base(sql).items() if k != "literals_commitment"}
        values = self._base.values(sql)
        text = body.get("text")
        if values and len(values) > MAX_LITERAL_MACS:
            body["literals_commitment"] = commit(self._key, values)  # all at once
        elif values and isinstance(text, str):
            body["literal_macs"] = literal_macs(self._key, first_placeholder(text, values), values)
        elif body.get("literals"):
            body["literal_macs"] = None  # the literals were not at hand (a text too large)
        if len(sql) <= 4096:
            self._kept[sql] = body
            if len(self._kept) > _KEPT:
                self._kept.popitem(last=False)
        return body


def first_placeholder(text: str, values: tuple[str, ...]) -> int:
    """The number of the first literal's placeholder: literals are numbered after every
    parameter the text already used, so the last of them is the highest ``$n``."""
    highest = max((int(m) for m in _PLACEHOLDER.findall(text)), default=len(values))
    return highest - len(values) + 1


def session_scheme(root_id: str) -> dict[str, str]:
    """session.open's ``literal_commitments`` (and ``result_digests``) for the scheme."""
    return {"scheme": SCHEME, "root": root_id}
