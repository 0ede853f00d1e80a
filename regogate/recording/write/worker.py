"""The recording writer process: ``python -m regogate.recording.write.worker`` (the gateway
starts it).

It owns the recording directory (its flock) and runs ``core.LogCore``. It talks to the
gateway over its stdin and stdout only, one JSON value per line:

    gateway -> worker   {"dir", "segment_bytes", "fsync", "key", "gw", "origin", "writer"}
    worker -> gateway   {"ok": StoreSummary, "writer": "native" | "python", "origin",
                         "key": KeyInfo} | {"error": message, "hint", "config": bool}
    gateway -> worker   [count, seal, rotate_skey | null]  then ``count`` frame lines
    worker -> gateway   [tree size, checkpoint note | null] | {"error": message}

Only this process reads the signing key (docs/threat-model.md, "Only the writer signs"):
``key`` names where it is — ``{"file": path}``, or ``{"env": NAME, "fd": N}``: the
gateway's environment variable NAME, whose bytes the gateway wrote into a pipe this
process inherits as N before it removed the variable (``childenv.consume``) — and the gateway
gets the public key and the one-way derived HMAC keys back (``key_info.KeyInfo``). Tests
and ``regogate keys rotate`` may hand over the key itself (``{"skey": ...}``). End of input
means the gateway is gone: whatever was committed stays, nothing more is sealed. SIGINT
and SIGTERM are ignored: the gateway drains and seals first, then closes the pipe.

This process opens the directory (lock, scan, recovery, the check against the last
checkpoint) and checks every record after the last checkpoint before anything is signed
(``recording.tail``): a tail it cannot vouch for stops the start. Then, unless ``writer``
is "python", it execs the native writer (``native/writer``, docs/decisions/0008) with
the log's state on an inherited pipe; the native writer speaks the batch protocol from
there on and writes the same bytes ``LogCore`` would. Without a built native writer
("auto") ``LogCore`` runs here.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import orjson

from regogate import childenv
from regogate.errors import ConfigError, RecordingUnavailable
from regogate.recording.format.key_info import KeyInfo
from regogate.recording.format.layout import latest_note
from regogate.recording.format.note import Signer
from regogate.recording.write import keys
from regogate.recording.write.core import LogCore, StoreSummary
from regogate.recording.write.store import FsyncPolicy, SegmentStore
from regogate.recording.write.tail import check_anchor, check_tail


def _reply(out: BinaryIO, value: object) -> None:
    out.write(orjson.dumps(value) + b"\n")
    out.flush()


NATIVE_ENV = "REGOGATE_NATIVE_WRITER"
_BUILT = Path(__file__).resolve().parents[3] / "native/writer/target/release/regogate-writer"


def native_writer() -> str | None:
    """The native writer's executable: $REGOGATE_NATIVE_WRITER, else the one
    ``scripts/setup.sh`` builds in the source tree, else ``regogate-writer`` on PATH."""
    configured = os.environ.get(NATIVE_ENV)
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    if os.access(_BUILT, os.X_OK):
        return str(_BUILT)
    return shutil.which("regogate-writer")


def _read_line(fd: int) -> bytes:
    """One line from ``fd`` without reading past it: what follows is the native writer's."""
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            break
        data += chunk
    return bytes(data)


def load_key(source: object) -> Signer:
    """The signing key from where ``source`` says (see the module's docstring)."""
    if not isinstance(source, dict):
        raise ConfigError("the recording writer was not told where the signing key is")
    if "skey" in source:
        return Signer.parse(str(source["skey"]))
    if "file" in source:
        return keys.load_signer(Path(str(source["file"])))
    name = str(source.get("env") or keys.ENV_VAR)
    fd = source.get("fd")
    if isinstance(fd, int):  # the gateway's copy, on a pipe of its own
        with os.fdopen(fd, "rb") as pipe:
            raw: bytes | None = pipe.read(65536)
    else:
        raw = os.environb.get(os.fsencode(name))
        childenv.consume(name)
    value = raw.decode("ascii", "replace").strip() if raw else ""
    return keys.load_signer_from_env(name, {name: value} if value else {})


def _anchor(init: Mapping[str, object], origin: str) -> Path | None:
    """Where the checkpoint kept outside the log is, if anywhere."""
    anchor = init.get("anchor")
    if not isinstance(anchor, dict):
        return None
    if anchor.get("file"):
        return Path(str(anchor["file"]))
    if anchor.get("dir"):
        return latest_note(Path(str(anchor["dir"])), origin)
    return None


def _exec_native(
    binary: str, store: SegmentStore, init: Mapping[str, object], signer: Signer, origin: str
) -> OSError:
    """Hand the open log to the native writer (replaces this process); the error if not."""
    tree = store.state.tree
    state = {
        "dir": init["dir"],
        "segment_bytes": store.segment_bytes,
        "fsync": store.fsync.value,
        "skey": signer.skey(),
        "gw": init["gw"],
        "origin": origin,
        "size": tree.size,
        "frontier": [h.hex() for h in tree.frontier],
        "segment": store.segment_number,
    }
    view = memoryview(orjson.dumps(state))
    r, w = os.pipe()  # a few kB: fits the pipe's buffer, read after the exec
    try:
        try:
            while view:
                view = view[os.write(w, view) :]
        finally:
            os.close(w)
        os.set_inheritable(r, True)
        store.keep_lock_across_exec()
        os.execv(binary, [binary, "--state-fd", str(r)])
    except OSError as exc:
        os.close(r)
        return exc


def serve(inp: BinaryIO, out: BinaryIO, first: bytes | None = None) -> int:
    """Run the protocol above until end of input; the exit status.

    ``first``: the init line, if the caller read it already (unbuffered, so that the
    native writer finds the batches that follow it on stdin).
    """
    first = inp.readline() if first is None else first
    if not first:
        return 0
    init = orjson.loads(first)
    engine = init.get("writer", "auto")
    binary = None if engine == "python" else native_writer()
    if engine == "native" and binary is None:
        _reply(
            out,
            {
                "error": "the native recording writer is not built: run scripts/setup.sh"
                f' (or set ${NATIVE_ENV}), or set [recording] writer = "auto"'
            },
        )
        return 1
    try:
        store = SegmentStore.open(
            Path(init["dir"]),
            segment_bytes=int(init["segment_bytes"]),
            fsync=FsyncPolicy(init["fsync"]),
        )
    except RecordingUnavailable as exc:
        _reply(out, {"error": exc.message})
        return 1
    except (OSError, ValueError) as exc:  # an unreadable directory or a damaged segment
        _reply(out, {"error": str(exc) or type(exc).__name__})
        return 1
    try:
        try:
            signer = load_key(init.get("key"))
        except ConfigError as exc:
            _reply(out, {"error": exc.message, "hint": exc.hint, "config": True})
            return 1
        origin = str(init.get("origin") or signer.name)
        try:
            anchor = check_anchor(store, path, origin) if (path := _anchor(init, origin)) else None
            check_tail(store)
        except RecordingUnavailable as exc:
            _reply(out, {"error": exc.message, "hint": exc.hint})
            return 1
        core = LogCore(store, signer, init["gw"], origin)
        summary = StoreSummary.of(store.state, anchor).to_json()
        _reply(
            out,
            {
                "ok": summary,
                "writer": "python" if binary is None else "native",
                "origin": origin,
                "key": KeyInfo.of(signer).to_json(),
            },
        )
        if binary is not None:
            error = _exec_native(binary, store, init, signer, origin)  # only if exec failed
            print(
                f"regogate recording writer: could not start {binary}: {error};"
                " writing with the Python writer",
                file=sys.stderr,
            )
        while header := inp.readline():
            count, seal, rotate = orjson.loads(header)
            frames = [inp.readline().rstrip(b"\n") for _ in range(count)]
            if len(frames) != count or (frames and not frames[-1]):
                return 0  # the gateway died mid-batch: keep what is committed
            try:
                note = core.commit(frames, bool(seal), Signer.parse(rotate) if rotate else None)
            except Exception as exc:  # disk full, permissions, I/O error: the gateway fails closed
                _reply(out, {"error": str(exc) or type(exc).__name__})
                return 1
            _reply(out, [core.tree.size, note])
    finally:
        store.close()
    return 0


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        return serve(sys.stdin.buffer, sys.stdout.buffer, _read_line(sys.stdin.fileno()))
    except BrokenPipeError:
        return 0  # the gateway is gone
    except Exception as exc:  # a bug: one readable line, and the gateway fails closed
        print(f"regogate recording writer: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
