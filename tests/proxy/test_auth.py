"""Client tokens, unknown connections, upstream auth methods and TLS on both sides."""

from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg import errors as pgerrors

from tests.fix_gateway import GatewayFixture
from tests.fix_pg import UPSTREAM_PASSWORD
from tests.pgerror import connect_error


def test_wrong_token_is_28p01_without_echo(gateway: GatewayFixture) -> None:
    bad = "not-the-token-8c1d"
    state, message = connect_error(gateway.port, "dba", bad, "bank")
    assert state == "28P01"
    assert "token authentication failed" in message
    assert bad not in message
    assert UPSTREAM_PASSWORD not in message
    with pytest.raises(psycopg.OperationalError, match="token authentication failed"):
        psycopg.connect(gateway.dsn().replace(gateway.token("dba"), bad))


def test_empty_password(gateway: GatewayFixture) -> None:
    state, message = connect_error(gateway.port, "dba", "", "bank")
    assert state == "28P01"
    assert "no token presented" in message


def test_unknown_connection_is_3d000(gateway: GatewayFixture) -> None:
    state, message = connect_error(gateway.port, "dba", gateway.token("dba"), "nosuchdb")
    assert state == "3D000"
    assert 'no connection named "nosuchdb"' in message


@pytest.mark.parametrize("conn_name", ["bank", "bank_md5", "bank_trust", "bank_tls", "bank_verify"])
def test_upstream_auth_methods_and_tls(gateway: GatewayFixture, conn_name: str) -> None:
    with psycopg.connect(gateway.dsn(dbname=conn_name), autocommit=True) as conn:
        user, ssl = conn.execute(
            "select current_user, coalesce((select ssl from pg_stat_ssl where pid = pg_backend_pid()), false)"
        ).fetchone()
    expected_user = {"bank_md5": "rg_md5", "bank_trust": "rg_trust"}.get(conn_name, "rg_scram")
    assert user == expected_user
    assert ssl == (conn_name in ("bank_md5", "bank_tls", "bank_verify"))


def test_upstream_verify_full_rejects_wrong_ca(make_gateway, pg) -> None:  # type: ignore[no-untyped-def]
    from tests.certs import make_certs

    other = make_certs(pg.certs.ca.parent.parent / "other-ca", prefix="other")
    gw = make_gateway(
        extra=f"""
[connections.bank_wrongca]
host = "localhost"
port = {pg.port}
database = "bank"
user = "rg_scram"
password_env = "RG_TEST_UPSTREAM_PASSWORD"
tls = "verify-full"
tls_ca_file = "{other.ca}"
"""
    )
    state, message = connect_error(gw.port, "dba", gw.token("dba"), "bank_wrongca")
    assert state == "08006"
    assert "TLS" in message


def test_wrong_upstream_password_is_reported_without_secret(make_gateway, pg, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "pw").write_text("wrong-upstream-pw-77\n")
    gw = make_gateway(
        extra=f"""
[connections.bank_wrongpw]
host = "127.0.0.1"
port = {pg.port}
database = "bank"
user = "rg_scram"
password_file = "{tmp_path / "pw"}"
"""
    )
    state, message = connect_error(gw.port, "dba", gw.token("dba"), "bank_wrongpw")
    assert state == "28P01"  # the upstream's own verdict, forwarded
    assert "wrong-upstream-pw-77" not in message


def _tls_gateway(make_gateway, pg, rule: str) -> GatewayFixture:  # type: ignore[no-untyped-def]
    return make_gateway(
        extra_server=f"""
tls_cert_file = "{pg.certs.cert}"
tls_key_file = "{pg.certs.key}"
cleartext_without_tls = "{rule}"
"""
    )


def test_client_tls_and_cleartext_rule(make_gateway, pg) -> None:  # type: ignore[no-untyped-def]
    gw = _tls_gateway(make_gateway, pg, "never")
    state, message = connect_error(gw.port, "dba", gw.token("dba"), "bank")
    assert state == "28000"
    assert "requires TLS" in message
    dsn = gw.dsn(sslmode="verify-full", sslrootcert=str(pg.certs.ca), host="localhost")
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.info.pgconn.ssl_in_use
        assert conn.execute("select 1").fetchone() == (1,)


def test_cancel_inside_tls(make_gateway, pg) -> None:  # type: ignore[no-untyped-def]
    gw = _tls_gateway(make_gateway, pg, "never")
    with psycopg.connect(gw.dsn(sslmode="require"), autocommit=True) as conn:
        timer = threading.Timer(0.5, conn.cancel_safe)  # libpq 17+: cancel inside TLS
        timer.start()
        with pytest.raises(pgerrors.QueryCanceled):
            conn.execute("select pg_sleep(20)")
        timer.join()  # an error in the cancel itself fails the test (unhandled thread error)
        assert conn.execute("select 2").fetchone() == (2,)
