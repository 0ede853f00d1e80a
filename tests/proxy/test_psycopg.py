"""psycopg 3 through the gateway: text and binary, pipeline, COPY, cursors, cancel, notify."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg import errors as pgerrors
from psycopg.rows import dict_row

from tests.fix_gateway import GatewayFixture


def connect(gw: GatewayFixture, who: str = "dba", **kw: object) -> psycopg.Connection:
    return psycopg.connect(gw.dsn(who), autocommit=True, **kw)  # type: ignore[arg-type]


def test_simple_and_multi_statement(gateway: GatewayFixture) -> None:
    with connect(gateway) as conn:
        assert conn.execute("select count(*) from customers").fetchone() == (1000,)
        cur = conn.cursor()
        cur.execute("select 1 as a; select 2 as b, 'x' as c")
        assert cur.fetchall() == [(1,)]
        assert cur.nextset()
        assert cur.fetchall() == [(2, "x")]


def test_backend_pid_is_the_upstream_one(gateway: GatewayFixture) -> None:
    with connect(gateway) as conn:
        assert conn.info.backend_pid == conn.execute("select pg_backend_pid()").fetchone()[0]


def test_parameters_text_and_binary(gateway: GatewayFixture) -> None:
    with connect(gateway) as conn:
        q = "select c.id, full_name, balance, opened_at from customers c join accounts a on a.customer_id = c.id where c.id = %s order by a.id"
        text_rows = conn.execute(q, (7,)).fetchall()
        bin_rows = conn.cursor(binary=True).execute(q, (7,)).fetchall()
        assert text_rows == bin_rows
        assert text_rows and text_rows[0][0] == 7
        # prepared (named) statements after prepare_threshold executions
        for _ in range(8):
            assert conn.execute("select %s::int + 1", (41,), prepare=True).fetchone() == (42,)


def test_pipeline_mode(gateway: GatewayFixture) -> None:
    with connect(gateway) as conn, conn.pipeline():
        curs = [conn.execute("select %s::int * 2", (i,)) for i in range(50)]
        results = [c.fetchone() for c in curs]
    assert results == [(i * 2,) for i in range(50)]


def test_pipeline_error_discards_to_sync(gateway: GatewayFixture) -> None:
    with connect(gateway) as conn:
        with pytest.raises(pgerrors.DivisionByZero), conn.pipeline():
            conn.execute("select 1")
            conn.execute("select 1/0")
            conn.execute("select 2")
        assert conn.execute("select 'still usable'").fetchone() == ("still usable",)


def test_errors_inside_and_outside_transactions(gateway: GatewayFixture) -> None:
    with psycopg.connect(gateway.dsn()) as conn:  # not autocommit: implicit BEGIN
        conn.execute("select 1")
        with pytest.raises(pgerrors.UndefinedTable):
            conn.execute("select * from no_such_table")
        with pytest.raises(pgerrors.InFailedSqlTransaction):
            conn.execute("select 1")
        conn.rollback()
        assert conn.execute("select 3").fetchone() == (3,)
    with connect(gateway) as conn:
        with pytest.raises(pgerrors.SyntaxError):
            conn.execute("selec 1")
        assert conn.execute("select 4").fetchone() == (4,)


def test_copy_in_and_out(gateway: GatewayFixture) -> None:
    with connect(gateway) as conn:
        conn.execute("create temp table t_copy (id int, v text)")
        with conn.cursor().copy("copy t_copy from stdin") as cp:
            for i in range(5000):
                cp.write_row((i, f"row {i}"))
        assert conn.execute("select count(*), sum(id) from t_copy").fetchone() == (
            5000,
            sum(range(5000)),
        )
        out = bytearray()
        with conn.cursor().copy("copy (select * from t_copy order by id) to stdout") as cp:
            for chunk in cp:
                out += chunk
        assert out.count(b"\n") == 5000
        with conn.cursor().copy("copy t_copy to stdout (format binary)") as cp:
            cp.set_types(["int4", "text"])
            rows = list(cp.rows())
        assert len(rows) == 5000


def test_copy_fail_keeps_connection(gateway: GatewayFixture) -> None:
    with connect(gateway) as conn:
        conn.execute("create temp table t_cf (id int)")
        with (
            pytest.raises(psycopg.errors.QueryCanceled),
            conn.cursor().copy("copy t_cf from stdin") as cp,
        ):
            cp.write_row((1,))
            raise psycopg.errors.QueryCanceled("client aborted")  # psycopg sends CopyFail
        assert conn.execute("select count(*) from t_cf").fetchone() == (0,)


def test_server_side_cursor(gateway: GatewayFixture) -> None:
    with psycopg.connect(gateway.dsn()) as conn, conn.cursor(name="c1") as cur:
        cur.itersize = 100
        cur.execute("select id from transactions order by id")
        ids = [r[0] for r in cur]
    assert ids == list(range(1, 10001))


def test_notices_and_parameter_status(gateway: GatewayFixture) -> None:
    notices: list[str] = []
    with connect(gateway) as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute("do $$ begin raise notice 'hello from upstream'; end $$")
        assert notices == ["hello from upstream"]
        conn.execute("set application_name = 'renamed'")
        assert conn.info.parameter_status("application_name") == "renamed"
        assert conn.info.parameter_status("server_version")


def test_listen_notify(gateway: GatewayFixture) -> None:
    with connect(gateway) as listener, connect(gateway) as sender:
        listener.execute("listen regogate_test")
        sender.execute("notify regogate_test, 'payload-1'")
        gen = listener.notifies(timeout=5, stop_after=1)
        got = [(n.channel, n.payload, n.pid) for n in gen]
        assert got == [("regogate_test", "payload-1", sender.info.backend_pid)]


def test_cancel(gateway: GatewayFixture) -> None:
    with connect(gateway) as conn:
        timer = threading.Timer(0.5, conn.cancel)
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(pgerrors.QueryCanceled):
            conn.execute("select pg_sleep(20)")
        timer.join()
        assert time.monotonic() - t0 < 10
        assert conn.execute("select 1").fetchone() == (1,)


def test_cancel_safe(gateway: GatewayFixture) -> None:
    with connect(gateway) as conn:
        timer = threading.Timer(0.5, conn.cancel_safe)
        timer.start()
        with pytest.raises(pgerrors.QueryCanceled):
            conn.execute("select pg_sleep(20)")
        timer.join()


def test_a_cancel_during_a_large_copy_out_takes_effect(gateway: GatewayFixture) -> None:
    """psycopg's own test_copy_out_error_with_copy_not_finished: a cancel sent after the
    first row of a large COPY OUT must end it (57014), the transaction in error. Through
    the gateway the COPY sometimes completed first: the cancel connection got a loop turn
    only after each megabyte of relayed backlog (fixed by proxy/fastio.YIELD_EVERY; its
    own test is tests/proxy/test_fastio.py)."""
    for _ in range(3):
        with psycopg.connect(gateway.dsn("dba")) as conn:  # a transaction, as psycopg's test
            cur = conn.cursor()
            with cur.copy("copy (select generate_series(1, 2000000)) to stdout") as copy:
                assert copy.read_row() is not None
                conn.cancel_safe()
                with pytest.raises(pgerrors.QueryCanceled):
                    while copy.read_row() is not None:
                        pass
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR


def test_startup_options_reach_upstream(gateway: GatewayFixture) -> None:
    dsn = gateway.dsn(
        options="-c statement_timeout=1234 -c search_path=pg_catalog,public",
        application_name="regogate-test",
    )
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        row = conn.execute(
            "select current_setting('statement_timeout') st, current_setting('search_path') sp,"
            " current_setting('application_name') app"
        ).fetchone()
    assert row == {"st": "1234ms", "sp": "pg_catalog,public", "app": "regogate-test"}


def test_many_concurrent_sessions(gateway: GatewayFixture) -> None:
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with connect(gateway) as conn:
                for _ in range(20):
                    assert conn.execute("select %s::int", (i,)).fetchone() == (i,)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
