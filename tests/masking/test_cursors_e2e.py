"""Cursors through a real gateway: a FETCH of a cursor the gateway did not see opened (a
refcursor a plpgsql function opened) is decided as opaque (flags.unknown_cursor): the
default library denies it to masked identities and lets unmasked ones through, an
allow-all policy lets it through; a prepared FETCH follows the cursor of its name as it
is at each Bind."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from tests.fix_gateway import GatewayFixture, start_gateway
from tests.masking.conftest import DB, POLICIES
from tests.masking.corpus import Oracle, classified_values

ALLOW_ALL = """# METADATA
# title: Everyone may run anything (cursor tests)
# custom:
#   id: allow_all
package regogate.rules.allow_all

allow := true
"""
OPEN = "SELECT open_ssn_cursor('rc')"
FETCH = "FETCH 3 FROM rc"


@pytest.fixture(scope="module")
def oracle(admin: psycopg.Connection[tuple[object, ...]]) -> Oracle:
    return Oracle(classified_values(admin))


def _fetch_refcursor(dsn: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:  # in a transaction: the cursor lives until its end
        conn.execute(OPEN)
        return conn.execute(FETCH).fetchall()


@pytest.mark.parametrize("who", ["analyst", "agent"])
def test_masked_identities_may_not_fetch_an_unknown_cursor(
    gw: GatewayFixture, admin: psycopg.Connection[tuple[object, ...]], who: str
) -> None:
    with psycopg.connect(gw.dsn(who, dbname=DB)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
            conn.execute("DECLARE mine CURSOR FOR SELECT 1")
            conn.execute("FETCH 1 FROM rc")  # never opened through the gateway
        assert "did not see opened" in str(info.value), str(info.value)


def test_unmasked_identities_fetch_an_unknown_cursor(
    gw: GatewayFixture, admin: psycopg.Connection[tuple[object, ...]]
) -> None:
    rows = _fetch_refcursor(gw.dsn("dba", dbname=DB))
    direct = admin.execute("SELECT id, ssn FROM customers ORDER BY id LIMIT 3").fetchall()
    assert rows == direct  # dba is not masked: the rows as PostgreSQL has them


def test_allow_all_lets_an_unknown_cursor_through(
    gw: GatewayFixture, admin: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    rego = tmp_path / "rego"
    (rego / "regogate" / "rules" / "allow_all").mkdir(parents=True)
    shutil.copyfile(POLICIES / "regogate" / "decision.rego", rego / "regogate" / "decision.rego")
    (rego / "regogate" / "rules" / "allow_all" / "allow_all.rego").write_text(ALLOW_ALL)
    extra = f"""
[policy]
dir = "{rego}"

[connections.{DB}]
host = "127.0.0.1"
port = {gw.pg.port}
database = "{DB}"
user = "rg_scram"
password_env = "RG_TEST_UPSTREAM_PASSWORD"
"""
    other = start_gateway(gw.pg, tmp_path / "gw", extra=extra)
    try:
        rows = _fetch_refcursor(other.dsn("analyst", dbname=DB))
        direct = admin.execute("SELECT id, ssn FROM customers ORDER BY id LIMIT 3").fetchall()
        assert rows == direct
        with psycopg.connect(other.dsn("analyst", dbname=DB)) as conn:
            conn.execute(OPEN)
            conn.execute("MOVE 1 IN rc")
            assert conn.execute("FETCH 1 FROM rc").fetchall() == direct[1:2]
    finally:
        assert other.process is not None
        other.process.stop()


@pytest.mark.parametrize("who", ["analyst", "agent"])
def test_a_prepared_fetch_follows_the_cursor_declared_again(
    gw: GatewayFixture, oracle: Oracle, who: str
) -> None:
    """FETCH prepared while ``c`` held unmasked rows, run again after ``c`` was closed and
    declared over ssn: the rows are masked like the new cursor's."""
    with psycopg.connect(gw.dsn(who, dbname=DB)) as conn:
        conn.execute("DECLARE c CURSOR FOR SELECT id::text FROM customers ORDER BY id")
        for _ in range(3):
            first = conn.execute("FETCH 1 FROM c", prepare=True).fetchall()
        assert len(first) == 1 and str(first[0][0]).isdigit()
        conn.execute("CLOSE c")
        conn.execute("DECLARE c CURSOR FOR SELECT ssn FROM customers ORDER BY id")
        rows = conn.execute("FETCH 1 FROM c", prepare=True).fetchall()
        ((value,),) = rows
        assert isinstance(value, str) and value.startswith("*******"), rows
        assert not oracle.leaks(repr(rows))
        # and a prepared FETCH of a cursor closed since is an unknown cursor's: denied
        conn.execute("CLOSE c")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("FETCH 1 FROM c", prepare=True)
