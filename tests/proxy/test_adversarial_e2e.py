"""An adversarial campaign against the default policy library, as the `agent` identity (a
valid token, all the time it wants): read a classified value unmasked, change any data,
or get PostgreSQL to run something the gate did not decide on. One real `regogate serve`
for the module, its OPA sidecar, real PostgreSQL; raw protocol where bytes matter.

Every attack that is stopped stays here as a test that it is stopped: refused (42501, or
FATAL at startup), no classified value in anything the client received, and the data
unchanged from PostgreSQL's side (checked after every test). Attacks that got through
are findings, kept as strict xfail tests (they fail when fixed: then drop the mark);
docs/threat-model.md lists the campaign and its outcome.

The module has a database of its own (`rg_adv`, the demo bank plus `staging.customers`,
an unclassified table whose name and columns shadow `public.customers`), so its schema
changes touch no other test.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import psycopg
import pytest

from regogate.wire.backend import ErrorResponse
from regogate.wire.frontend import Bind, Close, Describe, Execute, FunctionCall, Parse, Query, Sync
from tests.differential.setup import create_database
from tests.fix_gateway import TOKENS, GatewayFixture, start_gateway
from tests.fix_pg import PgFixture
from tests.rawpg import RawClient, Result

DB = "rg_adv"
POLICIES = Path(__file__).resolve().parents[2] / "policies" / "rego"
STAGING = """
CREATE SCHEMA staging AUTHORIZATION rg_scram;
CREATE TABLE staging.customers (id bigint PRIMARY KEY, full_name text, ssn text);
INSERT INTO staging.customers VALUES (1, 'Test Person', '000-00-0000');
ALTER TABLE staging.customers OWNER TO rg_scram;
"""
CLASSIFIED = (
    "SELECT full_name, email, ssn, phone, date_of_birth::text FROM public.customers",
    "SELECT account_number FROM public.accounts",
)
# What a client could change: data, schema, large objects, slots, stored settings.
STATE = """
SELECT (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM public.customers t),
       (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM public.accounts t),
       (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM public.transactions t),
       (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM staging.customers t),
       (SELECT count(*) FROM pg_class WHERE relnamespace <> 'pg_toast'::regnamespace
          AND relpersistence <> 't'),
       (SELECT count(*) FROM pg_largeobject_metadata),
       (SELECT count(*) FROM pg_replication_slots),
       (SELECT count(*) FROM pg_db_role_setting),
       (SELECT count(*) FROM pg_prepared_xacts)
"""


class Campaign:
    def __init__(self, gw: GatewayFixture, admin: psycopg.Connection[tuple[object, ...]]):
        self.gw = gw
        self.admin = admin
        values: set[str] = set()
        for sql in CLASSIFIED:
            for row in admin.execute(sql):
                values.update(str(v) for v in row if v is not None)
        self.secrets = sorted(v for v in values if len(v) >= 6)

    def state(self) -> tuple[object, ...]:
        row = self.admin.execute(STATE).fetchone()
        assert row is not None
        return tuple(row)

    def connect(self, who: str = "agent", **params: str) -> RawClient:
        client = RawClient(self.gw.port, who, TOKENS[who][0], dbname=DB, **params)
        assert client.startup_error is None, client.startup_error
        client.sock.settimeout(10)
        return client

    def leaked(self, results: list[Result]) -> list[str]:
        blob = b"".join(f.body for r in results for f in r.frames)
        return [s for s in self.secrets if s.encode() in blob]

    def run(self, client: RawClient, data: bytes, cycles: int = 1) -> list[Result]:
        """Send ``data`` in one write; the answers up to ``cycles`` ReadyForQuery. Fails
        if any classified value is in them."""
        results = client.run(data, cycles)
        leaked = self.leaked(results)
        assert not leaked, f"classified values reached the client: {leaked[:3]}"
        return results

    def queries(self, who: str, *sqls: str) -> list[Result]:
        client = self.connect(who)
        try:
            return [self.run(client, Query(sql).encode())[0] for sql in sqls]
        finally:
            client.close()


@pytest.fixture(scope="module")
def campaign(pg: PgFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Campaign]:
    server = pg.server
    create_database(pg, DB)
    bank = resources.files("regogate.demo").joinpath("bank.sql").read_text()
    server.psql(f"SET ROLE rg_scram;\n{bank}\n{STAGING}\nANALYZE;", dbname=DB)
    extra = f"""
[policy]
dir = "{POLICIES}"

[connections.{DB}]
host = "127.0.0.1"
port = {pg.port}
database = "{DB}"
user = "rg_scram"
password_env = "RG_TEST_UPSTREAM_PASSWORD"
"""
    gw = start_gateway(pg, tmp_path_factory.mktemp("adversarial"), extra=extra)
    try:
        with psycopg.connect(pg.admin_dsn(DB), autocommit=True) as admin:
            yield Campaign(gw, admin)
    finally:
        assert gw.process is not None
        gw.process.stop()
        server.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


@pytest.fixture(autouse=True)
def data_unchanged(campaign: Campaign) -> Iterator[None]:
    before = campaign.state()
    yield
    assert campaign.state() == before, "an attack changed data, schema or server state"


def refused(result: Result, sqlstate: str = "42501") -> ErrorResponse:
    assert result.errors, f"not refused: {result.tags} {result.rows[:2]}"
    error = result.errors[0]
    assert error.sqlstate == sqlstate, (error.sqlstate, error.message)
    return error


def refused_or_masked(result: Result) -> None:
    """Refused, failed in PostgreSQL with its error redacted, or run with its classified
    cells masked (the caller checks that no classified value was received)."""
    if not result.errors:
        assert result.tags, "neither refused nor run"


def fatal_at_startup(campaign: Campaign, who: str = "agent", **params: str) -> ErrorResponse:
    client = RawClient(campaign.gw.port, who, TOKENS[who][0], dbname=DB, **params)
    try:
        if client.startup_error is not None:
            return client.startup_error
        errors = client.startup.errors
        assert errors and errors[0].severity == "FATAL", f"session started with {params}"
        return errors[0]
    finally:
        client.sock.close()


# -- (a) reading classified values ------------------------------------------------------------

READS = [
    # whole-row and functional notation, casts by function syntax
    "SELECT c.text FROM customers c LIMIT 1",
    "SELECT c.varchar FROM customers c LIMIT 1",
    "SELECT text(c) FROM customers c LIMIT 1",
    "SELECT (c).text FROM customers c LIMIT 1",
    "SELECT c.row_to_json FROM customers c LIMIT 1",
    "SELECT c.to_jsonb FROM customers c LIMIT 1",
    "SELECT c.json_build_array FROM customers c LIMIT 1",
    "SELECT c.date FROM customers c LIMIT 1",
    "SELECT customers FROM customers LIMIT 1",
    "SELECT row_to_json(c) FROM customers c LIMIT 1",
    "SELECT (c.*)::text FROM customers c LIMIT 1",
    "SELECT ROW(c.*) FROM customers c LIMIT 1",
    "SELECT (c).* FROM customers c LIMIT 1",
    "SELECT json_agg(c) FROM customers c",
    "SELECT array_agg(c.*) FROM customers c",
    "SELECT to_jsonb(c) - 'ssn' FROM customers c LIMIT 1",
    "SELECT jsonb_path_query(to_jsonb(c), '$.id') FROM customers c LIMIT 1",
    "SELECT j FROM customers c, jsonb_each_text(to_jsonb(c)) j LIMIT 1",
    "SELECT json('\"' || c.ssn || '\"') FROM customers c LIMIT 1",
    "SELECT xml(c.ssn) FROM customers c LIMIT 1",
    "SELECT name(c.ssn) FROM customers c LIMIT 1",
    "SELECT date(c.date_of_birth) FROM customers c LIMIT 1",
    'SELECT "varchar"(c.ssn) FROM customers c LIMIT 1',
    # column aliases, identifiers spelled otherwise, TABLE
    "SELECT d FROM customers AS t(a, b, c, d) LIMIT 1",
    "SELECT x FROM customers AS t(a, b, c, x) LIMIT 1",
    "SELECT * FROM (SELECT * FROM customers) s(a, b, c, d) LIMIT 1",
    "SELECT d FROM (customers c JOIN accounts a ON a.customer_id = c.id) AS j(a, b, c, d) LIMIT 1",
    "TABLE customers",
    'SELECT U&"\\0073sn" FROM customers LIMIT 1',
    "SELECT U&\"!0073sn\" UESCAPE '!' FROM customers LIMIT 1",
    # subqueries, CTEs, set operations, lateral
    "SELECT (SELECT c2.full_name FROM customers c2 WHERE c2.id = c.id) FROM customers c LIMIT 1",
    "WITH x AS (SELECT * FROM customers) SELECT x.email FROM x LIMIT 1",
    "WITH x(a, b, e) AS (SELECT id, full_name, email FROM customers) SELECT e FROM x LIMIT 1",
    "SELECT e FROM (VALUES (1)) v(a), LATERAL (SELECT email AS e FROM customers LIMIT 1) l",
    "SELECT id FROM customers UNION SELECT ssn FROM customers LIMIT 1",
    "SELECT v FROM customers c, LATERAL (VALUES (c.ssn)) t(v) LIMIT 1",
    "SELECT m FROM customers c, regexp_matches(c.ssn, '(.*)') m LIMIT 1",
    "SELECT g FROM customers c, unnest(ARRAY[c.ssn]) g LIMIT 1",
    "SELECT a FROM accounts x, unnest(string_to_array(x.account_number, '')) a LIMIT 3",
    "SELECT x.v FROM customers c, XMLTABLE('/a' PASSING xmlelement(name a, c.ssn) "
    "COLUMNS v text PATH '.') x LIMIT 1",
    "SELECT xmlelement(name x, c.ssn) FROM customers c LIMIT 1",
    "SELECT format('%s', c.ssn) FROM customers c LIMIT 1",
    "SELECT count(DISTINCT ssn) FROM customers",
    # filters, sorts and groupings on classified columns (a row-by-row oracle for agents)
    "SELECT count(*) FILTER (WHERE ssn > '5') FROM customers",
    "SELECT id FROM customers WHERE id = 1 AND ssn::int = 1",
    "SELECT id FROM customers c WHERE (SELECT c.ssn) LIKE '1%' LIMIT 3",
    "SELECT id FROM customers c JOIN LATERAL (VALUES (c.ssn)) v(x) ON v.x LIKE '1%' LIMIT 3",
    "SELECT id FROM customers c WHERE c::text LIKE '%1%' LIMIT 1",
    "SELECT id FROM customers c ORDER BY c.row_to_json::text LIMIT 3",
    "SELECT min(c.id) FROM customers c GROUP BY c.text LIMIT 3",
    "SELECT string_agg(id::text, ',' ORDER BY ssn) FROM customers WHERE id < 5",
    "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ssn) FROM customers",
    "SELECT mode() WITHIN GROUP (ORDER BY email) FROM customers",
    "SELECT lag(id) OVER (ORDER BY ssn) FROM customers LIMIT 2",
    "SELECT id FROM (SELECT id FROM customers ORDER BY ssn LIMIT 1) s",
    "SELECT id FROM customers OFFSET (SELECT length(ssn) FROM customers LIMIT 1) LIMIT 1",
    "SELECT id FROM customers c GROUP BY ROLLUP(c.id, c.email) LIMIT 1",
    "SELECT c.id, s.date_of_birth FROM customers c NATURAL JOIN (SELECT d::date AS "
    "date_of_birth FROM generate_series('1940-01-01'::date, '2005-12-31', '1 day') d) s",
    "SELECT c.id FROM customers c WHERE c.id = 1 AND EXISTS (SELECT 1 FROM "
    "generate_series(1, 3) g WHERE g::text = substr(c.ssn, 1, 1))",
    # dynamic SQL, catalog views holding values, other sessions' SQL, password hashes
    "SELECT * FROM ts_stat('SELECT to_tsvector(ssn) FROM customers') LIMIT 3",
    "SELECT table_to_xml('public.customers', true, false, '')",
    "SELECT query_to_xml('select ssn from customers', true, false, '')",
    "SELECT schema_to_xml('public', true, false, '')",
    "SELECT database_to_xml(true, false, '')",
    "SELECT most_common_vals::text FROM pg_catalog.pg_stats WHERE attname = 'ssn'",
    "SELECT histogram_bounds::text FROM pg_stats WHERE attname = 'email'",
    "SELECT stavalues1::text FROM pg_statistic LIMIT 3",
    "SELECT rolname, rolpassword FROM pg_authid",
    "SELECT usename, passwd FROM pg_shadow",
    "SELECT query FROM pg_stat_activity",
    "SELECT * FROM pg_catalog.pg_prepared_statements",
    "SELECT pg_read_file('/etc/hostname')",
    "SELECT pg_read_binary_file('base/1/1259')",
    "SELECT pg_ls_dir('.')",
    # COPY and cursors
    "COPY customers TO STDOUT",
    "COPY (SELECT ssn FROM customers) TO STDOUT",
    "COPY customers (id, email) TO STDOUT (FORMAT csv)",
    "DECLARE cur CURSOR WITH HOLD FOR SELECT ssn FROM customers",
    "DECLARE cur CURSOR WITH HOLD FOR TABLE accounts",
    # dynamic SQL in a DO block
    "DO $$BEGIN RAISE NOTICE '%', (SELECT ssn FROM customers LIMIT 1); END$$",
]


@pytest.mark.parametrize("sql", READS)
def test_classified_reads_are_refused_or_masked(campaign: Campaign, sql: str) -> None:
    (result,) = campaign.queries("agent", sql)  # fails on any classified value received
    refused_or_masked(result)


def test_reads_of_unclassified_columns_still_work(campaign: Campaign) -> None:
    ids, copy, cursor = campaign.queries(
        "agent",
        "SELECT c.id, a.balance FROM customers c JOIN accounts a ON a.customer_id = c.id "
        "ORDER BY c.id LIMIT 2",
        "COPY customers (id) TO STDOUT",
        "SELECT count(*) FROM customers c, LATERAL (SELECT c.id) x",
    )
    assert len(ids.rows) == 2 and not copy.errors and cursor.rows == [("1000",)]


def test_a_cursor_runs_what_its_declare_was_decided_on(campaign: Campaign) -> None:
    results = campaign.queries(
        "agent",
        "BEGIN",
        "DECLARE cur CURSOR FOR SELECT id FROM customers ORDER BY id",
        "SET LOCAL search_path = staging, public",
        "FETCH 2 FROM cur",
        "SELECT cursor_to_xml('cur', 2, false, false, '')",
        "ROLLBACK",
    )
    assert results[3].rows == [("1",), ("2",)]
    refused(results[4])


# -- (a) name resolution: search_path, shadowing relations, temporary objects ----------------


def test_a_startup_search_path_is_followed(campaign: Campaign) -> None:
    client = campaign.connect(options="-c search_path=staging,public")
    (result,) = campaign.run(
        client, Query("SELECT ssn, full_name FROM customers ORDER BY ssn").encode()
    )
    assert result.rows == [("000-00-0000", "Test Person")]  # staging's, not public's
    client.close()


@pytest.mark.parametrize(
    "steps",
    [
        ["SET search_path = staging, public", "RESET search_path"],
        ["BEGIN", "SET LOCAL search_path = staging, public", "COMMIT"],
        ["SELECT set_config('search_path', 'staging, public', true)"],
        ["SET search_path = staging, public; SELECT 1/0"],
    ],
    ids=["reset", "set local committed", "set_config local", "failed"],
)
def test_shadowing_names_resolve_as_postgresql_resolves_them(
    campaign: Campaign, steps: list[str]
) -> None:
    results = campaign.queries("agent", *steps, "SELECT ssn, full_name FROM customers ORDER BY ssn")
    refused(results[-1])  # public.customers again: classified


def test_agents_cannot_create_shadowing_objects(campaign: Campaign) -> None:
    for result in campaign.queries(
        "agent",
        "CREATE TEMP VIEW transactions AS SELECT id, ssn AS memo FROM customers",
        "CREATE TEMP TABLE accounts (id int, account_number text)",
        "SELECT * INTO TEMP tt FROM transactions LIMIT 1",
        "CREATE VIEW staging.transactions AS SELECT id, ssn AS memo FROM public.customers",
        "CREATE FUNCTION pg_temp.f() RETURNS text LANGUAGE sql AS 'select 1::text'",
    ):
        refused(result)
    results = campaign.queries(
        "agent", "SET search_path = pg_temp, public", "SELECT memo FROM transactions LIMIT 1"
    )
    assert not results[1].errors


def test_role_changes_are_refused(campaign: Campaign) -> None:
    *changes, who = campaign.queries(
        "agent",
        "SET ROLE rg_md5",
        "SET SESSION AUTHORIZATION rg_md5",
        "SELECT set_config('role', 'rg_md5', false)",
        "SET LOCAL ROLE rg_md5",
        "DISCARD ALL",
        "SELECT current_user, session_user",
    )
    for result in changes:
        refused(result)
    assert who.rows == [("rg_scram", "rg_scram")]


def _reparse(client: RawClient, prepare: bytes, bind: bytes) -> list[Result]:
    return [
        client.run(Query("SET search_path = staging, public").encode())[0],
        client.run(prepare)[0],
        client.run(Query("RESET search_path").encode())[0],
        client.run(bind)[0],
    ]


@pytest.mark.parametrize(
    ("prepare", "bind"),
    [
        (
            Parse("s1", "SELECT ssn, full_name FROM customers ORDER BY ssn").encode()
            + Sync().encode(),
            Bind("", "s1").encode() + Execute("").encode() + Sync().encode(),
        ),
        (
            Query("PREPARE s1 AS SELECT ssn, full_name FROM customers ORDER BY ssn").encode(),
            Bind("", "s1").encode() + Execute("").encode() + Sync().encode(),
        ),
        (
            Query("PREPARE s1 AS SELECT ssn, full_name FROM customers ORDER BY ssn").encode(),
            Query("EXECUTE s1").encode(),
        ),
    ],
    ids=["protocol Parse", "SQL PREPARE, protocol Bind", "SQL PREPARE, EXECUTE"],
)
def test_a_prepared_statement_is_decided_again_where_postgresql_parses_it_again(
    campaign: Campaign, prepare: bytes, bind: bytes
) -> None:
    """PostgreSQL parses a prepared statement again when the search_path changed since
    (docs of PREPARE): parsed under staging, it reads public.customers after a RESET."""
    client = campaign.connect()
    results = _reparse(client, prepare, bind)
    assert not results[1].errors  # staging.customers: nothing classified
    refused(results[3])
    assert not campaign.leaked(results)
    client.close()


# -- (b) modifying data ----------------------------------------------------------------------

WRITES = [
    "DELETE FROM transactions WHERE id = 1",
    "UPDATE accounts SET balance = 0 WHERE id = 1",
    "INSERT INTO transactions SELECT 100000, 1, 1, 'x', now()",
    "TRUNCATE transactions",
    "EXPLAIN ANALYZE DELETE FROM transactions WHERE id = 1",
    "WITH d AS (DELETE FROM transactions WHERE id = 1 RETURNING 1) SELECT 1",
    "SELECT 1; COMMIT; DELETE FROM transactions WHERE id = 1",
    "COMMIT; CREATE TABLE public.agent_was_here (id int)",
    "COPY transactions FROM STDIN",
    "MERGE INTO accounts a USING (SELECT 1 AS id) s ON a.id = s.id "
    "WHEN MATCHED THEN UPDATE SET balance = 0",
    "INSERT INTO staging.customers VALUES (2, 'x', 'y')",
    "LOCK TABLE transactions",
    "VACUUM transactions",
    "ANALYZE customers",
    "CLUSTER customers USING customers_pkey",
    "REINDEX TABLE customers",
    "CHECKPOINT",
    "NOTIFY chan, 'x'",
    "SELECT pg_notify('chan', 'x')",
    "SELECT nextval('accounts_id_seq')",
    "SELECT setval('accounts_id_seq', 1)",
    "SELECT lo_creat(-1)",
    "SELECT lo_from_bytea(0, 'x')",
    "SELECT lo_import('/etc/hostname')",
    "SELECT pg_advisory_lock(1)",
    "SELECT pg_terminate_backend(pg_backend_pid())",
    "SELECT pg_cancel_backend(1)",
    "SELECT pg_reload_conf()",
    "SELECT pg_stat_reset()",
    "SELECT pg_create_logical_replication_slot('rg_adv_slot', 'test_decoding')",
    "SELECT pg_switch_wal()",
    "PREPARE TRANSACTION 'x'",
    "DO $$BEGIN DELETE FROM transactions WHERE id = 1; END$$",
    "CALL nothing()",
    "UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'",
    "ALTER ROLE rg_scram SET search_path = staging",
    "ALTER DATABASE rg_adv SET search_path = staging",
    "ALTER SYSTEM SET standard_conforming_strings = off",
    "CREATE EXTENSION dblink",
    "SELECT * FROM dblink('dbname=rg_adv', 'DELETE FROM transactions') AS t(x text)",
    "GRANT ALL ON customers TO PUBLIC",
    "COMMENT ON TABLE customers IS 'x'",
    "SECURITY LABEL ON TABLE customers IS 'x'",
    "SELECT * FROM customers FOR UPDATE",
]


@pytest.mark.parametrize("sql", WRITES)
def test_modifications_are_refused(campaign: Campaign, sql: str) -> None:
    (result,) = campaign.queries("agent", sql)
    refused(result)


def test_an_escape_from_a_read_only_transaction_is_refused(campaign: Campaign) -> None:
    begin, escape, after = campaign.queries(
        "agent",
        "BEGIN READ ONLY",
        "COMMIT; DELETE FROM transactions WHERE id = 1",
        "ROLLBACK",
    )
    assert not begin.errors and not after.errors
    refused(escape)


# -- (c) running what the gate did not decide on: lexing ---------------------------------------

DELETE = "DELETE FROM transactions WHERE id < 5"
LEXING = [
    # (statements in one session, the rows the last one returns; None: refused by policy)
    ([f"SELECT E'\\''; {DELETE}"], None),
    ([f"SELECT $a$ $b$ ; {DELETE}; $b$ $a$"], [(f" $b$ ; {DELETE}; $b$ ",)]),
    ([f"SELECT /* /* */ {DELETE}; */ 1"], [("1",)]),
    (["SELECT 1 /* unterminated"], None),
    (["SELECT U&'\\0041' UESCAPE '\\', 1"], [("A", "1")]),
    (["SELECT U&'d!0061t!+000061' UESCAPE '!'"], [("data",)]),
    (["SET backslash_quote = on", f"SELECT E'\\'; {DELETE}; --'"], [(f"'; {DELETE}; --",)]),
    (
        ["SET escape_string_warning = off", f"SELECT 'a\\' || ' ; {DELETE}; --'"],
        [(f"a\\ ; {DELETE}; --",)],
    ),
    (["RESET ALL", f"SELECT 'a\\' || ' ; {DELETE}; --'"], [(f"a\\ ; {DELETE}; --",)]),
    (
        ["SET standard_conforming_strings TO DEFAULT", f"SELECT 'a\\' || ' ; {DELETE}; --'"],
        [(f"a\\ ; {DELETE}; --",)],
    ),
]


@pytest.mark.parametrize(("steps", "rows"), LEXING, ids=[f"lexing{i}" for i in range(len(LEXING))])
def test_text_runs_as_the_gate_read_it(
    campaign: Campaign, steps: list[str], rows: list[tuple[str, ...]] | None
) -> None:
    results = campaign.queries("agent", *steps)
    if rows is None:
        refused(results[-1])
    else:
        assert results[-1].rows == rows, results[-1].errors


@pytest.mark.parametrize("sql", ["SELECT 0x1F", "SELECT 1_000", "SELECT 0b101 AS x"])
def test_numeric_literals_postgresql_15_rejects(campaign: Campaign, sql: str) -> None:
    # pglast lexes as PostgreSQL 17 does (hex, binary, underscores); PostgreSQL 15 refuses
    # the text, so nothing the gate misread can run.
    (result,) = campaign.queries("agent", sql)
    assert result.errors and result.errors[0].sqlstate in ("42601", "42501")


STARTUP_REFUSED = [
    {"options": "-c standard_conforming_strings=off"},
    {"options": "-cstandard_conforming_strings=off"},
    {"options": "--standard-conforming-strings=off"},
    {"options": "--standard_conforming_strings=off"},
    {"options": "-c\tstandard_conforming_strings=off"},
    {"options": "-c standard_conforming_strings=on -c standard_conforming_strings=off"},
    {"options": "-c\\ search_path=information_schema"},
    {"options": "-c client_encoding=GBK"},
    {"options": "-c role=rg_md5"},
    {"options": "-c session_replication_role=replica"},
    {"options": "-e"},
    {"standard_conforming_strings": "off"},
    {"Standard_Conforming_Strings": "off"},
    {"client_encoding": "GBK"},
    {"client_encoding": "SJIS"},
    {"backslash_quote": "on"},
    {"role": "rg_md5"},
    {"session_authorization": "rg_md5"},
    {"replication": "true"},
]


@pytest.mark.parametrize("params", STARTUP_REFUSED, ids=lambda p: repr(p))
def test_startup_parameters_that_change_lexing_or_identity_are_refused(
    campaign: Campaign, params: dict[str, str]
) -> None:
    error = fatal_at_startup(campaign, **params)
    assert error.severity == "FATAL", error.message


def test_replication_commands_are_refused(campaign: Campaign) -> None:
    client = campaign.connect(replication="database")
    for command in (
        "IDENTIFY_SYSTEM",
        "CREATE_REPLICATION_SLOT rg_adv_slot TEMPORARY LOGICAL test_decoding",
        "START_REPLICATION SLOT rg_adv_slot LOGICAL 0/0",
        "BASE_BACKUP",
        "TIMELINE_HISTORY 1",
    ):
        refused(campaign.run(client, Query(command).encode())[0])
    client.close()


# -- (c) prepared statements, portals, pipelines, FunctionCall ----------------------------------


def _one(campaign: Campaign, data: bytes, cycles: int = 1) -> list[Result]:
    client = campaign.connect()
    try:
        return campaign.run(client, data, cycles)
    finally:
        client.close()


# Denied for agents whatever masking does: it sorts on a classified column.
SSN_READ = "SELECT ssn FROM customers ORDER BY ssn LIMIT 1"
ID_READ = "SELECT id FROM customers LIMIT 1"

PROTOCOL = {
    "deallocate, prepare again, execute": (
        Query(f"PREPARE p1 AS {ID_READ}; DEALLOCATE p1; PREPARE p1 AS {SSN_READ}").encode()
        + Query("EXECUTE p1").encode(),
        2,
    ),
    "deallocate all, execute": (
        Query(f"PREPARE p2 AS {ID_READ}").encode()
        + Query("DEALLOCATE ALL").encode()
        + Query("EXECUTE p2").encode(),
        3,
    ),
    "duplicate protocol name": (
        Parse("s1", ID_READ).encode()
        + Sync().encode()
        + Parse("s1", SSN_READ).encode()
        + Bind("", "s1").encode()
        + Execute("").encode()
        + Sync().encode(),
        2,
    ),
    "close then the same name": (
        Parse("s1", ID_READ).encode()
        + Close(b"S", "s1").encode()
        + Parse("s1", SSN_READ).encode()
        + Bind("", "s1").encode()
        + Execute("").encode()
        + Sync().encode(),
        1,
    ),
    "SQL deallocate of a protocol statement, SQL prepare of the name": (
        Parse("s1", ID_READ).encode()
        + Sync().encode()
        + Query("DEALLOCATE s1").encode()
        + Query(f"PREPARE s1 AS {SSN_READ}").encode()
        + Bind("", "s1").encode()
        + Execute("").encode()
        + Sync().encode(),
        4,
    ),
    "protocol parse over an SQL name": (
        Query(f"PREPARE s1 AS {ID_READ}").encode()
        + Parse("s1", SSN_READ).encode()
        + Bind("", "s1").encode()
        + Execute("").encode()
        + Sync().encode(),
        2,
    ),
    "unnamed statement replaced by a denied one": (
        Parse("", ID_READ).encode()
        + Parse("", SSN_READ).encode()
        + Bind("", "").encode()
        + Execute("").encode()
        + Sync().encode(),
        1,
    ),
    "unnamed statement replaced after a sync": (
        Parse("", ID_READ).encode()
        + Sync().encode()
        + Parse("", SSN_READ).encode()
        + Sync().encode()
        + Bind("", "").encode()
        + Execute("").encode()
        + Sync().encode(),
        3,
    ),
    "describe of a denied statement": (
        Parse("d1", SSN_READ).encode() + Describe(b"S", "d1").encode() + Sync().encode(),
        1,
    ),
    "portal bound, search_path changed, executed again": (
        Query("BEGIN").encode()
        + Parse("", "SELECT id FROM customers ORDER BY id").encode()
        + Bind("c1", "").encode()
        + Execute("c1", 1).encode()
        + Sync().encode()
        + Query("SET LOCAL search_path = staging, public").encode()
        + Execute("c1", 1).encode()
        + Sync().encode()
        + Query("ROLLBACK").encode(),
        5,
    ),
    "query after an unsynced error (PostgreSQL skips it)": (
        Parse("", "SELECT 1/0").encode()
        + Bind("", "").encode()
        + Execute("").encode()
        + Query("SET search_path = staging, public").encode()
        + Sync().encode()
        + Query("SELECT ssn, full_name FROM customers ORDER BY ssn").encode(),
        2,
    ),
}


@pytest.mark.parametrize("name", list(PROTOCOL))
def test_prepared_statements_and_portals(campaign: Campaign, name: str) -> None:
    data, cycles = PROTOCOL[name]
    results = _one(campaign, data, cycles)
    errors = [e for r in results for e in r.errors]
    if name.startswith("portal"):
        assert [r.rows for r in results[1:4:2]] == [[("1",)], [("2",)]]
    else:
        assert errors, "nothing was refused"


def test_an_error_in_a_pipeline_does_not_stall_the_session(campaign: Campaign) -> None:
    client = campaign.connect()
    client.send(Parse("", "SELECT 1/0").encode() + Bind("", "").encode() + Execute("").encode())
    time.sleep(0.3)
    client.send(
        Parse("", "SET search_path = staging").encode()
        + Bind("", "").encode()
        + Execute("").encode()
    )
    time.sleep(0.3)
    client.send(Parse("", "SELECT 1").encode() + Bind("", "").encode() + Execute("").encode())
    (result,) = campaign.run(client, Sync().encode())
    assert result.errors[0].sqlstate == "22012"
    (path,) = campaign.run(client, Query("SHOW search_path").encode())
    assert path.rows == [('"$user", public',)]
    client.close()


def test_a_nul_inside_a_query_ends_the_session(campaign: Campaign) -> None:
    body = f"SELECT 1\0{DELETE}\0".encode()
    client = campaign.connect()
    client.send(b"Q" + struct.pack("!I", 4 + len(body)) + body)
    result = client.until_ready()
    assert result.errors and result.errors[0].sqlstate == "08P01"
    client.sock.close()


def _oid(campaign: Campaign, name: str) -> int:
    row = campaign.admin.execute(
        "SELECT min(oid)::int FROM pg_proc WHERE proname = %s", (name,)
    ).fetchone()
    assert row is not None and isinstance(row[0], int)
    return row[0]


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("lo_creat", (struct.pack("!i", -1),)),
        ("set_config", (b"standard_conforming_strings", b"off", b"false")),
        ("pg_read_file", (b"/etc/hostname",)),
        ("lo_import", (b"/etc/hostname",)),
    ],
)
def test_function_call_messages_are_decided(
    campaign: Campaign, name: str, args: tuple[bytes, ...]
) -> None:
    formats = (1,) if name == "lo_creat" else tuple(0 for _ in args)
    call = FunctionCall(_oid(campaign, name), formats, args).encode()
    call_result, scs = _one(campaign, call + Query("SHOW standard_conforming_strings").encode(), 2)
    refused(call_result)
    assert scs.rows == [("on",)]


def test_a_cancel_request_needs_the_gateways_key(campaign: Campaign) -> None:
    client = campaign.connect("dba")
    key = next(f for f in client.startup.frames if f.tag == b"K")
    pid, secret = struct.unpack("!II", key.body[:8])
    client.send(Query("SELECT pg_sleep(1)").encode())
    with socket.create_connection(("127.0.0.1", campaign.gw.port)) as s:
        s.sendall(struct.pack("!IIII", 16, 80877102, pid, secret ^ 1))
    result = client.until_ready()
    assert not result.errors, result.errors  # a wrong key cancels nothing
    client.close()


# -- findings: attacks that got through (strict xfail: they fail once fixed) ---------------------


# Was finding 1: FROM-clause function arguments are not lineage (fixed).
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT c.id FROM customers c, generate_series(1, c.ssn::int) g LIMIT 1",
        "SELECT c.id FROM customers c, unnest(ARRAY[c.email::int]) u LIMIT 1",
        "SELECT a.id FROM accounts a, generate_series(1, a.account_number::int8) g LIMIT 1",
        "SELECT c.id FROM customers c, XMLTABLE('/a' PASSING xmlparse(document c.phone) "
        "COLUMNS v text PATH '.') x LIMIT 1",
        "SELECT id, (SELECT 1 FROM generate_series(1, c.date_of_birth::text::int) LIMIT 1) "
        "FROM customers c LIMIT 1",
        "SELECT c.id FROM customers c, regexp_matches(c.ssn, '^1') m",  # a prefix oracle
        "SELECT (SELECT count(*) FROM generate_series(1, length(c.ssn))) FROM customers c",
    ],
)
def test_finding_from_clause_function_arguments(campaign: Campaign, sql: str) -> None:
    client = campaign.connect()
    result = client.run(Query(sql).encode())[0]
    client.close()
    assert not campaign.leaked([result]), "a classified value in the error message"
    refused(result)


# Was finding 2: Close and Parse of one name pipelined (fixed).
def test_finding_close_and_parse_in_one_pipeline(campaign: Campaign) -> None:
    client = campaign.connect()
    results = [
        client.run(Query("SET search_path = staging, public").encode())[0],
        client.run(
            Close(b"S", "s2").encode()
            + Parse("s2", "SELECT ssn, full_name FROM customers ORDER BY ssn").encode()
            + Sync().encode()
        )[0],
        client.run(Query("RESET search_path").encode())[0],
        client.run(Bind("", "s2").encode() + Execute("").encode() + Sync().encode())[0],
    ]
    client.close()
    assert not campaign.leaked(results), "public.customers read by a statement decided on staging"
    refused(results[3])


# Not strict: the catalog's periodic check (every 2 s) may, rarely, run between the
# CREATE and the attack.
@pytest.mark.xfail(reason="finding 3: decisions on a stale catalog right after outside DDL")
def test_finding_a_view_created_outside_the_gateway(campaign: Campaign) -> None:
    admin = campaign.admin
    client = campaign.connect()
    campaign.run(client, Query("SET search_path = reporting, public").encode())
    admin.execute(
        "CREATE SCHEMA reporting; CREATE VIEW reporting.transactions AS "
        "SELECT id, ssn AS memo FROM public.customers"
    )
    try:
        # At once: the catalog snapshot is up to ~2 s behind (docs/catalog.md).
        result = client.run(Query("SELECT memo FROM transactions LIMIT 2").encode())[0]
        client.close()
        assert not campaign.leaked([result]), "SSNs read through a view the gate did not know"
        refused(result)
    finally:
        admin.execute("DROP SCHEMA reporting CASCADE")


def test_a_view_created_outside_the_gateway_is_seen_within_the_bound(
    campaign: Campaign,
) -> None:
    admin = campaign.admin
    admin.execute(
        "CREATE SCHEMA reporting; CREATE VIEW reporting.transactions AS "
        "SELECT id, ssn AS memo FROM public.customers"
    )
    try:
        time.sleep(3)  # past the documented staleness bound (about 2.1 s)
        client = campaign.connect()
        results = [
            campaign.run(client, Query("SET search_path = reporting, public").encode())[0],
            campaign.run(client, Query("SELECT memo FROM transactions LIMIT 2").encode())[0],
        ]
        client.close()
        refused_or_masked(results[1])
    finally:
        admin.execute("DROP SCHEMA reporting CASCADE")


# Was finding 4: error messages carry filtered values (fixed: the statement's masks
# redact its errors and notices, regogate/masking/reports.py).
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM customers WHERE ssn::int = 1",
        "SELECT id FROM customers WHERE email::date IS NULL",
    ],
)
def test_finding_analyst_error_messages(campaign: Campaign, sql: str) -> None:
    client = campaign.connect("analyst")
    result = client.run(Query(sql).encode())[0]
    client.close()
    assert not campaign.leaked([result]), "a classified value in the error message"


# Was finding 5: a pipelined denial loses its message (fixed).
@pytest.mark.parametrize(
    "data",
    [
        Query("SELECT 1").encode() + Query(SSN_READ).encode(),
        Parse("", ID_READ).encode()
        + Sync().encode()
        + Parse("", SSN_READ).encode()
        + Sync().encode(),
    ],
    ids=["simple", "extended"],
)
def test_finding_pipelined_denial_message(campaign: Campaign, data: bytes) -> None:
    _, denied = _one(campaign, data, 2)
    error = refused(denied)
    assert "rg_denied_" not in error.message and "filtering" in error.message


# Was finding 6: misleading reason for unknown EXECUTE (fixed).
def test_finding_execute_of_an_unknown_statement_says_why(campaign: Campaign) -> None:
    (result,) = campaign.queries("agent", "EXECUTE nosuch")
    error = refused(result)
    assert "set_config" not in error.message and "prepared" in error.message
