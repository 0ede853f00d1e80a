"""Throwaway local PostgreSQL clusters for the demo, the test fixtures and the benchmarks.

Runs Debian's server binaries (``/usr/lib/postgresql/<ver>/bin``) on a loopback port.
initdb refuses to run as root, so as root the cluster belongs to an unprivileged
system user (``postgres`` by default, created by Debian's packages).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from regogate.errors import ConfigError

SUPERUSER = "postgres"


def find_bindir() -> Path:
    """Newest PostgreSQL server bindir, or ``$REGOGATE_PG_BINDIR``."""
    env = os.environ.get("REGOGATE_PG_BINDIR")
    if env:
        return Path(env)
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    if which:
        return Path(which).resolve().parent
    raise ConfigError(
        "PostgreSQL server binaries not found: install Debian's 'postgresql' package "
        "(make setup does) or set REGOGATE_PG_BINDIR"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class PgServer:
    """A PostgreSQL cluster in ``datadir`` listening on 127.0.0.1:``port``."""

    datadir: Path
    port: int = 0
    password: str = "postgres-admin"
    bindir: Path = field(default_factory=find_bindir)
    settings: Mapping[str, str] = field(default_factory=dict)
    hba_lines: Sequence[str] = ()
    run_as: str | None = None

    def __post_init__(self) -> None:
        if self.port == 0:
            self.port = free_port()
        if self.run_as is None and os.geteuid() == 0:
            self.run_as = os.environ.get("REGOGATE_PG_USER", "postgres")
            try:
                pwd.getpwnam(self.run_as)
            except KeyError as exc:
                raise ConfigError(
                    f"running as root: PostgreSQL must run as an unprivileged user, but user "
                    f"{self.run_as!r} does not exist (create it or set REGOGATE_PG_USER)"
                ) from exc

    # -- process helpers ---------------------------------------------------------------
    def _run(self, args: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            check=check,
            capture_output=True,
            text=True,
            user=self.run_as,
            env={**os.environ, "LC_ALL": "C.UTF-8", "PGPASSWORD": self.password},
        )

    def _chown(self, path: Path) -> None:
        if self.run_as:
            pw = pwd.getpwnam(self.run_as)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    @property
    def initialized(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    @property
    def sockdir(self) -> Path:
        return self.datadir / "sock"

    def init(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.datadir.chmod(0o700)
        self._chown(self.datadir)
        pwfile = self.datadir.parent / f".{self.datadir.name}.pw"
        pwfile.write_text(self.password + "\n")
        self._chown(pwfile)
        try:
            proc = self._run(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    SUPERUSER,
                    "--pwfile",
                    str(pwfile),
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
                check=False,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if proc.returncode != 0:
            raise ConfigError(f"initdb failed: {proc.stderr.strip() or proc.stdout.strip()}")
        self.sockdir.mkdir(exist_ok=True)
        self._chown(self.sockdir)
        hba = [
            "local all all trust",
            *self.hba_lines,
            "host all all 127.0.0.1/32 scram-sha-256",
            "host all all ::1/128 scram-sha-256",
        ]
        (self.datadir / "pg_hba.conf").write_text("\n".join(hba) + "\n")

    def start(self) -> None:
        if not self.initialized:
            self.init()
        opts = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.sockdir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "128MB",
            **self.settings,
        }
        conf = "".join(f"{k} = '{v}'\n" for k, v in opts.items())
        (self.datadir / "regogate.auto.conf").write_text(conf)
        main_conf = self.datadir / "postgresql.conf"
        text = main_conf.read_text()
        if "include_if_exists = 'regogate.auto.conf'" not in text:
            main_conf.write_text(text + "\ninclude_if_exists = 'regogate.auto.conf'\n")
        proc = self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.datadir / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=False,
        )
        if proc.returncode != 0:
            log = self.datadir / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise ConfigError(f"PostgreSQL did not start: {proc.stderr.strip()}\n{tail}")

    def stop(self, mode: str = "fast") -> None:
        if self.initialized:
            self._run(
                [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"],
                check=False,
            )

    def is_running(self) -> bool:
        proc = self._run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "status"], check=False
        )
        return proc.returncode == 0

    # -- SQL as superuser over the unix socket ---------------------------------------------
    def psql(self, sql: str, *, dbname: str = "postgres", tuples: bool = True) -> str:
        args = [
            str(self.bindir / "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.sockdir),
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            dbname,
        ]
        if tuples:
            args += ["-A", "-t"]
        proc = subprocess.run(
            args,
            input=sql,
            capture_output=True,
            text=True,
            check=False,
            user=self.run_as,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
            cwd="/",
        )
        if proc.returncode != 0:
            raise ConfigError(f"psql failed: {proc.stderr.strip()}")
        return proc.stdout

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.psql("select 1")
                return
            except ConfigError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def dsn(
        self, user: str = SUPERUSER, password: str | None = None, dbname: str = "postgres"
    ) -> str:
        pw = self.password if password is None else password
        return f"host=127.0.0.1 port={self.port} user={user} password={pw} dbname={dbname}"
