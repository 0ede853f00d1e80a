"""The context a real gateway records: ``session.open`` names both ends (startup parameters
forwarded, client certificate, upstream host, port, server version, system identifier)
and ``gateway.start`` what runs (configuration and build digests)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import psycopg

import regogate
from regogate.config import Secret, load_config
from regogate.recording.read.verify import verify_directory
from regogate.recording.write import provenance
from tests.fix_gateway import GatewayFixture
from tests.fix_pg import PgFixture
from tests.policy.test_enforce_e2e import policy_dir, policy_section
from tests.recording.test_gateway_recording import recording_setup, records

REVOKE = "REVOKE EXECUTE ON FUNCTION pg_catalog.pg_control_system() FROM PUBLIC"


def opens(rec_dir: Path) -> list[dict[str, object]]:
    return [json.loads(r.data) for r in records(rec_dir) if r.type == "session.open"]


def test_session_open_and_gateway_start_name_what_ran(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path, pg: PgFixture
) -> None:
    section, signer, rec_dir = recording_setup(tmp_path)
    gw = make_gateway(extra=policy_section(policy_dir(tmp_path)) + section)
    with psycopg.connect(
        gw.dsn("dba", application_name="ctx-test", options="-c statement_timeout=5000"),
        autocommit=True,
    ) as c:
        server_version = c.execute("show server_version").fetchone()
        ident = c.execute("select system_identifier from pg_control_system()").fetchone()
    # PostgreSQL grants pg_control_system() to PUBLIC; a hardened database revokes it
    with psycopg.connect(pg.admin_dsn(), autocommit=True) as direct:
        direct.execute(REVOKE)
        try:  # rg_md5 is no superuser: refused, and its session runs all the same
            with psycopg.connect(gw.dsn("dba", dbname="bank_md5"), autocommit=True) as c:
                assert c.execute("select 1").fetchone() == (1,)
        finally:
            direct.execute(REVOKE.replace("REVOKE", "GRANT").replace("FROM", "TO"))
    assert gw.process is not None
    assert gw.process.stop() == 0
    assert verify_directory(rec_dir, [signer.verifier]).ok  # new fields are chained too

    first, second = opens(rec_dir)
    up = first["upstream"]
    assert isinstance(up, dict) and server_version and ident
    assert (up["host"], up["port"], up["tls"]) == ("127.0.0.1", pg.port, False)
    assert up["server_version"] == server_version[0]
    assert up["system_identifier"] == str(ident[0]) and up["system_identifier_error"] is None
    params = up["startup_params"]
    assert isinstance(params, dict)
    assert params["user"] == "rg_scram" and params["database"] == "bank"
    assert params["application_name"] == "ctx-test"
    assert params["options"] == "-c statement_timeout=5000"
    blob = b"".join(p.read_bytes() for p in rec_dir.glob("seg-*"))
    assert gw.token("dba").encode() not in blob and pg.password.encode() not in blob
    client = first["client"]
    assert isinstance(client, dict) and client["cert"] is None  # no client certificates yet

    up2 = second["upstream"]
    assert isinstance(up2, dict) and up2["host"] == "localhost" and up2["tls"] is True
    assert up2["system_identifier"] is None
    assert "permission denied" in str(up2["system_identifier_error"])

    (start,) = [json.loads(r.data) for r in records(rec_dir) if r.type == "gateway.start"]
    config = load_config(gw.process.config, env={"RG_TEST_UPSTREAM_PASSWORD": pg.password})
    assert start["config_sha256"] == provenance.config_digest(config, Secret)
    assert pg.password not in json.dumps(provenance.config_form(config, Secret))
    build = start["build"]
    assert build["version"] == regogate.__version__
    assert build["files_sha256"] == manifest_digest(Path(regogate.__file__).parent)


def manifest_digest(package: Path) -> str:
    """The build digest, recomputed as recording-format.md §4 states it."""
    lines = sorted(
        (p.relative_to(package).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest())
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    return hashlib.sha256("".join(f"{h} {r}\n" for r, h in lines).encode()).hexdigest()


def test_the_config_digest_withholds_secrets_and_follows_settings(
    tmp_path: Path, pg: PgFixture
) -> None:
    from tests.fix_gateway import gateway_config_text

    path = tmp_path / "regogate.toml"
    path.write_text(gateway_config_text(pg, 6432))
    a = load_config(path, env={"RG_TEST_UPSTREAM_PASSWORD": "Pw-One-417"})
    b = load_config(path, env={"RG_TEST_UPSTREAM_PASSWORD": "Pw-Two-829"})
    assert provenance.config_digest(a, Secret) == provenance.config_digest(b, Secret)
    path.write_text(gateway_config_text(pg, 6433))
    c = load_config(path, env={"RG_TEST_UPSTREAM_PASSWORD": "Pw-One-417"})
    assert provenance.config_digest(a, Secret) != provenance.config_digest(c, Secret)
    form = provenance.config_form(a, Secret)
    assert "Pw-One-417" not in json.dumps(form)
    assert isinstance(form, dict)
    conn = form["connections"]["bank"]  # type: ignore[index]
    assert conn["password"] == provenance.WITHHELD  # type: ignore[index]
