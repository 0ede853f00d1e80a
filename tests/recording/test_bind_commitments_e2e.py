"""Issue 21 item 2 end to end: every Bind's parameter values are committed in the
recording, one MAC each with the session's parameter key, through a real `regogate
serve`, real PostgreSQL and OPA and real clients (psycopg text, binary, NULL, a named
prepared statement run twice, a pipeline; asyncpg; a statement held for approval);
`regogate verify --param` confirms each value with the session's disclosed keys and
refuses a wrong one, and no value is anywhere in the recording's files."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import asyncpg
import psycopg
import pytest

from regogate.pgserver import free_port
from regogate.recording.format import mac
from regogate.recording.format.key_info import commitment_key
from regogate.recording.format.mac import MacRoot
from regogate.recording.format.records import Record
from regogate.recording.write import keys
from tests.cli.test_recording_cli import run
from tests.fix_gateway import GatewayFixture
from tests.policy.test_enforce_e2e import policy_dir, policy_section
from tests.proxy.test_approval_hold_e2e import Approvals, approvals_extra, held_update
from tests.recording.test_gateway_recording import recording_setup, records

# Values no recording may show, in any form.
TEXT = "Zebulon-Quist-4471"
PREPARED = ("Ottoline-Marsh-1932", "Ignatius-Vale-7719")
PIPELINED = ("Perpetua-Lind-5520", "Casimir-Rowe-0384")
BINARY = 322376503  # 0x13371337: an int4 in binary is these 4 bytes
ASYNCPG = (381200907, 917345011)


def every_form(value: str | int) -> list[bytes]:
    """The value as text, as a 4-byte int, and each of those in hex."""
    raw = [str(value).encode()]
    if isinstance(value, int):
        raw.append(value.to_bytes(4, "big"))
    return raw + [r.hex().encode() for r in raw]


def assert_nowhere(rec_dir: Path, values: list[str | int]) -> None:
    files = [p for p in rec_dir.rglob("*") if p.is_file()]
    assert any(p.name.startswith("seg-") for p in files)
    for path in files:
        data = path.read_bytes()
        for value in values:
            for form in every_form(value):
                assert form not in data, f"{value!r} is in {path.name}"


def with_macs(recs: list[Record], sid: str) -> list[Record]:
    return [r for r in recs if r.sid == sid and "bind_macs" in r.body]


def numbers(record: Record) -> set[str]:
    """The parameter numbers a record commits."""
    macs = record.body["bind_macs"]
    assert isinstance(macs, dict)
    return set(macs)


def disclose(tmp: Path, rec_dir: Path, key_file: Path, sid: str) -> Path:
    out = tmp / f"{sid}.keys"
    done = run("keys", "disclose", "--session", sid, "-d", rec_dir, "--key", key_file, "--out", out)
    assert done.exit_code == 0, done.output
    return out


def mac_root_setup(tmp: Path) -> tuple[str, Path, Path, Path]:
    """A recording section with a MAC root; (section, rec_dir, key_file, trust file)."""
    section, signer, rec_dir = recording_setup(tmp)
    key_file = tmp / "rec.key"
    keys.write_mac_root(keys.mac_file_for(key_file), MacRoot.generate())
    trust = tmp / "trust.vkeys"
    trust.write_text(signer.verifier.vkey() + "\n")
    return section, rec_dir, key_file, trust


def test_every_bind_is_committed_and_confirmed_with_the_sessions_keys(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> None:
    section, rec_dir, key_file, trust = mac_root_setup(tmp_path)
    gw = make_gateway(extra=policy_section(policy_dir(tmp_path)) + section)
    with psycopg.connect(gw.dsn("analyst"), autocommit=True) as c:
        c.execute("select id from customers where full_name = %s", (TEXT,))  # unnamed, text
        c.execute("select id from customers where id = %b", (BINARY,))  # binary format
        c.execute("select %s::text is null", (None,))
        named = "select id, full_name from customers where full_name = %s"
        for value in PREPARED:  # Parse "_pg3_0" once, then Bind it again
            c.execute(named, (value,), prepare=True)
        with c.pipeline():
            for value in PIPELINED:
                c.execute("select count(*) from customers where full_name <> %s", (value,))

    async def by_asyncpg() -> None:
        conn = await asyncpg.connect(gw.url("analyst"), ssl=False)
        try:
            for value in ASYNCPG:  # a named statement, binary values
                await conn.fetchval("select id from customers where id = $1", value)
        finally:
            await conn.close()

    asyncio.run(by_asyncpg())
    assert gw.process is not None and gw.process.stop() == 0

    recs = records(rec_dir)
    first, second = (str(r.sid) for r in recs if r.type == "session.open")
    mine = with_macs(recs, first)
    # one record per Bind: a bind record after its Parse's stmt, or a re-run's stmt
    assert [(r.type, r.body.get("prepared"), numbers(r)) for r in mine] == [
        ("bind", "", {"1"}),
        ("bind", "", {"1"}),
        ("bind", "", {"1"}),
        ("bind", "_pg3_0", {"1"}),
        ("stmt", "_pg3_0", {"1"}),
        ("bind", "", {"1"}),
        ("bind", "", {"1"}),
    ]
    assert mine[4].body["protocol"] == "bind"
    theirs = with_macs(recs, second)
    assert [r.type for r in theirs] == ["bind", "stmt"]
    assert str(theirs[0].body["prepared"]).startswith("__asyncpg_stmt_")

    verify = ["verify", "-d", rec_dir, "--trust", trust]
    keys_a = disclose(tmp_path, rec_dir, key_file, first)
    claims = [
        f"{mine[0].seq}:1={TEXT}",
        f"{mine[1].seq}:1:binary={BINARY.to_bytes(4, 'big').hex()}",
        f"{mine[2].seq}:1:null",
        f"{mine[3].seq}:1={PREPARED[0]}",
        f"{mine[4].seq}:$1={PREPARED[1]}",
        f"{mine[5].seq}:1={PIPELINED[0]}",
        f"{mine[6].seq}:1={PIPELINED[1]}",
    ]
    args = [a for claim in claims for a in ("--param", claim)]
    ok = run(*verify, "--session-keys", keys_a, *args)
    assert ok.exit_code == 0, ok.output
    assert ok.output.count("confirmed") == len(claims)

    # the other run's value, the same value in the other format, a quoted token: NOT
    for wrong in (
        f"{mine[4].seq}:1={PREPARED[0]}",
        f"{mine[0].seq}:1:binary={TEXT.encode().hex()}",
        f"{mine[0].seq}:1='{TEXT}'",
        f"{mine[2].seq}:1=",
    ):
        refused = run(*verify, "--session-keys", keys_a, "--param", wrong)
        assert refused.exit_code == 1 and "is NOT" in refused.output, (wrong, refused.output)

    keys_b = disclose(tmp_path, rec_dir, key_file, second)
    # asyncpg binds customers.id (bigint) as an int8 in binary
    value_claims = [
        f"{r.seq}:1:binary={v.to_bytes(8, 'big').hex()}"
        for r, v in zip(theirs, ASYNCPG, strict=True)
    ]
    ok = run(
        *verify, "--session-keys", keys_b, "--param", value_claims[0], "--param", value_claims[1]
    )
    assert ok.exit_code == 0, ok.output
    # one session's keys open no other session's commitments
    foreign = run(*verify, "--session-keys", keys_a, "--param", value_claims[0])
    assert foreign.exit_code != 0 and f"of session {second}" in foreign.output

    assert_nowhere(rec_dir, [TEXT, *PREPARED, *PIPELINED, BINARY, *ASYNCPG])


def test_pgbench_every_bind_of_every_transaction_is_committed(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> None:
    # pgbench's TPC-B-like script binds 2 + 1 + 2 + 2 + 4 values in five statements per
    # transaction (BEGIN and END bind none). -M prepared: a Parse per statement and
    # connection, then Binds of it again and again; -M extended: Parse "" and Bind each
    # time. Every one of those Binds is committed, each value once.
    section, rec_dir, _, _ = mac_root_setup(tmp_path)
    gw = make_gateway(extra=policy_section(policy_dir(tmp_path)) + section)
    init = subprocess.run(
        ["pgbench", "-i", "-s", "1", "-q", gw.pg.admin_dsn("bank")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    for mode in ("prepared", "extended"):
        done = subprocess.run(
            ["pgbench", "-n", "-M", mode, "-c", "2", "-j", "2", "-t", "5"],
            env={**os.environ, **gw.env("dba")},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "actually processed: 10/10" in done.stdout, done.stdout
    assert gw.process is not None and gw.process.stop() == 0
    recs = records(rec_dir)
    pgbench = {str(r.sid) for r in recs if r.type == "session.open"}
    committed = [r for r in recs if str(r.sid) in pgbench and "bind_macs" in r.body]
    assert len(committed) == 2 * 10 * 5  # two modes, ten transactions, five Binds each
    assert sum(len(numbers(r)) for r in committed) == 2 * 10 * 11
    # prepared: each connection's first run of a statement is a bind record, the re-runs
    # are its stmt records; extended: a bind record after each Parse's stmt
    reruns = [r for r in committed if r.type == "stmt"]
    assert len(reruns) == 10 * 5 - 2 * 5
    assert all(r.body["protocol"] == "bind" for r in reruns)


@pytest.fixture
def recorded_approvals(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> tuple[Approvals, Path, Path, Path]:
    section, rec_dir, key_file, trust = mac_root_setup(tmp_path)
    port = free_port()
    gw = make_gateway(extra=approvals_extra(tmp_path, port) + section)
    return Approvals(gw, f"http://127.0.0.1:{port}", tmp_path), rec_dir, key_file, trust


def test_a_bind_held_for_approval_is_committed_once_it_runs(
    recorded_approvals: tuple[Approvals, Path, Path, Path], tmp_path: Path
) -> None:
    appr, rec_dir, key_file, trust = recorded_approvals
    sql = "UPDATE accounts SET balance = balance + %s WHERE id = %s"
    thread, out, _ = held_update(appr.gw, sql, (0, 2))
    appr.approve(appr.pending()["id"])
    thread.join(10)
    assert out == {"value": 1}, out
    assert appr.gw.process is not None and appr.gw.process.stop() == 0

    recs = records(rec_dir)
    held = next(r for r in recs if r.type == "approval")
    sid = str(held.sid)
    after = [r for r in with_macs(recs, sid) if r.seq > held.seq]
    assert after and after[0].type == "bind" and numbers(after[0]) == {"1", "2"}
    keys_file = disclose(tmp_path, rec_dir, key_file, sid)
    verify = ["verify", "-d", rec_dir, "--trust", trust, "--session-keys", keys_file]
    seq = after[0].seq
    # psycopg sends a Python int in binary, as the smallest integer type that holds it
    ok = run(*verify, "--param", f"{seq}:1:binary=0000", "--param", f"{seq}:2:binary=0002")
    assert ok.exit_code == 0, ok.output
    assert run(*verify, "--param", f"{seq}:2:binary=0003").exit_code == 1


def test_without_a_mac_root_each_bind_gets_one_commitment(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> None:
    section, signer, rec_dir = recording_setup(tmp_path)
    gw = make_gateway(extra=policy_section(policy_dir(tmp_path)) + section)
    with psycopg.connect(gw.dsn("analyst"), autocommit=True) as c:
        c.execute("select id from customers where full_name = %s and id <> %b", (TEXT, BINARY))
    assert gw.process is not None and gw.process.stop() == 0
    recs = records(rec_dir)
    bind = next(r for r in recs if r.type == "bind")
    assert "bind_macs" not in bind.body
    key = mac.legacy_param_key(commitment_key(signer))
    values = [(0, TEXT.encode()), (1, BINARY.to_bytes(4, "big"))]
    expected = hmac.new(key, mac.bind_message(values), hashlib.sha256).hexdigest()
    assert bind.body["bind_commitment"] == expected
    assert_nowhere(rec_dir, [TEXT, BINARY])
