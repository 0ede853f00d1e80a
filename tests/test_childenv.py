"""Children get an allowlisted environment: no signing key, no upstream password."""

from __future__ import annotations

from regogate.childenv import opa_env, writer_env

GATEWAY_ENV = {
    "PATH": "/usr/bin",
    "HOME": "/home/gw",
    "LC_CTYPE": "C.UTF-8",
    "GOMAXPROCS": "2",
    "PYTHONPATH": "/srv/regogate",
    "VIRTUAL_ENV": "/srv/venv",
    "REGOGATE_NATIVE_WRITER": "/srv/regogate-writer",
    "REGOGATE_HOTPATH": "python",
    "REGOGATE_SIGNING_KEY": "PRIVATE+KEY+regogate+1234+xyz",
    "LEDGER_PG_PASSWORD": "hunter2",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "PGPASSWORD": "pg",
}


def test_opa_gets_locale_path_and_go_knobs_only() -> None:
    assert opa_env(GATEWAY_ENV) == {
        "PATH": "/usr/bin",
        "HOME": "/home/gw",
        "LC_CTYPE": "C.UTF-8",
        "GOMAXPROCS": "2",
    }


def test_the_writer_gets_its_interpreter_and_engine_choice_only() -> None:
    assert writer_env(GATEWAY_ENV) == {
        "PATH": "/usr/bin",
        "HOME": "/home/gw",
        "LC_CTYPE": "C.UTF-8",
        "PYTHONPATH": "/srv/regogate",
        "VIRTUAL_ENV": "/srv/venv",
        "REGOGATE_NATIVE_WRITER": "/srv/regogate-writer",
        "REGOGATE_HOTPATH": "python",
    }
