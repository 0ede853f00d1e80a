"""`regogate keys`: create a deployment's log-signing key, rotate it (recorded in the log,
the old key retired), export the signed key history.

Private keys are only ever written to new 0600 files; nothing here prints one.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import anyio

from regogate import __version__
from regogate.cli.rec_io import CommandError, RecordReader
from regogate.errors import RecordingUnavailable
from regogate.recording.format.key_history import HistoryEntry, entry_line
from regogate.recording.format.note import Signer, Verifier
from regogate.recording.format.records import GatewayInfo, format_ts
from regogate.recording.write import keys
from regogate.recording.write.store import FsyncPolicy, SegmentStore
from regogate.recording.write.writer import Recorder


def default_history(key_file: Path) -> Path:
    """Where the public key history lives unless told: beside the key, ``.vkeys``."""
    return key_file.with_suffix(".vkeys")


def now_ts() -> str:
    return format_ts(time.time_ns() // 1000)


def short(v: Verifier) -> str:
    return f"{v.name}+{v.id:08x}"


def refuse_existing(path: Path) -> None:
    if path.exists() or path.is_symlink():
        raise CommandError(
            f"signing key file {path} already exists: refusing to overwrite it",
            hint="`regogate keys rotate` replaces the key in use and records it in the log",
        )


def write_new_key(path: Path, signer: Signer) -> None:
    """Write a signer key to a new 0600 file; refuse if ``path`` exists (never replace)."""
    refuse_existing(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.new")
    keys.write_key_file(tmp, signer)
    try:
        os.link(tmp, path)  # unlike rename, fails if the name was taken meanwhile
    except FileExistsError:
        raise CommandError(f"signing key file {path} already exists") from None
    finally:
        tmp.unlink()


def generate(key_file: Path, name: str, history: Path) -> Signer:
    """A new deployment's key in ``key_file`` (0600, new file), named ``name`` plus a fresh
    deployment identifier; its public key starts ``history`` (self-signed)."""
    refuse_existing(key_file)
    if keys.read_history(history):
        raise CommandError(
            f"key history {history} already exists: a new deployment starts a new history",
            hint="pass another --history FILE (or --key FILE), or `regogate keys rotate`",
        )
    signer = keys.generate(keys.deployment_name(name))
    write_new_key(key_file, signer)
    keys.append_history(history, signer.verifier, now_ts(), signer)
    return signer


@dataclass(frozen=True)
class Rotation:
    old: Verifier
    new: Verifier
    seq: int | None  # of the key.rotate record; None if an earlier run wrote it
    origin: str
    added_old: bool  # the history was empty: the old key was entered first
    archived: Path | None  # where the old key was archived; else it was destroyed


def rotate(
    directory: Path,
    old: Signer,
    key_file: Path | None,
    new_key_file: Path | None,
    history: Path,
    gateway_id: str,
    archive: Path | None = None,
) -> Rotation:
    """Rotate the log key in a boot of its own: gateway.start, key.rotate, gateway.stop.

    In order: the new key is written (``<key>.next``, or ``new_key_file`` for a key from
    the environment), entered in the history signed by the old key, announced by
    key.rotate sealed under the old key; then ``key_file`` is replaced atomically and the
    old key archived (``archive``) or destroyed. Run again after a crash, it finishes.
    """
    if not directory.is_dir():
        raise CommandError(f"no recording directory {directory}")
    if key_file is None and new_key_file is None:
        raise CommandError("the signing key comes from the environment: pass --new-key FILE")
    if new_key_file is not None and new_key_file.exists():
        raise CommandError(f"{new_key_file} already exists: refusing to overwrite it")
    if archive is not None:
        keys.check_archive(archive, key_file)
    announced = announced_keys(directory)
    try:
        store = SegmentStore.open(directory, fsync=FsyncPolicy.ALWAYS)
    except RecordingUnavailable as exc:
        hint = "stop the gateway first; rotate while no process writes the log"
        raise CommandError(exc.message, hint=exc.hint or hint) from None
    try:  # nothing changes before the log is ours
        pending = keys.pending_signer(key_file, old) if key_file is not None else None
        # before any file is written: a refused rotation leaves nothing behind
        added_old = keys.prepare_history(history, old, pending, now_ts())
        if key_file is not None:
            new = keys.begin_rotation(key_file, old)
        else:
            new = keys.generate(old.name)
        if new_key_file is not None:
            write_new_key(new_key_file, new)
        keys.append_history(history, new.verifier, now_ts(), old)
        rotated = bool(announced) and announced[-1][1] == new.verifier.vkey()
        seq, origin = _rotate_log(store, old, None if rotated else new, gateway_id)
    finally:
        store.close()
    if key_file is not None:
        archived = keys.finish_rotation(key_file, new, archive)
    else:
        archived = keys.archive_key(archive, old) if archive is not None else None
    return Rotation(old.verifier, new.verifier, seq, origin, added_old, archived)


def finish_retirement(key_file: Path, archive: Path | None) -> Path | None:
    """After a crash between installing the new key and retiring the old: retire it."""
    if archive is not None:
        keys.check_archive(archive, key_file)
    return keys.retire(key_file, archive)


def _rotate_log(
    store: SegmentStore, old: Signer, new: Signer | None, gateway_id: str
) -> tuple[int | None, str]:
    """Write the rotation boot (none if ``new`` is None: a rerun found it written);
    the seq of key.rotate and the log's origin."""
    last = store.state.last_checkpoint
    origin = last.origin if last is not None else old.name
    if new is None:
        return None, origin
    result: list[int] = []

    async def main() -> None:
        rec = Recorder(
            store,
            old,
            GatewayInfo.new(gateway_id, __version__),
            origin=origin,
            start_body={"tool": "regogate keys rotate"},
        )
        async with rec.running():
            result.append(rec.size)  # key.rotate is the next record
            await rec.rotate_key(new)

    anyio.run(main)
    return result[0], origin


def announced_keys(directory: Path) -> list[tuple[int, str]]:
    """(seq, vkey) of every key the log announces: gateway.start vkey, key.rotate new."""
    out: list[tuple[int, str]] = []
    reader = RecordReader(directory, b'"type":"gateway.start"', b'"type":"key.rotate"')
    for record in reader.records():
        field = {"gateway.start": "vkey", "key.rotate": "new"}.get(record.type)
        value = record.body.get(field) if field else None
        if isinstance(value, str):
            out.append((record.seq, value))
    return out


def export(history: Path, directory: Path | None) -> list[HistoryEntry]:
    """The key history; with ``directory``, fail if the log announces a key it lacks."""
    entries = keys.read_history(history)
    if not entries:
        raise CommandError(
            f"no key history at {history}",
            hint="`regogate keys generate` starts one; or pass --history FILE",
        )
    if directory is not None:
        known = {e.verifier.vkey() for e in entries}
        missing: dict[str, int] = {}
        for seq, vkey in announced_keys(directory):
            if vkey not in known:
                missing.setdefault(vkey, seq)
        if missing:
            which = ", ".join(f"{v} (seq {s})" for v, s in missing.items())
            raise CommandError(
                f"the log in {directory} announces keys that {history} lacks: {which}", code=1
            )
    return entries


def history_text(entries: list[HistoryEntry]) -> str:
    """The history file format (a valid ``--trust`` file)."""
    return keys.HISTORY_HEADER + "".join(entry_line(e) for e in entries)
