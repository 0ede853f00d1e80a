"""Sessions through a real `regogate serve` are recorded, signed and verifiable offline.

Shows: what is recorded (open, statements without literals, decisions, results, close),
that the log verifies, that no secret and no classified value reaches the disk, that a
kill -9 leaves a log that verifies up to its durable point and names the unsealed tail,
and that a failing disk makes the gateway refuse statements (fail closed, SQLSTATE 58030).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import resource
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import psycopg
import pytest

from regogate.recording.format.directory import read_segments
from regogate.recording.format.note import Signer
from regogate.recording.format.records import Record
from regogate.recording.read.verify import verify_directory
from regogate.recording.write import keys
from regogate.recording.write.commit import commit, commitment_key, digest_key
from tests.fix_gateway import TOKENS, GatewayFixture
from tests.fix_pg import PgFixture
from tests.policy.test_enforce_e2e import policy_dir, policy_section

LITERAL = "Literal-Value-7731"


def recording_setup(tmp: Path) -> tuple[str, Signer, Path]:
    signer = keys.generate("test.example/regogate")
    key_file = tmp / "rec.key"
    keys.install_signer(key_file, signer)
    rec_dir = tmp / "recordings"
    section = (
        f'[recording]\ndir = "{rec_dir}"\nkey_file = "{key_file}"\ncheckpoint_interval = 0.5\n'
    )
    return section, signer, rec_dir


def records(rec_dir: Path) -> list[Record]:
    out = []
    for seg in read_segments(rec_dir):
        for line in seg.data.splitlines():
            if line:
                out.append(Record.parse(line))
    return out


@pytest.fixture
def recorded(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> tuple[GatewayFixture, Signer, Path]:
    section, signer, rec_dir = recording_setup(tmp_path)
    section += "commit_interval = 0.02\n"
    gw = make_gateway(extra=policy_section(policy_dir(tmp_path)) + section)
    return gw, signer, rec_dir


def test_a_session_is_recorded_and_verifies(
    recorded: tuple[GatewayFixture, Signer, Path],
) -> None:
    gw, signer, rec_dir = recorded
    assert gw.process is not None
    # the configured group commit reaches the recorder
    assert "a batch every 20 ms under load" in gw.process.log.read_text()
    with psycopg.connect(gw.dsn("analyst", application_name="rec-test"), autocommit=True) as c:
        names = c.execute("select full_name from customers order by id limit 20").fetchall()
        c.execute("select id from customers where full_name = %s", (LITERAL,))
        c.execute(f"select id from customers where full_name = '{LITERAL}'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("delete from transactions where id = 1")
        with pytest.raises(psycopg.errors.UndefinedTable):
            c.execute("select * from no_such_table")
    assert gw.process is not None
    assert gw.process.stop() == 0

    verdict = verify_directory(rec_dir, [signer.verifier])
    assert verdict.ok, [str(f) for f in verdict.findings]
    assert verdict.sealed and verdict.sessions == 1
    recs = records(rec_dir)
    kinds = [r.type for r in recs]
    assert kinds[0] == "gateway.start" and kinds[-1] == "gateway.stop"
    session = [r for r in recs if r.sid is not None]
    assert session[0].type == "session.open" and session[-1].type == "session.close"
    opened = json.loads(session[0].data)
    assert opened["identity"]["sub"] == "analyst"
    assert opened["identity"]["token_sha256"] == keys_sha(TOKENS["analyst"][0])
    assert opened["client"]["application_name"] == "rec-test"
    stmts = [json.loads(r.data) for r in session if r.type == "stmt"]
    assert any(s["text"] == "select id from customers where full_name = $1" for s in stmts)
    committed = [s for s in stmts if s["literals"] == 1]
    assert committed and all(len(s["literals_commitment"]) == 64 for s in committed)
    assert not [r for r in session if r.type == "decision"]  # decisions live in their stmt
    decisions = [d for s in stmts for d in s["decisions"]]
    assert [d["outcome"] for d in decisions].count("deny") == 1
    denied = next(d for d in decisions if d["outcome"] == "deny")
    assert denied["reasons"] == ["DELETE is not allowed"]
    assert denied["revision"].startswith("sha256:")
    results = [json.loads(r.data) for r in session if r.type == "result"]
    assert any(r["tags"] == ["SELECT 20"] and r["rows"] == 20 for r in results)
    assert any(r["error"] == "42P01" for r in results)
    assert any(r["error"] == "42501" for r in results)
    closed = json.loads(session[-1].data)
    assert closed["counts"]["statements"] >= 5 and closed["counts"]["denied"] == 1

    # Nothing secret, no literal and no row value on disk.
    blob = b"".join(p.read_bytes() for p in rec_dir.iterdir() if p.is_file())
    secrets = [
        gw.pg.password,
        *(tok for tok, _ in TOKENS.values()),
        signer.skey(),
        signer.skey().split("+", 4)[4],  # the key blob (base64 may contain "+")
        LITERAL,
        *(n for (n,) in names if len(n) >= 6),  # a one-letter name is in any log
    ]
    for secret in secrets:
        assert secret.encode() not in blob, secret[:6]


def keys_sha(token: str) -> str:
    from regogate.identity import token_sha256

    return token_sha256(token)


def test_kill_9_leaves_a_verifiable_log_with_a_named_unsealed_tail(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> None:
    section, signer, rec_dir = recording_setup(tmp_path)
    section = section.replace("checkpoint_interval = 0.5", "checkpoint_interval = 3600")
    gw = make_gateway(extra=policy_section(policy_dir(tmp_path)) + section)
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as c:
        for i in range(30):
            c.execute("select id from customers where id = %s", (i,))
        time.sleep(0.3)  # the writer flushes in the background
        assert gw.process is not None

        children = psutil.Process(gw.process.proc.pid).children(recursive=True)
        names = sorted(" ".join(c.cmdline()[-6:]) for c in children)
        # the worker exec'd the native writer (writer = "auto", and setup builds it)
        assert any("opa" in n for n in names) and any("regogate-writer" in n for n in names)
        gw.process.proc.send_signal(signal.SIGKILL)
        gw.process.proc.wait(10)
        # Its OPA sidecar and recording writer do not outlive it.
        _, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, [c.cmdline() for c in alive]
    verdict = verify_directory(rec_dir, [signer.verifier])
    assert verdict.ok, [str(f) for f in verdict.findings]
    assert not verdict.sealed
    assert verdict.records > verdict.sealed_size >= 1
    text = " ".join(str(f) for f in verdict.findings)
    assert "unsealed" in text or "not covered" in text, text
    stmts = [r for r in records(rec_dir) if r.type == "stmt"]
    assert len(stmts) >= 30


@pytest.mark.parametrize("durability", ["group", "statement"])
def test_a_failing_recording_disk_refuses_statements(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path, durability: str
) -> None:
    section, _, _ = recording_setup(tmp_path)
    section += f'durability = "{durability}"\n'  # "statement": a failed write holds nothing
    limit = 256 * 1024

    def small_files() -> None:  # every file the gateway writes may grow to `limit` bytes
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    gw = make_gateway(extra=policy_section(policy_dir(tmp_path)) + section, preexec=small_files)
    refused = None
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as c:
        for i in range(5000):
            try:
                c.execute("select id from customers where id = %s", (i,))
            except psycopg.errors.IoError as exc:  # 58030
                refused = exc
                break
            except psycopg.OperationalError as exc:
                pytest.fail(f"the session broke instead of refusing: {exc}")
        assert refused is not None, "the recorder never failed"
        assert refused.diag.sqlstate == "58030"
        assert "recording failed" in str(refused)
        assert refused.diag.context is None  # the DO-block mechanism does not show
        # Still refused, still a usable connection that says why.
        with pytest.raises(psycopg.errors.IoError, match="recording"):
            c.execute("select 1")


def test_cancel_and_policy_revision_are_recorded(
    recorded: tuple[GatewayFixture, Signer, Path],
) -> None:
    import threading

    gw, signer, rec_dir = recorded
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as c:
        timer = threading.Timer(0.5, c.cancel_safe)
        timer.start()
        with pytest.raises(psycopg.errors.QueryCanceled):
            c.execute("select pg_sleep(10)")
        timer.join()
    assert gw.process is not None
    gw.process.stop()
    assert verify_directory(rec_dir, [signer.verifier]).ok
    recs = records(rec_dir)
    (load,) = [json.loads(r.data) for r in recs if r.type == "policy.load"]
    assert load["revision"].startswith("sha256:") and load["modules"] == ["regogate/policy.rego"]
    (cancel,) = [json.loads(r.data) for r in recs if r.type == "cancel"]
    assert cancel["from"] == "127.0.0.1"
    results = [json.loads(r.data) for r in recs if r.type == "result"]
    assert any(r["error"] == "57014" for r in results)


def test_a_statement_run_again_is_recorded_each_time(
    recorded: tuple[GatewayFixture, Signer, Path],
) -> None:
    # The second and later runs replay the session's verdict memo: their stmt records
    # are serialized once and reused (recording.core.prepared), and must still be
    # complete, chained records that say the decision was cached.
    gw, signer, rec_dir = recorded
    sql = "select id from customers where id = %s"
    with psycopg.connect(gw.dsn("analyst"), autocommit=True) as c:
        rows = [c.execute(sql, (i,)).fetchall() for i in (1, 2, 3, 4)]
    assert [len(r) for r in rows] == [1, 1, 1, 1]
    assert gw.process is not None
    assert gw.process.stop() == 0
    assert verify_directory(rec_dir, [signer.verifier]).ok
    recs = records(rec_dir)
    stmts = [json.loads(r.data) for r in recs if r.type == "stmt"]
    runs = [s for s in stmts if s["text"] == "select id from customers where id = $1"]
    assert len(runs) == 4
    assert [s["decisions"][0]["cached"] for s in runs][1:] == [True, True, True]
    assert len({s["seq"] for s in runs}) == 4 and len({s["n"] for s in runs}) == 4
    body = {k: v for k, v in runs[1].items() if k not in ("seq", "ts", "n", "prev")}
    assert all(
        {k: v for k, v in s.items() if k not in ("seq", "ts", "n", "prev")} == body
        for s in runs[2:]
    )
    results = [json.loads(r.data) for r in recs if r.type == "result"]
    assert sum(r["tags"] == ["SELECT 1"] and r["rows"] == 1 for r in results) >= 4


def test_serve_refuses_a_recording_directory_in_use(pg: PgFixture, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from regogate.pgserver import free_port
    from regogate.recording.write.store import SegmentStore
    from tests.fix_gateway import gateway_config_text

    section, signer, rec_dir = recording_setup(tmp_path)
    cfg = tmp_path / "regogate.toml"
    cfg.write_text(gateway_config_text(pg, free_port(), extra=section))
    held = SegmentStore.open(rec_dir)  # another gateway's writer
    try:
        p = subprocess.run(
            [sys.executable, "-m", "regogate", "serve", "-c", str(cfg)],
            env={**os.environ, "RG_TEST_UPSTREAM_PASSWORD": pg.password},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        held.close()
    assert p.returncode == 2, p.stderr
    assert f"recording directory {rec_dir}" in p.stderr
    assert "in use by another process" in p.stderr
    assert "Traceback" not in p.stderr
    assert signer.skey() not in p.stderr


def test_each_run_of_a_named_prepared_statement_is_recorded_with_its_text(
    recorded: tuple[GatewayFixture, Signer, Path],
) -> None:
    # Binds of a protocol-level prepared statement reuse its serialized stmt record; a
    # new Parse under the same name (after DEALLOCATE) must record the new text.
    gw, signer, rec_dir = recorded
    first = b"select id from customers where id = $1"
    second = b"select id, id * id from customers where id = $1"
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as c:
        pq = c.pgconn
        assert pq.prepare(b"s1", first).status == psycopg.pq.ExecStatus.COMMAND_OK
        for i in (b"1", b"2", b"3"):
            assert pq.exec_prepared(b"s1", [i]).ntuples == 1
        assert pq.exec_(b"deallocate s1").status == psycopg.pq.ExecStatus.COMMAND_OK
        res = pq.prepare(b"s1", second)
        assert res.status == psycopg.pq.ExecStatus.COMMAND_OK, res.error_message
        for i in (b"4", b"5"):
            assert pq.exec_prepared(b"s1", [i]).ntuples == 1
    assert gw.process is not None
    assert gw.process.stop() == 0
    assert verify_directory(rec_dir, [signer.verifier]).ok
    stmts = [json.loads(r.data) for r in records(rec_dir) if r.type == "stmt"]
    runs = [(s["protocol"], s["text"], s.get("prepared")) for s in stmts]
    a, b = first.decode(), second.decode()
    # the Parse is recorded (and covers the first Bind); each later Bind is a record
    assert runs.count(("extended", a, None)) == 1
    assert runs.count(("bind", a, "s1")) == 2
    assert runs.count(("extended", b, None)) == 1
    assert runs.count(("bind", b, "s1")) == 1
    binds = [s for s in stmts if s["protocol"] == "bind"]
    assert [s["text"] for s in binds] == [a, a, b]
    assert len({s["seq"] for s in binds}) == 3
    # session.close counts every statement recorded, the re-runs of prepared ones too
    closed = next(json.loads(r.data) for r in records(rec_dir) if r.type == "session.close")
    assert closed["counts"]["statements"] == len(stmts) == 6


def test_text_that_is_not_utf8_is_refused_and_recorded_without_its_literal(
    recorded: tuple[GatewayFixture, Signer, Path],
) -> None:
    # psycopg sends bytes as they are: statement text that is not UTF-8 (a client in
    # another encoding, or a broken one). The policy cannot parse it: opaque, refused
    # (fail closed). The session and its recording carry on; the literal stays out of the
    # record and its commitment keeps its exact bytes.
    gw, signer, rec_dir = recorded
    with psycopg.connect(gw.dsn("analyst"), autocommit=True) as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(b"select 'Secret-\xff-Value' as caf\xe9")
        assert c.execute("select 1").fetchone() == (1,)
    assert gw.process is not None
    assert gw.process.stop() == 0
    assert "Traceback" not in gw.process.log.read_text()
    assert verify_directory(rec_dir, [signer.verifier]).ok
    stmts = [json.loads(r.data) for r in records(rec_dir) if r.type == "stmt"]
    stmt = next(s for s in stmts if s["text"].startswith("select $1 as"))
    assert stmt["text"] == "select $1 as caf\ufffd"
    assert stmt["decisions"][0]["outcome"] == "deny"
    literal = b"'Secret-\xff-Value'".decode("utf-8", "surrogateescape")
    assert stmt["literals_commitment"] == commit(commitment_key(signer), (literal,))
    blob = b"".join(p.read_bytes() for p in rec_dir.iterdir() if p.is_file())
    assert b"Secret-" not in blob


def test_a_startup_parameter_that_is_not_utf8_is_recorded_as_a_replacement_character(
    recorded: tuple[GatewayFixture, Signer, Path],
) -> None:
    import socket
    import struct

    gw, signer, rec_dir = recorded
    body = struct.pack("!I", 196608) + (
        b"user\0analyst\0database\0bank\0application_name\0r\xe9cap\0\0"
    )
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(struct.pack("!I", len(body) + 4) + body)
        assert s.recv(9) == b"R\x00\x00\x00\x08\x00\x00\x00\x03"  # cleartext password
        password = gw.token("analyst").encode() + b"\0"
        s.sendall(b"p" + struct.pack("!I", len(password) + 4) + password)
        buf = b""
        while not buf.endswith(b"Z\x00\x00\x00\x05I"):
            chunk = s.recv(65536)
            assert chunk, buf[-200:]
            buf += chunk
        buf = b""
        s.sendall(b"Q\x00\x00\x00\x0dselect 1\0")
        while not buf.endswith(b"Z\x00\x00\x00\x05I"):
            chunk = s.recv(65536)
            assert chunk, buf[-200:]
            buf += chunk
        s.sendall(b"X\x00\x00\x00\x04")
    assert b"SELECT 1" in buf
    assert gw.process is not None
    assert gw.process.stop() == 0
    assert "Traceback" not in gw.process.log.read_text()
    assert verify_directory(rec_dir, [signer.verifier]).ok
    opened = next(json.loads(r.data) for r in records(rec_dir) if r.type == "session.open")
    assert opened["client"]["application_name"] == "r\ufffdcap"


REPO_POLICIES = Path(__file__).resolve().parents[2] / "policies" / "rego"
PII = json.loads((REPO_POLICIES / "regogate/config/pii/data.json").read_text())["columns"]


def raw_query(port: int, token: str, sql: str) -> bytes:
    """Everything the gateway sent back for one simple Query, up to ReadyForQuery."""
    import socket
    import struct

    body = struct.pack("!I", 196608) + b"user\0dba\0database\0bank\0\0"

    def until_ready(s: socket.socket) -> bytes:
        buf = b""
        while not buf.endswith(b"Z\x00\x00\x00\x05I"):
            chunk = s.recv(65536)
            assert chunk, buf[-200:]
            buf += chunk
        return buf

    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(struct.pack("!I", len(body) + 4) + body)
        assert s.recv(9) == b"R\x00\x00\x00\x08\x00\x00\x00\x03"  # cleartext password
        s.sendall(b"p" + struct.pack("!I", len(token) + 5) + token.encode() + b"\0")
        until_ready(s)
        q = sql.encode() + b"\0"
        s.sendall(b"Q" + struct.pack("!I", len(q) + 4) + q)
        sent = until_ready(s)
        s.sendall(b"X\x00\x00\x00\x04")
    return sent


def test_no_classified_value_reaches_the_recording_and_result_digests_are_keyed(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> None:
    # The default policy library, as in the demo: dba reads PII unmasked, analysts and
    # agents try. Every value of every classified column must stay off the disk, also
    # through the result digest: a plain SHA-256 of a one-value result could be matched
    # against guesses (there are only ~36,500 dates of birth in a century).
    section, signer, rec_dir = recording_setup(tmp_path)
    gw = make_gateway(extra=policy_section(REPO_POLICIES) + section)
    by_table: dict[str, list[str]] = {}
    for qualified in PII:
        _, table, column = qualified.split(".")
        by_table.setdefault(table, []).append(column)
    values: set[str] = set()
    with psycopg.connect(gw.pg.admin_dsn(), autocommit=True) as direct:
        for table, columns in by_table.items():
            for row in direct.execute(f"select {', '.join(columns)} from {table}"):
                values.update(str(v) for v in row if v is not None)
        dob = direct.execute(
            "select date_of_birth from customers where date_of_birth is not null limit 1"
        ).fetchone()
        assert dob is not None
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as c:
        for table, columns in by_table.items():
            rows = c.execute(f"select {', '.join(columns)} from {table}").fetchall()
            assert rows and any(str(v) in values for row in rows for v in row)  # unmasked
        c.execute("select * from customers where ssn = %s", (next(iter(values)),))
    for who in ("analyst", "agent"):
        with psycopg.connect(gw.dsn(who), autocommit=True) as c:
            for table, columns in by_table.items():
                # masked in flight (docs/masking.md): rows come back, no raw value in them
                rows = c.execute(f"select {', '.join(columns)} from {table}").fetchall()
                assert rows
                assert not any(str(v) in values for row in rows for v in row if v is not None)
    masked = raw_query(gw.port, gw.token("analyst"), "select ssn, email from customers limit 3")
    assert b"*******" in masked and b"***@" in masked
    assert not any(v.encode() in masked for v in values if len(v) >= 6)
    sent = raw_query(
        gw.port,
        gw.token("dba"),
        f"select date_of_birth from customers where date_of_birth = '{dob[0]}'",
    )
    assert str(dob[0]).encode() in sent  # the client did get the value
    assert gw.process is not None
    assert gw.process.stop() == 0
    assert verify_directory(rec_dir, [signer.verifier]).ok

    results = [json.loads(r.data) for r in records(rec_dir) if r.type == "result"]
    last = results[-1]
    assert last["bytes"] == len(sent)
    assert last["digest"] == hmac.new(digest_key(signer), sent, hashlib.sha256).hexdigest()
    assert last["digest"] != hashlib.sha256(sent).hexdigest()
    # the masked read's result record: a keyed digest over the masked bytes the client got
    masked_digest = hmac.new(digest_key(signer), masked, hashlib.sha256).hexdigest()
    assert any(r["digest"] == masked_digest and r["bytes"] == len(masked) for r in results)

    blob = b"".join(p.read_bytes() for p in rec_dir.rglob("*") if p.is_file())
    assert len(values) > 50
    leaked = sorted(v for v in values if len(v) >= 6 and v.encode() in blob)
    assert not leaked, leaked[:5]
    # nor through any digest: none is a plain hash of a result the client saw
    assert hashlib.sha256(sent).hexdigest().encode() not in blob


def writer_process(gw: GatewayFixture) -> psutil.Process:
    """The gateway's recording writer (the worker, or the native writer it exec'd)."""
    assert gw.process is not None
    return next(
        c
        for c in psutil.Process(gw.process.proc.pid).children(recursive=True)
        if any(
            "regogate-writer" in a or "regogate.recording.write.worker" in a for a in c.cmdline()
        )
    )


@pytest.mark.parametrize("durability", ["group", "statement"])
def test_with_statement_durability_a_client_sees_no_result_before_its_records_are_written(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path, durability: str
) -> None:
    # The writer process is stopped (SIGSTOP: a stalled disk). With durability =
    # "statement" the ReadyForQuery of a statement waits for its records; a kill -9 of the
    # gateway right after the client saw it then loses nothing. With "group" (the default)
    # the client does not wait.
    import threading

    section, signer, rec_dir = recording_setup(tmp_path)
    section += f'durability = "{durability}"\n'
    gw = make_gateway(extra=policy_section(policy_dir(tmp_path)) + section)
    assert gw.process is not None
    waits = "each statement waits for its records" in gw.process.log.read_text()
    assert waits == (durability == "statement")
    writer = writer_process(gw)
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as c:
        c.execute("select 1")
        writer.suspend()
        done = threading.Event()
        answer: list[object] = []

        def run() -> None:
            answer.append(c.execute("select id from customers where id = 3").fetchone())
            done.set()

        t = threading.Thread(target=run)
        t.start()
        try:
            if durability == "group":
                assert done.wait(10), "a client waited for the recording"
            else:
                assert not done.wait(1.5), "the result was released before its records"
        finally:
            writer.resume()
        assert done.wait(10)
        t.join()
        assert answer == [(3,)]
        if durability == "statement":
            gw.process.proc.send_signal(signal.SIGKILL)  # the moment the client has it
            gw.process.proc.wait(10)
    if durability == "statement":
        verdict = verify_directory(rec_dir, [signer.verifier])
        assert verdict.ok, [str(f) for f in verdict.findings]
        recs = records(rec_dir)
        stmt = [json.loads(r.data) for r in recs if r.type == "stmt"][-1]
        assert stmt["text"] == "select id from customers where id = $1"
        assert recs[-1].type == "result" and json.loads(recs[-1].data)["tags"] == ["SELECT 1"]


def test_a_stalled_writer_is_refused_until_it_catches_up_not_waited_for_forever(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> None:
    # Statement durability against a hung disk (the writer SIGSTOPped): a session waits
    # write_timeout, gets its result, and the statements that follow are refused (58030)
    # until the writer has written again; then they run, and nothing was lost.
    section, signer, rec_dir = recording_setup(tmp_path)
    section += 'durability = "statement"\nwrite_timeout = 1.0\n'
    gw = make_gateway(extra=policy_section(policy_dir(tmp_path)) + section)
    assert gw.process is not None
    writer = writer_process(gw)
    with psycopg.connect(gw.dsn("dba"), autocommit=True) as c:
        c.execute("select 1")
        writer.suspend()
        try:
            started = time.monotonic()
            assert c.execute("select id from customers where id = 4").fetchone() == (4,)
            waited = time.monotonic() - started
            assert 0.8 < waited < 5, waited
            with pytest.raises(psycopg.errors.IoError, match="written nothing for 1 s"):
                c.execute("select 2")
        finally:
            writer.resume()
        deadline = time.monotonic() + 10
        while True:
            try:
                assert c.execute("select 3").fetchone() == (3,)
                break
            except psycopg.errors.IoError:
                assert time.monotonic() < deadline, "still refused after the writer resumed"
                time.sleep(0.1)
    assert gw.process.stop() == 0
    log = gw.process.log.read_text()
    assert "caught up" in log and "Traceback" not in log
    verdict = verify_directory(rec_dir, [signer.verifier])
    assert verdict.ok and verdict.sealed, [str(f) for f in verdict.findings]
    texts = [json.loads(r.data)["text"] for r in records(rec_dir) if r.type == "stmt"]
    assert "select id from customers where id = $1" in texts
