"""One real `regogate serve` with the default policy library for the masking tests, over
a database of their own (`rg_mask`: the demo bank plus a view, a materialized view and a
user function over the classified columns)."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import psycopg
import pytest

from tests.differential.setup import create_database
from tests.fix_gateway import GatewayFixture, start_gateway
from tests.fix_pg import PgFixture

POLICIES = Path(__file__).resolve().parents[2] / "policies" / "rego"
MASK_KEY = "masking-tests-hash-key-0123456789"
DB = "rg_mask"
EXTRA_SQL = """
CREATE VIEW customer_contacts AS SELECT id, full_name, email, phone FROM customers;
CREATE VIEW ssn_prefixes AS SELECT id, substr(ssn, 1, 3) AS prefix, reverse(ssn) AS rev
  FROM customers;
CREATE MATERIALIZED VIEW customer_emails AS SELECT id, email FROM customers;
CREATE FUNCTION masked_email(e text) RETURNS text LANGUAGE sql IMMUTABLE
  AS $$ SELECT e $$;
CREATE FUNCTION ssn_of(i bigint) RETURNS text LANGUAGE sql STABLE
  AS $$ SELECT ssn FROM customers WHERE id = i $$;
CREATE FUNCTION open_ssn_cursor(r refcursor) RETURNS refcursor LANGUAGE plpgsql
  AS $$ BEGIN OPEN r FOR SELECT id, ssn FROM customers ORDER BY id; RETURN r; END $$;
"""


@pytest.fixture(scope="module")
def gw(pg: PgFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayFixture]:
    create_database(pg, DB)
    bank = resources.files("regogate.demo").joinpath("bank.sql").read_text()
    pg.server.psql(f"SET ROLE rg_scram;\n{bank}\n{EXTRA_SQL}\nANALYZE;", dbname=DB)
    key = tmp_path_factory.mktemp("maskkey") / "hash.key"
    key.write_text(MASK_KEY)
    key.chmod(0o600)
    extra = f"""
[policy]
dir = "{POLICIES}"

[masking]
hash_key_file = "{key}"

[connections.{DB}]
host = "127.0.0.1"
port = {pg.port}
database = "{DB}"
user = "rg_scram"
password_env = "RG_TEST_UPSTREAM_PASSWORD"
"""
    gw = start_gateway(pg, tmp_path_factory.mktemp("maskgw"), extra=extra)
    yield gw
    assert gw.process is not None
    gw.process.stop()


@pytest.fixture(scope="module")
def admin(gw: GatewayFixture) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(gw.pg.admin_dsn(DB), autocommit=True) as conn:
        yield conn
