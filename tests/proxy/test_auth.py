"""Client tokens, unknown connections, upstream auth methods and TLS on both sides."""

from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg import errors as pgerrors

from tests.fix_gateway import GatewayFixture
from tests.fix_pg import UPSTREAM_PASSWORD


def test_wrong_token_is_28p01_without_echo(gateway: GatewayFixture) -> None:
    bad = "not-the-token-8c1d"
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(gateway.dsn().replace(gateway.token("dba"), bad))
    err = info.value
    assert err.sqlstate == "28P01"
    assert bad not in str(err)
    assert UPSTREAM_PASSWORD not in str(err)


def test_empty_password(gateway: GatewayFixture) -> None:
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(f"host=127.0.0.1 port={gateway.port} dbname=bank user=dba password='' "
                        "sslmode=disable")
    assert info.value.sqlstate in ("28P01", None)  # libpq may refuse to send an empty password


def test_unknown_connection_is_3d000(gateway: GatewayFixture) -> None:
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(gateway.dsn(dbname="nosuchdb"))
    assert info.value.sqlstate == "3D000"
    assert 'no connection named "nosuchdb"' in str(info.value)


@pytest.mark.parametrize("conn_name", ["bank", "bank_md5", "bank_trust", "bank_tls", "bank_verify"])
def test_upstream_auth_methods_and_tls(gateway: GatewayFixture, conn_name: str) -> None:
    with psycopg.connect(gateway.dsn(dbname=conn_name), autocommit=True) as conn:
        user, ssl = conn.execute(
            "select current_user, coalesce((select ssl from pg_stat_ssl where pid = pg_backend_pid()), false)"
        ).fetchone()
    expected_user = {"bank_md5": "rg_md5", "bank_trust": "rg_trust"}.get(conn_name, "rg_scram")
    assert user == expected_user
    assert ssl == (conn_name in ("bank_tls", "bank_verify"))


def test_upstream_verify_full_rejects_wrong_ca(make_gateway, pg) -> None:  # type: ignore[no-untyped-def]
    from tests.certs import make_certs

    other = make_certs(pg.certs.ca.parent.parent / "other-ca", prefix="other")
    gw = make_gateway(extra=f"""
[connections.bank_wrongca]
host = "localhost"
port = {pg.port}
database = "bank"
user = "rg_scram"
password_env = "RG_TEST_UPSTREAM_PASSWORD"
tls = "verify-full"
tls_ca_file = "{other.ca}"
""")
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(gw.dsn(dbname="bank_wrongca"))
    assert info.value.sqlstate == "08006"
    assert "TLS" in str(info.value)


def test_wrong_upstream_password_is_reported_without_secret(make_gateway, pg) -> None:  # type: ignore[no-untyped-def]
    import os

    os.environ["RG_TEST_WRONG_PW"] = "wrong-upstream-pw-77"
    try:
        gw = make_gateway(extra=f"""
[connections.bank_wrongpw]
host = "127.0.0.1"
port = {pg.port}
database = "bank"
user = "rg_scram"
password_env = "RG_TEST_WRONG_PW"
""")
        with pytest.raises(psycopg.OperationalError) as info:
            psycopg.connect(gw.dsn(dbname="bank_wrongpw"))
        assert "wrong-upstream-pw-77" not in str(info.value)
        assert info.value.sqlstate is not None
    finally:
        del os.environ["RG_TEST_WRONG_PW"]


def _tls_gateway(make_gateway, pg, rule: str) -> GatewayFixture:  # type: ignore[no-untyped-def]
    return make_gateway(extra_server=f"""
tls_cert_file = "{pg.certs.cert}"
tls_key_file = "{pg.certs.key}"
cleartext_without_tls = "{rule}"
""")


def test_client_tls_and_cleartext_rule(make_gateway, pg) -> None:  # type: ignore[no-untyped-def]
    gw = _tls_gateway(make_gateway, pg, "never")
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(gw.dsn(sslmode="disable"))
    assert info.value.sqlstate == "28000"
    assert "requires TLS" in str(info.value)
    dsn = gw.dsn(sslmode="verify-full", sslrootcert=str(pg.certs.ca), host="localhost")
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.info.pgconn.ssl_in_use
        assert conn.execute("select 1").fetchone() == (1,)


def test_cancel_inside_tls(make_gateway, pg) -> None:  # type: ignore[no-untyped-def]
    gw = _tls_gateway(make_gateway, pg, "never")
    with psycopg.connect(gw.dsn(sslmode="require"), autocommit=True) as conn:
        threading.Timer(0.5, conn.cancel_safe).start()
        with pytest.raises(pgerrors.QueryCanceled):
            conn.execute("select pg_sleep(20)")
        assert conn.execute("select 2").fetchone() == (2,)
