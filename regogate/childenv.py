"""The environment of the processes regogate starts: what they need, never a secret.

The gateway's own environment may hold the log-signing key (``REGOGATE_SIGNING_KEY``),
upstream passwords (``password_env``) and whatever else the operator exported. OPA would
hand all of it to any policy (``opa.runtime().env``), and a policy's reasons reach the
client and the recording; so children get an allowlist instead of a copy.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable, Mapping

# locale, time zone, search paths and scratch space (a Python whose libpython is found
# through LD_LIBRARY_PATH runs the writer and OPA's launcher)
_BASE = frozenset({"PATH", "LD_LIBRARY_PATH", "HOME", "TMPDIR", "TZ", "LANG", "LANGUAGE", "LC_ALL"})
# OPA: the Go runtime's knobs and where TLS trust anchors are (http.send to a private CA).
# Proxy settings may carry credentials: only through [policy] env.
_OPA = frozenset({"GOMAXPROCS", "GOMEMLIMIT", "GOGC", "GODEBUG", "SSL_CERT_FILE", "SSL_CERT_DIR"})
# the recording writer is Python (or execs the native writer): how its interpreter and
# engine are chosen, and nothing else
_WRITER = frozenset({"VIRTUAL_ENV", "REGOGATE_NATIVE_WRITER", "REGOGATE_HOTPATH"})


def minimal_env(
    keep: Iterable[str] = (),
    *,
    prefixes: tuple[str, ...] = (),
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The variables of ``environ`` (default: this process's) named in the base
    allowlist or ``keep``, or starting with ``LC_`` or one of ``prefixes``."""
    names = _BASE | frozenset(keep)
    starts = ("LC_", *prefixes)
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if k in names or k.startswith(starts)}


def opa_env(extra: Iterable[str] = (), environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """For ``opa`` (server, check, eval, test): policies see no secret. ``extra``: names
    the operator passes on (``[policy] env``)."""
    return minimal_env(_OPA | frozenset(extra), environ=environ)


def writer_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """For the recording writer process (its key arrives on the pipe)."""
    return minimal_env(_WRITER, prefixes=("PYTHON", "COV_CORE_", "COVERAGE_"), environ=environ)


def consume(name: str) -> bool:
    """Remove ``name`` from this process's environment, overwriting its value first.

    Both copies are overwritten with zero bytes before they are released: the C library's
    (what ``/proc/PID/environ`` shows and what a core dump holds) and the interpreter's
    (``os.environ``'s bytes object, created once at start-up and referenced nowhere
    else). A ``str`` made from the value earlier (by a caller of ``os.environ[name]``) is
    beyond reach: read a secret variable only in the process meant to hold it. Returns
    whether the variable was set.
    """
    key = os.fsencode(name)
    raw = os.environb.get(key)
    if raw is None:
        return False
    libc = ctypes.CDLL(None)
    libc.getenv.restype = ctypes.c_void_p
    libc.getenv.argtypes = [ctypes.c_char_p]
    where = libc.getenv(key)  # the value in "NAME=VALUE"
    size = len(raw)
    # c_char_p over a bytes object points at the object's own buffer (no copy)
    buffer = ctypes.cast(ctypes.c_char_p(raw), ctypes.c_void_p).value
    if buffer:
        ctypes.memset(buffer, 0, size)
    del raw
    del os.environb[key]  # unsetenv(3) (which neither frees nor clears the entry)
    if where and where > len(key):
        ctypes.memset(where - len(key) - 1, 0, len(key) + 1 + size)  # "NAME=VALUE"
    return True
