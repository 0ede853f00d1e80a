"""The bypass corpus (tests/masking/corpus.py) as agent and analyst through a real
gateway with the default policy and real OPA, over the raw protocol (simple, and
extended without Describe), psql, psycopg (text and binary), asyncpg and node-postgres:
no raw classified value, nor an obvious transform of one, in anything the client
received; the MASKED statements succeed with masked rows."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import asyncpg
import psycopg
import pytest

from regogate.wire.frontend import Bind, Execute, Parse, Query, Sync
from tests.fix_gateway import TOKENS, GatewayFixture
from tests.masking.conftest import DB
from tests.masking.corpus import ANY, COPIES, MASKED, Oracle, classified_values
from tests.rawpg import RawClient

WHO = ("agent", "analyst")
ALL = MASKED + COPIES + ANY
CLIENTS = Path(__file__).resolve().parents[1] / "clients"
# Anonymous records: asyncpg asks the server to describe the record type with a
# catalog query of its own first, which the policy may refuse (never a leak).
ASYNCPG_INTROSPECTS = frozenset(
    {"SELECT c FROM customers c LIMIT 2", "SELECT ROW(c.ssn, c.id) FROM customers c LIMIT 2"}
)


@pytest.fixture(scope="module")
def oracle(admin: psycopg.Connection[tuple[object, ...]]) -> Oracle:
    values = classified_values(admin)
    assert len(values) > 2000
    return Oracle(values)


def _no_leak(oracle: Oracle, what: str, data: bytes | str) -> None:
    leaks = oracle.leaks(data)
    assert not leaks, f"{what}: classified values reached the client: {leaks}"


def test_corpus_is_large_enough() -> None:
    assert len(ALL) >= 80 and len(set(ALL)) == len(ALL)


@pytest.mark.parametrize("who", WHO)
def test_raw_simple_protocol(gw: GatewayFixture, oracle: Oracle, who: str) -> None:
    client = RawClient(gw.port, who, TOKENS[who][0], dbname=DB)
    assert client.startup_error is None
    _no_leak(oracle, "startup", b"".join(f.body for f in client.startup.frames))
    for sql in ALL:
        (result,) = client.run(Query(sql).encode())
        _no_leak(oracle, sql, b"".join(f.tag + f.body for f in result.frames))
        if sql in MASKED:
            assert not result.errors, (sql, result.errors[0].message)
            assert result.rows, sql
        if sql in COPIES:
            assert not result.errors, (sql, result.errors[0].message)
            assert any(f.tag == b"d" for f in result.frames), sql
    client.close()


@pytest.mark.parametrize("who", WHO)
def test_raw_extended_protocol_without_describe(
    gw: GatewayFixture, oracle: Oracle, who: str
) -> None:
    client = RawClient(gw.port, who, TOKENS[who][0], dbname=DB)
    for sql in ALL:
        if ";" in sql:
            continue  # one statement per Parse
        for fmt in (0, 1):
            data = (
                Parse("", sql).encode()
                + Bind("", "", result_formats=(fmt,)).encode()
                + Execute("").encode()
                + Sync().encode()
            )
            (result,) = client.run(data)
            _no_leak(oracle, f"{sql} (format {fmt})", b"".join(f.body for f in result.frames))
            assert not any(f.tag == b"T" for f in result.frames), "an answer the client never asked"
            if sql in MASKED:
                assert not result.errors, (sql, result.errors[0].message)
                assert any(f.tag == b"D" for f in result.frames), sql
            if sql in COPIES:
                assert not result.errors, (sql, result.errors[0].message)
                assert any(f.tag == b"d" for f in result.frames), sql
    client.close()


def _diag(exc: psycopg.Error) -> str:
    d = exc.diag
    fields = (
        d.message_primary,
        d.message_detail,
        d.message_hint,
        d.context,
        d.internal_query,
        d.schema_name,
        d.table_name,
        d.column_name,
        d.constraint_name,
        d.datatype_name,
    )
    return str(exc) + "|" + "|".join(str(f) for f in fields)


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("who", WHO)
def test_psycopg(gw: GatewayFixture, oracle: Oracle, who: str, binary: bool) -> None:
    notices: list[str] = []
    with psycopg.connect(gw.dsn(who, dbname=DB), autocommit=True) as conn:
        conn.add_notice_handler(lambda d: notices.append(f"{d.message_primary}|{d.message_detail}"))
        for sql in ALL:
            if sql in COPIES:
                continue  # psycopg runs COPY with cursor.copy only (test_psycopg_copy)
            received = ""
            try:
                cur = conn.cursor(binary=binary)
                cur.execute(sql)
                while True:
                    if cur.description is not None:
                        received += repr(cur.fetchall())
                    if not cur.nextset():
                        break
                ok = True
            except psycopg.Error as exc:
                received += _diag(exc)
                ok = False
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.execute("ROLLBACK")
            _no_leak(oracle, sql, received)
            if sql in MASKED:
                assert ok, (sql, received)
                assert received != "[]" and received, sql
        params = {
            n: conn.info.parameter_status(n)
            for n in ("application_name", "search_path", "TimeZone", "DateStyle", "client_encoding")
        }
    _no_leak(oracle, "notices", "\n".join(notices))
    _no_leak(oracle, "parameter status", repr(params))


@pytest.mark.parametrize("who", WHO)
def test_psycopg_copy(gw: GatewayFixture, oracle: Oracle, who: str) -> None:
    """COPY TO STDOUT through psycopg's ``cursor.copy``, text, CSV and binary: the masked
    fields are NULL (the statement's NULL string; -1 in binary), nothing leaks, and the
    unmasked fields are PostgreSQL's own."""
    with psycopg.connect(gw.dsn(who, dbname=DB), autocommit=True) as conn:
        for sql in COPIES:
            with conn.cursor().copy(sql) as copy:
                data = b"".join(bytes(chunk) for chunk in copy)
            _no_leak(oracle, sql, data)
            assert data, sql
            if "binary" in sql.lower():
                assert data.startswith(b"PGCOPY\n\xff\r\n\x00") and b"\xff\xff\xff\xff" in data
            elif "NIL" in sql:
                assert b"NIL" in data, (sql, data[:200])
            elif "csv" not in sql.lower():
                assert b"\\N" in data, (sql, data[:200])
        # the unmasked column of a masked COPY is untouched
        with conn.cursor().copy("COPY customers (id, ssn) TO STDOUT") as copy:
            rows = [bytes(r) for r in copy]
        ids = [r.split(b"\t")[0] for r in b"".join(rows).splitlines()]
        with conn.cursor().copy("COPY (SELECT id FROM customers) TO STDOUT") as copy:
            assert ids == b"".join(bytes(r) for r in copy).splitlines()
        assert all(line.endswith(b"\t\\N") for line in b"".join(rows).splitlines())
        # CSV with a quoted field holding the delimiter, quotes and a newline
        with conn.cursor().copy(
            "COPY (SELECT ssn, E'a,\"b\\nc' AS x FROM customers LIMIT 2) TO STDOUT (FORMAT csv)"
        ) as copy:
            data = b"".join(bytes(r) for r in copy)
        assert data == b',"a,""b\nc"\n' * 2, data
        # options regogate does not model are denied when the COPY has masks
        latin1 = "COPY customers TO STDOUT (FORMAT csv, ENCODING 'LATIN1')"
        with (
            pytest.raises(psycopg.errors.InsufficientPrivilege) as info,
            conn.cursor().copy(latin1) as copy,
        ):
            for _ in copy:
                pass
        assert "ENCODING" in str(info.value)


@pytest.mark.parametrize("who", WHO)
def test_asyncpg(gw: GatewayFixture, oracle: Oracle, who: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(
            host="127.0.0.1",
            port=gw.port,
            user=who,
            password=TOKENS[who][0],
            database=DB,
            ssl=False,
            statement_cache_size=0,
        )
        notices: list[str] = []
        conn.add_log_listener(lambda c, m: notices.append(repr(m.as_dict())))
        for sql in ALL:
            try:
                if ";" in sql:
                    received = repr(await conn.execute(sql))
                else:
                    received = repr([tuple(r) for r in await conn.fetch(sql)])
                ok = True
            except asyncpg.PostgresError as exc:
                received = repr(exc.as_dict()) + str(exc)
                ok = False
                if conn.is_in_transaction():
                    await conn.execute("ROLLBACK")
            except (asyncpg.InterfaceError, ValueError) as exc:  # an undecodable value
                received = str(exc)
                ok = False
            _no_leak(oracle, sql, received)
            if sql in MASKED and sql not in ASYNCPG_INTROSPECTS:
                assert ok, (sql, received[-300:])
        await conn.close()
        _no_leak(oracle, "notices", "\n".join(notices))

    asyncio.run(run())


@pytest.mark.parametrize("who", WHO)
def test_psql(gw: GatewayFixture, oracle: Oracle, who: str) -> None:
    script = "\n".join(s if s.endswith(";") else s + ";" for s in ALL) + "\n"
    env = {**gw.env(who, dbname=DB), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        ["psql", "-X", "-v", "ON_ERROR_STOP=0", "-f", "-"],
        input=script.encode(),
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    _no_leak(oracle, "psql", proc.stdout + proc.stderr)  # bytes: binary COPY goes there too
    assert b"REDACTED" in proc.stdout and b"*******" in proc.stdout
    assert b"PGCOPY\n\xff" in proc.stdout  # the binary COPYs ran


@pytest.mark.parametrize("who", WHO)
def test_node_postgres(gw: GatewayFixture, oracle: Oracle, who: str, tmp_path: Path) -> None:
    queries = tmp_path / "queries.json"
    queries.write_text(json.dumps(ALL))
    url = f"postgresql://{who}:{TOKENS[who][0]}@127.0.0.1:{gw.port}/{DB}?sslmode=disable"
    proc = subprocess.run(
        ["node", str(Path(__file__).with_name("node_corpus.js")), url, str(queries)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={"NODE_PATH": str(CLIENTS / "node_modules"), "PATH": "/usr/bin:/bin"},
    )
    _no_leak(oracle, "node-postgres", proc.stdout + proc.stderr)
    results = json.loads(proc.stdout)
    for entry in results[:-1]:
        if entry["sql"] in MASKED:
            assert entry["ok"], entry
