"""What the upstream database holds, as far as statement facts need it (relations, columns,
view lineage, functions, search_path) with PostgreSQL's name resolution. Pure: the caller
runs CATALOG_QUERY; snapshot_from_rows builds the snapshot from its rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

RelationKind = Literal["table", "view", "matview", "partitioned", "foreign", "sequence", "unknown"]
Lineage = frozenset[str]

RELKINDS: dict[str, RelationKind] = {
    "r": "table",
    "v": "view",
    "m": "matview",
    "p": "partitioned",
    "f": "foreign",
    "S": "sequence",
}
VIEW_KINDS = frozenset({"view", "matview"})
DEFAULT_SEARCH_PATH = ("$user", "public")
SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema"})


def qident(name: str) -> str:
    """A name as it appears inside ``schema.table.column`` strings: quoted only when it
    contains a dot or a double quote, so the dotted form stays unambiguous."""
    if "." in name or '"' in name:
        return '"' + name.replace('"', '""') + '"'
    return name


def column_key(schema: str, table: str, column: str) -> str:
    return f"{qident(schema)}.{qident(table)}.{qident(column)}"


@dataclass(frozen=True)
class Relation:
    """One relation. ``base_tables``: every relation a view/matview reads, transitively
    (intermediate views included). ``view_columns``: view column -> the columns it is
    computed from (``schema.table.column``), when that lineage could be derived."""

    schema: str
    name: str
    kind: RelationKind
    columns: tuple[str, ...] = ()
    base_tables: tuple[tuple[str, str], ...] = ()
    view_columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    definition: str | None = field(default=None, repr=False, compare=False)
    # Every ancestor (inheritance parent or partitioned table), transitively, nearest first:
    # reading or writing this relation is reported on them too (their classification holds).
    parents: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class FunctionDetails:
    """What the catalog says of a function name (all its overloads merged, strictest
    first): ``volatility`` immutable < stable < volatile; ``security_definer`` if any
    overload is; ``languages`` of its overloads (internal, c, sql, plpgsql...);
    ``builtin`` when every overload is part of PostgreSQL (oid below 16384)."""

    volatility: Literal["immutable", "stable", "volatile"]
    security_definer: bool
    languages: tuple[str, ...]
    builtin: bool
    kinds: tuple[str, ...] = ("function",)  # function, procedure, aggregate, window


@dataclass(frozen=True, eq=False)
class CatalogSnapshot:
    """Relations, functions and name-resolution settings of one database for one session.

    ``search_path`` is the raw setting (``"$user"`` included); ``default_search_path`` is
    what RESET restores. An empty snapshot is valid: unknown names still resolve to a
    schema (the first one of the path) and their columns are reported by name or as
    ``schema.table.*``.
    """

    search_path: tuple[str, ...] = DEFAULT_SEARCH_PATH
    relations: Mapping[tuple[str, str], Relation] = field(default_factory=dict)
    functions: frozenset[tuple[str, str]] = frozenset()
    current_user: str | None = None
    schemas: frozenset[str] = frozenset()
    default_search_path: tuple[str, ...] | None = None
    connect_schemas: tuple[str, ...] = ()  # current_schemas(true) when the snapshot was taken
    # schema.name (catalog.qident form, as in ``functions`` of the policy input) -> details
    function_details: Mapping[str, FunctionDetails] = field(default_factory=dict)
    _columns: dict[tuple[str, str], dict[str, Lineage]] = field(
        default_factory=dict, init=False, repr=False
    )
    _paths: dict[tuple[str, ...], tuple[str, ...]] = field(
        default_factory=dict, init=False, repr=False
    )

    def with_search_path(self, search_path: Sequence[str]) -> CatalogSnapshot:
        """The same catalog for a session whose search_path changed (SET search_path)."""
        default = self.default_search_path or self.search_path
        return replace(self, search_path=tuple(search_path), default_search_path=default)

    @property
    def reset_search_path(self) -> tuple[str, ...]:
        return self.default_search_path or self.search_path

    def _schema_exists(self, schema: str) -> bool:
        return not self.schemas or schema in self.schemas

    def effective_path(self, search_path: Sequence[str] | None = None) -> tuple[str, ...]:
        """The schemas searched, in order: ``$user`` expanded (dropped when no such schema
        exists), pg_catalog first unless placed explicitly, as PostgreSQL does."""
        raw = self.search_path if search_path is None else tuple(search_path)
        cached = self._paths.get(raw)
        if cached is not None:
            return cached
        out: list[str] = []
        for entry in raw:
            schema = entry
            if entry == "$user":
                if not self.current_user or self.current_user not in self.schemas:
                    continue
                schema = self.current_user
            if schema not in out:
                out.append(schema)
        if "pg_catalog" not in out:
            out.insert(0, "pg_catalog")
        result = self._paths[raw] = tuple(out)
        return result

    def creation_schema(self, search_path: Sequence[str] | None = None) -> str:
        """Where an unqualified new (or unknown) name lives: the first existing explicit
        schema of the path; ``public`` when the path names none."""
        for schema in self.effective_path(search_path):
            if schema in ("pg_catalog", "pg_temp"):
                continue
            if self._schema_exists(schema):
                return schema
        return "public"

    def resolve(
        self, name: str, schema: str | None = None, search_path: Sequence[str] | None = None
    ) -> Relation | None:
        if schema is not None:
            return self.relations.get((schema, name))
        for s in self.effective_path(search_path):
            rel = self.relations.get((s, name))
            if rel is not None:
                return rel
        return None

    def qualify(
        self, name: str, schema: str | None = None, search_path: Sequence[str] | None = None
    ) -> tuple[str, Relation | None]:
        """The schema a relation name refers to, and the relation when it is known.

        Unknown unqualified names go to the creation schema, except ``pg_*`` names when
        the snapshot holds no pg_catalog relations: those are taken as system catalogs.
        """
        rel = self.resolve(name, schema, search_path)
        if rel is not None:
            return rel.schema, rel
        if schema is not None:
            return schema, None
        if name.startswith("pg_") and not self._has_system_relations:
            return "pg_catalog", None
        return self.creation_schema(search_path), None

    @cached_property
    def _has_system_relations(self) -> bool:
        return any(s == "pg_catalog" for s, _ in self.relations)

    def resolve_function(
        self, name: str, schema: str | None = None, search_path: Sequence[str] | None = None
    ) -> str:
        """``schema.name`` of a function call, by name only (no overload resolution).

        Unqualified names are looked up along the path. A name found nowhere is taken as
        pg_catalog's when the snapshot has no pg_catalog function list; with that list, an
        unknown name is a user function in the creation schema.
        """
        if schema is not None:
            return f"{qident(schema)}.{qident(name)}"
        has_system = self._has_system_functions
        for s in self.effective_path(search_path):
            if (s, name) in self.functions:
                return f"{qident(s)}.{qident(name)}"
        if not has_system:
            return f"pg_catalog.{qident(name)}"
        return f"{qident(self.creation_schema(search_path))}.{qident(name)}"

    @cached_property
    def _has_system_functions(self) -> bool:
        return any(s == "pg_catalog" for s, _ in self.functions)

    def column_lineage(self, rel: Relation) -> dict[str, Lineage]:
        """Column -> what reading it reads: the column itself and, for views, the base
        columns behind it (``schema.table.*`` of each base table when lineage is unknown).
        Cached; callers must not mutate the result."""
        key = (rel.schema, rel.name)
        cached = self._columns.get(key)
        if cached is not None:
            return cached
        out: dict[str, Lineage] = {}
        unknown: tuple[str, ...] = ()
        if rel.kind in VIEW_KINDS:
            unknown = tuple(column_key(s, t, "*") for s, t in rel.base_tables)
        for col in rel.columns:
            lineage = rel.view_columns.get(col, unknown) if rel.kind in VIEW_KINDS else ()
            out[col] = frozenset((column_key(rel.schema, rel.name, col), *lineage))
        self._columns[key] = out
        return out


EMPTY_CATALOG = CatalogSnapshot()


# One round trip; every row is (kind, a, b, c, d), all text or NULL:
#   ('setting', 'search_path', <current_setting('search_path')>, NULL, NULL)
#   ('setting', 'current_user', <current_user>, NULL, NULL)
#   ('path', <schema>, <position>, NULL, NULL)            current_schemas(true), in order
#   ('schema', <schema>, NULL, NULL, NULL)                every schema but toast/temp
#   ('relation', <schema>, <name>, <relkind>, <viewdef>)  viewdef for user views/matviews
#   ('column', <schema>, <relation>, <column>, <attnum>)
#   ('depends', <view schema>, <view>, <schema>, <relation>)   direct reads of a view
#   ('function', <schema>, <name>, NULL, NULL)
CATALOG_QUERY = """\
SELECT 'setting' AS kind, 'search_path' AS a, pg_catalog.current_setting('search_path') AS b,
       NULL::text AS c, NULL::text AS d
UNION ALL
SELECT 'setting', 'current_user', current_user::text, NULL, NULL
UNION ALL
SELECT 'path', s.nspname::text, s.n::text, NULL, NULL
  FROM unnest(pg_catalog.current_schemas(true)) WITH ORDINALITY AS s(nspname, n)
UNION ALL
SELECT 'schema', n.nspname::text, NULL, NULL, NULL
  FROM pg_catalog.pg_namespace n
 WHERE n.nspname !~ '^pg_(toast|temp_)'
UNION ALL
SELECT 'relation', n.nspname::text, c.relname::text, c.relkind::text,
       CASE WHEN c.relkind IN ('v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
            THEN pg_catalog.pg_get_viewdef(c.oid) END
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f', 'S') AND n.nspname !~ '^pg_(toast|temp_)'
UNION ALL
SELECT 'column', n.nspname::text, c.relname::text, a.attname::text, a.attnum::text
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE a.attnum > 0 AND NOT a.attisdropped
   AND c.relkind IN ('r', 'v', 'm', 'p', 'f') AND n.nspname !~ '^pg_(toast|temp_)'
UNION ALL
SELECT DISTINCT 'depends', vn.nspname::text, v.relname::text, bn.nspname::text, b.relname::text
  FROM pg_catalog.pg_rewrite r
  JOIN pg_catalog.pg_class v ON v.oid = r.ev_class
  JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
       AND d.objid = r.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.refobjid <> r.ev_class
  JOIN pg_catalog.pg_class b ON b.oid = d.refobjid
  JOIN pg_catalog.pg_namespace bn ON bn.oid = b.relnamespace
 WHERE v.relkind IN ('v', 'm') AND b.relkind IN ('r', 'v', 'm', 'p', 'f')
UNION ALL
SELECT DISTINCT 'function', n.nspname::text, p.proname::text, NULL, NULL
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
"""

Row = Sequence[str | None]


def parse_search_path(value: str) -> tuple[str, ...]:
    """Split a search_path setting the way PostgreSQL's SplitIdentifierString does:
    comma-separated, double-quoted names kept verbatim, others trimmed and down-cased."""
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in " \t\r\n":
            i += 1
        if i >= n:
            break
        if value[i] == '"':
            j = i + 1
            buf: list[str] = []
            while j < n:
                if value[j] == '"':
                    if j + 1 < n and value[j + 1] == '"':
                        buf.append('"')
                        j += 2
                        continue
                    break
                buf.append(value[j])
                j += 1
            out.append("".join(buf))
            i = j + 1
            while i < n and value[i] != ",":
                i += 1
        else:
            j = value.find(",", i)
            j = n if j < 0 else j
            name = value[i:j].strip()
            if name:
                out.append(name.lower())
            i = j
        i += 1  # past the comma
    return tuple(out)


def _closure(
    start: tuple[str, str], edges: Mapping[tuple[str, str], list[tuple[str, str]]]
) -> tuple[tuple[str, str], ...]:
    seen: list[tuple[str, str]] = []
    stack = list(edges.get(start, ()))
    while stack:
        rel = stack.pop()
        if rel in seen or rel == start:
            continue
        seen.append(rel)
        stack.extend(edges.get(rel, ()))
    return tuple(sorted(seen))


def snapshot_from_rows(rows: Iterable[Row]) -> CatalogSnapshot:
    """Build a snapshot from the rows of CATALOG_QUERY (see the row shapes above it).

    View lineage is derived by analysing each view's definition with the facts analyser,
    inner views first; a definition that cannot be analysed leaves that view's lineage
    unknown (its columns then map to ``base.*``).
    """
    search_path: tuple[str, ...] = DEFAULT_SEARCH_PATH
    current_user: str | None = None
    path: list[tuple[int, str]] = []
    schemas: set[str] = set()
    kinds: dict[tuple[str, str], RelationKind] = {}
    defs: dict[tuple[str, str], str] = {}
    cols: dict[tuple[str, str], list[tuple[int, str]]] = {}
    edges: dict[tuple[str, str], list[tuple[str, str]]] = {}
    functions: set[tuple[str, str]] = set()
    for row in rows:
        kind, a, b, c, d = (*row, None, None, None, None)[:5]
        if kind == "setting" and b is not None:
            if a == "search_path":
                search_path = parse_search_path(b)
            elif a == "current_user":
                current_user = b
        elif kind == "path" and a is not None:
            path.append((int(b or 0), a))
        elif kind == "schema" and a is not None:
            schemas.add(a)
        elif kind == "relation" and a is not None and b is not None and c in RELKINDS:
            kinds[(a, b)] = RELKINDS[c]
            if d:
                defs[(a, b)] = d
        elif kind == "column" and a is not None and b is not None and c is not None:
            cols.setdefault((a, b), []).append((int(d or 0), c))
        elif kind == "depends" and None not in (a, b, c, d):
            edges.setdefault((str(a), str(b)), []).append((str(c), str(d)))
        elif kind == "function" and a is not None and b is not None:
            functions.add((a, b))
    relations: dict[tuple[str, str], Relation] = {}
    for key, rkind in kinds.items():
        relations[key] = Relation(
            schema=key[0],
            name=key[1],
            kind=rkind,
            columns=tuple(name for _, name in sorted(cols.get(key, ()))),
            base_tables=_closure(key, edges) if rkind in VIEW_KINDS else (),
            definition=defs.get(key),
        )
    snapshot = CatalogSnapshot(
        search_path=search_path,
        relations=relations,
        functions=frozenset(functions),
        current_user=current_user,
        schemas=frozenset(schemas),
        connect_schemas=tuple(s for _, s in sorted(path)),
    )
    return derive_view_lineage(snapshot)


def derive_view_lineage(snapshot: CatalogSnapshot) -> CatalogSnapshot:
    """Fill ``view_columns`` of every view that has a definition, inner views first."""
    from regogate.policy.facts import view_outputs  # the analyser depends on this module

    relations = dict(snapshot.relations)
    pending = [k for k, r in relations.items() if r.definition and r.kind in VIEW_KINDS]
    done: set[tuple[str, str]] = set()

    def visit(key: tuple[str, str], trail: frozenset[tuple[str, str]]) -> None:
        if key in done or key in trail:
            return
        rel = relations[key]
        for base in rel.base_tables:
            if base in relations and base in pending:
                visit(base, trail | {key})
        current = replace(snapshot, relations=relations)
        outputs = view_outputs(rel.definition or "", current)
        if outputs is not None and len(outputs) >= len(rel.columns):
            lineage = {col: tuple(sorted(outputs[i])) for i, col in enumerate(rel.columns)}
            relations[key] = replace(rel, view_columns=lineage)
        done.add(key)

    for key in pending:
        visit(key, frozenset())
    return replace(snapshot, relations=relations)
