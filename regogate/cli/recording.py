"""The recording commands: `keys generate|rotate|export`, `verify`, `sessions list`, `replay`.

``register(app)`` adds them to the main app. The work is in ``rec_keys``, ``rec_verify``
and ``rec_render``; this module parses options, finds paths and keys, and turns every
failure into one line on stderr with a non-zero exit (1: check failed, 2: usage).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from regogate.cli import rec_keys, rec_literal, rec_render, rec_verify
from regogate.cli.rec_io import CommandError, ExitStatus, RecordReader
from regogate.config import load_config
from regogate.errors import RegogateError
from regogate.recording.format.key_history import HistoryEntry, HistoryError, parse_trust
from regogate.recording.format.mac import MacRoot
from regogate.recording.format.note import NoteError, Signer, Verifier
from regogate.recording.read.display import escape, json_text
from regogate.recording.read.sessions import (
    SessionFilter,
    TimeError,
    build_replay,
    index_sessions,
    parse_time,
)
from regogate.recording.read.timestamps import TsaTrust
from regogate.recording.read.verify import TrustHistory
from regogate.recording.write import archive, keys

keys_app = typer.Typer(help="Log-signing keys: generate, rotate, export.", no_args_is_help=True)
sessions_app = typer.Typer(help="Sessions in a recording.", no_args_is_help=True)

DirOpt = Annotated[
    Path | None, typer.Option("-d", "--dir", metavar="DIR", help="recording directory")
]
KeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key", metavar="FILE", help=f"signing key file (mode 0600); else ${keys.ENV_VAR}"
    ),
]
HistoryOpt = Annotated[
    Path | None,
    typer.Option(
        "--history", metavar="FILE", help="public key history (default: the key file's .vkeys)"
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "-c", "--config", metavar="FILE", help="regogate.toml (its recording dir and key_file)"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
TrustOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--trust", metavar="FILE", help="trusted public keys or history (keys export); repeatable"
    ),
]
TrustKeyOpt = Annotated[
    Path | None,
    typer.Option("--key", metavar="FILE", help="without --trust: trust this key's .vkeys history"),
]
ArchiveOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--archive",
        metavar="DIR",
        help="segments moved out by `regogate archive`: verify across them; repeatable",
    ),
]
FromOpt = Annotated[
    str | None,
    typer.Option("--from", metavar="TIME", help="ISO 8601 (UTC if no zone) or a span ago: 2h, 7d"),
]
ToOpt = Annotated[str | None, typer.Option("--to", metavar="TIME", help="ISO 8601 or a span ago")]


def resolve_paths(
    config_path: Path | None,
    directory: Path | None,
    key: Path | None,
    load: Callable[[Path], object] = load_config,
) -> tuple[Path | None, Path | None]:
    """The recording directory and key file: explicit options first, else the config's
    ``recording.dir`` / ``recording.key_file`` (if it has a ``recording`` section)."""
    if config_path is None or (directory is not None and key is not None):
        return directory, key
    recording = getattr(load(config_path), "recording", None)
    from_dir, from_key = getattr(recording, "dir", None), getattr(recording, "key_file", None)
    return (
        directory if directory is not None else _path(from_dir),
        key if key is not None else _path(from_key),
    )


def _path(value: object) -> Path | None:
    return Path(value) if isinstance(value, str | Path) else None


@contextmanager
def _errors() -> Iterator[None]:
    """One readable line on stderr and a non-zero exit instead of a traceback."""
    try:
        yield
    except CommandError as exc:
        raise _exit(exc.message, exc.hint, exc.code) from None
    except RegogateError as exc:
        raise _exit(exc.message, exc.hint, 2) from None
    except (NoteError, TimeError) as exc:
        raise _exit(str(exc), None, 2) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise _exit(f"{where}{exc.strerror or exc}", None, 2) from None


def _exit(message: str, hint: str | None, code: int) -> typer.Exit:
    # A message may quote what the recording or the user gave: escaped, never raw.
    typer.echo(f"regogate: error: {escape(message, None)}", err=True)
    if hint:
        typer.echo(f"hint: {escape(hint, None)}", err=True)
    return typer.Exit(code)


def _need_dir(directory: Path | None) -> Path:
    if directory is None:
        raise CommandError("no recording directory: pass -d/--dir DIR (or -c regogate.toml)")
    return directory


def _now() -> int:
    return time.time_ns() // 1000


def _window(since: str | None, until: str | None) -> SessionFilter | None:
    if since is None and until is None:
        return None
    now = _now()
    return SessionFilter(
        since=None if since is None else parse_time(since, now),
        until=None if until is None else parse_time(until, now),
    )


# -- keys ---------------------------------------------------------------------------------


@keys_app.command("generate")
def keys_generate(
    name: Annotated[
        str, typer.Option("--name", help="key name = log origin, e.g. bank.example/regogate/prod")
    ],
    key: KeyOpt = None,
    history: HistoryOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Create a signing key in a new 0600 file and start (or extend) the key history."""
    with _errors():
        _, key = resolve_paths(config, None, key)
        if key is None:
            raise CommandError("pass --key FILE: where to write the new private key")
        history = history or rec_keys.default_history(key)
        signer = rec_keys.generate(key, name, history)
        typer.echo(f"wrote signing key {key} (mode 0600)")
        mac_file = keys.mac_file_for(key)
        if not mac_file.exists():
            keys.write_mac_root(mac_file, MacRoot.generate())
            typer.echo(f"wrote MAC root secret {mac_file} (mode 0600; commitments, digests)")
        typer.echo(f"deployment  {keys.deployment_of(signer.name)}  (log origin {signer.name})")
        typer.echo(f"public key  {signer.verifier.vkey()}")
        typer.echo(f"history     {history}  (examiners: regogate verify --trust {history})")


@keys_app.command("disclose")
def keys_disclose(
    session: Annotated[
        str, typer.Option("--session", metavar="ID", help="the session (id or unique prefix)")
    ],
    directory: DirOpt = None,
    mac_key: Annotated[
        Path | None,
        typer.Option("--mac-key", metavar="FILE", help="the MAC root secret (default: <key>.mac)"),
    ] = None,
    key: KeyOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="write the keys here (0600)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """One session's commitment and digest keys, for an examiner: they open that
    session's literal and Bind parameter commitments and result digests, no other's, and
    sign nothing."""
    with _errors():
        directory, key = resolve_paths(config, directory, key)
        if mac_key is None and key is not None:
            mac_key = keys.mac_file_for(key)
        if mac_key is None:
            raise CommandError("pass --mac-key FILE (or --key FILE / -c regogate.toml)")
        root = keys.load_mac_root(mac_key)
        disclosed = rec_literal.disclose(directory, root, session)
        text = json_text(disclosed.to_json())
        if out is None:
            typer.echo(text)
        else:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text + "\n")
            typer.echo(f"wrote the keys of session {disclosed.session} to {out}")


@keys_app.command("rotate")
def keys_rotate(
    directory: DirOpt = None,
    key: KeyOpt = None,
    new_key: Annotated[
        Path | None,
        typer.Option(
            "--new-key", metavar="FILE", help=f"with ${keys.ENV_VAR}: a new file for the new key"
        ),
    ] = None,
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive",
            metavar="DIR",
            help="move the retired private key here (offline storage); else it is destroyed",
        ),
    ] = None,
    history: HistoryOpt = None,
    gateway_id: Annotated[
        str, typer.Option("--gateway-id", metavar="ID", help="gw.id of this boot")
    ] = "regogate-keys",
    config: ConfigOpt = None,
) -> None:
    """Replace the signing key, recording key.rotate in the log (run with the gateway stopped).

    The retired private key is destroyed (overwritten, then unlinked) unless --archive
    names a directory to move it to. Run it again after a crash: it finishes the rotation.
    """
    with _errors():
        from_env = key is None and bool(os.environ.get(keys.ENV_VAR))
        directory, key = resolve_paths(config, directory, None if from_env else key)
        if key is not None and not from_env and _finish_retirement(key, archive):
            return
        signer, key_file = _signer(None if from_env else key, rotating=True)
        if key_file is not None and new_key is not None:
            raise CommandError("--new-key is for a key from the environment; --key is replaced")
        if key_file is None and new_key is None:
            raise CommandError("the signing key comes from the environment: pass --new-key FILE")
        if history is None:
            if key_file is None:
                raise CommandError("pass --history FILE: the key comes from the environment")
            history = rec_keys.default_history(key_file)
        r = rec_keys.rotate(
            _need_dir(directory), signer, key_file, new_key, history, gateway_id, archive
        )
        typer.echo(f"rotated the signing key of {directory} (origin {escape(r.origin)})")
        typer.echo(f"  old        {rec_keys.short(r.old)}")
        typer.echo(f"  new        {r.new.vkey()}")
        if r.seq is None:
            typer.echo("  key.rotate already in the log (an interrupted rotation, finished now)")
        else:
            typer.echo(f"  key.rotate seq {r.seq}, sealed by the old key")
        typer.echo(f"  key file   {key_file or new_key} (mode 0600)")
        typer.echo(f"  history    {history} (the new entry signed by the old key)")
        if r.added_old:
            typer.echo(f"  note       {history} was empty: started it with the old key")
        if r.archived is not None:
            typer.echo(f"  old key    archived to {r.archived} (mode 0600)")
        elif key_file is not None:
            typer.echo("  old key    destroyed (overwritten, then unlinked)")
        if key_file is None:
            typer.echo(
                f"put the key from {new_key} into ${keys.ENV_VAR} before the gateway starts,"
                " and delete the old key wherever it is kept"
            )


def _finish_retirement(key_file: Path, archive: Path | None) -> bool:
    """An earlier rotation installed the new key but did not retire the old: do that now."""
    if keys.interrupted_rotation(key_file) != keys.retiring_key(key_file):
        return False
    archived = rec_keys.finish_retirement(key_file, archive)
    typer.echo(f"finished an interrupted rotation of {key_file}: the new key was installed")
    if archived is not None:
        typer.echo(f"  old key    archived to {archived} (mode 0600)")
    else:
        typer.echo("  old key    destroyed (overwritten, then unlinked)")
    return True


def _signer(key: Path | None, *, rotating: bool = False) -> tuple[Signer, Path | None]:
    if key is not None:
        return keys.load_signer(key, rotating=rotating), key
    if os.environ.get(keys.ENV_VAR):
        return keys.load_signer_from_env(), None
    raise CommandError(f"no signing key: pass --key FILE or set {keys.ENV_VAR}")


@keys_app.command("export")
def keys_export(
    key: KeyOpt = None,
    history: HistoryOpt = None,
    directory: Annotated[
        Path | None,
        typer.Option(
            "-d", "--dir", metavar="DIR", help="check that the log announces no other key"
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", metavar="FILE", help="write to FILE")
    ] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Print the public keys and their activation times, for examiners (`verify --trust`)."""
    with _errors():
        directory, key = resolve_paths(config, directory, key)
        if history is None:
            if key is None:
                raise CommandError("pass --history FILE or --key FILE (its .vkeys is the history)")
            history = rec_keys.default_history(key)
        entries = rec_keys.export(history, directory)
        if as_json:
            out = json_text([_key_json(e) for e in entries]) + "\n"
        else:
            out = rec_keys.history_text(entries)
        if output is None:
            typer.echo(out, nl=False)
        else:
            output.write_text(out)
            typer.echo(f"wrote {len(entries)} public key(s) to {output}", err=True)


def _key_json(e: HistoryEntry) -> dict[str, str]:
    v = e.verifier
    return {
        "vkey": v.vkey(),
        "name": v.name,
        "key_id": f"{v.id:08x}",
        "activated": e.activated,
        "signature": e.signature,
    }


# -- verify -------------------------------------------------------------------------------


def verify(
    session: Annotated[
        str | None,
        typer.Argument(metavar="SESSION", help="verify one session (its id or a unique prefix)"),
    ] = None,
    directory: DirOpt = None,
    trust: TrustOpt = None,
    key: TrustKeyOpt = None,
    since: FromOpt = None,
    until: ToOpt = None,
    proof: Annotated[
        int | None, typer.Option("--proof", metavar="SEQ", help="print an inclusion proof")
    ] = None,
    proof_out: Annotated[
        Path | None,
        typer.Option("--proof-out", metavar="FILE", help="write the tlog-proof to FILE"),
    ] = None,
    origin: Annotated[
        str | None, typer.Option("--origin", metavar="ORIGIN", help="pin the log's origin")
    ] = None,
    prior: Annotated[
        list[Path] | None,
        typer.Option(
            "--prior", metavar="FILE", help="a signed checkpoint held outside the log; repeatable"
        ),
    ] = None,
    save_checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--save-checkpoint", metavar="FILE", help="write the latest checkpoint to FILE"
        ),
    ] = None,
    tsa_cert: Annotated[
        Path | None,
        typer.Option(
            "--tsa-cert",
            metavar="FILE",
            help="PEM certificates of the RFC 3161 TSA (its root first or alone): check "
            "the tokens in timestamps.log",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", metavar="N", help="processes (default: one per CPU)", show_default=False
        ),
    ] = 0,
    strict: Annotated[bool, typer.Option("--strict", help="warnings fail too")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="show info findings")] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    archives: ArchiveOpt = None,
    literal: Annotated[
        list[str] | None,
        typer.Option(
            "--literal",
            metavar="SEQ:N=VALUE",
            help="confirm that literal $N of record SEQ was VALUE, as written "
            "(needs --session-keys); repeatable",
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            metavar="SEQ:N=VALUE",
            help="confirm that Bind parameter $N of record SEQ was VALUE (text; "
            "SEQ:N:binary=HEX, SEQ:N:hex=HEX for text bytes, SEQ:N:null) (needs "
            "--session-keys); repeatable",
        ),
    ] = None,
    session_keys: Annotated[
        Path | None,
        typer.Option(
            "--session-keys", metavar="FILE", help="one session's keys (keys disclose --out)"
        ),
    ] = None,
) -> None:
    """Check a recording: records, session chains, Merkle roots, signatures, consistency."""
    with _errors():
        claims = [rec_literal.LiteralClaim.parse(x) for x in literal or []]
        params = [rec_literal.ParamClaim.parse(x) for x in param or []]
        if (claims or params) and session_keys is None:
            which = "--literal" if claims else "--param"
            raise CommandError(f"{which} needs --session-keys FILE (regogate keys disclose)")
        directory, key = resolve_paths(config, directory, key)
        if session is not None and (since is not None or until is not None):
            raise CommandError("give a SESSION or --from/--to, not both")
        trust_given = _trusted(trust or [], key)
        if trust_given is None:
            raise CommandError(
                "no trusted keys: pass --trust FILE (the output of `regogate keys export`)"
            )
        opts = rec_verify.VerifyOptions(
            directory=_need_dir(directory),
            trusted=trust_given.keys,
            trust_from=trust_given.sources,
            histories=trust_given.histories,
            origin=origin,
            prior=[p.read_text() for p in prior or []],
            tsa=_tsa_trust(tsa_cert),
            session=session,
            window=_window(since, until),
            proof=proof,
            proof_out=proof_out,
            save_checkpoint=save_checkpoint,
            workers=workers or os.cpu_count() or 1,
            archives=archives or [],
            verbose=verbose,
            strict=strict,
            as_json=as_json,
        )
        code = rec_verify.run(opts)
        if (claims or params) and code == 0 and session_keys is not None:
            disclosed = rec_literal.SessionKeys.load(session_keys)
            for claim in claims:
                typer.echo(rec_literal.check_literal(opts.directory, claim, disclosed))
            for bound in params:
                typer.echo(rec_literal.check_param(opts.directory, bound, disclosed))
    if code:
        raise typer.Exit(code)


def _tsa_trust(path: Path | None) -> TsaTrust | None:
    if path is None:
        return None
    try:
        return TsaTrust.from_pem(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CommandError(f"--tsa-cert {path}: {exc}") from None


@dataclass(frozen=True)
class _TrustGiven:
    keys: list[Verifier]  # from plain key lists
    histories: list[TrustHistory]  # signed key histories, checked by verify
    sources: list[str]


def _trusted(files: list[Path], key: Path | None) -> _TrustGiven | None:
    """What the examiner trusts: ``--trust`` files, else the key file's history; None if
    neither is given."""
    beside_key = not files
    if beside_key and key is not None and rec_keys.default_history(key).exists():
        files = [rec_keys.default_history(key)]
    if not files:
        return None
    plain: list[Verifier] = []
    histories: list[TrustHistory] = []
    for path in files:
        try:
            found = parse_trust(path.read_text())
        except HistoryError as exc:
            raise CommandError(f"trust file {path}: line {exc.line}: {exc}") from None
        if not found.keys:
            raise CommandError(f"trust file {path} holds no verifier keys")
        if found.history is not None:
            histories.append(TrustHistory(str(path), found.history))
        elif beside_key:  # what `keys generate` wrote there is a signed history
            raise CommandError(
                f"{path} is a plain list of keys, not a signed key history: it was replaced",
                hint="pass the history an examiner keeps with --trust FILE",
                code=ExitStatus.NOT_INTACT,
            )
        else:
            plain += [v for v in found.keys if v not in plain]
    return _TrustGiven(plain, histories, [str(p) for p in files])


# -- sessions, replay ---------------------------------------------------------------------


@sessions_app.command("list")
def sessions_list(
    directory: DirOpt = None,
    identity: Annotated[
        str | None,
        typer.Option("--identity", metavar="GLOB", help="subject, email or group (glob: 'ali*')"),
    ] = None,
    connection: Annotated[
        str | None,
        typer.Option("--connection", metavar="GLOB", help="connection or database name (glob)"),
    ] = None,
    since: FromOpt = None,
    until: ToOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """List sessions, oldest first: who, when, where from, to what, how it ended."""
    with _errors():
        directory, _ = resolve_paths(config, directory, None)
        reader = RecordReader(_need_dir(directory))
        every = index_sessions(reader.records())
        window = _window(since, until) or SessionFilter()
        chosen = SessionFilter(identity, connection, window.since, window.until)
        shown = [s for s in every if chosen.matches(s)]
        if as_json:
            doc = {"total": len(every), "sessions": [s.to_json() for s in shown]}
            typer.echo(json_text(doc))
        elif shown:
            for line in rec_render.sessions_table(shown):
                typer.echo(line)
            typer.echo(f"{len(shown)} of {len(every)} sessions")
        else:
            typer.echo(f"no sessions match ({len(every)} in the recording)")
        if reader.skipped:
            typer.echo(
                f"warning: {reader.skipped} lines are not records (run regogate verify)", err=True
            )


def replay(
    session: Annotated[
        str, typer.Argument(metavar="SESSION", help="session id (or a unique prefix)")
    ],
    directory: DirOpt = None,
    trust: TrustOpt = None,
    key: TrustKeyOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Show a session as it happened, and whether its records verify (chain and checkpoints)."""
    with _errors():
        directory, key = resolve_paths(config, directory, key)
        directory = _need_dir(directory)
        sid, located = rec_verify.find_session(directory, session)
        model = build_replay([x.record for x in located], sid)
        assert model is not None
        given = _trusted(trust or [], key)
        if given is None:
            check = rec_verify.SessionCheck.unverified(model.chain_problem)
        else:
            opts = rec_verify.VerifyOptions(
                directory=directory,
                trusted=given.keys,
                histories=given.histories,
                workers=os.cpu_count() or 1,
            )
            check = rec_verify.check_session(rec_verify.verify(opts), sid, located)
        if as_json:
            typer.echo(json_text({**model.to_json(), "verification": check.to_json()}))
        else:
            for line in rec_render.replay_lines(model, check.line()):
                typer.echo(line)


def archive_segments(
    target: Annotated[Path, typer.Option("--to", metavar="DIR", help="where the old segments go")],
    directory: DirOpt = None,
    keep: Annotated[
        int, typer.Option("--keep", metavar="N", help="old segments to leave in place", min=0)
    ] = 1,
    config: ConfigOpt = None,
) -> None:
    """Move old segments out of a recording directory (safe while the gateway runs)."""
    with _errors():
        directory, _ = resolve_paths(config, directory, None)
        done = archive.archive(_need_dir(directory), target, keep)
        typer.echo(
            f"moved {len(done.moved)} segment(s) to {target}"
            + (f"; the live log starts at {done.kept_from}" if done.kept_from else "")
        )
        typer.echo(f"verify across both: regogate verify -d {directory} --archive {target}")


def register(app: typer.Typer) -> None:
    """Add `keys`, `verify`, `sessions`, `replay` and `archive` to the main app."""
    app.add_typer(keys_app, name="keys")
    app.add_typer(sessions_app, name="sessions")
    app.command("verify")(verify)
    app.command("replay")(replay)
    app.command("archive")(archive_segments)
