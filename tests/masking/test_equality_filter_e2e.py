"""The opt-in pii_equality_filter rule through a real gateway and OPA: with ssn masked by
hash and config pii.equality_filter naming analysts, an analyst may find a row by its
ssn (=, IN, a parameter) but not filter on it any other way; agents, not named, may not
filter on it at all."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
from collections.abc import Iterator

import psycopg
import pytest

from tests.fix_gateway import GatewayFixture, start_gateway
from tests.masking.conftest import DB, MASK_KEY, POLICIES


@pytest.fixture(scope="module")
def eq_gw(gw: GatewayFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayFixture]:
    base = tmp_path_factory.mktemp("eqfilter")
    rego = base / "rego"
    shutil.copytree(POLICIES, rego)
    pii = rego / "regogate" / "config" / "pii" / "data.json"
    data = json.loads(pii.read_text())
    data["columns"]["public.customers.ssn"] = {"method": "hash"}
    data["equality_filter"] = {"groups": ["analysts"]}
    pii.write_text(json.dumps(data))
    key = base / "hash.key"
    key.write_text(MASK_KEY)
    key.chmod(0o600)
    extra = f"""
[policy]
dir = "{rego}"

[masking]
hash_key_file = "{key}"

[connections.{DB}]
host = "127.0.0.1"
port = {gw.pg.port}
database = "{DB}"
user = "rg_scram"
password_env = "RG_TEST_UPSTREAM_PASSWORD"
"""
    other = start_gateway(gw.pg, base / "gw", extra=extra)
    yield other
    assert other.process is not None
    other.process.stop()


def test_analyst_finds_a_row_by_equality_on_a_hashed_column(
    eq_gw: GatewayFixture, admin: psycopg.Connection[tuple[object, ...]]
) -> None:
    row = admin.execute("SELECT id, ssn FROM customers WHERE ssn IS NOT NULL LIMIT 1").fetchone()
    assert row is not None
    rid, ssn = row
    assert isinstance(ssn, str)
    with psycopg.connect(eq_gw.dsn("analyst", dbname=DB), autocommit=True) as conn:
        found = conn.execute("SELECT id, ssn FROM customers WHERE ssn = %s", (ssn,)).fetchall()
        ((fid, masked),) = found
        assert fid == rid and masked != ssn  # the row, its ssn masked
        sql = f"SELECT id FROM customers WHERE ssn IN ('{ssn}', 'x') AND id > 0"
        assert conn.execute(sql).fetchall() == [(rid,)]
        for other in (
            "SELECT id FROM customers WHERE ssn LIKE '1%'",
            "SELECT id FROM customers WHERE ssn < '5'",
            "SELECT id FROM customers WHERE substr(ssn, 1, 1) = '1'",
            "SELECT id FROM customers ORDER BY ssn LIMIT 1",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
                conn.execute(other)
            assert "only by equality" in str(info.value), other


def test_identities_not_named_may_not_filter(eq_gw: GatewayFixture) -> None:
    with (
        psycopg.connect(eq_gw.dsn("agent", dbname=DB), autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege) as info,
    ):
        conn.execute("SELECT id FROM customers WHERE ssn = %s", ("123-45-6789",))
    assert "filtering, joining or sorting on the PII column" in str(info.value)


def test_the_hash_is_keyed_with_the_configured_key(
    eq_gw: GatewayFixture, admin: psycopg.Connection[tuple[object, ...]]
) -> None:
    row = admin.execute("SELECT id, ssn FROM customers WHERE ssn IS NOT NULL LIMIT 1").fetchone()
    assert row is not None
    rid, ssn = row
    assert isinstance(ssn, str)
    with psycopg.connect(eq_gw.dsn("analyst", dbname=DB), autocommit=True) as conn:
        found = conn.execute("SELECT id, ssn FROM customers WHERE id = %s", (rid,)).fetchall()
    digest = hmac.new(MASK_KEY.encode(), ssn.encode(), hashlib.sha256).hexdigest()
    assert found == [(rid, digest)]
