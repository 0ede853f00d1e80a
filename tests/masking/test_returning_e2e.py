"""RETURNING of masked columns through a real gateway: masked like a SELECT's rows when no
masked value is stored on the way, denied otherwise. The default library lets readers
(analysts, agents) write nothing, so this gateway adds one rule package: analysts may
write (their reads stay masked by pii_mask)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import psycopg
import pytest

from tests.fix_gateway import GatewayFixture, start_gateway
from tests.masking.conftest import DB, MASK_KEY, POLICIES
from tests.masking.corpus import Oracle, classified_values

ANALYSTS_WRITE = """# METADATA
# title: Analysts may write (masking tests of RETURNING)
# custom:
#   id: analysts_write
package regogate.rules.analysts_write

allow if "analysts" in input.identity.groups
"""
UPDATE = "UPDATE customers SET created_at = created_at WHERE id = %s RETURNING id, ssn, email"


@pytest.fixture(scope="module")
def writer_gw(
    gw: GatewayFixture, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayFixture]:
    base = tmp_path_factory.mktemp("returning")
    rego = base / "rego"
    shutil.copytree(POLICIES, rego)
    rule = rego / "regogate" / "rules" / "analysts_write"
    rule.mkdir()
    (rule / "analysts_write.rego").write_text(ANALYSTS_WRITE)
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


@pytest.fixture(scope="module")
def oracle(admin: psycopg.Connection[tuple[object, ...]]) -> Oracle:
    return Oracle(classified_values(admin))


@pytest.mark.parametrize("prepare", [False, True], ids=["simple", "extended"])
def test_returning_is_masked(
    writer_gw: GatewayFixture,
    admin: psycopg.Connection[tuple[object, ...]],
    oracle: Oracle,
    prepare: bool,
) -> None:
    (first,) = admin.execute("SELECT min(id) FROM customers").fetchone() or (None,)
    with psycopg.connect(writer_gw.dsn("analyst", dbname=DB)) as conn:
        if prepare:
            rows = conn.execute(UPDATE, (first,), prepare=True).fetchall()
        else:
            rows = conn.execute(UPDATE.replace("%s", str(first))).fetchall()
        conn.rollback()
    ((rid, ssn, email),) = rows
    assert rid == first
    assert isinstance(ssn, str) and ssn.startswith("*******"), rows
    assert isinstance(email, str) and email.startswith("***@"), rows
    assert not oracle.leaks(repr(rows))


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE customers SET full_name = ssn WHERE id = 1 RETURNING id",
        "INSERT INTO customers (full_name, email, ssn) SELECT ssn, email, ssn FROM customers "
        "LIMIT 1 RETURNING id",
        "WITH u AS (UPDATE customers SET created_at = created_at WHERE id = 1 RETURNING ssn) "
        "SELECT * FROM u",
    ],
)
def test_storing_a_masked_value_is_denied(writer_gw: GatewayFixture, sql: str) -> None:
    with (
        psycopg.connect(writer_gw.dsn("analyst", dbname=DB)) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege) as info,
    ):
        conn.execute(sql)
    assert "masked" in str(info.value), str(info.value)
