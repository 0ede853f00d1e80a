"""What PostgreSQL executed, from its own server log: ``log_statement = 'all'`` entries
(``statement: ...`` for a Query, ``execute NAME[/PORTAL]: ...`` for an Execute) and the
auto_explain plans (JSON, verbose: schema-qualified relations) logged after each.

The log is stderr output with PostgreSQL's default ``log_line_prefix`` ('%m [%p] ');
continuation lines of a multi-line entry start with a tab.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[(\d+)\] ([A-Z]+):  ", re.M)
_EXECUTE = re.compile(r"^execute (?:fetch from )?([^:/]+?)(?:/([^:]*))?: (.*)$", re.S)
_PLAN = re.compile(r"^duration: [0-9.]+ ms  plan:\n(.*)$", re.S)
_EXECUTES = re.compile(r"\bEXECUTE\b", re.I)
_MARKER = re.compile(r"'(m\d+)'::text")


@dataclass(frozen=True)
class Plan:
    """One executed plan: the relations it scanned or modified, and its marker literal."""

    relations: frozenset[tuple[str, str]]
    marker: str | None
    text: str  # auto_explain's "Query Text": the source text the plan was made from


@dataclass
class Executed:
    """One statement PostgreSQL ran at top level, with the plans logged for it."""

    # "simple" (Query), "execute" (protocol Execute), or "started": a plan that a Bind
    # started and nobody ran (its portal dropped at Sync or Close: ExecutorStart and
    # ExecutorEnd without ExecutorRun)
    kind: str
    text: str
    name: str = ""  # execute: the prepared statement ("" for the unnamed one)
    plans: list[Plan] = field(default_factory=list)


def _relations(node: Any, out: set[tuple[str, str]]) -> None:
    if isinstance(node, dict):
        if "Relation Name" in node:
            out.add((str(node.get("Schema")), str(node["Relation Name"])))
        for value in node.values():
            _relations(value, out)
    elif isinstance(node, list):
        for value in node:
            _relations(value, out)


def plan_of(text: str) -> Plan:
    doc = json.loads(text)
    rels: set[tuple[str, str]] = set()
    _relations(doc.get("Plan"), rels)
    top = doc.get("Plan", {}).get("Output", [])
    marker = next((m.group(1) for o in top if (m := _MARKER.search(o))), None)
    return Plan(frozenset(rels), marker, str(doc.get("Query Text", "")))


class ServerLog:
    """Reads the server log from where it was last read."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = path.stat().st_size

    def entries(self) -> Iterator[tuple[int, str, str]]:
        """(pid, level, message) of every complete entry written since the last call."""
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n")
        if end < 0:
            return
        self.offset += end + 1
        text = data[: end + 1].decode("utf-8", "replace")
        starts = list(_PREFIX.finditer(text))
        for i, m in enumerate(starts):
            stop = starts[i + 1].start() if i + 1 < len(starts) else len(text)
            body = text[m.end() : stop].rstrip("\n").replace("\n\t", "\n")
            yield int(m.group(1)), m.group(2), body


def executed(entries: list[tuple[int, str, str]], pid: int) -> list[Executed]:
    """The statements backend ``pid`` ran, in order, each with its plans.

    auto_explain logs a plan when its executor ends: during the statement for a Query
    and for SQL EXECUTE, but when the portal is dropped for a protocol Execute (at Close,
    Sync or the end of the transaction). The differential runner closes every portal
    right after its Execute (or its Bind, when nothing executes it), and never sends a
    Query while a portal is open, so a plan belongs to the entry logged before it: any
    plan of a Query; for a protocol Execute, one plan of its own text and one of the
    statement an ``EXECUTE`` in that text ran. Any other plan is one a Bind started and
    nobody ran (kind "started").
    """
    out: list[Executed] = []
    for who, level, body in entries:
        if who != pid or level != "LOG":
            continue
        if body.startswith("statement: "):
            out.append(Executed("simple", body[len("statement: ") :]))
        elif (m := _EXECUTE.match(body)) is not None:
            name = m.group(1)
            out.append(Executed("execute", m.group(3), "" if name == "<unnamed>" else name))
        elif (m := _PLAN.match(body)) is not None:
            plan = plan_of(m.group(1))
            last = out[-1] if out else None
            if last is not None and _belongs(plan, last):
                last.plans.append(plan)
            else:
                out.append(Executed("started", plan.text, plans=[plan]))
    return out


def _belongs(plan: Plan, last: Executed) -> bool:
    if last.kind == "started":
        return False
    own = sum(1 for p in last.plans if p.text == last.text)
    inner = len(last.plans) - own
    if plan.text == last.text:
        return last.kind == "simple" or own == 0
    return inner < len(_EXECUTES.findall(last.text))
