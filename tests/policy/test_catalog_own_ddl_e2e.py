"""A session's own DDL and the statements after it, end to end (real gateway, OPA,
PostgreSQL): a relation the DDL changed is never decided on its definition from before,
whether the DDL committed a moment ago, is still open in the transaction, or came earlier
in the same text.

The attack: a policy that lets a role define views (DDL) but not read SSNs; the role
replaces a harmless view with one over the SSN column and reads it at once, hoping the
gateway still has the harmless definition.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.fix_gateway import GatewayFixture
from tests.policy.test_enforce_e2e import policy_dir, policy_section

POLICY = """\
package regogate

# Views may be defined over anything; only reading them is checked.
reading if not "CREATE VIEW" in input.statement.verbs

reasons contains "reading SSN columns is not allowed" if {
\treading
\tsome c in input.statement.columns.read
\tendswith(c, ".ssn")
}

# Like the default library's uncertain_names (masked identities), for plain reads here.
reasons contains "reading a relation regogate does not know is not allowed" if {
\tinput.statement.verbs == ["SELECT"]
\tsome t in input.statement.tables
\tt.kind == "unknown"
}

decision := {"allow": false, "deny": sort(reasons), "ttl": 60} if {
\tcount(reasons) > 0
} else := {"allow": true, "deny": [], "ttl": 60}
"""

HARMLESS = "CREATE OR REPLACE VIEW {v} AS SELECT id, full_name AS x FROM customers"
SSN = "CREATE OR REPLACE VIEW {v} AS SELECT id, ssn AS x FROM customers"


@pytest.fixture
def gw(make_gateway: Callable[..., GatewayFixture], tmp_path: Path) -> GatewayFixture:
    return make_gateway(extra=policy_section(policy_dir(tmp_path, POLICY)))


def _refused(conn: psycopg.Connection[tuple[object, ...]], sql: str) -> str:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
        conn.execute(sql).fetchall()
    return str(info.value)


def test_a_replaced_view_read_right_after_its_commit(gw: GatewayFixture) -> None:
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
        for i in range(5):  # no window: every round, at once
            v = f"rv_commit_{i}"
            conn.execute(HARMLESS.format(v=v))
            assert conn.execute(f"SELECT x FROM {v} ORDER BY id LIMIT 1").fetchall()
            conn.execute(SSN.format(v=v))
            assert "SSN" in _refused(conn, f"SELECT x FROM {v} ORDER BY id LIMIT 1")


def test_a_replaced_view_read_in_the_same_transaction(gw: GatewayFixture) -> None:
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
        conn.execute(HARMLESS.format(v="rv_tx"))
        conn.execute("BEGIN")
        conn.execute(SSN.format(v="rv_tx"))
        assert "does not know" in _refused(conn, "SELECT x FROM rv_tx ORDER BY id LIMIT 1")
        conn.execute("ROLLBACK")
        # Rolled back: the harmless definition is PostgreSQL's again, and readable.
        assert conn.execute("SELECT x FROM rv_tx ORDER BY id LIMIT 1").fetchall()


def test_a_replaced_view_read_in_the_same_text(gw: GatewayFixture) -> None:
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
        conn.execute(HARMLESS.format(v="rv_text"))
        why = _refused(conn, SSN.format(v="rv_text") + "; SELECT x FROM rv_text")
        assert "does not know" in why
        # Denied as a whole: the replacement did not run either.
        assert conn.execute("SELECT x FROM rv_text ORDER BY id LIMIT 1").fetchall()


def test_a_new_table_is_usable_at_once_and_in_its_transaction(gw: GatewayFixture) -> None:
    """The other side: a migration's DDL and its use pass (an allowing policy decides on
    what it knows; a new relation is read after the commit, without waiting)."""
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as conn:
        conn.execute("CREATE TABLE mig_t (id int, note text)")
        conn.execute("INSERT INTO mig_t VALUES (1, 'a')")
        assert conn.execute("SELECT note FROM mig_t").fetchall() == [("a",)]
        with conn.transaction():
            conn.execute("ALTER TABLE mig_t ADD COLUMN extra int")
            conn.execute("UPDATE mig_t SET extra = 2")
        assert conn.execute("SELECT extra FROM mig_t").fetchall() == [(2,)]
