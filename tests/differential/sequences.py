"""Generated session scripts for the differential test: settings changes (search_path
by SET, SET LOCAL, RESET, set_config, RESET ALL, DISCARD ALL), transactions (blocks,
savepoints, errors), SQL PREPARE / EXECUTE / DEALLOCATE, protocol Parse / Bind /
Execute / Describe / Close, pipelined or not, and reads of relations whose names mean
different tables under different search_paths.

A script is a list of steps; a step is one or more protocol messages. A step marked
``pipelined`` is written together with the steps after it, before any answer is read.
Every read carries a unique marker (``SELECT 'm7' AS m7, ...``) that survives literal
redaction (the alias) and appears in the plan PostgreSQL logs (the literal).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from regogate.wire.frontend import Bind, Close, Describe, Execute, Flush, Parse, Query, Sync

Msg = tuple[str, ...]  # ("Q", sql) ("P", name, sql) ("B", portal, stmt) ("E", portal)
# ("C", "S"|"P", name) ("D", "S"|"P", name) ("S",) ("H",)

PATHS = (
    "shadow, public",
    "public",
    "public, shadow",
    '"$user", public',
    "shadow",
    "pg_catalog, shadow, public",
    "nosuch, shadow, public",
)
READS = (
    "SELECT '{m}' AS {m}, count(*) FROM customers",
    "SELECT '{m}' AS {m}, id FROM customers ORDER BY id LIMIT 1",
    "SELECT '{m}' AS {m}, count(*) FROM transactions",
    "SELECT '{m}' AS {m}, c.id FROM customers c JOIN accounts a ON a.customer_id = c.id LIMIT 1",
    "SELECT '{m}' AS {m}, (SELECT count(*) FROM customers)",
    "WITH x AS (SELECT id FROM customers) SELECT '{m}' AS {m}, count(*) FROM x",
    "SELECT '{m}' AS {m}, count(*) FROM shadow.customers",
    "SELECT '{m}' AS {m}, count(*) FROM public.customers",
    "SELECT '{m}' AS {m}, 1 / (id - id) FROM customers",  # fails while it runs
)
TXN = (
    "BEGIN",
    "START TRANSACTION",
    "COMMIT",
    "END",
    "ROLLBACK",
    "ABORT",
    "SAVEPOINT a",
    "SAVEPOINT b",
    "RELEASE a",
    "RELEASE SAVEPOINT b",
    "ROLLBACK TO a",
    "ROLLBACK TO SAVEPOINT b",
)
NAMES = ("s1", "s2")  # prepared statements: SQL and protocol share one namespace
PORTALS = ("", "c1")


@dataclass(frozen=True)
class Step:
    msgs: tuple[Msg, ...]
    pipelined: bool = False

    def show(self) -> str:
        parts = []
        for m in self.msgs:
            if m[0] == "Q":
                parts.append(f"Query({m[1]!r})")
            elif m[0] == "P":
                parts.append(f"Parse({m[1]!r}, {m[2]!r})")
            elif m[0] == "B":
                parts.append(f"Bind({m[1]!r}, {m[2]!r})")
            elif m[0] == "E":
                parts.append(f"Execute({m[1]!r})")
            elif m[0] in ("C", "D"):
                parts.append(f"{'Close' if m[0] == 'C' else 'Describe'}({m[1]}, {m[2]!r})")
            else:
                parts.append({"S": "Sync", "H": "Flush"}[m[0]])
        return " + ".join(parts) + (" ...pipelined" if self.pipelined else "")


def encode(msg: Msg) -> bytes:
    match msg[0]:
        case "Q":
            return Query(msg[1]).encode()
        case "P":
            return Parse(msg[1], msg[2]).encode()
        case "B":
            return Bind(msg[1], msg[2]).encode()
        case "E":
            return Execute(msg[1]).encode()
        case "C":
            return Close(msg[1].encode(), msg[2]).encode()  # type: ignore[arg-type]
        case "D":
            return Describe(msg[1].encode(), msg[2]).encode()  # type: ignore[arg-type]
        case "S":
            return Sync().encode()
        case "H":
            return Flush().encode()
    raise ValueError(msg)


class Generator:
    """Random scripts from one seed; markers are numbered within the script."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.marker = 0

    def _m(self) -> str:
        self.marker += 1
        return f"m{self.marker}"

    def read(self) -> str:
        return self.rng.choice(READS).format(m=self._m())

    def setting(self) -> str:
        r = self.rng
        path = r.choice(PATHS)
        m = self._m()
        return r.choice(
            (
                f"SET search_path = {path}",
                f"SET LOCAL search_path = {path}",
                f"SET SESSION search_path TO {path}",
                "RESET search_path",
                "SET search_path TO DEFAULT",
                f"SELECT '{m}' AS {m}, "
                f"set_config('search_path', '{path}', {r.choice(('true', 'false'))})",
                "RESET ALL",
                "DISCARD ALL",
            )
        )

    def prepared(self) -> str:
        r = self.rng
        name = r.choice(NAMES)
        return r.choice(
            (
                f"PREPARE {name} AS {self.read()}",
                f"PREPARE {name} AS {self.read()}",
                f"EXECUTE {name}",
                f"EXECUTE {name}",
                f"DEALLOCATE {name}",
                "DEALLOCATE ALL",
            )
        )

    def statement(self) -> str:
        r = self.rng
        kind = r.choices(("read", "setting", "txn", "error", "prepared"), (4, 4, 4, 1, 3))[0]
        if kind == "read":
            return self.read()
        if kind == "setting":
            return self.setting()
        if kind == "txn":
            return r.choice(TXN)
        if kind == "error":
            return "SELECT 1/0"
        return self.prepared()

    def step(self) -> Step:
        r = self.rng
        pipelined = r.random() < 0.3
        shape = r.choices(
            ("simple", "multi", "run", "parse", "rerun", "close", "sync"), (5, 2, 5, 1, 3, 1, 1)
        )[0]
        if shape == "simple":
            return Step((("Q", self.statement()),), pipelined)
        if shape == "multi":
            sqls = [self.statement() for _ in range(r.randint(2, 3))]
            return Step((("Q", "; ".join(sqls)),), pipelined)
        name = r.choice(("", *NAMES))
        portal = r.choice(PORTALS)
        sync: tuple[Msg, ...] = () if r.random() < 0.4 else (("S",),)
        # A named statement that exists already makes Parse fail: close it first, often.
        close: tuple[Msg, ...] = (("C", "S", name),) if name and r.random() < 0.5 else ()
        if shape == "run":
            text = self.statement()
            run: tuple[Msg, ...] = (("P", name, text), ("B", portal, name), ("E", portal))
            return Step(close + run + sync, pipelined)
        if shape == "parse":
            return Step((*close, ("P", name, self.statement()), *sync), pipelined)
        if shape == "rerun":
            describe: tuple[Msg, ...] = (("D", "P", portal),) if r.random() < 0.3 else ()
            return Step((("B", portal, name), *describe, ("E", portal), *sync), pipelined)
        if shape == "close":
            which = r.choice((("C", "S", name), ("C", "P", portal), ("D", "S", name)))
            return Step((which, *sync), pipelined)
        return Step((r.choice((("S",), ("H",), ("S",))),), pipelined)

    def script(self, length: int) -> list[Step]:
        return [self.step() for _ in range(length)]


def shrink(script: list[Step], fails: Callable[[list[Step]], bool]) -> list[Step]:
    """See below; ``fails`` should check for the same failure, not any."""
    return _shrink(script, fails)


def _shrink(script: list[Step], fails: Callable[[list[Step]], bool]) -> list[Step]:
    """A smaller script that still fails: drop chunks of steps (ddmin), then single
    messages within steps, then pipelining, as long as the failure stays."""
    n = 2
    while len(script) >= 2:
        chunk = max(1, len(script) // n)
        for start in range(0, len(script), chunk):
            candidate = script[:start] + script[start + chunk :]
            if candidate and fails(candidate):
                script, n = candidate, max(n - 1, 2)
                break
        else:
            if chunk == 1:
                break
            n = min(n * 2, len(script))
    for i in range(len(script)):
        step = script[i]
        j = 0
        while len(step.msgs) > 1 and j < len(step.msgs):
            smaller = Step(step.msgs[:j] + step.msgs[j + 1 :], step.pipelined)
            candidate = [*script[:i], smaller, *script[i + 1 :]]
            if fails(candidate):
                script, step = candidate, smaller
            else:
                j += 1
        if step.pipelined:
            candidate = [*script[:i], Step(step.msgs, False), *script[i + 1 :]]
            if fails(candidate):
                script = candidate
    return script
