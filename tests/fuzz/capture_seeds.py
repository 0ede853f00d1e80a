"""Capture real protocol bytes for the fuzz corpus: psycopg talks to a throwaway
PostgreSQL through a relay that records both directions; each scenario's bytes become
seeds of the targets that read them.

    python -m tests.fuzz.capture_seeds           # rewrites corpus/*/pg-*.bin and edge-*.bin
    python -m tests.fuzz.capture_seeds --edges   # only the edge cases (no PostgreSQL)

Client bytes: the startup packet (``startup_packet``, ``startup_phase``) and what follows
it (``frontend``); server bytes: ``backend``, and from the first ReadyForQuery on,
``result_tap``.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg

from regogate.pgserver import PgServer
from regogate.wire import backend as be
from regogate.wire import frontend as fe
from regogate.wire.codec import frame
from regogate.wire.startup import (
    PROTOCOL_3_0,
    CancelRequest,
    GSSENCRequest,
    SSLRequest,
    StartupMessage,
)
from tests.fuzz.case import CORPUS

LOGIN = StartupMessage({"user": "alice", "database": "app", "application_name": "psql"})
TOKEN = fe.PasswordMessage("good-token").encode()
CYCLE = (
    be.RowDescription((be.FieldDescription("a"),)).encode()
    + be.DataRow((b"1",)).encode()
    + be.CommandComplete("SELECT 1").encode()
    + be.ReadyForQuery().encode()
)

# Edge cases, named for what they are: limits, lengths just off, every packet kind.
EDGES: dict[str, dict[str, bytes]] = {
    "frontend": {
        "length-3": b"Q\x00\x00\x00\x03",
        "length-max": b"Q\x7f\xff\xff\xff",
        "empty-body-query": frame(b"Q", b""),
        "bind-null-and-negative-count": fe.Bind("", "s", (1,), (None, b"")).encode()
        + frame(b"B", b"\x00\x00\xff\xff"),
        "pipeline": fe.Parse("s1", "select $1", (23,)).encode()
        + fe.Bind("p", "s1", (0,), (b"7",), (1,)).encode()
        + fe.Describe(b"P", "p").encode()
        + fe.Execute("p", 1).encode()
        + fe.Sync().encode(),
        "describe-bad-kind": frame(b"D", b"X\x00"),
        "copy-then-fail": fe.CopyData(bytes(3000)).encode() + fe.CopyFail("stop").encode(),
        "function-call": fe.FunctionCall(1598, (1,), (b"\x00\x00\x00\x01",), 1).encode(),
        "sasl": fe.SASLInitialResponse("SCRAM-SHA-256", b"n,,n=,r=abc").encode()
        + fe.SASLResponse(b"c=biws,r=abc,p=xyz").encode(),
        "unknown-tag-then-terminate": frame(b"z", b"x") + fe.Terminate().encode(),
    },
    "backend": {
        "auth-codes": be.AuthenticationSASL(("SCRAM-SHA-256",)).encode()
        + be.AuthenticationSASLContinue(b"r=x").encode()
        + be.AuthenticationSASLFinal(b"v=y").encode()
        + be.AuthenticationMD5Password(b"salt").encode()
        + be.AuthenticationOk().encode(),
        "key-data-256": be.BackendKeyData(1, bytes(256)).encode(),
        "key-data-3": frame(b"K", b"\x00\x00\x00\x01abc"),
        "ready-bad-status": frame(b"Z", b"X"),
        "parameter-description-mismatch": frame(b"t", b"\x00\x02\x00\x00\x00\x17"),
        "negotiate": be.NegotiateProtocolVersion(0, ("_pq_.x",)).encode(),
        "row-description-truncated": be.RowDescription((be.FieldDescription("a"),)).encode()[:-3],
        "length-under-4": b"D\x00\x00\x00\x02",
        "copy-both": be.CopyBothResponse(0, (0, 1)).encode() + be.CopyData(b"w").encode(),
        "error-high-field-code": frame(b"E", b"\xc2\x80\x00\x00"),
    },
    "startup_packet": {
        "ssl": SSLRequest().encode(),
        "gss-then-ssl": GSSENCRequest().encode() + SSLRequest().encode(),
        "cancel-3.0": CancelRequest(42, b"\x00\x01\x02\x03").encode(),
        "cancel-3.2": CancelRequest(42, bytes(range(32))).encode(),
        "cancel-secret-too-long": CancelRequest(42, bytes(257)).encode(),
        "protocol-3.2-options": StartupMessage(
            {"user": "a", "_pq_.x": "1", "options": "-c geqo=off --search-path=a\\ b"},
            PROTOCOL_3_0 + 2,
        ).encode(),
        "protocol-2": StartupMessage({"user": "a"}, 2 << 16).encode(),
        "length-7": b"\x00\x00\x00\x07\x00\x03\x00",
        "length-10001": b"\x00\x00\x27\x11" + bytes(16),
        "no-terminator": b"\x00\x00\x00\x0c\x00\x03\x00\x00user",
        "refused-settings": StartupMessage(
            {"user": "a", "role": "admin", "client_encoding": "latin1", "options": "-B 9"}
        ).encode(),
    },
    "startup_phase": {
        "login": LOGIN.encode() + TOKEN,
        "ssl-login": SSLRequest().encode() + LOGIN.encode() + TOKEN,
        "gss-ssl-gss": GSSENCRequest().encode() + SSLRequest().encode() + GSSENCRequest().encode(),
        "protocol-3.2": StartupMessage({"user": "a", "_pq_.y": "z"}, PROTOCOL_3_0 + 2).encode()
        + TOKEN,
        "password-over-64k": LOGIN.encode() + b"p\x00\x01\x00\x05",
        "terminate-first": fe.Terminate().encode(),
        "query-not-password": LOGIN.encode() + fe.Query("select 1").encode(),
        "replication": StartupMessage({"user": "a", "replication": "true"}).encode(),
        "cancel": CancelRequest(7, b"\x00\x00\x00\x09").encode(),
    },
    "result_tap": {
        "pipelined-cycles": CYCLE * 3,
        "rows-past-2-53": be.CommandComplete("UPDATE 9007199254740992").encode()
        + be.CommandComplete("UPDATE " + "9" * 30).encode()
        + be.ReadyForQuery().encode(),
        "error-without-code": frame(b"E", b"SERROR\x00Mx\x00\x00") + be.ReadyForQuery().encode(),
        "empty-and-suspended": be.EmptyQueryResponse().encode()
        + be.PortalSuspended().encode()
        + be.ReadyForQuery(b"T").encode(),
        "broken-header": CYCLE + b"C\x00\x00\x00\x01" + CYCLE,
        "empty-cycle": be.ReadyForQuery().encode() + CYCLE,
        "big-row-split": frame(b"D", bytes(70_000)) + CYCLE,
    },
}


class Relay:
    """One connection relayed to ``port``, both directions recorded."""

    def __init__(self, port: int):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.upstream_port = port
        self.client = bytearray()
        self.server = bytearray()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        up = socket.create_connection(("127.0.0.1", self.upstream_port))
        pumps = [
            threading.Thread(target=self._pump, args=(conn, up, self.client)),
            threading.Thread(target=self._pump, args=(up, conn, self.server)),
        ]
        for p in pumps:
            p.start()
        for p in pumps:
            p.join()
        conn.close()
        up.close()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, log: bytearray) -> None:
        while data := src.recv(65536):
            log += data
            dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def simple(conn: psycopg.Connection) -> None:
    conn.execute("select 1 as a, 'é' as b, null as c; select 2")
    conn.execute("create temp table t (id int, v text)")
    conn.execute("insert into t values (1, 'x'), (2, null)")
    conn.execute("")


def extended(conn: psycopg.Connection) -> None:
    for n in range(3):  # the third time psycopg uses a named prepared statement
        conn.execute("select %s::int + %s::int", (n, 2), prepare=True)
    conn.execute("select %s::bytea, %s::text", (b"\x00\x01", "x"), binary=True)
    with conn.transaction(), conn.cursor(name="c") as cur:  # DECLARE, FETCH
        cur.execute("select generate_series(1, 5)")
        cur.fetchmany(2)


def errors(conn: psycopg.Connection) -> None:
    for sql in ("select * from nowhere", "select 1/0"):
        try:
            conn.execute(sql)
        except psycopg.Error:
            conn.rollback()
    conn.execute("do $$ begin raise notice 'hi %', 1; end $$")


def copy(conn: psycopg.Connection) -> None:
    conn.execute("create temp table c (a int, b text)")
    with conn.cursor().copy("copy c from stdin") as cp:
        cp.write_row((1, "one"))
        cp.write_row((2, None))
    with conn.cursor().copy("copy c to stdout") as cp:
        for _ in cp:
            pass


def transactions(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("set local search_path = public")
        with conn.transaction():
            conn.execute("select 1")
    conn.execute("listen ch; notify ch, 'payload'")


SCENARIOS: dict[str, Callable[[psycopg.Connection], None]] = {
    "simple": simple,
    "extended": extended,
    "errors": errors,
    "copy": copy,
    "transactions": transactions,
}


def capture(server: PgServer, name: str, run: Callable[[psycopg.Connection], None]) -> None:
    relay = Relay(server.port)
    dsn = server.dsn().replace(f"port={server.port}", f"port={relay.port}")
    with psycopg.connect(f"{dsn} sslmode=disable application_name=fuzz") as conn:
        conn.autocommit = name != "errors"
        run(conn)
    relay.thread.join(10)
    client, served = bytes(relay.client), bytes(relay.server)
    first = int.from_bytes(client[:4], "big")
    ready = served.index(b"Z\x00\x00\x00\x05") + 6  # the end of the startup phase
    seeds = {
        "startup_packet": client[:first] if name == "simple" else b"",
        "startup_phase": client,
        "frontend": client[first:],
        "backend": served,
        "result_tap": served[ready:],
    }
    for target, data in seeds.items():
        if not data:
            continue
        (CORPUS / target).mkdir(parents=True, exist_ok=True)
        (CORPUS / target / f"pg-{name}.bin").write_bytes(data)


def write_edges() -> None:
    for target, seeds in EDGES.items():
        (CORPUS / target).mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (CORPUS / target / f"edge-{name}.bin").write_bytes(data)


def main() -> None:
    write_edges()
    if "--edges" in sys.argv:
        return
    with tempfile.TemporaryDirectory() as tmp:
        datadir = Path(tmp) / "data"
        server = PgServer(datadir)
        if server.run_as:
            import shutil

            shutil.chown(tmp, server.run_as)
        server.init()
        server.start()
        try:
            for name, run in SCENARIOS.items():
                capture(server, name, run)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
