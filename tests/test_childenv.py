"""Children get an allowlisted environment: no signing key, no upstream password."""

from __future__ import annotations

from regogate.childenv import opa_env, writer_env

GATEWAY_ENV = {
    "PATH": "/usr/bin",
    "HOME": "/home/gw",
    "LC_CTYPE": "C.UTF-8",
    "GOMAXPROCS": "2",
    "SSL_CERT_FILE": "/etc/ca.pem",
    "HTTPS_PROXY": "http://user:pw@proxy:3128",
    "STAGE": "prod",
    "LD_LIBRARY_PATH": "/opt/python/lib",
    "PYTHONPATH": "/srv/regogate",
    "VIRTUAL_ENV": "/srv/venv",
    "REGOGATE_NATIVE_WRITER": "/srv/regogate-writer",
    "REGOGATE_HOTPATH": "python",
    "REGOGATE_SIGNING_KEY": "PRIVATE+KEY+regogate+1234+xyz",
    "LEDGER_PG_PASSWORD": "hunter2",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "PGPASSWORD": "pg",
}


def test_opa_gets_locale_paths_go_knobs_and_trust_anchors_only() -> None:
    base = {
        "PATH": "/usr/bin",
        "LD_LIBRARY_PATH": "/opt/python/lib",
        "HOME": "/home/gw",
        "LC_CTYPE": "C.UTF-8",
        "GOMAXPROCS": "2",
        "SSL_CERT_FILE": "/etc/ca.pem",
    }
    assert opa_env(environ=GATEWAY_ENV) == base
    # [policy] env passes more on, by name (a proxy URL may hold credentials: opt-in)
    passed = opa_env(["HTTPS_PROXY", "STAGE", "UNSET"], environ=GATEWAY_ENV)
    assert passed == {**base, "HTTPS_PROXY": "http://user:pw@proxy:3128", "STAGE": "prod"}


def test_the_writer_gets_its_interpreter_and_engine_choice_only() -> None:
    assert writer_env(GATEWAY_ENV) == {
        "PATH": "/usr/bin",
        "HOME": "/home/gw",
        "LD_LIBRARY_PATH": "/opt/python/lib",
        "LC_CTYPE": "C.UTF-8",
        "PYTHONPATH": "/srv/regogate",
        "VIRTUAL_ENV": "/srv/venv",
        "REGOGATE_NATIVE_WRITER": "/srv/regogate-writer",
        "REGOGATE_HOTPATH": "python",
    }


def test_consume_removes_and_overwrites_a_variable() -> None:
    import subprocess
    import sys

    script = (
        "import os, regogate.childenv as c\n"
        "assert c.consume('RG_SECRET') and not c.consume('RG_SECRET')\n"
        "assert 'RG_SECRET' not in os.environ\n"
        "env = open('/proc/self/environ', 'rb').read()\n"
        "print(b'RG_SECRET' in env, b'hunter2-7f3a9c' in env, b'RG_OTHER=keep' in env)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"RG_SECRET": "hunter2-7f3a9c", "RG_OTHER": "keep", "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["False", "False", "True"]
