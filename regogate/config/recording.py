"""[recording]: signed session recordings: where, signed with which key, how durably, and
where each new signed checkpoint is exported off the host."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast, get_args
from urllib.parse import urlsplit

from regogate.config.keys import toml
from regogate.config.reader import Reader, Table

RecordingFailure = Literal["deny", "continue"]

_KEY_REFUSAL = (
    "the signing key is not allowed in the config file; use key_file "
    "(mode 0600) or the REGOGATE_SIGNING_KEY environment variable"
)
_REFUSED = {"signing_key": _KEY_REFUSAL, "key": _KEY_REFUSAL}
EXPORT_KEY = "checkpoint_export"


@dataclass(frozen=True)
class RecordingConfig:
    """[recording]: signed session recordings. Absent section: recording is off."""

    enabled: bool = False
    dir: Path | None = None
    key_file: Path | None = None  # else $REGOGATE_SIGNING_KEY
    on_error: RecordingFailure = "deny"
    checkpoint_every: int = 1000
    checkpoint_interval: float = 10.0
    # Group commit under load: seconds between the writer's batches (pipe write, append,
    # fsync); also about the longest a record waits in the gateway (a crash loses it).
    commit_interval: float = 0.05
    # "statement": each ReadyForQuery waits until its request cycle's records are written
    # (a crash loses no statement a client saw complete); "group": clients never wait.
    durability: str = "group"
    # how long a session waits for the writer (statement durability, session close)
    # before the recorder counts as stalled and statements are refused until it catches up
    write_timeout: float = 5.0
    segment_bytes: int = 64 * 1024 * 1024
    fsync: str = "always"  # always | checkpoint | never (recording.store.FsyncPolicy)
    writer: str = "auto"  # auto | native | python (recording.worker)
    # checkpoint_export: where every new signed checkpoint is also sent, off this host:
    # directories (e.g. a mounted remote volume) and http(s) endpoints that take a C2SP
    # signed note by POST, each in the order the file lists them.
    export_dirs: tuple[Path, ...] = field(default=(), metadata=toml(EXPORT_KEY))
    export_urls: tuple[str, ...] = field(default=(), metadata=toml(EXPORT_KEY))
    checkpoint_export_timeout: float = 5.0  # seconds per HTTP export
    # The last checkpoint the gateway saw signed, kept outside the log; a start refuses a
    # log that does not extend it (recording.tail.check_anchor). Default: beside key_file
    # (<key_file>.checkpoint), else the first export directory's latest note, else none.
    checkpoint_anchor: Path | None = None
    # The MAC root secret of literal commitments and result digests (recording.mac),
    # separate from the signing key; else $REGOGATE_MAC_KEY, else <key_file>.mac if it is
    # there (`regogate keys generate` writes it), else the old scheme, keyed from the
    # signing key, with a warning.
    mac_key_file: Path | None = None
    # An RFC 3161 time-stamping authority: the latest signed checkpoint is timestamped at
    # most once per tsa_interval seconds (and at a clean stop), the tokens appended to
    # <dir>/timestamps.log (recording.tsa; docs/recording-format.md §5).
    tsa_url: str | None = None
    tsa_interval: float = 60.0

    @property
    def anchor_file(self) -> Path | None:
        """The anchor the gateway writes and the writer checks (None: see anchor_dir)."""
        if self.checkpoint_anchor is not None:
            return self.checkpoint_anchor
        if self.key_file is not None:
            return self.key_file.with_name(self.key_file.name + ".checkpoint")
        return None

    @property
    def anchor_dir(self) -> Path | None:
        """Without an anchor file: the export directory whose latest note is the anchor."""
        if self.anchor_file is None and self.export_dirs:
            return self.export_dirs[0]
        return None


def parse_recording(r: Reader, data: Mapping[str, object]) -> RecordingConfig:
    if "recording" not in data:
        return RecordingConfig()
    p = r.section(data, "recording", RecordingConfig, _REFUSED)
    enabled = p.get("enabled", bool, True)
    key_file = p.path("key_file")
    if enabled and key_file is None and "REGOGATE_SIGNING_KEY" not in r.env:
        raise p.fail(
            "key_file",
            "is required (or set REGOGATE_SIGNING_KEY); create one with `regogate keys generate`",
        )
    export_dirs, export_urls = _checkpoint_export(p)
    return RecordingConfig(
        enabled=enabled,
        dir=p.path("dir") or r.base / "recordings",
        key_file=key_file,
        on_error=cast(RecordingFailure, p.choice("on_error", get_args(RecordingFailure), "deny")),
        checkpoint_every=p.positive("checkpoint_every", 1000),
        checkpoint_interval=_seconds(p, "checkpoint_interval", 10.0, None),
        commit_interval=_seconds(p, "commit_interval", 0.05, 1),
        durability=p.choice("durability", ("group", "statement"), "group"),
        write_timeout=_seconds(p, "write_timeout", 5.0, 300),
        segment_bytes=_segment_bytes(p),
        fsync=p.choice("fsync", ("always", "checkpoint", "never"), "always"),
        writer=p.choice("writer", ("auto", "native", "python"), "auto"),
        export_dirs=export_dirs,
        export_urls=export_urls,
        checkpoint_export_timeout=_seconds(p, "checkpoint_export_timeout", 5.0, 60),
        checkpoint_anchor=p.path("checkpoint_anchor"),
        mac_key_file=p.path("mac_key_file"),
        tsa_url=_tsa_url(p),
        tsa_interval=_seconds(p, "tsa_interval", 60.0, None),
    )


def _tsa_url(p: Table) -> str | None:
    """tsa_url: an http(s) endpoint taking RFC 3161 TimeStampReq (``application/timestamp-
    query``); a token is signed by the TSA, so plain http cannot forge one."""
    raw = p.data.get("tsa_url")
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip():
        raise p.fail("tsa_url", f"must be an http:// or https:// URL, got {raw!r}")
    return _export_url(p, "tsa_url", raw)


def _seconds(p: Table, key: str, default: float, most: float | None) -> float:
    value = p.get(key, float, default)
    if most is None and value <= 0:
        raise p.fail(key, f"must be positive, got {value}")
    if most is not None and not 0 < value <= most:
        unit = "second" if most == 1 else "seconds"
        raise p.fail(key, f"must be more than 0 and at most {most:g} {unit}, got {value}")
    return value


def _segment_bytes(p: Table) -> int:
    segment = p.positive("segment_bytes", 64 * 1024 * 1024)
    if segment < 4096:
        raise p.fail("segment_bytes", "must be at least 4096 bytes")
    return segment


def _checkpoint_export(p: Table) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    """checkpoint_export: one destination or a list; each a directory (relative to the
    config file's directory) or an http:// or https:// URL."""
    raw = p.data.get(EXPORT_KEY, [])
    items: list[tuple[str, object]] = (
        [(EXPORT_KEY, raw)]
        if not isinstance(raw, list)
        else [(f"{EXPORT_KEY}[{i}]", item) for i, item in enumerate(raw)]
    )
    dirs: list[Path] = []
    urls: list[str] = []
    for key, item in items:
        if not isinstance(item, str):
            raise p.fail(
                key,
                "must be a directory or an http(s):// URL, or a list of them; "
                f"got {type(item).__name__} {item!r}",
            )
        if not item.strip():
            raise p.fail(key, "must not be empty (a directory or an http(s):// URL)")
        destination = _export_url(p, key, item) if "://" in item else p.reader.resolve(item)
        if destination in dirs or destination in urls:
            raise p.fail(key, f"{item!r} is listed twice")
        if isinstance(destination, Path):
            dirs.append(destination)
        else:
            urls.append(destination)
    return tuple(dirs), tuple(urls)


def _export_url(p: Table, key: str, url: str) -> str:
    """An endpoint for signed notes. Plain http is allowed (a checkpoint is signed and
    public), though https keeps an observer from learning when and how much is recorded."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port
    except ValueError:
        raise p.fail(key, f"is not a valid URL: {url!r}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise p.fail(key, f"must be an http:// or https:// URL with a host, got {url!r}")
    if parts.username is not None or parts.password is not None:
        raise p.fail(key, "credentials are not allowed in the config file; remove user:password@")
    return url
