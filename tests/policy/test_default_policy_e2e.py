"""The default policy library (policies/rego) enforced end to end for the demo identities:
a real `regogate serve` with its OPA sidecar, PostgreSQL with the bank data, psycopg."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.fix_gateway import GatewayFixture

POLICIES = Path(__file__).resolve().parents[2] / "policies" / "rego"

# The queries psql 15 sends for its meta-commands, captured with `psql -E` against the demo
# bank database ({oid}: the OID of public.customers). Agents and analysts must be able to
# run them: they call only stable and immutable built-ins, plus pg_partition_ancestors,
# pg_table_size and pg_database_size (volatile, allowlisted for agents in
# config/functions/data.json). policies/rego/.../testing/live_statements_test.rego holds
# the policy inputs of the same queries.
PSQL_QUERIES: dict[str, tuple[str, ...]] = {
    "\\d": (
        """\
SELECT n.nspname as "Schema",
  c.relname as "Name",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as "Type",
  pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r','p','v','m','S','f','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;""",
    ),
    "\\dt": (
        """\
SELECT n.nspname as "Schema",
  c.relname as "Name",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as "Type",
  pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r','p','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;""",
    ),
    "\\d customers": (
        """\
SELECT c.oid,
  n.nspname,
  c.relname
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname OPERATOR(pg_catalog.~) '^(customers)$' COLLATE pg_catalog.default
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 2, 3;""",
        """\
SELECT c.relchecks, c.relkind, c.relhasindex, c.relhasrules, c.relhastriggers, c.relrowsecurity, c.relforcerowsecurity, false AS relhasoids, c.relispartition, '', c.reltablespace, CASE WHEN c.reloftype = 0 THEN '' ELSE c.reloftype::pg_catalog.regtype::pg_catalog.text END, c.relpersistence, c.relreplident, am.amname
FROM pg_catalog.pg_class c
 LEFT JOIN pg_catalog.pg_class tc ON (c.reltoastrelid = tc.oid)
LEFT JOIN pg_catalog.pg_am am ON (c.relam = am.oid)
WHERE c.oid = '{oid}';""",
        """\
SELECT a.attname,
  pg_catalog.format_type(a.atttypid, a.atttypmod),
  (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true)
   FROM pg_catalog.pg_attrdef d
   WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef),
  a.attnotnull,
  (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t
   WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) AS attcollation,
  a.attidentity,
  a.attgenerated
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = '{oid}' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;""",
        """\
SELECT c2.relname, i.indisprimary, i.indisunique, i.indisclustered, i.indisvalid, pg_catalog.pg_get_indexdef(i.indexrelid, 0, true),
  pg_catalog.pg_get_constraintdef(con.oid, true), contype, condeferrable, condeferred, i.indisreplident, c2.reltablespace
FROM pg_catalog.pg_class c, pg_catalog.pg_class c2, pg_catalog.pg_index i
  LEFT JOIN pg_catalog.pg_constraint con ON (conrelid = i.indrelid AND conindid = i.indexrelid AND contype IN ('p','u','x'))
WHERE c.oid = '{oid}' AND c.oid = i.indrelid AND i.indexrelid = c2.oid
ORDER BY i.indisprimary DESC, c2.relname;""",
        """\
SELECT true as sametable, conname,
  pg_catalog.pg_get_constraintdef(r.oid, true) as condef,
  conrelid::pg_catalog.regclass AS ontable
FROM pg_catalog.pg_constraint r
WHERE r.conrelid = '{oid}' AND r.contype = 'f'
     AND conparentid = 0
ORDER BY conname""",
        """\
SELECT conname, conrelid::pg_catalog.regclass AS ontable,
       pg_catalog.pg_get_constraintdef(oid, true) AS condef
  FROM pg_catalog.pg_constraint c
 WHERE confrelid IN (SELECT pg_catalog.pg_partition_ancestors('{oid}')
                     UNION ALL VALUES ('{oid}'::pg_catalog.regclass))
       AND contype = 'f' AND conparentid = 0
ORDER BY conname;""",
        """\
SELECT pol.polname, pol.polpermissive,
  CASE WHEN pol.polroles = '{0}' THEN NULL ELSE pg_catalog.array_to_string(array(select rolname from pg_catalog.pg_roles where oid = any (pol.polroles) order by 1),',') END,
  pg_catalog.pg_get_expr(pol.polqual, pol.polrelid),
  pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid),
  CASE pol.polcmd
    WHEN 'r' THEN 'SELECT'
    WHEN 'a' THEN 'INSERT'
    WHEN 'w' THEN 'UPDATE'
    WHEN 'd' THEN 'DELETE'
    END AS cmd
FROM pg_catalog.pg_policy pol
WHERE pol.polrelid = '{oid}' ORDER BY 1;""",
        """\
SELECT oid, stxrelid::pg_catalog.regclass, stxnamespace::pg_catalog.regnamespace::pg_catalog.text AS nsp, stxname,
pg_catalog.pg_get_statisticsobjdef_columns(oid) AS columns,
  'd' = any(stxkind) AS ndist_enabled,
  'f' = any(stxkind) AS deps_enabled,
  'm' = any(stxkind) AS mcv_enabled,
stxstattarget
FROM pg_catalog.pg_statistic_ext
WHERE stxrelid = '{oid}'
ORDER BY nsp, stxname;""",
        """\
SELECT pubname
     , NULL
     , NULL
FROM pg_catalog.pg_publication p
     JOIN pg_catalog.pg_publication_namespace pn ON p.oid = pn.pnpubid
     JOIN pg_catalog.pg_class pc ON pc.relnamespace = pn.pnnspid
WHERE pc.oid ='{oid}' and pg_catalog.pg_relation_is_publishable('{oid}')
UNION
SELECT pubname
     , pg_get_expr(pr.prqual, c.oid)
     , (CASE WHEN pr.prattrs IS NOT NULL THEN
         (SELECT string_agg(attname, ', ')
           FROM pg_catalog.generate_series(0, pg_catalog.array_upper(pr.prattrs::pg_catalog.int2[], 1)) s,
                pg_catalog.pg_attribute
          WHERE attrelid = pr.prrelid AND attnum = prattrs[s])
        ELSE NULL END) FROM pg_catalog.pg_publication p
     JOIN pg_catalog.pg_publication_rel pr ON p.oid = pr.prpubid
     JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid
WHERE pr.prrelid = '{oid}'
UNION
SELECT pubname
     , NULL
     , NULL
FROM pg_catalog.pg_publication p
WHERE p.puballtables AND pg_catalog.pg_relation_is_publishable('{oid}')
ORDER BY 1;""",
        """\
SELECT t.tgname, pg_catalog.pg_get_triggerdef(t.oid, true), t.tgenabled, t.tgisinternal,
  CASE WHEN t.tgparentid != 0 THEN
    (SELECT u.tgrelid::pg_catalog.regclass
     FROM pg_catalog.pg_trigger AS u,
          pg_catalog.pg_partition_ancestors(t.tgrelid) WITH ORDINALITY AS a(relid, depth)
     WHERE u.tgname = t.tgname AND u.tgrelid = a.relid
           AND u.tgparentid = 0
     ORDER BY a.depth LIMIT 1)
  END AS parent
FROM pg_catalog.pg_trigger t
WHERE t.tgrelid = '{oid}' AND (NOT t.tgisinternal OR (t.tgisinternal AND t.tgenabled = 'D'))
ORDER BY 1;""",
        """\
SELECT c.oid::pg_catalog.regclass
FROM pg_catalog.pg_class c, pg_catalog.pg_inherits i
WHERE c.oid = i.inhparent AND i.inhrelid = '{oid}'
  AND c.relkind != 'p' AND c.relkind != 'I'
ORDER BY inhseqno;""",
        """\
SELECT c.oid::pg_catalog.regclass, c.relkind, inhdetachpending, pg_catalog.pg_get_expr(c.relpartbound, c.oid)
FROM pg_catalog.pg_class c, pg_catalog.pg_inherits i
WHERE c.oid = i.inhrelid AND i.inhparent = '{oid}'
ORDER BY pg_catalog.pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT', c.oid::pg_catalog.regclass::pg_catalog.text;""",
    ),
    "\\df": (
        """\
SELECT n.nspname as "Schema",
  p.proname as "Name",
  pg_catalog.pg_get_function_result(p.oid) as "Result data type",
  pg_catalog.pg_get_function_arguments(p.oid) as "Argument data types",
 CASE p.prokind
  WHEN 'a' THEN 'agg'
  WHEN 'w' THEN 'window'
  WHEN 'p' THEN 'proc'
  ELSE 'func'
 END as "Type"
FROM pg_catalog.pg_proc p
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE pg_catalog.pg_function_is_visible(p.oid)
      AND n.nspname <> 'pg_catalog'
      AND n.nspname <> 'information_schema'
ORDER BY 1, 2, 4;""",
    ),
    "\\dn": (
        """\
SELECT n.nspname AS "Name",
  pg_catalog.pg_get_userbyid(n.nspowner) AS "Owner"
FROM pg_catalog.pg_namespace n
WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
ORDER BY 1;""",
    ),
    "\\l": (
        """\
SELECT d.datname as "Name",
       pg_catalog.pg_get_userbyid(d.datdba) as "Owner",
       pg_catalog.pg_encoding_to_char(d.encoding) as "Encoding",
       d.datcollate as "Collate",
       d.datctype as "Ctype",
       d.daticulocale as "ICU Locale",
       CASE d.datlocprovider WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' END AS "Locale Provider",
       pg_catalog.array_to_string(d.datacl, E'\\n') AS "Access privileges"
FROM pg_catalog.pg_database d
ORDER BY 1;""",
    ),
    "\\dt+": (
        """\
SELECT n.nspname as "Schema",
  c.relname as "Name",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as "Type",
  pg_catalog.pg_get_userbyid(c.relowner) as "Owner",
  CASE c.relpersistence WHEN 'p' THEN 'permanent' WHEN 't' THEN 'temporary' WHEN 'u' THEN 'unlogged' END as "Persistence",
  am.amname as "Access method",
  pg_catalog.pg_size_pretty(pg_catalog.pg_table_size(c.oid)) as "Size",
  pg_catalog.obj_description(c.oid, 'pg_class') as "Description"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r','p','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;""",
    ),
    "\\l+": (
        """\
SELECT d.datname as "Name",
       pg_catalog.pg_get_userbyid(d.datdba) as "Owner",
       pg_catalog.pg_encoding_to_char(d.encoding) as "Encoding",
       d.datcollate as "Collate",
       d.datctype as "Ctype",
       d.daticulocale as "ICU Locale",
       CASE d.datlocprovider WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' END AS "Locale Provider",
       pg_catalog.array_to_string(d.datacl, E'\\n') AS "Access privileges",
       CASE WHEN pg_catalog.has_database_privilege(d.datname, 'CONNECT')
            THEN pg_catalog.pg_size_pretty(pg_catalog.pg_database_size(d.datname))
            ELSE 'No Access'
       END as "Size",
       t.spcname as "Tablespace",
       pg_catalog.shobj_description(d.oid, 'pg_database') as "Description"
FROM pg_catalog.pg_database d
  JOIN pg_catalog.pg_tablespace t on d.dattablespace = t.oid
ORDER BY 1;""",
    ),
    "\\du": (
        """\
SELECT r.rolname, r.rolsuper, r.rolinherit,
  r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
  r.rolconnlimit, r.rolvaliduntil,
  ARRAY(SELECT b.rolname
        FROM pg_catalog.pg_auth_members m
        JOIN pg_catalog.pg_roles b ON (m.roleid = b.oid)
        WHERE m.member = r.oid) as memberof
, r.rolreplication
, r.rolbypassrls
FROM pg_catalog.pg_roles r
WHERE r.rolname !~ '^pg_'
ORDER BY 1;""",
    ),
}


@pytest.fixture
def gw(make_gateway: Callable[..., GatewayFixture]) -> GatewayFixture:
    return make_gateway(extra=f'[policy]\ndir = "{POLICIES}"\n')


@pytest.fixture
def admin(gw: GatewayFixture) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(gw.pg.admin_dsn("bank"), autocommit=True) as conn:
        yield conn


def refused(conn: psycopg.Connection[tuple[object, ...]], sql: str) -> str:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
        conn.execute(sql)
    return str(info.value)


def test_readers_read_non_pii_and_pii_masked(
    gw: GatewayFixture, admin: psycopg.Connection[tuple[object, ...]]
) -> None:
    raw = admin.execute("select full_name, ssn from customers where id = 1").fetchone()
    assert raw is not None
    for who in ("analyst", "agent"):
        with psycopg.connect(gw.dsn(who), autocommit=True) as conn:
            row = conn.execute("select count(*), sum(amount) from transactions").fetchone()
            assert row is not None and row[0] == 10000
            assert conn.execute("select id, created_at from customers limit 2").fetchall()
            name, ssn = conn.execute(
                "select full_name, ssn from customers where id = 1"
                if who == "analyst"
                else "select full_name, ssn from customers limit 1"
            ).fetchone() or (None, None)
            assert name == "REDACTED" and ssn == "*******" + str(raw[1])[-4:]
            (account,) = conn.execute("select account_number from accounts limit 1").fetchone() or (
                "",
            )
            assert str(account).startswith("**********")


def test_agent_may_not_write_ddl_or_escape(gw: GatewayFixture, admin: psycopg.Connection) -> None:
    before = admin.execute("select count(*) from transactions").fetchone()
    with psycopg.connect(gw.dsn("agent"), autocommit=True) as conn:
        for sql in (
            "insert into transactions values (999999, 1, 1, 'x', now())",
            "update transactions set memo = 'x' where id = 1",
            "create table agent_t (id int)",
            "do $$ begin perform 1; end $$",
            "set role rg_trust",
            "select pg_read_file('/etc/passwd')",
            "select pg_ls_dir('.')",
            "select lo_import('/etc/hostname')",
        ):
            refused(conn, sql)
    assert admin.execute("select count(*) from transactions").fetchone() == before


def test_everyone_rules(gw: GatewayFixture, admin: psycopg.Connection) -> None:
    before = admin.execute("select count(*), sum(amount) from transactions").fetchone()
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
        assert "WHERE" in refused(conn, "delete from transactions").upper()
        assert "WHERE" in refused(conn, "update transactions set memo = 'x'").upper()
        assert "drop" in refused(conn, "drop table transactions").lower()
        # A DROP hidden in a multi-statement message denies the whole message.
        refused(conn, "select 1; drop table transactions")
        # dba may write, but writes to accounts and DDL need approval by group:approvers.
        conn.execute("update transactions set memo = memo where id = 1")
        message = refused(conn, "update accounts set balance = balance where id = 1")
        assert "approval" in message and "group:approvers" in message
        assert "approval" in refused(conn, "create table dba_t (id int)")
    assert admin.execute("select count(*), sum(amount) from transactions").fetchone() == before
    assert admin.execute("select to_regclass('dba_t')").fetchone() == (None,)


def _psql(gw: GatewayFixture, who: str, command: str) -> subprocess.CompletedProcess[str]:
    psql = gw.pg.server.bindir / "psql"
    return subprocess.run(
        [str(psql), "-X", "-v", "ON_ERROR_STOP=1", "-c", command],
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", **gw.env(who)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("who", ["agent", "analyst"])
def test_psql_meta_commands_work_for_readers(gw: GatewayFixture, who: str) -> None:
    for command in PSQL_QUERIES:
        done = _psql(gw, who, command)
        assert done.returncode == 0, f"{command}: {done.stderr}"
    assert 'Table "public.customers"' in _psql(gw, who, r"\d customers").stdout


@pytest.mark.parametrize("who", ["agent", "analyst"])
def test_the_queries_psql_sends_are_allowed(
    gw: GatewayFixture, admin: psycopg.Connection, who: str
) -> None:
    row = admin.execute("select 'public.customers'::regclass::oid::text").fetchone()
    assert row is not None
    with psycopg.connect(gw.dsn(who), autocommit=True) as conn:
        for command, queries in PSQL_QUERIES.items():
            for sql in queries:
                try:
                    conn.execute(sql.replace("{oid}", row[0])).fetchall()
                except psycopg.Error as exc:
                    pytest.fail(f"{command}: {exc}\n{sql}")


def test_agent_functions_by_allowlist(gw: GatewayFixture) -> None:
    with psycopg.connect(gw.dsn("agent"), autocommit=True) as conn:
        assert conn.execute("select lower('A'), now() is not null, random() < 2").fetchone()
        for sql, named in (
            ("select pg_sleep_until(now())", "pg_catalog.pg_sleep_until: it is volatile"),
            ("select pg_notify('ch', 'x')", "pg_catalog.pg_notify"),
            ("select pg_catalog.pg_advisory_lock(1)", "pg_catalog.pg_advisory_lock"),
            ("select set_config('work_mem', '64MB', false)", "pg_catalog.set_config"),
            ("select PG_TRY_ADVISORY_LOCK(1)", "pg_catalog.pg_try_advisory_lock"),
            ("select lo_get(1)", "pg_catalog.lo_get"),
            ("select cursor_to_xml('c', 1, true, true, '')", "pg_catalog.cursor_to_xml"),
            ("select pg_temp.lower('A')", "pg_temp.lower"),
        ):
            assert named in refused(conn, sql), sql
    with psycopg.connect(gw.dsn("analyst"), autocommit=True) as conn:
        conn.execute("select pg_sleep(0), set_config('work_mem', '64MB', false)")
        assert "pg_catalog.pg_notify" in refused(conn, "select pg_notify('ch', 'x')")


def test_classified_catalog(gw: GatewayFixture) -> None:
    for who in ("agent", "analyst"):
        with psycopg.connect(gw.dsn(who), autocommit=True) as conn:
            for sql, named in (
                ("select most_common_vals::text from pg_stats", "pg_catalog.pg_stats"),
                ("select query from pg_stat_activity", "pg_catalog.pg_stat_activity"),
                ("select * from pg_stat_get_activity(null)", "pg_catalog.pg_stat_get_activity"),
                ("select rolpassword from pg_authid", "pg_catalog.pg_authid"),
                (
                    "select statement from pg_prepared_statements",
                    "pg_catalog.pg_prepared_statements",
                ),
            ):
                assert named in refused(conn, sql), (who, sql)
            conn.execute("select name, setting from pg_settings limit 1")
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
        conn.execute("select count(*) from pg_stats").fetchone()


def test_uncertain_names_are_refused_to_masked_identities(gw: GatewayFixture) -> None:
    with psycopg.connect(gw.dsn("analyst"), autocommit=True) as conn:
        assert "does not know the relation public.no_such_table" in refused(
            conn, "select * from no_such_table"
        )
        assert "does not know the function public.no_such_function" in refused(
            conn, "select no_such_function()"
        )
        # A search_path the gateway cannot read leaves the next names uncertain.
        message = refused(
            conn, "select set_config('search_path', current_user, false); select id from customers"
        )
        assert "search_path is not known" in message and "schema-qualify" in message
        conn.execute("select id from public.customers limit 1")
