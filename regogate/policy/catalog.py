"""The catalog snapshot: what the upstream database holds, as far as statement facts need
it (relations, columns, view lineage, functions, inheritance, search_path), and PostgreSQL's
name resolution over it. Pure: catalog_sql's statements read it, catalog_rows builds it
from their rows (docs/catalog.md).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

RelationKind = Literal["table", "view", "matview", "partitioned", "foreign", "sequence", "unknown"]
Lineage = frozenset[str]
RelationKey = tuple[str, str]

RELKINDS: dict[str, RelationKind] = {
    "r": "table",
    "v": "view",
    "m": "matview",
    "p": "partitioned",
    "f": "foreign",
    "S": "sequence",
}
VIEW_KINDS = frozenset({"view", "matview"})
# DDL that changes nothing a catalog snapshot holds (relations and their columns, views,
# inheritance, functions, schemas, the role's search_path): no refresh is asked for, and
# later statements keep the relations' definitions. A
# change it makes after all is seen by the periodic version check (docs/catalog.md).
SNAPSHOT_UNCHANGED = frozenset(
    {
        "COMMENT",
        "CREATE DOMAIN",
        "CREATE INDEX",
        "CREATE POLICY",
        "ALTER POLICY",
        "DROP POLICY",
        "CREATE PUBLICATION",
        "ALTER PUBLICATION",
        "DROP PUBLICATION",
        "CREATE ROLE",
        "DROP ROLE",
        "CREATE STATISTICS",
        "ALTER STATISTICS",
        "DROP STATISTICS",
        "CREATE TRIGGER",
        "DROP TRIGGER",
        "DROP INDEX",
        "GRANT",
        "REVOKE",
        "ALTER DEFAULT PRIVILEGES",
        "SECURITY LABEL",
    }
)
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
    # The view version (catalog_sql.VIEW_VERSIONS) ``definition`` was read at, if it was read.
    definition_version: str | None = field(default=None, repr=False, compare=False)
    # Every ancestor (inheritance parent or partitioned table), transitively, nearest first:
    # reading or writing this relation is reported on them too (their classification holds).
    parents: tuple[tuple[str, str], ...] = ()
    # pg_class.oid (RowDescription names result columns by table OID and attribute
    # number); None when the snapshot was not read from a server.
    oid: int | None = None


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
    # The search_path view definitions were printed under (pg_get_viewdef qualifies what it
    # does not find along it); None: ``search_path``.
    definitions_search_path: tuple[str, ...] | None = None
    # schema.name (catalog.qident form, as in ``functions`` of the policy input) -> details
    function_details: Mapping[str, FunctionDetails] = field(default_factory=dict)
    version: str = ""  # the catalog FINGERPRINT this snapshot was read at ("" unknown)
    # User views whose definition could not be read (locked): their lineage is unknown
    # (conservative) until a later read gets it; the cache reads again while any remain.
    unread_views: frozenset[tuple[str, str]] = frozenset()
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

    def without(self, names: Collection[tuple[str, str]]) -> CatalogSnapshot:
        """The same catalog with the relations ``names`` left out: what DDL not yet seen
        (in the same text, or uncommitted in the session's transaction) may have changed
        is then analysed as unknown (fail closed) rather than by its old definition."""
        gone = [key for key in names if key in self.relations]
        if not gone:
            return self
        relations = dict(self.relations)
        for key in gone:
            del relations[key]
        return replace(self, relations=relations)

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


def same_catalog(a: CatalogSnapshot, b: CatalogSnapshot) -> bool:
    """Whether two snapshots say the same to the analyser (definitions' text aside): a
    refresh that finds nothing new keeps the generation, so caches keyed on it hold."""
    return (
        a.search_path == b.search_path
        and a.current_user == b.current_user
        and a.schemas == b.schemas
        and a.connect_schemas == b.connect_schemas
        and a.functions == b.functions
        and a.function_details == b.function_details
        and a.relations == b.relations
    )
