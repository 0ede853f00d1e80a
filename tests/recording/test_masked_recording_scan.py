"""After the masking bypass corpus (tests/masking/corpus.py: queries, COPY in three
formats, cursors, RETURNING attempts) ran as agent and analyst through a gateway with the
default policy and the signed recording on, no file the gateway wrote holds a raw
classified value or an obvious transform of one (reversed, digits only, upper/lower
case, md5/sha256 hex, hex, base64): every file under the recording directory is scanned
as it is on disk and, for segments, as the records it decodes to."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import psycopg
import pytest

from regogate.recording.format.directory import read_segments
from regogate.recording.read.verify import verify_directory
from regogate.wire.frontend import Bind, Execute, Parse, Query, Sync
from tests.differential.setup import create_database
from tests.fix_gateway import TOKENS, GatewayFixture, start_gateway
from tests.fix_pg import PgFixture
from tests.masking.conftest import EXTRA_SQL, MASK_KEY, POLICIES
from tests.masking.corpus import ANY, COPIES, MASKED, Oracle, classified_values
from tests.rawpg import RawClient
from tests.recording.test_gateway_recording import recording_setup

DB = "rg_mask_rec"


@pytest.fixture(scope="module")
def recorded(
    pg: PgFixture, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayFixture, Path, object]]:
    create_database(pg, DB)
    bank = resources.files("regogate.demo").joinpath("bank.sql").read_text()
    pg.server.psql(f"SET ROLE rg_scram;\n{bank}\n{EXTRA_SQL}\nANALYZE;", dbname=DB)
    base = tmp_path_factory.mktemp("maskrec")
    section, signer, rec_dir = recording_setup(base)
    key = base / "hash.key"
    key.write_text(MASK_KEY)
    key.chmod(0o600)
    extra = f"""
[policy]
dir = "{POLICIES}"

[masking]
hash_key_file = "{key}"

{section}
[connections.{DB}]
host = "127.0.0.1"
port = {pg.port}
database = "{DB}"
user = "rg_scram"
password_env = "RG_TEST_UPSTREAM_PASSWORD"
"""
    gw = start_gateway(pg, base / "gw", extra=extra)
    yield gw, rec_dir, signer
    if gw.process is not None and gw.process.proc.poll() is None:
        gw.process.stop()


def test_no_classified_value_in_any_recording_file(
    recorded: tuple[GatewayFixture, Path, object], pg: PgFixture
) -> None:
    gw, rec_dir, signer = recorded
    with psycopg.connect(pg.admin_dsn(DB), autocommit=True) as admin:
        values = classified_values(admin)
    assert len(values) > 2000
    oracle = Oracle(values)
    received = b""
    for who in ("agent", "analyst"):
        client = RawClient(gw.port, who, TOKENS[who][0], dbname=DB)
        for sql in MASKED + COPIES + ANY:
            (result,) = client.run(Query(sql).encode())
            received += b"".join(f.body for f in result.frames)
            if ";" not in sql:  # the extended protocol, binary results
                (result,) = client.run(
                    Parse("", sql).encode()
                    + Bind("", "", result_formats=(1,)).encode()
                    + Execute("").encode()
                    + Sync().encode()
                )
                received += b"".join(f.body for f in result.frames)
        client.close()
    assert b"REDACTED" in received and b"PGCOPY" in received  # the corpus did run, masked
    assert not oracle.leaks(received)
    assert gw.process is not None
    assert gw.process.stop() == 0
    assert verify_directory(rec_dir, [signer.verifier]).ok  # type: ignore[attr-defined]

    files = [p for p in rec_dir.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        leaks = oracle.leaks(data)
        assert not leaks, f"{path.relative_to(rec_dir)} holds classified values: {leaks}"
    segments = list(read_segments(rec_dir))
    assert segments
    for seg in segments:
        leaks = oracle.leaks(seg.data)
        assert not leaks, f"a recording segment holds classified values: {leaks}"
