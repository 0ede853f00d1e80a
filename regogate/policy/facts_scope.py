"""Name scopes of the facts analyser: range entries (what a FROM item exposes, with the
lineage of each column), query levels, CTEs, and the mutable facts of one statement.
"""

from __future__ import annotations

from typing import NamedTuple

from regogate.policy.catalog import Lineage, qident
from regogate.policy.setting_change import SettingChange

EMPTY: Lineage = frozenset()
OPEN = "*"  # name of an output standing for columns that cannot be named
# Columns every table has besides its own (PostgreSQL's system columns).
SYSTEM_COLUMNS = frozenset({"ctid", "xmin", "xmax", "cmin", "cmax", "tableoid", "oid"})


class Output(NamedTuple):
    """One result column: its name and the columns its values come from. ``exact`` (for
    OPEN outputs) says the lineage is a ``schema.table.*`` marker of an unknown relation,
    so a column named later can be attributed to that relation by name."""

    name: str
    lineage: Lineage
    exact: bool = False


class Entry:
    """What one FROM item exposes to names: ``alias`` (reference name), ``qual`` (schema,
    table) when referable by its qualified name, known columns, and ``open``: the lineage
    of columns we cannot list (unknown relation, function result), if any. ``ordered``:
    the columns in order when names repeat (``cols`` merges them), for ``*``."""

    __slots__ = ("alias", "cols", "exact", "open", "ordered", "qual", "relprefix")

    def __init__(
        self,
        alias: str | None,
        cols: dict[str, Lineage],
        open_: Lineage | None = None,
        *,
        exact: bool = False,
        qual: tuple[str, str] | None = None,
        relprefix: str | None = None,
        ordered: list[Output] | None = None,
    ) -> None:
        self.alias = alias
        self.ordered = ordered
        self.cols = cols
        self.open = open_
        self.exact = exact
        self.qual = qual
        self.relprefix = relprefix  # "schema.table." of a relation entry

    def find_open(self, name: str) -> Lineage | None:
        if self.open is None:
            return None
        if not self.exact:
            return self.open
        named = qident(name)
        return frozenset(i[:-1] + named if i.endswith(".*") else i for i in self.open)

    def guess(self, name: str) -> Lineage | None:
        """``schema.table.name`` of a relation entry, whether or not the column is known."""
        if self.relprefix is None:
            return None
        return frozenset((self.relprefix + qident(name),))

    def column(self, name: str) -> Lineage | None:
        """A column by name: known, system, or through the open part."""
        found = self.cols.get(name)
        if found is not None:
            return found
        if name in SYSTEM_COLUMNS and self.relprefix is not None:
            return self.guess(name)
        return self.find_open(name)

    def definite(self, name: str) -> bool:
        """Whether ``name`` is certainly a column here (listed, or a system column)."""
        return name in self.cols or (name in SYSTEM_COLUMNS and self.relprefix is not None)

    def whole(self) -> Lineage:
        out: set[str] = set(self.open or ())
        for lineage in self.cols.values():
            out |= lineage
        return frozenset(out)

    def outputs(self) -> list[Output]:
        if self.ordered is not None:
            return list(self.ordered)
        out = [Output(n, lin) for n, lin in self.cols.items()]
        if self.open:
            out.append(Output(OPEN, self.open, self.exact))
        return out


def entry_from_outputs(
    alias: str | None, outputs: list[Output], colnames: list[str] | None = None
) -> Entry:
    """The entry of a derived table, CTE reference or aliased join."""
    ordered = rename(outputs, colnames or [])
    cols: dict[str, Lineage] = {}
    open_: Lineage | None = None
    exact = True
    for out in ordered:
        if out.name == OPEN:
            open_ = out.lineage if open_ is None else open_ | out.lineage
            exact = exact and out.exact
            continue
        prev = cols.get(out.name)
        cols[out.name] = out.lineage if prev is None else prev | out.lineage
    return Entry(alias, cols, open_, exact=exact, ordered=ordered)


def rename(outputs: list[Output], colnames: list[str]) -> list[Output]:
    """Outputs under an alias's column names, by position. From the first output that
    stands for columns that cannot be named on, positions are unknown: each name there
    carries the lineage of all of them (fail closed)."""
    if not colnames:
        return outputs
    first = next((i for i, o in enumerate(outputs) if o.name == OPEN), len(outputs))
    out = [
        Output(colnames[i], o.lineage) if i < len(colnames) else o
        for i, o in enumerate(outputs[:first])
    ]
    rest = outputs[first:]
    if rest:
        tail = frozenset().union(*(o.lineage for o in rest))
        out.extend(Output(name, tail) for name in colnames[first:])
        out.append(Output(OPEN, tail))
    return out


class Scope:
    """One query level (or a barrier inside one, for FROM subqueries and join quals).

    ``entries`` are searched before ``parent``; ``ctes`` hold the WITH items visible from
    here. ``lenient`` scopes (expressions inside DDL) ignore names they cannot resolve.
    """

    __slots__ = ("ctes", "entries", "lenient", "parent")

    def __init__(
        self,
        parent: Scope | None,
        entries: list[Entry] | None = None,
        ctes: dict[str, list[Output]] | None = None,
        *,
        lenient: bool = False,
    ) -> None:
        self.parent = parent
        self.entries: list[Entry] = entries if entries is not None else []
        self.ctes: dict[str, list[Output]] = ctes if ctes is not None else {}
        self.lenient: bool = lenient or (parent is not None and parent.lenient)

    def barrier(self, visible: list[Entry]) -> Scope:
        """A level for a FROM subquery or join qual: the outer levels, this level's CTEs,
        and only ``visible`` of this level's entries (left siblings when LATERAL)."""
        scope = Scope(self.parent, list(visible), self.ctes)
        scope.lenient = self.lenient
        return scope

    def find_cte(self, name: str) -> list[Output] | None:
        scope: Scope | None = self
        while scope is not None:
            found = scope.ctes.get(name)
            if found is not None:
                return found
            scope = scope.parent
        return None

    def find_entry(self, quals: list[str]) -> Entry | None:
        """The entry a qualifier names: an alias, or schema.table of an unaliased one."""
        scope: Scope | None = self
        while scope is not None:
            for entry in scope.entries:
                if len(quals) == 1:
                    if entry.alias == quals[0]:
                        return entry
                elif entry.qual is not None and entry.qual == (quals[-2], quals[-1]):
                    return entry
            scope = scope.parent
        return None

    def resolve_name(self, name: str) -> Lineage | None:
        """An unqualified name, as PostgreSQL does (colNameToVar, then a relation name): a
        column at the nearest level that has one, else a whole-row reference to the nearest
        alias of that name. Entries whose columns cannot be listed may hold the name too:
        they count at every level up to the one that resolves it (fail closed)."""
        maybe: set[str] = set()
        hit = False
        scope: Scope | None = self
        while scope is not None:
            known = [e.column(name) or EMPTY for e in scope.entries if e.definite(name)]
            if known:
                return frozenset(maybe.union(*known))
            for e in scope.entries:
                if e.open is not None:
                    maybe |= e.find_open(name) or EMPTY
                    hit = True
            scope = scope.parent
        scope = self
        while scope is not None:
            rows = [e.whole() for e in scope.entries if e.alias == name]
            if rows:
                return frozenset(maybe.union(*rows))
            scope = scope.parent
        return frozenset(maybe) if hit else None

    def innermost_entries(self) -> list[Entry]:
        scope: Scope | None = self
        while scope is not None:
            if scope.entries:
                return scope.entries
            scope = scope.parent
        return []


class StatementState:
    """The facts of one statement while it is being analysed (mutable)."""

    def __init__(self) -> None:
        self.verbs: set[str] = set()
        self.tables: dict[tuple[str, str], tuple[set[str], str]] = {}
        self.read: set[str] = set()
        self.written: set[str] = set()
        self.filtered: set[str] = set()
        # Columns whose values go into a written column (SET, INSERT values or query,
        # MERGE actions): a masked one there would be stored unmasked.
        self.stored: set[str] = set()
        # Plain columns compared only with = or IN to constants or parameters (filter());
        # a column also filtered any other way is in ``filtered`` as well.
        self.equality: set[str] = set()
        self.functions: set[str] = set()
        self.settings: set[str] = set()
        self.setting_changes: list[SettingChange] = []
        self.changed_by: set[int] = set()  # ids of the call nodes already in setting_changes
        self.search_path_uncertain = False
        self.user_code = False  # runs code that is not seen here (DO, LOAD, extension scripts)
        self.opaque: list[str] = []
        self.dml = 0  # UPDATE/DELETE operations seen
        self.dml_without_where = 0
        self.outputs: list[Output] = []
        self.sleeps: list[float | None] = []  # each sleep call's seconds, None: unknown

    def table(self, schema: str, name: str, access: str, kind: str) -> None:
        key = (schema, name)
        rec = self.tables.get(key)
        if rec is None:
            self.tables[key] = ({access}, kind)
            return
        rec[0].add(access)
        if rec[1] == "unknown" and kind != "unknown":
            self.tables[key] = (rec[0], kind)

    def make_opaque(self, reason: str) -> None:
        if reason not in self.opaque:
            self.opaque.append(reason)

    def modification(self, has_where: bool) -> None:
        self.dml += 1
        if not has_where:
            self.dml_without_where += 1
