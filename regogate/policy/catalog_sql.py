"""The statements that read the catalog without waiting on locks, and the rows they return
(shapes below). Pure: text out; catalog_fetch runs them, catalog_rows builds the snapshot
from their rows (docs/catalog.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

import orjson

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

Row = Sequence[str | None]

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
VIEW_VERSIONS_OF = f"""\
locked AS ({LOCKED}),
views AS (
  SELECT c.oid AS view, r.oid AS rule, r.xmin::text AS rule_xmin
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_rewrite r ON r.ev_class = c.oid AND r.rulename = '_RETURN'
   WHERE c.relkind IN ('v', 'm') AND c.oid >= {FIRST_NORMAL_OID} AND {_NOT_SYSTEM}
     AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND {{views}}
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
VIEW_VERSIONS = VIEW_VERSIONS_OF.format(views="TRUE")

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


def lookup_names(names: Iterable[tuple[str, str]]) -> str:
    """The names of a lookup as its parameter: JSON as hex (no quoting, whatever the
    session's string settings)."""
    return orjson.dumps([{"s": s, "n": n} for s, n in names]).hex()


def lookup_query(names: Iterable[tuple[str, str]], *, definitions: bool = True) -> str:
    """lookup_statement with its parameter filled in."""
    return lookup_statement(f"'{lookup_names(names)}'", definitions=definitions)


def lookup_statement(wanted: str, *, definitions: bool = True) -> str:
    """The user relations named (schema, name) in ``wanted`` (lookup_names: a literal or
    a parameter, ``$1`` to PREPARE it), as catalog_query("user") rows ('relation',
    'depends', 'inherits', 'schema'), together with everything their rows are built
    from: the relations their views read and the ancestors they inherit from,
    transitively (so that base tables and ancestors are complete). Relations that do not
    exist (or not yet, for this session: uncommitted) give no row."""
    closure = f"""\
wanted(oid) AS (
  SELECT c.oid
    FROM pg_catalog.json_to_recordset(pg_catalog.convert_from(
           pg_catalog.decode({wanted}, 'hex'), 'UTF8')::pg_catalog.json) AS w(s text, n text)
    JOIN pg_catalog.pg_namespace n ON n.nspname::text = w.s
    CROSS JOIN LATERAL (
      SELECT c.oid, c.relkind FROM pg_catalog.pg_class c
       WHERE c.relname = w.n::pg_catalog.name AND c.relnamespace = n.oid) c
   WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f', 'S') AND {_NOT_SYSTEM}
  UNION
  SELECT e.ref FROM wanted x CROSS JOIN LATERAL (
    SELECT d.refobjid AS ref FROM pg_catalog.pg_rewrite r
      JOIN pg_catalog.pg_depend d ON d.classid = {_PG_REWRITE} AND d.objid = r.oid
           AND d.refclassid = {_PG_CLASS} AND d.refobjid <> r.ev_class
     WHERE r.ev_class = x.oid
    UNION ALL
    SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid = x.oid
  ) e
)"""
    # = ANY(ARRAY(...)): index scans by oid (the plan is generic: PREPAREd once).
    in_wanted = "= ANY (ARRAY(SELECT w.oid FROM wanted w))"
    definition = "NULL::text"
    if definitions:
        definition = (
            "CASE WHEN t.view IS NULL OR t.locked THEN NULL"
            " ELSE pg_catalog.pg_get_viewdef(c.oid) END"
        )
    objects = _OBJECTS.format(
        definition=definition,
        version="t.version",
        join="\n  LEFT JOIN view_versions t ON t.view = c.oid",
        not_system=_NOT_SYSTEM,
        c_oid=f"c.oid >= {FIRST_NORMAL_OID} AND c.oid {in_wanted}",
        v_oid=f"v.oid {in_wanted}",
        p_oid="FALSE",
        rewrite=_PG_REWRITE,
        pg_class=_PG_CLASS,
        first=FIRST_NORMAL_OID,
    )
    versions = VIEW_VERSIONS_OF.format(views=f"c.oid {in_wanted}")
    return f"""WITH RECURSIVE {closure},
{versions}
SELECT 'schema'::text AS kind, n.nspname::text AS a, NULL::text AS b, NULL::text AS c,
       NULL::text AS d, NULL::text AS e, NULL::text AS f, NULL::text AS g
  FROM pg_catalog.pg_namespace n
 WHERE n.oid IN (SELECT c.relnamespace FROM pg_catalog.pg_class c WHERE c.oid {in_wanted})
UNION ALL
SELECT 'inherits', cn.nspname::text, c.relname::text, pn.nspname::text, p.relname::text,
       i.inhseqno::text, NULL, NULL
  FROM pg_catalog.pg_inherits i
  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
  JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace
  JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
  JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
 WHERE c.relkind IN ('r', 'p', 'f') AND i.inhrelid {in_wanted}
UNION ALL
{objects}"""


def definition_query(oid: int, *, guard_locks: bool = True) -> str:
    """One view's definition, read on its own: ('definition', oid, viewdef), the viewdef
    NULL when the view or a relation it reads is locked (see LOCKED). ``guard_locks``
    False: no such check (only tests, to force the fallback)."""
    if not guard_locks:
        return f"SELECT 'definition', '{oid:d}', pg_catalog.pg_get_viewdef({oid:d}::oid)"
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
