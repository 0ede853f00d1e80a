"""Log-signing keys: generate, load (0600 file or environment), install, rotate and retire;
the deployment identifier in a key's name; the signed public key history (``.vkeys``).

Private key material never appears in an error, a repr or a log line: messages name
the file or the variable and say what is wrong, never what it holds.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from regogate import childenv
from regogate.errors import ConfigError
from regogate.recording.format.key_history import (
    HistoryEntry,
    HistoryError,
    check_chain,
    entry_line,
    parse_trust,
    sign_entry,
)
from regogate.recording.format.mac import PREFIX as MAC_PREFIX
from regogate.recording.format.mac import MacError, MacRoot
from regogate.recording.format.note import NoteError, Signer, Verifier

ENV_VAR = "REGOGATE_SIGNING_KEY"
HISTORY_HEADER = (
    "# regogate log-signing keys, oldest first: C2SP verifier key, activation time (UTC),\n"
    "# signature by the key before it. Give this file to examiners: `regogate verify\n"
    "# --trust` reads it as it is and checks every signature.\n"
)
# The per-deployment identifier a new deployment's key name (and so its log origin) ends with.
DEPLOYMENT = re.compile(r"/dep-[0-9a-f]{16}\Z")


def generate(name: str) -> Signer:
    """A fresh Ed25519 signing key; ``name`` is the log origin, e.g. bank.example/regogate/prod."""
    try:
        return Signer.generate(name)
    except NoteError as exc:
        raise ConfigError(f"signing key name: {exc}") from None


def deployment_name(name: str) -> str:
    """``name`` with a fresh deployment identifier: ``bank.example/regogate/prod/dep-<16 hex>``.

    It is made once, when a deployment's first key is generated, and lives on in the key's
    name: rotation keeps the name, and the name is the log's origin. Two deployments
    given the same name still sign different origins, so their logs never pass for each
    other (replicas: one key, one directory and one identifier each).
    """
    base = name.rstrip("/")
    if DEPLOYMENT.search(base):
        raise ConfigError(
            f"signing key name {name!r} already ends with a deployment identifier",
            hint="pass the name without its /dep-... part: a new deployment gets a new one",
        )
    return f"{base}/dep-{secrets.token_hex(8)}"


def deployment_of(name: str) -> str | None:
    """The deployment identifier a key name (a log origin) ends with, if any."""
    found = DEPLOYMENT.search(name)
    return found.group()[1:] if found else None


def pending_key(key_file: Path) -> Path:
    """Where a rotation keeps the new key until it is installed."""
    return key_file.with_name(f"{key_file.name}.next")


def retiring_key(key_file: Path) -> Path:
    """Where a rotation keeps the old key between installing the new one and retiring it."""
    return key_file.with_name(f"{key_file.name}.retiring")


def interrupted_rotation(key_file: Path) -> Path | None:
    """The file an interrupted rotation left beside ``key_file``, if any."""
    for path in (pending_key(key_file), retiring_key(key_file)):
        if path.exists() or path.is_symlink():
            return path
    return None


def load_signer(path: Path, *, rotating: bool = False) -> Signer:
    """Read a signer key file; refuse one that group or others may read or write, and
    (unless ``rotating``) one whose rotation was interrupted."""
    left = None if rotating else interrupted_rotation(path)
    if left is not None:
        raise ConfigError(
            f"signing key file {path}: a key rotation was interrupted ({left} is left)",
            hint="run `regogate keys rotate` again with the same options: it finishes it",
        )
    return _load(path)


def _load(path: Path) -> Signer:
    return _parse(_read_private(path, "signing key file"), f"signing key file {path}")


def _read_private(path: Path, what: str) -> bytes:
    """A secret file's bytes: a regular file (no symlink) that group and others cannot
    read or write."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise ConfigError(f"{what} {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{what} {path} is not a regular file")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"{what} {path} has mode {mode:04o}: it must not be accessible to group or others",
                hint=f"chmod 600 {path}",
            )
        return os.read(fd, 4096)
    finally:
        os.close(fd)


MAC_ENV_VAR = "REGOGATE_MAC_KEY"


def mac_file_for(key_file: Path) -> Path:
    """Where ``keys generate`` puts the MAC root secret: beside the signing key."""
    return key_file.with_name(key_file.name + ".mac")


def load_mac_root(path: Path) -> MacRoot:
    """The MAC root secret of literal commitments and result digests (recording.mac)."""
    raw = _read_private(path, "MAC key file")
    try:
        return MacRoot.parse(raw.decode("ascii"))
    except (UnicodeDecodeError, MacError):
        raise ConfigError(
            f"MAC key file {path} does not hold a MAC root secret (want {MAC_PREFIX}<base64>)"
        ) from None


def load_mac_root_from_env(var: str = MAC_ENV_VAR) -> MacRoot | None:
    """The MAC root secret from ``var`` (removed from the environment), or None."""
    raw = os.environb.get(os.fsencode(var))
    if raw is None:
        return None
    try:
        root = MacRoot.parse(raw.decode("ascii"))
    except (UnicodeDecodeError, MacError):
        raise ConfigError(
            f"environment variable {var} does not hold a MAC root secret "
            f"(want {MAC_PREFIX}<base64>)"
        ) from None
    finally:
        childenv.consume(var)
    return root


def write_mac_root(path: Path, root: MacRoot) -> None:
    """Create ``path`` (which must not exist) holding the MAC root secret, mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, root.text().encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    sync_dir(path.parent)


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


def sync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def install_signer(path: Path, signer: Signer) -> None:
    """Write a signer key file with mode 0600, atomically replacing any previous one.

    The file replaced is not destroyed: to replace the key in use, ``rotate``.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    write_key_file(tmp, signer)
    os.replace(tmp, path)
    sync_dir(path.parent)


def destroy_key_file(path: Path) -> None:
    """Overwrite a key file with zeros, sync it, then unlink it.

    On copy-on-write or log-structured file systems and on flash, old blocks may survive
    an overwrite: keep key files on an encrypted or memory-backed file system.
    """
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    try:
        size = os.fstat(fd).st_size
        os.pwrite(fd, b"\0" * size, 0)
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    sync_dir(path.parent)


def check_archive(archive: Path, key_file: Path | None) -> None:
    """Refuse to archive retired keys beside the key in use."""
    if key_file is not None and archive.resolve() == key_file.parent.resolve():
        raise ConfigError(
            f"--archive {archive} is the key's own directory: a retired key must not stay"
            " beside the key in use",
            hint="archive to offline storage, or leave out --archive: the old key is destroyed",
        )


def archive_key(archive: Path, signer: Signer, key_file: Path | None = None) -> Path:
    """Write a retired key into ``archive`` (0700, created if missing) as a new 0600 file,
    ``<key file name>.retired-<key id>``."""
    check_archive(archive, key_file)
    archive.mkdir(mode=0o700, parents=True, exist_ok=True)
    stem = key_file.name if key_file is not None else "signing.key"
    target = archive / f"{stem}.retired-{signer.verifier.id:08x}"
    if target.exists():
        if _load(target).verifier != signer.verifier:
            raise ConfigError(f"{target} exists and holds another key")
        return target
    write_key_file(target, signer)
    sync_dir(archive)
    return target


# -- history --------------------------------------------------------------------------------


def read_history(path: Path) -> list[HistoryEntry]:
    """The key history, every signature checked; [] if the file is absent."""
    if not path.exists():
        return []
    try:
        trust = parse_trust(path.read_text())
    except HistoryError as exc:
        raise ConfigError(f"{path}:{exc.line}: {exc}") from None
    if trust.history is None:
        if not trust.keys:
            return []
        raise ConfigError(f"{path} is a list of keys, not a signed key history")
    check = check_chain(trust.history)
    if check.problem is not None:
        raise ConfigError(f"{path}:{check.line}: {check.problem}")
    return trust.history


def append_history(path: Path, verifier: Verifier, activated: str, signed_by: Signer) -> bool:
    """Append a key to the history (created with a header), signed by the key before it
    (the key itself if it is the first); False if the key is already there."""
    entries = read_history(path)
    if any(e.verifier == verifier for e in entries):
        return False
    previous = entries[-1].verifier if entries else None
    if signed_by.verifier != (previous or verifier):
        last = "the key itself" if previous is None else f"{previous.name}+{previous.id:08x}"
        raise ConfigError(
            f"{path}: a new entry must be signed by {last}, the history's last key",
            hint="the history belongs to another key: pass the right --history FILE",
        )
    if entries and activated < entries[-1].activated:  # a clock set back: never before
        activated = entries[-1].activated
    entry = sign_entry(signed_by, len(entries), previous, verifier, activated)
    header = "" if entries or (path.exists() and path.stat().st_size) else HISTORY_HEADER
    with path.open("a") as f:
        f.write(header + entry_line(entry))
        f.flush()
        os.fsync(f.fileno())
    return True


def prepare_history(history: Path, old: Signer, pending: Signer | None, activated: str) -> bool:
    """Check, before a rotation, that the history ends with the key in use (or, resuming,
    with the ``pending`` new key right after it); start an empty history with the key in
    use. True if it was started."""
    entries = read_history(history)
    if not entries:
        append_history(history, old.verifier, activated, old)
        return True
    tail = [e.verifier for e in entries[-2:]]
    if tail[-1] == old.verifier:
        return False
    if pending is not None and tail == [old.verifier, pending.verifier]:
        return False
    last, used = tail[-1], old.verifier
    raise ConfigError(
        f"key history {history} ends with {last.name}+{last.id:08x}, not with the key in use"
        f" {used.name}+{used.id:08x}",
        hint="pass the history of this key with --history FILE",
    )


# -- rotation -------------------------------------------------------------------------------


def pending_signer(key_file: Path, old: Signer) -> Signer | None:
    """The new key an interrupted rotation of ``key_file`` left, if any."""
    pending = pending_key(key_file)
    if not (pending.exists() or pending.is_symlink()):
        return None
    new = _load(pending)
    if new.name != old.name:
        raise ConfigError(f"{pending} holds a key named {new.name!r}, not {old.name!r}")
    return new


def begin_rotation(key_file: Path, old: Signer) -> Signer:
    """The new key, first written to ``<key>.next`` (0600): the history may name it only
    once it is on disk. An interrupted rotation's pending key is taken up again."""
    new = pending_signer(key_file, old)
    if new is not None:
        return new
    pending = pending_key(key_file)
    new = generate(old.name)
    write_key_file(pending, new)
    sync_dir(key_file.parent)
    return new


def finish_rotation(key_file: Path, new: Signer, archive: Path | None) -> Path | None:
    """Install the pending new key as ``key_file`` and retire the old one: moved to
    ``archive`` (its path is returned), else destroyed. Safe to run again after a crash."""
    pending, retiring = pending_key(key_file), retiring_key(key_file)
    if pending.exists():
        if not retiring.exists():
            os.link(key_file, retiring)  # the old key, until it is retired
        os.replace(pending, key_file)
        sync_dir(key_file.parent)
    if _load(key_file).verifier != new.verifier:
        raise ConfigError(f"signing key file {key_file} does not hold the new key")
    return retire(key_file, archive)


def retire(key_file: Path, archive: Path | None) -> Path | None:
    """Archive (if asked) and destroy the old key a rotation left at ``<key>.retiring``."""
    retiring = retiring_key(key_file)
    if not retiring.exists():
        return None
    kept = archive_key(archive, _load(retiring), key_file) if archive is not None else None
    destroy_key_file(retiring)
    return kept


class RotatingRecorder(Protocol):
    """What ``rotate`` needs of ``writer.Recorder``."""

    @property
    def verifier(self) -> Verifier: ...

    async def rotate_key(self, new: Signer) -> None: ...


async def rotate(
    recorder: RotatingRecorder,
    old: Signer,
    history: Path,
    key_file: Path | None,
    activated: str,
    *,
    archive: Path | None = None,
) -> Signer:
    """Rotate the log key of a running recorder; return the new signer.

    Crash-safe order: the new key is written (``<key>.next``), its verifier key is
    published in the history (signed by the old key), key.rotate (carrying the new vkey)
    is sealed under the old key, the key file is replaced and the old key retired:
    archived if asked, then destroyed. Without a key file (a key from the environment)
    the caller keeps the new key, and the operator replaces the old one there.
    """
    if recorder.verifier != old.verifier:
        raise ValueError("rotate: the recorder signs with another key")
    pending = pending_signer(key_file, old) if key_file is not None else None
    prepare_history(history, old, pending, activated)
    new = begin_rotation(key_file, old) if key_file is not None else generate(old.name)
    append_history(history, new.verifier, activated, old)
    await recorder.rotate_key(new)
    if key_file is not None:
        finish_rotation(key_file, new, archive)
    return new
