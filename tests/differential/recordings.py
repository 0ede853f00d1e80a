"""What the gateway decided, from its recording (docs/recording-format.md): the ``stmt``
records of one session, each with the decisions of the permissive recording policy of
the differential test, whose ``rules`` carry the policy input's verb, tables and flags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Decided:
    """One statement's decision, as the recording policy spelled its input in ``rules``."""

    outcome: str
    verb: str
    verbs: frozenset[str]
    tables: frozenset[tuple[str, str]]  # relations read or written (schema, name)
    uncertain: bool  # the policy input said names could not be resolved for sure
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class StmtRecord:
    text: str
    protocol: str  # simple | extended | bind | function
    prepared: str | None
    decisions: tuple[Decided, ...]

    @property
    def denied(self) -> bool:
        return any(d.outcome != "allow" for d in self.decisions)


def decided(decision: dict[str, object]) -> Decided:
    verb = ""
    verbs: set[str] = set()
    tables: set[tuple[str, str]] = set()
    uncertain = False
    rules = decision.get("rules") or []
    assert isinstance(rules, list)
    for rule in rules:
        kind, _, rest = str(rule).partition("|")
        if kind == "verb":
            verb = rest
        elif kind == "verbs":
            verbs.add(rest)
        elif kind == "t":
            schema, name, tkind, access = rest.split("|")
            if tkind == "unknown":
                uncertain = True
            if access:
                tables.add((schema, name))
        elif kind == "flag" and rest in ("search_path_uncertain", "opaque"):
            uncertain = True
    reasons = decision.get("reasons") or []
    assert isinstance(reasons, list)
    return Decided(
        str(decision["outcome"]),
        verb,
        frozenset(verbs),
        frozenset(tables),
        uncertain,
        tuple(map(str, reasons)),
    )


class Recording:
    """Reads a recording directory's segments from where it was last read."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.offsets: dict[Path, int] = {}
        self.records: list[dict[str, object]] = []

    def poll(self) -> None:
        for seg in sorted(self.directory.glob("seg-*.jsonl")):
            start = self.offsets.get(seg, 0)
            with seg.open("rb") as f:
                f.seek(start)
                data = f.read()
            end = data.rfind(b"\n")
            if end < 0:
                continue
            self.offsets[seg] = start + end + 1
            for line in data[: end + 1].splitlines():
                if line:
                    self.records.append(json.loads(line))

    def session(self, pid: int) -> str | None:
        """The id of the latest session whose upstream backend is ``pid``."""
        for rec in reversed(self.records):
            upstream = rec.get("upstream")
            opens = rec.get("type") == "session.open" and isinstance(upstream, dict)
            if opens and isinstance(upstream, dict) and upstream.get("pid") == pid:
                return str(rec["sid"])
        return None

    def closed(self, sid: str) -> bool:
        return any(r.get("sid") == sid and r.get("type") == "session.close" for r in self.records)

    def statements(self, sid: str) -> list[StmtRecord]:
        out = []
        for rec in self.records:
            if rec.get("sid") != sid or rec.get("type") != "stmt":
                continue
            decisions = rec.get("decisions") or []
            assert isinstance(decisions, list)
            prepared = rec.get("prepared")
            out.append(
                StmtRecord(
                    str(rec.get("text")),
                    str(rec.get("protocol")),
                    None if prepared is None else str(prepared),
                    tuple(decided(d) for d in decisions),
                )
            )
        return out


POLICY = """\
package regogate

# The differential test's policy: allow everything, and spell the policy input's verb,
# relations and flags into `rules`, which the recording keeps with every decision.

verb := sprintf("verb|%s", [input.statement.verb])

verbs contains sprintf("verbs|%s", [v]) if {
\tsome v in input.statement.verbs
}

tables contains sprintf("t|%s|%s|%s|%s", [t.schema, t.name, t.kind, concat(",", t.access)]) if {
\tsome t in input.statement.tables
}

flags contains sprintf("flag|%s", [name]) if {
\tsome name, value in input.statement.flags
\tvalue == true
}

decision := {
\t"allow": true,
\t"deny": [],
\t"ttl": 60,
\t"rules": sort((({verb} | verbs) | tables) | flags),
}
"""
