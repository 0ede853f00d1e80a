"""`regogate keys`: create a log-signing key, rotate it (recorded in the log), export history.

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
from regogate.recording import keys
from regogate.recording.keys import KeyHistoryEntry
from regogate.recording.note import Signer, Verifier
from regogate.recording.records import GatewayInfo, format_ts
from regogate.recording.store import FsyncPolicy, SegmentStore
from regogate.recording.writer import Recorder


def default_history(key_file: Path) -> Path:
    """Where the public key history lives unless told: beside the key, ``.vkeys``."""
    return key_file.with_suffix(".vkeys")


def now_ts() -> str:
    return format_ts(time.time_ns() // 1000)


def short(v: Verifier) -> str:
    return f"{v.name}+{v.id:08x}"


def write_new_key(path: Path, signer: Signer) -> None:
    """Write a signer key to a new 0600 file; refuse if ``path`` exists (never replace)."""
    if path.exists() or path.is_symlink():
        raise CommandError(
            f"signing key file {path} already exists: refusing to overwrite it",
            hint="`regogate keys rotate` replaces the key in use and records it in the log",
        )
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
    """A new key in ``key_file`` (0600, new file), its public key appended to ``history``."""
    signer = keys.generate(name)
    write_new_key(key_file, signer)
    keys.record_activation(history, signer.verifier, now_ts())
    return signer


@dataclass(frozen=True)
class Rotation:
    old: Verifier
    new: Verifier
    seq: int  # of the key.rotate record
    origin: str
    added_old: bool  # the old key was missing from the history and was added


def rotate(
    directory: Path,
    old: Signer,
    key_file: Path | None,
    new_key_file: Path | None,
    history: Path,
    gateway_id: str,
) -> Rotation:
    """Rotate the log key in a boot of its own: gateway.start, key.rotate, gateway.stop.

    ``key_file`` is replaced atomically after key.rotate is sealed; with a key from the
    environment, the new key goes to ``new_key_file`` (a new file) before rotating.
    """
    if not directory.is_dir():
        raise CommandError(f"no recording directory {directory}")
    if key_file is None and new_key_file is None:
        raise CommandError("the signing key comes from the environment: pass --new-key FILE")
    if new_key_file is not None and new_key_file.exists():
        raise CommandError(f"{new_key_file} already exists: refusing to overwrite it")
    if key_file is not None:
        # The old key still opens the literal commitments of sessions it recorded
        # (recording/commit.py): keep it, 0600, beside the new one (move it offline).
        retired = key_file.with_name(f"{key_file.name}.retired-{old.verifier.id:08x}")
        if not retired.exists():
            keys.install_signer(retired, old)
    added_old = not any(e.verifier == old.verifier for e in keys.read_history(history))
    if added_old:  # e.g. a key made before histories were kept: examiners need it too
        keys.record_activation(history, old.verifier, now_ts())
    try:
        store = SegmentStore.open(directory, fsync=FsyncPolicy.ALWAYS)
    except RecordingUnavailable as exc:
        hint = "stop the gateway first; rotate while no process writes the log"
        raise CommandError(exc.message, hint=exc.hint or hint) from None
    try:
        last = store.state.last_checkpoint
        origin = last.origin if last is not None else old.name
        result: list[Rotation] = []

        async def main() -> None:
            rec = Recorder(
                store,
                old,
                GatewayInfo.new(gateway_id, __version__),
                origin=origin,
                start_body={"tool": "regogate keys rotate"},
            )
            async with rec.running():
                seq = rec.size  # key.rotate is the next record
                if new_key_file is None:
                    new = await keys.rotate(rec, history, key_file, now_ts())
                else:
                    new = keys.generate(old.name)
                    write_new_key(new_key_file, new)
                    keys.record_activation(history, new.verifier, now_ts())
                    await rec.rotate_key(new)
                result.append(Rotation(old.verifier, new.verifier, seq, origin, added_old))

        anyio.run(main)
    finally:
        store.close()
    return result[0]


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


def export(history: Path, directory: Path | None) -> list[KeyHistoryEntry]:
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


def history_text(entries: list[KeyHistoryEntry]) -> str:
    """The history file format (a valid ``--trust`` file)."""
    lines = [f"{e.verifier.vkey()} {e.activated}\n" for e in entries]
    return keys.HISTORY_HEADER + "".join(lines)
