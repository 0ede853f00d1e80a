"""Statement facts: the setting changes a statement makes (SET/RESET, set_config wherever
it runs, DISCARD ALL, ALTER ROLE/DATABASE/SYSTEM and function SET clauses), values
flattened as PostgreSQL does, and the search_path through one query text (known,
unknown, uncertain)."""

from __future__ import annotations

import pytest

from regogate.policy.catalog import CatalogSnapshot, FunctionDetails
from regogate.policy.catalog_rows import snapshot_from_rows
from regogate.policy.facts import analyze
from regogate.policy.facts_settings import flatten_set_args, parse_bool, quote_identifier
from regogate.policy.setting_change import SettingChange
from tests.policy.corpus import CATALOG_ROWS

CATALOG = snapshot_from_rows(CATALOG_ROWS)
C = SettingChange


def _changes(sql: str, catalog: CatalogSnapshot = CATALOG) -> list[SettingChange]:
    return [c for f in analyze(sql, catalog).statements for c in f.setting_changes]


CASES: list[tuple[str, str, list[SettingChange]]] = [
    # -- SET / RESET ------------------------------------------------------------------------
    ("set", "SET work_mem = '64MB'", [C("work_mem", "64MB", "set")]),
    ("set-session", "SET SESSION work_mem TO 1024", [C("work_mem", "1024", "set")]),
    ("set-local", "SET LOCAL statement_timeout = 0", [C("statement_timeout", "0", "local")]),
    ("set-case", 'SET "Work_Mem" = 1', [C("work_mem", "1", "set")]),
    ("set-old-name", "SET sort_mem = 1", [C("work_mem", "1", "set")]),
    ("set-float", "SET seed = -0.50", [C("seed", "-0.50", "set")]),
    ("set-on", "SET enable_seqscan = on", [C("enable_seqscan", "on", "set")]),
    ("set-true", "SET enable_seqscan = true", [C("enable_seqscan", "true", "set")]),
    ("set-custom", "SET app.user_id = '42'", [C("app.user_id", "42", "set")]),
    ("set-default", "SET work_mem TO DEFAULT", [C("work_mem", None, "reset")]),
    ("set-local-default", "SET LOCAL work_mem TO DEFAULT", [C("work_mem", None, "local")]),
    ("reset", "RESET work_mem", [C("work_mem", None, "reset")]),
    ("reset-all", "RESET ALL", [C(None, None, "reset_all")]),
    ("from-current", "SET work_mem FROM CURRENT", [C("work_mem", None, "set")]),
    (
        "search-path-list",
        'SET search_path = audit, \'Pub\', 1, 2.5, "Mixed", "$user", "select", abort, \'a,b\'',
        [C("search_path", 'audit, "Pub", 1, 2.5, "Mixed", "$user", "select", abort, "a,b"', "set")],
    ),
    ("search-path-empty", "SET search_path = ''", [C("search_path", '""', "set")]),
    ("set-schema", "SET SCHEMA 'audit'", [C("search_path", "audit", "set")]),
    ("temp-tablespaces", "SET temp_tablespaces = 'Fast'", [C("temp_tablespaces", '"Fast"', "set")]),
    (
        "preload",
        "SET session_preload_libraries = 'auto_explain', 'x-y'",
        [C("session_preload_libraries", 'auto_explain, "x-y"', "set")],
    ),
    ("not-list-quote", "SET datestyle = 'ISO', 'MDY'", [C("datestyle", "ISO, MDY", "set")]),
    ("role", "SET ROLE auditor", [C("role", "auditor", "set")]),
    ("role-none", "SET ROLE NONE", [C("role", "none", "set")]),
    ("local-role", "SET LOCAL ROLE 'Admin'", [C("role", "Admin", "local")]),
    ("reset-role", "RESET ROLE", [C("role", None, "reset")]),
    (
        "session-authorization",
        "SET SESSION AUTHORIZATION admin",
        [C("session_authorization", "admin", "set")],
    ),
    (
        "session-authorization-default",
        "SET SESSION AUTHORIZATION DEFAULT",
        [C("session_authorization", None, "reset")],
    ),
    ("time-zone", "SET TIME ZONE 'UTC'", [C("timezone", "UTC", "set")]),
    ("time-zone-number", "SET TIME ZONE -8", [C("timezone", "-8", "set")]),
    ("time-zone-local", "SET TIME ZONE LOCAL", [C("timezone", None, "reset")]),
    (
        "time-zone-interval",
        "SET TIME ZONE INTERVAL '-08:00' HOUR TO MINUTE",
        [C("timezone", None, "set")],
    ),
    ("names", "SET NAMES 'LATIN1'", [C("client_encoding", "LATIN1", "set")]),
    ("xml-option", "SET XML OPTION DOCUMENT", [C("xmloption", "DOCUMENT", "set")]),
    (
        "transaction",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE",
        [
            C("transaction_isolation", "serializable", "local"),
            C("transaction_read_only", "1", "local"),
            C("transaction_deferrable", "1", "local"),
        ],
    ),
    (
        "session-characteristics",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
        [C("default_transaction_read_only", "0", "set")],
    ),
    (
        "transaction-snapshot",
        "SET TRANSACTION SNAPSHOT '00000003-0000001B-1'",
        [C("transaction_snapshot", "00000003-0000001B-1", "local")],
    ),
    (
        "begin-options",
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        [
            C("transaction_isolation", "repeatable read", "local"),
            C("transaction_read_only", "1", "local"),
        ],
    ),
    ("commit", "COMMIT", []),
    (
        "discard-all",
        "DISCARD ALL",
        [C("session_authorization", None, "reset"), C(None, None, "reset_all")],
    ),
    ("discard-plans", "DISCARD PLANS", []),
    # -- defaults elsewhere ------------------------------------------------------------------
    (
        "alter-role",
        "ALTER ROLE agent IN DATABASE bank SET search_path = audit",
        [C("search_path", "audit", "role_default")],
    ),
    ("alter-user-reset", "ALTER USER agent RESET work_mem", [C("work_mem", None, "role_default")]),
    ("alter-role-reset-all", "ALTER ROLE ALL RESET ALL", [C(None, None, "role_default")]),
    (
        "alter-database",
        "ALTER DATABASE bank SET work_mem = '1MB'",
        [C("work_mem", "1MB", "database_default")],
    ),
    ("alter-database-reset", "ALTER DATABASE bank RESET ALL", [C(None, None, "database_default")]),
    (
        "alter-system",
        "ALTER SYSTEM SET log_statement = 'none'",
        [C("log_statement", "none", "system")],
    ),
    ("alter-system-reset-all", "ALTER SYSTEM RESET ALL", [C(None, None, "system")]),
    (
        "create-function",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET search_path = a, b "
        "SET work_mem FROM CURRENT AS 'select 1'",
        [C("search_path", "a, b", "function"), C("work_mem", None, "function")],
    ),
    (
        "create-procedure",
        "CREATE OR REPLACE PROCEDURE p() LANGUAGE sql SET role = 'admin' AS 'select 1'",
        [C("role", "admin", "function")],
    ),
    (
        "alter-function",
        "ALTER FUNCTION f() SET work_mem = 1 RESET statement_timeout",
        [C("work_mem", "1", "function"), C("statement_timeout", None, "function")],
    ),
    ("alter-procedure-reset-all", "ALTER PROCEDURE p() RESET ALL", [C(None, None, "function")]),
    ("alter-routine", "ALTER ROUTINE r() SET x.y TO DEFAULT", [C("x.y", None, "function")]),
    # -- set_config ------------------------------------------------------------------------
    (
        "set-config",
        "SELECT set_config('search_path', 'audit', false)",
        [C("search_path", "audit", "set")],
    ),
    (
        "set-config-local",
        "SELECT pg_catalog.set_config('Role', 'admin', true)",
        [C("role", "admin", "local")],
    ),
    (
        "set-config-bool-strings",
        "SELECT set_config('a', '1', 'on'), set_config('b', '2', 'of'), set_config('c', '3', 't'::bool)",
        [C("a", "1", "local"), C("b", "2", "set"), C("c", "3", "local")],
    ),
    (
        "set-config-is-local-null",
        "SELECT set_config('a', 'v', NULL)",
        [C("a", "v", "set")],
    ),
    ("set-config-unknown-local", "SELECT set_config('a', 'v', $1)", [C("a", "v", "unknown")]),
    ("set-config-value-param", "SELECT set_config('a', $1, false)", [C("a", None, "set")]),
    ("set-config-null-value", "SELECT set_config('a', NULL, false)", [C("a", None, "reset")]),
    ("set-config-null-value-local", "SELECT set_config('a', NULL, true)", [C("a", None, "local")]),
    (
        "set-config-cast",
        "SELECT set_config('a'::text, 'v'::text, false)::text",
        [C("a", "v", "set")],
    ),
    (
        "set-config-named",
        "SELECT set_config(is_local => true, new_value => 'audit', setting_name => 'search_path')",
        [C("search_path", "audit", "local")],
    ),
    (
        "set-config-mixed-notation",
        "SELECT set_config('search_path', is_local => false, new_value => 'audit')",
        [C("search_path", "audit", "set")],
    ),
    (
        "set-config-old-name",
        "SELECT set_config(' Sort_Mem ', '1', false)",
        [C("work_mem", "1", "set")],
    ),
    (
        "set-config-computed-name",
        "SELECT set_config(lower('SEARCH_PATH'), 'audit', false)",
        [C(None, "audit", "set", False)],
    ),
    (
        "set-config-computed-value",
        "SELECT set_config('a', 'x' || 'y', false)",
        [C("a", None, "set", False)],
    ),
    (
        "two-set-configs",
        "SELECT set_config('a', '1', false), set_config('b', '2', true), 3, $1",
        [C("a", "1", "set"), C("b", "2", "local")],
    ),
    # uncertain: may run any number of times (or not at all); more in UNCERTAIN below
    (
        "srf-argument",
        "SELECT set_config('a', generate_series(1, 2)::text, false)",
        [C("a", None, "set", False)],
    ),
    (
        "lateral",
        "SELECT * FROM customers c, LATERAL set_config('a', c.ssn, false) s",
        [C("a", None, "set", False)],
    ),
    (
        "insert-returning",
        "INSERT INTO transactions (memo) VALUES ('m') RETURNING set_config('a', memo, true)",
        [C("a", None, "local", False)],
    ),
    (
        "pg-settings-update",
        "UPDATE pg_settings SET setting = 'audit' WHERE name = 'search_path'",
        [C(None, None, "set", False)],
    ),
    # PREPARE'd statements run at EXECUTE, as if they were the top-level statement
    ("prepare", "PREPARE q AS SELECT set_config('a', 'v', false)", []),
    (
        "prepare-execute",
        "PREPARE q AS SELECT set_config('a', 'v', false); EXECUTE q",
        [C("a", "v", "set")],
    ),
    (
        "prepare-execute-from",
        "PREPARE q AS SELECT set_config('a', 'v', false) FROM customers; EXECUTE q",
        [C("a", "v", "set", False)],
    ),
    # nothing runs now
    ("explain", "EXPLAIN SELECT set_config('a', 'v', false)", []),
    ("explain-analyze-off", "EXPLAIN (ANALYZE false) SELECT set_config('a', 'v', false)", []),
    ("explain-execute", "PREPARE q AS SELECT set_config('a', 'v', false); EXPLAIN EXECUTE q", []),
    ("create-view", "CREATE VIEW v AS SELECT set_config('a', 'v', false)", []),
    (
        "create-rule",
        "CREATE RULE r AS ON INSERT TO accounts DO ALSO SELECT set_config('a', 'v', false)",
        [],
    ),
    (
        "create-function-body",
        "CREATE FUNCTION g() RETURNS text BEGIN ATOMIC SELECT set_config('a', 'v', false); END",
        [],
    ),
    (
        "create-trigger",
        "CREATE TRIGGER t BEFORE INSERT ON accounts FOR EACH ROW WHEN (set_config('a', 'v', false) = '') EXECUTE FUNCTION audit.log()",
        [],
    ),
    ("create-policy", "CREATE POLICY p ON accounts USING (set_config('a', 'v', false) = '')", []),
    (
        "matview-no-data",
        "CREATE MATERIALIZED VIEW m AS SELECT set_config('a', 'v', false) WITH NO DATA",
        [],
    ),
    # not pg_catalog.set_config
    ("other-schema", "SELECT audit.set_config('search_path', 'audit', false)", []),
]


@pytest.mark.parametrize(("sql", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_setting_changes(sql: str, expected: list[SettingChange]) -> None:
    assert _changes(sql) == expected


# set_config('a', 'v', false) where it may run any number of times (or not at all), or
# where the statement runs more than its select list once.
UNCERTAIN: list[tuple[str, str]] = [
    ("from", "SELECT set_config('a', 'v', false) FROM customers"),
    ("where", "SELECT set_config('a', 'v', false) WHERE $1"),
    ("having", "SELECT set_config('a', 'v', false) HAVING false"),
    ("limit-0", "SELECT set_config('a', 'v', false) LIMIT 0"),
    ("offset", "SELECT set_config('a', 'v', false) OFFSET 1"),
    ("order", "SELECT set_config('a', 'v', false) ORDER BY 1"),
    ("distinct", "SELECT DISTINCT set_config('a', 'v', false)"),
    ("group", "SELECT set_config('a', 'v', false) GROUP BY 1"),
    ("srf-sibling", "SELECT set_config('a', 'v', false), generate_series(1, 3)"),
    ("srf-user-sibling", "SELECT set_config('a', 'v', false), mask_ssn('x')"),
    ("operator-sibling", "SELECT set_config('a', 'v', false), 1 + 1"),
    ("case", "SELECT CASE WHEN $1 THEN set_config('a', 'v', false) END"),
    ("coalesce", "SELECT coalesce(NULL, set_config('a', 'v', false))"),
    ("and", "SELECT $1 AND set_config('a', 'v', false) = 'v'"),
    ("operator", "SELECT set_config('a', 'v', false) || 'x'"),
    ("nested", "SELECT length(set_config('a', 'v', false))"),
    ("scalar-subquery", "SELECT (SELECT set_config('a', 'v', false))"),
    ("subquery-sibling", "SELECT set_config('a', 'v', false), (SELECT 1)"),
    ("exists", "SELECT 1 WHERE EXISTS (SELECT set_config('a', 'v', false))"),
    ("cte", "WITH x AS (SELECT set_config('a', 'v', false)) SELECT * FROM x"),
    ("with-unused", "WITH x AS (SELECT 1) SELECT set_config('a', 'v', false)"),
    ("union", "SELECT set_config('a', 'v', false) UNION SELECT 'x'"),
    ("values", "VALUES (set_config('a', 'v', false))"),
    ("from-function", "SELECT * FROM set_config('a', 'v', false)"),
    ("aggregate-filter", "SELECT count(*) FILTER (WHERE set_config('a', 'v', false) = 'v')"),
    ("window", "SELECT set_config('a', 'v', false) OVER ()"),
    ("select-into", "SELECT set_config('a', 'v', false) INTO t"),
    ("insert-values", "INSERT INTO transactions (memo) VALUES (set_config('a', 'v', false))"),
    (
        "update-set",
        "UPDATE accounts SET balance = set_config('a', 'v', false)::numeric WHERE id = 1",
    ),
    ("delete-where", "DELETE FROM accounts WHERE set_config('a', 'v', false) = ''"),
    (
        "merge",
        "MERGE INTO accounts a USING customers c ON a.id = c.id WHEN MATCHED THEN UPDATE SET balance = length(set_config('a', 'v', false))",
    ),
    ("explain-analyze", "EXPLAIN ANALYZE SELECT set_config('a', 'v', false)"),
    ("explain-analyze-option", "EXPLAIN (ANALYZE true) SELECT set_config('a', 'v', false)"),
    ("copy-to", "COPY (SELECT set_config('a', 'v', false)) TO STDOUT"),
    ("copy-from-where", "COPY accounts FROM STDIN WHERE set_config('a', 'v', false) = ''"),
    ("declare", "DECLARE k CURSOR FOR SELECT set_config('a', 'v', false)"),
    ("call", "CALL transfer(set_config('a', 'v', false))"),
    ("execute-params", "PREPARE q(text) AS SELECT $1; EXECUTE q(set_config('a', 'v', false))"),
    ("create-table-as", "CREATE TABLE t AS SELECT set_config('a', 'v', false)"),
    (
        "alter-table-using",
        "ALTER TABLE accounts ALTER COLUMN balance TYPE text USING set_config('a', 'v', false)",
    ),
    (
        "alter-table-default",
        "ALTER TABLE accounts ADD COLUMN z text DEFAULT set_config('a', 'v', false)",
    ),
    (
        "partition-bound",
        "CREATE TABLE p1 PARTITION OF accounts FOR VALUES IN (set_config('a', 'v', false))",
    ),
]


@pytest.mark.parametrize("sql", [c[1] for c in UNCERTAIN], ids=[c[0] for c in UNCERTAIN])
def test_uncertain_set_config(sql: str) -> None:
    assert _changes(sql) == [C("a", "v", "set", False)]


def test_set_config_resolves_along_the_search_path() -> None:
    catalog = snapshot_from_rows([*CATALOG_ROWS, ("function", "audit", "set_config", None, None)])
    sql = "SET search_path = audit, pg_catalog; SELECT set_config('search_path', 'public', false)"
    analysis = analyze(sql, catalog)
    # both may run (PostgreSQL picks by argument types; equal ones: the first on the path)
    assert analysis.statements[1].functions == ("audit.set_config", "pg_catalog.set_config")
    assert analysis.statements[1].setting_changes == ()
    # ...and a user function may have changed anything: the path is not known after it
    assert not analysis.search_path_known


def test_computed_name_stays_opaque() -> None:
    (facts,) = analyze("SELECT set_config(name, 'x', false) FROM pg_settings", CATALOG).statements
    assert facts.opaque
    assert facts.setting_changes == (C(None, "x", "set", False),)


def test_settings_names_are_kept() -> None:
    (facts,) = analyze("SET sort_mem = 1", CATALOG).statements
    assert facts.settings == ("sort_mem", "work_mem")
    (facts,) = analyze("PREPARE q AS SELECT set_config('a', 'b', false)", CATALOG).statements
    assert facts.settings == ("a",) and facts.setting_changes == ()


@pytest.mark.parametrize(
    ("ident", "quoted"),
    [
        ("public", "public"),
        ("_x1", "_x1"),
        ("Public", '"Public"'),
        ("1abc", '"1abc"'),
        ("a-b", '"a-b"'),
        ("", '""'),
        ('a"b', '"a""b"'),
        ("$user", '"$user"'),
        ("select", '"select"'),  # reserved
        ("int", '"int"'),  # column-name keyword
        ("left", '"left"'),  # type/function-name keyword
        ("abort", "abort"),  # unreserved
        ("é", '"é"'),
    ],
)
def test_quote_identifier(ident: str, quoted: str) -> None:
    assert quote_identifier(ident) == quoted


def test_flatten_needs_constants() -> None:
    assert flatten_set_args("x", ()) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("t", True),
        ("TRUE", True),
        (" yes ", True),
        ("on", True),
        ("1", True),
        ("f", False),
        ("of", False),
        ("off", False),
        ("n", False),
        ("0", False),
        ("o", None),
        ("10", None),
        ("", None),
        ("onn", None),
    ],
)
def test_parse_bool(text: str, value: bool | None) -> None:
    assert parse_bool(text) is value


# -- the search_path through one query text -----------------------------------------------


@pytest.mark.parametrize(
    ("sql", "schema", "uncertain"),
    [
        ("SET search_path = audit; SELECT * FROM customers", "audit", False),
        ("SET LOCAL search_path = audit; SELECT * FROM customers", "audit", False),
        ("SET SCHEMA 'audit'; SELECT * FROM customers", "audit", False),
        (
            "SELECT set_config('search_path', 'audit', true); SELECT * FROM customers",
            "audit",
            False,
        ),
        ("SELECT set_config('search_path', 'audit', $1); SELECT * FROM customers", "audit", False),
        ("SET search_path = audit; RESET ALL; SELECT * FROM customers", "public", False),
        # DISCARD ALL also resets the session user, which "$user" (in the default path) names
        ("SET search_path = audit; DISCARD ALL; SELECT * FROM customers", "public", True),
        (
            "SET search_path = audit; DISCARD ALL; SET search_path = public; SELECT * FROM customers",
            "public",
            False,
        ),
        # changes that cannot be known make later names uncertain
        (
            "SELECT set_config('search_path', 'audit', false) FROM accounts; SELECT * FROM customers",
            "public",
            True,
        ),
        ("SELECT set_config('search_path', $1, false); SELECT * FROM customers", "public", True),
        ("SELECT set_config($1, 'audit', false); SELECT * FROM customers", "public", True),
        ("SET LOCAL search_path TO DEFAULT; SELECT * FROM customers", "public", True),
        ("SET search_path FROM CURRENT; SELECT * FROM customers", "public", True),
        (
            "DECLARE k CURSOR FOR SELECT set_config('search_path', 'audit', false); FETCH k; SELECT * FROM customers",
            "public",
            True,
        ),
        (
            "EXPLAIN ANALYZE SELECT set_config('search_path', 'audit', false); SELECT * FROM customers",
            "public",
            True,
        ),
        (
            "UPDATE pg_settings SET setting = 'audit' WHERE name = 'search_path'; SELECT * FROM customers",
            "public",
            True,
        ),
        ("DO $$ BEGIN SET search_path = audit; END $$; SELECT * FROM customers", "public", True),
        ("SELECT mask_ssn('x'); SELECT * FROM customers", "public", True),
        ("CALL transfer(1); SELECT * FROM customers", "public", True),
        ("LOAD 'plugin'; SELECT * FROM customers", "public", True),
        # a later known value makes it known again
        (
            "SELECT set_config('search_path', $1, false); SET search_path = audit; SELECT * FROM customers",
            "audit",
            False,
        ),
        # what does not run now changes nothing
        (
            "PREPARE q AS SELECT set_config('search_path', 'audit', false); SELECT * FROM customers",
            "public",
            False,
        ),
        (
            "EXPLAIN SELECT set_config('search_path', 'audit', false); SELECT * FROM customers",
            "public",
            False,
        ),
        (
            "CREATE VIEW v AS SELECT set_config('search_path', 'audit', false); SELECT * FROM customers",
            "public",
            False,
        ),
        ("ALTER ROLE agent SET search_path = audit; SELECT * FROM customers", "public", False),
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET search_path = audit AS 'select 1'; SELECT * FROM customers",
            "public",
            False,
        ),
        # public.lower (a user function) may be what runs: it could change the path
        ("SELECT lower('x'); SELECT * FROM customers", "public", True),
    ],
)
def test_search_path_through_the_text(sql: str, schema: str, uncertain: bool) -> None:
    facts = analyze(sql, CATALOG).statements[-1]
    assert [t.schema for t in facts.tables] == [schema]
    assert facts.search_path_uncertain is uncertain


def test_analysis_reports_the_search_path_left_behind() -> None:
    analysis = analyze("SET search_path = audit, public", CATALOG)
    assert analysis.search_path == ("audit", "public") and analysis.search_path_known
    analysis = analyze("SELECT set_config('search_path', $1, false)", CATALOG)
    assert analysis.search_path is None and not analysis.search_path_known
    analysis = analyze("SELECT 1", CATALOG, search_path_known=False)
    assert analysis.search_path is None and not analysis.search_path_known
    analysis = analyze("SET search_path = audit", CATALOG, search_path_known=False)
    assert analysis.search_path == ("audit",) and analysis.search_path_known
    analysis = analyze("select 'unterminated", CATALOG, search_path_known=False)
    assert not analysis.search_path_known


@pytest.mark.parametrize(
    ("sql", "uncertain"),
    [
        ("SELECT * FROM customers", True),
        ("SELECT * FROM public.customers", False),
        ("SELECT lower('x')", True),
        ("SELECT pg_catalog.lower('x')", False),
        ("SELECT c.row_to_json FROM public.customers c", True),  # a function name
        ("SELECT c.ssn FROM public.customers c", False),
        ("WITH customers AS (SELECT 1) SELECT * FROM customers", False),
        ("SELECT 1", False),
        ("CREATE TABLE t (id int)", True),
        ("CREATE TABLE public.t (id int)", False),
        ("DROP TABLE accounts", True),
        ("INSERT INTO public.accounts (id) VALUES (1)", False),
        ("UPDATE accounts SET id = 1 WHERE id = 2", True),
        ("SET search_path = audit; SELECT * FROM customers", False),
    ],
)
def test_unknown_search_path(sql: str, uncertain: bool) -> None:
    facts = analyze(sql, CATALOG, search_path_known=False).statements[-1]
    assert facts.search_path_uncertain is uncertain
    assert facts.tables or facts.functions or not uncertain  # names still resolve


def test_unknown_search_path_still_resolves_with_the_catalog_path() -> None:
    (facts,) = analyze("SELECT ssn FROM customers", CATALOG, search_path_known=False).statements
    assert facts.read == ("public.customers.ssn",)


@pytest.mark.parametrize(
    ("sql", "schema", "uncertain"),
    [
        # "$user" follows SET ROLE / SESSION AUTHORIZATION within the text
        (
            'SET search_path = "$user", public; SET ROLE audit; SELECT * FROM customers',
            "audit",
            False,
        ),
        (
            "SET search_path = \"$user\", public; SELECT set_config('role', 'audit', false); SELECT * FROM customers",
            "audit",
            False,
        ),
        (
            'SET search_path = "$user", public; SET SESSION AUTHORIZATION audit; SELECT * FROM customers',
            "audit",
            False,
        ),
        ('SET search_path = "$user", public; RESET ROLE; SELECT * FROM customers', "public", True),
        (
            'SET search_path = "$user", public; SET ROLE NONE; SELECT * FROM customers',
            "public",
            True,
        ),
        (
            "SET search_path = \"$user\", public; SELECT set_config('role', $1, false); SELECT * FROM customers",
            "public",
            True,
        ),
        ('SET search_path = "$user", public; DISCARD ALL; SELECT * FROM customers', "public", True),
        # without "$user" the role does not matter
        ("SET search_path = public; RESET ROLE; SELECT * FROM customers", "public", False),
    ],
)
def test_user_schema_follows_role_changes(sql: str, schema: str, uncertain: bool) -> None:
    facts = analyze(sql, CATALOG).statements[-1]
    assert [t.schema for t in facts.tables] == [schema]
    assert facts.search_path_uncertain is uncertain


def test_builtin_functions_per_catalog_details_keep_the_path() -> None:
    details = {"public.mask_ssn": FunctionDetails("immutable", False, ("sql",), True)}
    catalog = snapshot_from_rows(CATALOG_ROWS)
    catalog = CatalogSnapshot(
        search_path=catalog.search_path,
        relations=catalog.relations,
        functions=catalog.functions,
        current_user=catalog.current_user,
        schemas=catalog.schemas,
        function_details=details,
    )
    facts = analyze("SELECT mask_ssn('x'); SELECT * FROM customers", catalog).statements[-1]
    assert not facts.search_path_uncertain


def test_a_cursor_changes_settings_when_fetched() -> None:
    sql = (
        "DECLARE k CURSOR FOR SELECT set_config('search_path', 'audit', false); "
        "SET search_path = public; FETCH k; SELECT * FROM customers"
    )
    statements = analyze(sql, CATALOG).statements
    uncertain = (C("search_path", "audit", "set", False),)
    assert statements[0].setting_changes == uncertain
    assert statements[2].setting_changes == uncertain
    assert statements[3].search_path_uncertain
    moved = analyze(sql.replace("FETCH k", "MOVE k"), CATALOG).statements
    assert moved[2].setting_changes == uncertain
    closed = analyze(sql.replace("FETCH k", "CLOSE k"), CATALOG).statements
    assert not closed[3].search_path_uncertain
    closed_all = analyze(sql.replace("FETCH k", "CLOSE ALL; FETCH k"), CATALOG).statements
    assert closed_all[3].setting_changes == ()


@pytest.mark.parametrize(
    "sql",
    [
        "EXECUTE nowhere",
        "EXECUTE nowhere(1)",
    ],
)
def test_an_unknown_prepared_statement_may_change_anything(sql: str) -> None:
    analysis = analyze(f"{sql}; SELECT * FROM customers", CATALOG)
    assert analysis.statements[0].opaque
    assert analysis.statements[0].setting_changes == (C(None, None, "unknown", False),)
    assert analysis.statements[1].search_path_uncertain
    assert not analysis.search_path_known


@pytest.mark.parametrize(
    "name",
    ["U&'search\\005fpath'", "E'search\\x5fpath'", "$$search_path$$", "'SEARCH_PATH'::text"],
)
def test_set_config_name_spellings(name: str) -> None:
    sql = f"SELECT set_config({name}, 'audit', false); SELECT * FROM customers"
    statements = analyze(sql, CATALOG).statements
    assert statements[0].setting_changes == (C("search_path", "audit", "set"),)
    assert [t.schema for t in statements[1].tables] == ["audit"]


@pytest.mark.parametrize(
    ("sql", "uncertain"),
    [
        # what a transaction end reverts depends on when the transaction began
        ("BEGIN; SET LOCAL search_path = audit; COMMIT; SELECT * FROM customers", True),
        ("BEGIN; SET search_path = audit; ROLLBACK; SELECT * FROM customers", True),
        ("SET search_path = audit; ROLLBACK; SELECT * FROM customers", True),
        ("COMMIT; SELECT * FROM customers", True),
        ("SAVEPOINT s; SET search_path = audit; ROLLBACK TO s; SELECT * FROM customers", True),
        ("PREPARE TRANSACTION 'x'; SELECT * FROM customers", True),
        ("BEGIN; SELECT * FROM customers", False),
        ("SAVEPOINT s; RELEASE s; SELECT * FROM customers", False),
        ("COMMIT; SET search_path = public; SELECT * FROM customers", False),
    ],
)
def test_transaction_ends_make_the_path_unknown(sql: str, uncertain: bool) -> None:
    facts = analyze(sql, CATALOG).statements[-1]
    assert facts.search_path_uncertain is uncertain
