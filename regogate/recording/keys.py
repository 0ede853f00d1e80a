"""Log-signing keys: generate, load (0600 file or environment), install, public key history.

Private key material never appears in an error, a repr or a log line: messages name
the file or the variable and say what is wrong, never what it holds.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from regogate.errors import ConfigError
from regogate.recording.note import NoteError, Signer, Verifier
from regogate.recording.records import TS_FORMAT

ENV_VAR = "REGOGATE_SIGNING_KEY"
HISTORY_HEADER = (
    "# regogate log-signing keys, oldest first: C2SP verifier key, activation time (UTC).\n"
    "# Give this file to examiners; `regogate verify --trust` reads it as it is.\n"
)


def generate(name: str) -> Signer:
    """A fresh Ed25519 signing key; ``name`` is the log origin, e.g. bank.example/regogate/prod."""
    try:
        return Signer.generate(name)
    except NoteError as exc:
        raise ConfigError(f"signing key name: {exc}") from None


def load_signer(path: Path) -> Signer:
    """Read a signer key file; refuse one that group or others may read or write."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise ConfigError(f"signing key file {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"signing key file {path} is not a regular file")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"signing key file {path} has mode {mode:04o}: it must not be accessible"
                f" to group or others",
                hint=f"chmod 600 {path}",
            )
        raw = os.read(fd, 4096)
    finally:
        os.close(fd)
    return _parse(raw, f"signing key file {path}")


def load_signer_from_env(var: str = ENV_VAR, environ: Mapping[str, str] | None = None) -> Signer:
    """Read a signer key string from an environment variable."""
    value = (os.environ if environ is None else environ).get(var)
    if not value:
        raise ConfigError(f"environment variable {var} is not set (want a regogate signer key)")
    return _parse(value.encode(), f"environment variable {var}")


def _parse(raw: bytes, where: str) -> Signer:
    try:
        return Signer.parse(raw.decode("ascii"))
    except (UnicodeDecodeError, NoteError, ValueError):
        # Say nothing of the content: it may be a real key with one typo.
        raise ConfigError(
            f"{where} does not hold a signer key (want PRIVATE+KEY+<name>+<id>+<base64>)"
        ) from None


def write_key_file(path: Path, signer: Signer) -> None:
    """Create ``path`` (which must not exist) holding the signer key, mode 0600, synced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, signer.skey().encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def install_signer(path: Path, signer: Signer) -> None:
    """Write a signer key file with mode 0600, atomically replacing any previous one."""
    tmp = path.with_name(f".{path.name}.tmp")
    write_key_file(tmp, signer)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@dataclass(frozen=True)
class KeyHistoryEntry:
    verifier: Verifier
    activated: str  # RFC 3339 UTC, microseconds


def read_history(path: Path) -> list[KeyHistoryEntry]:
    """The public key history (``vkey activated`` lines; ``#`` comments); [] if absent."""
    if not path.exists():
        return []
    out = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if len(words) != 2 or not TS_FORMAT.fullmatch(words[1]):
            raise ConfigError(f"{path}:{number}: want '<verifier key> <activation time>'")
        try:
            out.append(KeyHistoryEntry(Verifier.parse(words[0]), words[1]))
        except NoteError as exc:
            raise ConfigError(f"{path}:{number}: {exc}") from None
    return out


def record_activation(path: Path, verifier: Verifier, activated: str) -> None:
    """Append a key to the history file (created with a header); a key already there stays."""
    if any(e.verifier == verifier for e in read_history(path)):
        return
    header = "" if path.exists() else HISTORY_HEADER
    with path.open("a") as f:
        f.write(f"{header}{verifier.vkey()} {activated}\n")
        f.flush()
        os.fsync(f.fileno())


class RotatingRecorder(Protocol):
    """What ``rotate`` needs of ``writer.Recorder``."""

    @property
    def verifier(self) -> Verifier: ...

    async def rotate_key(self, new: Signer) -> None: ...


async def rotate(
    recorder: RotatingRecorder, history: Path, key_file: Path | None, activated: str
) -> Signer:
    """Rotate the log key of a running recorder; return the new signer.

    Crash-safe order: the new verifier key is published in the history file first,
    then key.rotate (carrying the new vkey) is sealed under the old key, then the key
    file is replaced. With a key from the environment, the operator replaces it there.
    """
    new = generate(recorder.verifier.name)
    record_activation(history, new.verifier, activated)
    await recorder.rotate_key(new)
    if key_file is not None:
        install_signer(key_file, new)
    return new
