"""The OPA sidecar: starts and supervises `opa run --server` on a private unix socket (or
loopback TCP) and keeps it loaded.

regogate pushes the policy directory into OPA itself (Policy and Data APIs), so it
knows exactly which revision answers: the decision cache is dropped the moment a new
revision is live. A file change or SIGHUP reloads; an invalid policy keeps the old one.
If OPA dies it is restarted; meanwhile decisions fail closed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio
import anyio.abc

from regogate.childenv import opa_env
from regogate.errors import ConfigError
from regogate.pgserver import free_port
from regogate.policy.bundle import PolicyBundle, fingerprint, load_bundle
from regogate.policy.opa import Metrics, OpaClient
from regogate.policy.opa_batch import BATCH_MODULE, BATCH_POLICY_ID

log = logging.getLogger("regogate.opa")


def find_opa(configured: str | None = None) -> str:
    candidates: list[str | None] = [
        configured,
        shutil.which("opa"),
        str(Path.home() / "go/bin/opa"),
    ]
    for c in candidates:
        if c and Path(c).is_file():
            return c
    raise ConfigError(
        "the opa binary was not found: set opa.binary in regogate.toml, put opa on "
        "PATH, or run `make setup` (go install github.com/open-policy-agent/opa)"
    )


class PolicyLoader:
    """Pushes a policy directory into an OPA server and tracks the live revision."""

    def __init__(self, client: OpaClient, root: Path, on_change: Callable[[str], None]):
        self.client = client
        self.root = root
        self.on_change = on_change
        self.bundle: PolicyBundle | None = None
        self._fp: tuple[tuple[str, int, int], ...] = ()
        # True while modules and data are being pushed: OPA then holds a mix of two
        # revisions, so decisions must wait (see ``OpaSidecar.available``).
        self.loading = False

    @property
    def revision(self) -> str:
        return self.bundle.revision if self.bundle else "none"

    def _check(self, opa_bin: str) -> str | None:
        proc = subprocess.run(
            [opa_bin, "check", "--strict", str(self.root)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=opa_env(),
        )
        return None if proc.returncode == 0 else (proc.stderr or proc.stdout).strip()

    async def load(self, opa_bin: str, *, force: bool = False) -> bool:
        """Load the directory if it changed; return True if a new revision is live."""
        try:
            return await self._load(opa_bin, force)
        finally:
            self.loading = False

    async def _load(self, opa_bin: str, force: bool) -> bool:
        fp = fingerprint(self.root)
        if fp == self._fp and not force:
            return False
        self._fp = fp
        try:
            bundle = load_bundle(self.root)
        except ConfigError as exc:
            log.error("policy reload refused: %s", exc.message)
            return False
        if not force and self.bundle is not None and bundle.digest == self.bundle.digest:
            return False
        problem = await anyio.to_thread.run_sync(self._check, opa_bin)
        if problem:
            log.error("policy reload refused, keeping revision %s: %s", self.revision, problem)
            return False
        old = self.bundle
        self.loading = True
        for pid, text in bundle.modules.items():
            err = await self.client.put_policy(pid, text)
            if err:
                log.error("OPA rejected %s: %s", pid, err)
                return False
        if old is not None:
            for pid in set(old.modules) - set(bundle.modules):
                await self.client.delete_policy(pid)
        for path, doc in bundle.data.items():
            if path:
                err = await self.client.put_data(path, doc)
            elif isinstance(doc, dict):
                err = None
                for key, value in doc.items():
                    err = err or await self.client.put_data(str(key), value)
            else:
                err = "a data.json at the policy root must be an object"
            if err:
                log.error("OPA rejected data %s: %s", path or "/", err)
                return False
        await self._batches()
        self.bundle = bundle
        log.info("policy revision %s is live (%d modules)", bundle.revision, len(bundle.modules))
        self.on_change(bundle.revision)
        return True

    async def _batches(self) -> None:
        """The gateway's own batch module (``opa_batch``), beside the user's: pushed at
        every load (a restarted OPA has lost it). Refused, decisions go one by one."""
        err = await self.client.put_policy(BATCH_POLICY_ID, BATCH_MODULE)
        if err:
            log.warning("decision batches off: OPA rejected the batch module: %s", err)
            return
        self.client.enable_batches(max(2, os.cpu_count() or 2))


# Linux: a child that gets SIGKILL when the gateway dies, even by kill -9 (PR_SET_PDEATHSIG
# survives the exec). A tiny interpreter sets it and execs the real command.
_PDEATHSIG = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"  # the parent already died
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def die_with_parent(cmd: list[str]) -> list[str]:
    """``cmd``, run so that it cannot outlive this process (where the OS allows)."""
    if not sys.platform.startswith("linux"):
        return cmd
    return [sys.executable, "-c", _PDEATHSIG, str(os.getpid()), *cmd]


class OpaSidecar:
    """Runs `opa run --server` as a child process and restarts it if it dies.

    OPA listens on a unix-domain socket in a private (0700) directory: cheaper per
    decision than loopback TCP, and no other local user can reach OPA's unauthenticated
    API (which could replace the policy). With ``port`` (or where there are no unix
    sockets) it listens on 127.0.0.1 instead.
    """

    def __init__(
        self,
        opa_bin: str,
        loader_factory: Callable[[OpaClient], PolicyLoader],
        *,
        port: int = 0,
        watch_interval: float = 1.0,
        timeout: float = 0.5,
        metrics: Metrics | None = None,
        env: Sequence[str] = (),
    ):
        """``env``: environment variables OPA gets beyond ``childenv``'s allowlist."""
        self.opa_bin = opa_bin
        self.env = tuple(env)
        self.port = port
        self.socket_path: Path | None = None
        if not port and hasattr(socket, "AF_UNIX"):
            self.socket_path = Path(tempfile.mkdtemp(prefix="regogate-opa-")) / "opa.sock"
            self.addr = self.url = f"unix://{self.socket_path}"
        else:
            self.port = port or free_port()
            self.addr = f"127.0.0.1:{self.port}"
            self.url = f"http://{self.addr}"
        self.client = OpaClient(self.url, timeout=timeout, metrics=metrics)
        self.loader = loader_factory(self.client)
        self.watch_interval = watch_interval
        self.up = False
        self.restarts = 0
        self._reload = anyio.Event()

    def request_reload(self) -> None:
        self._reload.set()

    def available(self) -> bool:
        """OPA is up and holds exactly one complete revision."""
        return self.up and not self.loader.loading

    async def _start_once(self) -> anyio.abc.Process:
        if self.socket_path is not None:  # left behind by an OPA that was killed
            self.socket_path.unlink(missing_ok=True)
        cmd = [
            self.opa_bin,
            "run",
            "--server",
            f"--addr={self.addr}",
            "--skip-version-check",
            "--log-level=error",
        ]
        proc = await anyio.open_process(
            die_with_parent(cmd), stdout=subprocess.DEVNULL, stderr=None, env=opa_env(self.env)
        )
        try:
            with anyio.move_on_after(30):
                while not await self.client.healthy():
                    if proc.returncode is not None:
                        break
                    await anyio.sleep(0.05)
            if proc.returncode is not None or not await self.client.healthy():
                raise ConfigError(f"OPA did not start on {self.url} (exit {proc.returncode})")
            await self.loader.load(self.opa_bin, force=True)
            if self.loader.bundle is None:
                raise ConfigError(
                    f"the policies in {self.loader.root} could not be loaded into OPA "
                    f"(see the log above)"
                )
        except BaseException:
            # An OPA that is not serving this sidecar must not outlive the attempt (nor,
            # with a restart, keep listening next to its successor).
            if proc.returncode is None:
                proc.kill()
            with anyio.CancelScope(shield=True):
                await proc.aclose()
            raise
        return proc

    async def run(
        self,
        *,
        task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        try:
            proc = await self._start_once()
        except BaseException:
            self._remove_socket()
            raise
        self.up = True
        task_status.started(self.url)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch)
                while True:
                    await proc.wait()
                    self.up = False
                    log.error(
                        "OPA exited with %s; restarting (decisions fail closed meanwhile)",
                        proc.returncode,
                    )
                    self.restarts += 1
                    while True:
                        await anyio.sleep(min(5.0, 0.2 * self.restarts))
                        try:
                            proc = await self._start_once()
                            break
                        except ConfigError as exc:
                            log.error("%s", exc.message)
                    self.up = True
        finally:
            with anyio.CancelScope(shield=True):
                if proc.returncode is None:
                    proc.terminate()
                    with anyio.move_on_after(5):
                        await proc.wait()
                    if proc.returncode is None:
                        proc.kill()
                await self.client.aclose()
                self._remove_socket()

    def _remove_socket(self) -> None:
        if self.socket_path is not None:
            self.socket_path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.socket_path.parent.rmdir()

    async def _watch(self) -> None:
        while True:
            with anyio.move_on_after(self.watch_interval):
                await self._reload.wait()
            forced = self._reload.is_set()
            self._reload = anyio.Event()
            if self.up:
                try:
                    await self.loader.load(self.opa_bin, force=forced)
                except Exception:  # a reload must never take the gateway down
                    log.exception("policy reload failed")
