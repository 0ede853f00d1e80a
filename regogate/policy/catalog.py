"""What the upstream database holds, as far as statement facts need it (relations, columns,
view lineage, functions, inheritance, search_path) with PostgreSQL's name resolution, and
the statements that read it without waiting on locks. Pure: the caller runs
catalog_query(); snapshot_from_rows builds the snapshot from its rows (docs/catalog.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

import orjson

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
    # The view version (catalog.VIEW_VERSIONS) ``definition`` was read at, if it was read.
    definition_version: str | None = field(default=None, repr=False, compare=False)
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


# -- reading the catalog ----------------------------------------------------------------
#
# Rows are (kind, a, b, c, d, e, f, g), all text or NULL; shorter rows are padded with NULL:
#   ('setting', 'search_path', <the session's default search_path (pg_settings.reset_val)>)
#   ('setting', 'definitions_search_path', <current_setting('search_path')>)
#   ('setting', 'current_user', <current_user>)
#   ('path', <schema>, <position>)         current_schemas(true) in order (when absent: the
#                                          existing schemas of the default path)
#   ('schema', <schema>)                                every schema but toast/temp
#   ('relation', <schema>, <name>, <relkind>, <viewdef>, <columns>, <view version>, <oid>)
#        columns: a JSON array of names in attnum order; viewdef and view version (see
#        VIEW_VERSIONS) for user views/matviews; viewdef NULL when the view is locked now
#        or its version is one the caller already knows
#   ('column', <schema>, <relation>, <column>, <attnum>)   (also accepted: one per column)
#   ('depends', <view schema>, <view>, <schema>, <relation>)   direct reads of a view
#   ('inherits', <schema>, <child>, <parent schema>, <parent>, <inhseqno>)
#   ('function', <schema>, <name>, <volatilities>, <security definer>, <languages JSON>,
#        <prokinds>, <builtin>)                         overloads grouped; details optional
#   ('definition', <view oid>, <viewdef>)               a definition read on its own
#
# Lock safety: reading catalogs takes only AccessShareLock on the catalogs themselves;
# the one function that locks user relations, pg_get_viewdef (AccessShareLock on the view
# and every relation its query reads, AcquireRewriteLocks), is called only for views none
# of whose relations is AccessExclusive-locked or awaited by another backend (LOCKED). The
# caller also sets lock_timeout, for a lock taken between that check and the call.
#
# Name safety: the caller runs these with search_path '' (as pg_dump does), so that no
# function or operator a user created can stand in for pg_catalog's; view definitions are
# then printed schema-qualified, and read back under that path.

FIRST_NORMAL_OID = 16384  # FirstNormalObjectId: below it, objects made by initdb (built-in)
CatalogPart = Literal["all", "user", "builtin"]

# Count and xmin sum of the rows of every catalog a snapshot is built from (temporary
# relations left out). DDL changes it; DML, VACUUM and ANALYZE (in-place updates) do not.
FINGERPRINT = (
    "pg_catalog.concat_ws('/', "
    + ", ".join(
        f"(SELECT pg_catalog.count(*) || ':' || coalesce(pg_catalog.sum(x.xmin::text::int8), 0)"
        f" FROM pg_catalog.{table} x{where})"
        for table, where in (
            ("pg_class", " WHERE x.relpersistence <> 't'"),
            (
                "pg_attribute",
                " WHERE x.attnum > 0 AND x.attrelid NOT IN"
                " (SELECT t.oid FROM pg_catalog.pg_class t WHERE t.relpersistence = 't')",
            ),
            ("pg_proc", ""),
            ("pg_rewrite", ""),
            ("pg_namespace", ""),
            ("pg_inherits", ""),
            ("pg_language", ""),
        )
    )
    + ")"
)
TXID_SNAPSHOT = "pg_catalog.txid_current_snapshot()::text"

# Relations some other backend holds, or waits for, in AccessExclusiveLock mode (the only
# mode that conflicts with AccessShareLock; a waiter queues every later request too).
# A prepared transaction's locks have no pid: IS DISTINCT FROM keeps them.
LOCKED = """\
SELECT l.relation FROM pg_catalog.pg_locks l
 WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
   AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid()
   AND l.database IN (0, (SELECT d.oid FROM pg_catalog.pg_database d
                           WHERE d.datname = pg_catalog.current_database()))"""

_PG_CLASS = "'pg_catalog.pg_class'::pg_catalog.regclass"
_PG_PROC = "'pg_catalog.pg_proc'::pg_catalog.regclass"
_PG_REWRITE = "'pg_catalog.pg_rewrite'::pg_catalog.regclass"
_NOT_SYSTEM = "n.nspname !~ '^pg_(toast|temp_)'"

# A user view's version: what its pg_get_viewdef text depends on, without taking a lock:
# its rule, and the row versions, names, columns and search_path visibility of the view
# and of every relation and function its query reads. Same version, same text.
VIEW_VERSIONS = f"""\
locked AS ({LOCKED}),
views AS (
  SELECT c.oid AS view, r.oid AS rule, r.xmin::text AS rule_xmin
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_rewrite r ON r.ev_class = c.oid AND r.rulename = '_RETURN'
   WHERE c.relkind IN ('v', 'm') AND c.oid >= {FIRST_NORMAL_OID} AND {_NOT_SYSTEM}
     AND n.nspname NOT IN ('pg_catalog', 'information_schema')
), view_reads AS (
  SELECT v.view, d.refclassid AS cls, d.refobjid AS obj
    FROM views v JOIN pg_catalog.pg_depend d ON d.classid = {_PG_REWRITE} AND d.objid = v.rule
   WHERE d.refclassid IN ({_PG_CLASS}, {_PG_PROC})
  UNION
  SELECT v.view, {_PG_CLASS}::oid, v.view FROM views v
), view_versions AS (
  SELECT v.view, pg_catalog.bool_or(x.cls = {_PG_CLASS} AND x.obj IN (SELECT * FROM locked))
         AS locked,
         pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
           v.rule_xmin || ':' || pg_catalog.string_agg(coalesce(
           (SELECT c.xmin::text || '.' || n.xmin::text || '.'
                   || pg_catalog.pg_table_is_visible(c.oid)::text || '.'
                   || coalesce((SELECT pg_catalog.string_agg(a.xmin::text, ',' ORDER BY a.attnum)
                                  FROM pg_catalog.pg_attribute a
                                 WHERE a.attrelid = c.oid AND a.attnum > 0), '')
              FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE c.oid = x.obj AND x.cls = {_PG_CLASS}),
           (SELECT p.xmin::text || '.' || n.xmin::text || '.'
                   || pg_catalog.pg_function_is_visible(p.oid)::text
              FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
             WHERE p.oid = x.obj AND x.cls = {_PG_PROC}),
           '-'), ';' ORDER BY x.cls, x.obj), 'UTF8')), 'hex') AS version
    FROM views v JOIN view_reads x ON x.view = v.view
   GROUP BY v.view, v.rule_xmin
)"""

_FIRST = """\
SELECT 'setting'::text AS kind, 'search_path'::text AS a, s.reset_val AS b,
       NULL::text AS c, NULL::text AS d, NULL::text AS e, NULL::text AS f, NULL::text AS g
  FROM pg_catalog.pg_settings s WHERE s.name = 'search_path'
UNION ALL
SELECT 'setting', 'definitions_search_path', pg_catalog.current_setting('search_path'),
       NULL, NULL, NULL, NULL, NULL
UNION ALL
SELECT 'setting', 'current_user', current_user::text, NULL, NULL, NULL, NULL, NULL
UNION ALL
SELECT 'schema', n.nspname::text, NULL, NULL, NULL, NULL, NULL, NULL
  FROM pg_catalog.pg_namespace n WHERE {not_system}
UNION ALL
SELECT 'inherits', cn.nspname::text, c.relname::text, pn.nspname::text, p.relname::text,
       i.inhseqno::text, NULL, NULL
  FROM pg_catalog.pg_inherits i
  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
  JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace
  JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
  JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
 WHERE c.relkind IN ('r', 'p', 'f')
UNION ALL
"""

_OBJECTS = """\
SELECT 'relation'::text AS kind, n.nspname::text AS a, c.relname::text AS b,
       c.relkind::text AS c, {definition} AS d,
       (SELECT pg_catalog.json_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
           AND c.relkind <> 'S')::text AS e,
       {version} AS f, c.oid::text AS g
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace{join}
 WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f', 'S') AND {not_system} AND {c_oid}
UNION ALL
SELECT DISTINCT 'depends', vn.nspname::text, v.relname::text, bn.nspname::text,
       b.relname::text, NULL, NULL, NULL
  FROM pg_catalog.pg_rewrite r
  JOIN pg_catalog.pg_class v ON v.oid = r.ev_class
  JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace
  JOIN pg_catalog.pg_depend d ON d.classid = {rewrite} AND d.objid = r.oid
       AND d.refclassid = {pg_class} AND d.refobjid <> r.ev_class
  JOIN pg_catalog.pg_class b ON b.oid = d.refobjid
  JOIN pg_catalog.pg_namespace bn ON bn.oid = b.relnamespace
 WHERE v.relkind IN ('v', 'm') AND b.relkind IN ('r', 'v', 'm', 'p', 'f') AND {v_oid}
UNION ALL
SELECT 'function', n.nspname::text, p.proname::text,
       pg_catalog.string_agg(p.provolatile::text, ''), pg_catalog.bool_or(p.prosecdef)::text,
       pg_catalog.json_agg(l.lanname)::text, pg_catalog.string_agg(p.prokind::text, ''),
       pg_catalog.bool_and(p.oid < {first})::text
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_catalog.pg_language l ON l.oid = p.prolang
 WHERE {p_oid}
 GROUP BY n.nspname, p.proname
"""

_VERSION_RE = re.compile(r"[0-9a-f]{64}")
_TXID_SNAPSHOT_RE = re.compile(r"[0-9]+:[0-9]+:[0-9,]*")


def catalog_query(
    part: CatalogPart = "all", known_views: Iterable[str] = (), *, definitions: bool = True
) -> str:
    """The catalog statement (rows above). ``part``: "user" objects (with the settings,
    schemas and inheritance rows), "builtin" ones (oid below FIRST_NORMAL_OID;
    they never change) or "all". ``known_views``: view versions whose definitions the
    caller already has (not read again). ``definitions``: False reads none at all."""
    user, everything = part != "builtin", part == "all"

    def oids(column: str) -> str:
        if everything:
            return "TRUE"
        return f"{column} {'>=' if user else '<'} {FIRST_NORMAL_OID}"

    known = sorted(v for v in known_views if _VERSION_RE.fullmatch(v))
    definition = "NULL::text"
    if user and definitions:
        definition = (
            "CASE WHEN t.view IS NULL OR t.locked OR t.version = ANY('{"
            + ",".join(known)
            + "}'::text[]) THEN NULL ELSE pg_catalog.pg_get_viewdef(c.oid) END"
        )
    objects = _OBJECTS.format(
        definition=definition,
        version="t.version" if user else "NULL::text",
        join="\n  LEFT JOIN view_versions t ON t.view = c.oid" if user else "",
        not_system=_NOT_SYSTEM,
        c_oid=oids("c.oid"),
        v_oid=oids("v.oid"),
        p_oid=oids("p.oid"),
        rewrite=_PG_REWRITE,
        pg_class=_PG_CLASS,
        first=FIRST_NORMAL_OID,
    )
    if not user:
        return objects
    first = _FIRST.format(not_system=_NOT_SYSTEM)
    return f"WITH {VIEW_VERSIONS}\n{first}{objects}"


def as_json(query: str) -> str:
    """The rows of a catalog statement as one JSON array of arrays, in one row: one
    message to frame instead of thousands, decoded in one call (json_rows)."""
    columns = "q.kind, q.a, q.b, q.c, q.d, q.e, q.f, q.g"
    return (
        f"SELECT pg_catalog.json_agg(pg_catalog.json_build_array({columns}))::text FROM ({query}) q"
    )


def json_rows(text: str | None) -> list[Row]:
    """The rows of an as_json() statement."""
    rows: list[Row] = orjson.loads(text) if text else []
    return rows


def definition_query(oid: int) -> str:
    """One view's definition, read on its own: ('definition', oid, viewdef), the viewdef
    NULL when the view or a relation it reads is locked (see LOCKED)."""
    reads = (
        f"SELECT d.refobjid FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r"
        f" ON d.classid = {_PG_REWRITE} AND d.objid = r.oid"
        f" WHERE r.ev_class = {oid:d} AND d.refclassid = {_PG_CLASS} UNION SELECT {oid:d}"
    )
    return (
        f"SELECT 'definition', '{oid:d}', CASE WHEN EXISTS (SELECT FROM ({LOCKED}) k"
        f" WHERE k.relation IN ({reads})) THEN NULL"
        f" ELSE pg_catalog.pg_get_viewdef({oid:d}::oid) END"
    )


def version_query(since: str | None = None) -> str:
    """One row: (txid snapshot, FINGERPRINT). The fingerprint is NULL when the snapshot is
    ``since`` (an earlier one): no transaction ended since, so nothing can have changed
    (the scan of the catalogs is skipped)."""
    if since is None or not _TXID_SNAPSHOT_RE.fullmatch(since):
        return f"SELECT {TXID_SNAPSHOT}, {FINGERPRINT}"
    return (
        f"SELECT {TXID_SNAPSHOT}, CASE WHEN {TXID_SNAPSHOT} = '{since}' THEN NULL"
        f" ELSE {FINGERPRINT} END"
    )


CATALOG_QUERY = catalog_query()

Row = Sequence[str | None]
RelationKey = tuple[str, str]

_VOLATILITY: dict[str, Literal["immutable", "stable", "volatile"]] = {
    "i": "immutable",
    "s": "stable",
    "v": "volatile",
}
_PROKINDS = {"f": "function", "p": "procedure", "a": "aggregate", "w": "window"}


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
    start: RelationKey, edges: Mapping[RelationKey, list[RelationKey]]
) -> tuple[RelationKey, ...]:
    seen: list[RelationKey] = []
    stack = list(edges.get(start, ()))
    while stack:
        rel = stack.pop()
        if rel in seen or rel == start:
            continue
        seen.append(rel)
        stack.extend(edges.get(rel, ()))
    return tuple(sorted(seen))


def _ancestors(
    start: RelationKey, parents: Mapping[RelationKey, list[tuple[int, RelationKey]]]
) -> tuple[RelationKey, ...]:
    """Every ancestor, nearest first (breadth first; siblings in inhseqno order)."""
    out: list[RelationKey] = []
    level = [start]
    while level:
        following: list[RelationKey] = []
        for rel in level:
            for _, parent in sorted(parents.get(rel, ())):
                if parent != start and parent not in out:
                    out.append(parent)
                    following.append(parent)
        level = following
    return tuple(out)


@dataclass
class _Overloads:
    """The details of one function name's overloads, merged as rows come."""

    volatilities: set[str] = field(default_factory=set)
    security_definer: bool = False
    languages: set[str] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)
    builtin: bool = True

    def add(
        self,
        vols: str,
        secdef: str | None,
        langs: str | None,
        kinds: str | None,
        builtin: str | None,
    ) -> None:
        self.volatilities.update(vols)
        self.security_definer = self.security_definer or secdef == "true"
        if langs:
            self.languages.update(orjson.loads(langs))
        self.kinds.update(kinds or "f")
        self.builtin = self.builtin and builtin == "true"

    def details(self) -> FunctionDetails:
        # Merged the way a policy must read them: the most volatile overload, security
        # definer if any is, built-in only if all are.
        worst = max(self.volatilities, key="isv".find, default="v")
        return FunctionDetails(
            volatility=_VOLATILITY.get(worst, "volatile"),
            security_definer=self.security_definer,
            languages=tuple(sorted(self.languages)),
            builtin=self.builtin,
            kinds=tuple(_PROKINDS[k] for k in "fpaw" if k in self.kinds)
            or tuple(sorted(self.kinds)),
        )


@dataclass
class _Rows:
    """What the catalog rows say, gathered before the relations are built."""

    search_path: tuple[str, ...] = DEFAULT_SEARCH_PATH
    definitions_search_path: tuple[str, ...] | None = None
    current_user: str | None = None
    path: list[tuple[int, str]] = field(default_factory=list)
    schemas: set[str] = field(default_factory=set)
    kinds: dict[RelationKey, RelationKind] = field(default_factory=dict)
    oids: dict[RelationKey, str] = field(default_factory=dict)
    defs: dict[RelationKey, str] = field(default_factory=dict)
    view_versions: dict[RelationKey, str] = field(default_factory=dict)
    defs_by_oid: dict[str, str] = field(default_factory=dict)
    cols: dict[RelationKey, list[tuple[int, str]]] = field(default_factory=dict)
    edges: dict[RelationKey, list[RelationKey]] = field(default_factory=dict)
    parents: dict[RelationKey, list[tuple[int, RelationKey]]] = field(default_factory=dict)
    functions: set[RelationKey] = field(default_factory=set)
    overloads: dict[str, _Overloads] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        kind, a, b, c, d, e, f, g = (*row, *(None,) * 8)[:8]
        if a is None:
            return
        match kind:
            case "setting" if b is not None:
                if a == "search_path":
                    self.search_path = parse_search_path(b)
                elif a == "definitions_search_path":
                    self.definitions_search_path = parse_search_path(b)
                elif a == "current_user":
                    self.current_user = b
            case "path":
                self.path.append((int(b or 0), a))
            case "schema":
                self.schemas.add(a)
            case "relation" if b is not None and c in RELKINDS:
                self._relation((a, b), RELKINDS[c], d, e, f, g)
            case "column" if b is not None and c is not None:
                self.cols.setdefault((a, b), []).append((int(d or 0), c))
            case "depends" if b is not None and c is not None and d is not None:
                self.edges.setdefault((a, b), []).append((c, d))
            case "inherits" if b is not None and c is not None and d is not None:
                self.parents.setdefault((a, b), []).append((int(e or 0), (c, d)))
            case "function" if b is not None:
                self.functions.add((a, b))
                if c is not None:
                    key = f"{qident(a)}.{qident(b)}"
                    self.overloads.setdefault(key, _Overloads()).add(c, d, e, f, g)
            case "definition" if b is not None:
                self.defs_by_oid[a] = b

    def _relation(
        self,
        key: RelationKey,
        kind: RelationKind,
        definition: str | None,
        columns: str | None,
        view_version: str | None,
        oid: str | None,
    ) -> None:
        self.kinds[key] = kind
        if definition:
            self.defs[key] = definition
        if columns is not None:
            names = [str(n) for n in orjson.loads(columns)]
            self.cols[key] = list(enumerate(names, start=1))
        if view_version is not None:
            self.view_versions[key] = view_version
        if oid is not None:
            self.oids[key] = oid

    def definition(
        self, key: RelationKey, previous: CatalogSnapshot | None
    ) -> tuple[str | None, str | None]:
        """A view's definition and its version: read now, or kept from ``previous`` when
        its version did not change; (None, None) when it could not be read (locked)."""
        version = self.view_versions.get(key)
        text = self.defs.get(key) or self.defs_by_oid.get(self.oids.get(key, ""))
        if text is not None:
            return text, version
        old = previous.relations.get(key) if previous is not None and version else None
        if old is not None and old.definition_version == version:
            return old.definition, version
        return None, None

    def relation(self, key: RelationKey, previous: CatalogSnapshot | None) -> Relation:
        kind = self.kinds[key]
        definition, version = self.definition(key, previous)
        return Relation(
            schema=key[0],
            name=key[1],
            kind=kind,
            columns=tuple(name for _, name in sorted(self.cols.get(key, ()))),
            base_tables=_closure(key, self.edges) if kind in VIEW_KINDS else (),
            definition=definition,
            definition_version=version,
            parents=_ancestors(key, self.parents),
        )


@dataclass(frozen=True)
class CatalogBase:
    """The built-in part of a catalog (catalog_query("builtin")), built once: it never
    changes, and each read of the user part is built on top of it."""

    relations: Mapping[RelationKey, Relation]
    functions: frozenset[RelationKey]
    function_details: Mapping[str, FunctionDetails]


def catalog_base(rows: Iterable[Row]) -> CatalogBase:
    got = _Rows()
    for row in rows:
        got.add(row)
    return CatalogBase(
        relations={key: got.relation(key, None) for key in got.kinds},
        functions=frozenset(got.functions),
        function_details={k: o.details() for k, o in got.overloads.items()},
    )


def snapshot_from_rows(
    rows: Iterable[Row],
    previous: CatalogSnapshot | None = None,
    *,
    version: str = "",
    base: CatalogBase | None = None,
) -> CatalogSnapshot:
    """Build a snapshot from the rows of catalog_query() (see the row shapes above it).

    View lineage is derived by analysing each view's definition with the facts analyser,
    inner views first; a definition that cannot be analysed, or was not read (the view
    was locked), leaves that view's lineage unknown (its columns then map to ``base.*``).
    With ``previous`` (the snapshot this one replaces), definitions whose view version
    did not change and lineage whose inputs did not change are taken from it.
    ``version``: the catalog FINGERPRINT read just before the rows; ``base``: the
    built-in part, when ``rows`` are the user part only.
    """
    got = _Rows()
    for row in rows:
        got.add(row)
    relations = dict(base.relations) if base is not None else {}
    relations.update((key, got.relation(key, previous)) for key in got.kinds)
    details = {k: o.details() for k, o in got.overloads.items()}
    if base is not None:
        for key, found in base.function_details.items():
            mine = details.get(key)
            details[key] = found if mine is None else _merged(found, mine)
    snapshot = CatalogSnapshot(
        search_path=got.search_path,
        relations=relations,
        functions=frozenset(got.functions) | base.functions if base else frozenset(got.functions),
        current_user=got.current_user,
        schemas=frozenset(got.schemas),
        connect_schemas=tuple(s for _, s in sorted(got.path)),
        definitions_search_path=got.definitions_search_path,
        function_details=details,
        version=version,
        unread_views=frozenset(
            k for k, r in relations.items() if r.definition is None and k in got.view_versions
        ),
    )
    if not got.path:
        path = snapshot.effective_path()
        exists = tuple(x for x in path if x == "pg_catalog" or x in snapshot.schemas)
        snapshot = replace(snapshot, connect_schemas=exists)
    return derive_view_lineage(snapshot, previous)


def _merged(a: FunctionDetails, b: FunctionDetails) -> FunctionDetails:
    """One name's details from two sets of overloads (built-in and user ones)."""
    order = ("immutable", "stable", "volatile")
    kinds = set(a.kinds) | set(b.kinds)
    return FunctionDetails(
        volatility=max(a.volatility, b.volatility, key=order.index),
        security_definer=a.security_definer or b.security_definer,
        languages=tuple(sorted(set(a.languages) | set(b.languages))),
        builtin=a.builtin and b.builtin,
        kinds=tuple(k for k in _PROKINDS.values() if k in kinds),
    )


def definitions_needed(rows: Iterable[Row], known: Iterable[str]) -> list[int]:
    """Oids of the user views in ``rows`` whose definition is neither in them nor among
    the ``known`` view versions (what to read on its own after the catalog statement
    could not read definitions)."""
    have = set(known)
    out: list[int] = []
    for row in rows:
        kind, _, _, _, d, _, f, g = (*row, *(None,) * 8)[:8]
        if kind == "relation" and f is not None and d is None and g and f not in have:
            out.append(int(g))
    return out


def known_view_versions(snapshot: CatalogSnapshot | None) -> list[str]:
    """Versions of the views whose definitions ``snapshot`` holds (not read again)."""
    if snapshot is None:
        return []
    return [
        r.definition_version
        for r in snapshot.relations.values()
        if r.definition_version is not None and r.definition is not None
    ]


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


def derive_view_lineage(
    snapshot: CatalogSnapshot, previous: CatalogSnapshot | None = None
) -> CatalogSnapshot:
    """Fill ``view_columns`` of every view that has a definition, inner views first.

    A view whose definition and lineage inputs (see _lineage_inputs) are those it had in
    ``previous`` keeps the lineage derived then: only changed views are parsed again.
    """
    from regogate.policy.facts import view_outputs  # the analyser depends on this module

    relations = dict(snapshot.relations)
    pending = {k for k, r in relations.items() if r.definition and r.kind in VIEW_KINDS}
    path = _definitions_path(snapshot)
    reuse = _ReusableLineage(previous, snapshot)
    done: set[RelationKey] = set()

    def visit(key: RelationKey, trail: frozenset[RelationKey]) -> None:
        if key in done or key in trail:
            return
        rel = relations[key]
        for base in rel.base_tables:
            if base in pending:
                visit(base, trail | {key})
        kept = reuse.lineage(rel, relations)
        if kept is not None:
            relations[key] = replace(rel, view_columns=kept)
        else:
            current = replace(snapshot, relations=relations, search_path=path)
            outputs = view_outputs(rel.definition or "", current)
            if outputs is not None and len(outputs) >= len(rel.columns):
                lineage = {col: tuple(sorted(outputs[i])) for i, col in enumerate(rel.columns)}
                relations[key] = replace(rel, view_columns=lineage)
        done.add(key)

    for key in sorted(pending):
        visit(key, frozenset())
    return replace(snapshot, relations=relations)


def _definitions_path(snapshot: CatalogSnapshot) -> tuple[str, ...]:
    if snapshot.definitions_search_path is None:
        return snapshot.search_path
    return snapshot.definitions_search_path


class _ReusableLineage:
    """Which views of a new snapshot may keep the lineage derived in the previous one."""

    def __init__(self, previous: CatalogSnapshot | None, snapshot: CatalogSnapshot):
        self.previous = previous
        self.snapshot = snapshot
        self.usable = previous is not None and (
            _definitions_path(previous) == _definitions_path(snapshot)
            and previous.search_path == snapshot.search_path
            and previous.current_user == snapshot.current_user
            and previous.effective_path() == snapshot.effective_path()
            and previous.creation_schema() == snapshot.creation_schema()
        )
        # A function name that appeared or went may change how ``x.name`` reads
        # (facts_walk_expr.member): views whose text mentions one are derived again.
        changed = previous.functions ^ snapshot.functions if previous is not None else set()
        self.changed_functions = {name for _, name in changed}

    def lineage(
        self, rel: Relation, relations: Mapping[RelationKey, Relation]
    ) -> Mapping[str, tuple[str, ...]] | None:
        if not self.usable or self.previous is None:
            return None
        old = self.previous.relations.get((rel.schema, rel.name))
        if old is None or old.definition != rel.definition or rel.definition is None:
            return None
        if any(name in rel.definition for name in self.changed_functions):
            return None
        before = _lineage_inputs(old, self.previous.relations, self.previous)
        if before != _lineage_inputs(rel, relations, self.snapshot):
            return None
        return old.view_columns


def _lineage_inputs(
    rel: Relation, relations: Mapping[RelationKey, Relation], catalog: CatalogSnapshot
) -> tuple[object, ...]:
    """What a view's derived lineage depends on besides its text: its columns, and the
    kind, columns, lineage and visibility (first of its name along the path) of each
    relation it reads."""
    out: list[object] = [rel.kind, rel.columns]
    for key in rel.base_tables:
        base = relations.get(key)
        if base is None:
            out.append(key)
            continue
        found = catalog.resolve(key[1], search_path=_definitions_path(catalog))
        visible = found is not None and (found.schema, found.name) == key
        lineage = tuple(sorted(base.view_columns.items()))
        out.append((key, base.kind, base.columns, lineage, visible))
    return tuple(out)
