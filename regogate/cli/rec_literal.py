"""`regogate keys disclose --session ID`, `regogate verify --literal SEQ:N=VALUE` and
`--param SEQ:N=VALUE`: one session's commitment keys for an examiner, and a literal or a
Bind parameter value checked with them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from regogate.cli.rec_io import CommandError, RecordReader, line_at
from regogate.recording.format import mac
from regogate.recording.format.records import Record, RecordError


@dataclass(frozen=True)
class SessionKeys:
    """What ``keys disclose`` hands over: the keys of one session, nothing else."""

    session: str
    root: str  # the MAC root's id, as session.open names it
    literal_key: bytes
    digest_key: bytes
    param_key: bytes | None = None  # None: disclosed before Bind values were committed

    def to_json(self) -> dict[str, str]:
        out = {
            "session": self.session,
            "scheme": mac.SCHEME,
            "root": self.root,
            "literal_key": self.literal_key.hex(),
            "digest_key": self.digest_key.hex(),
        }
        if self.param_key is not None:
            out["param_key"] = self.param_key.hex()
        return out

    @classmethod
    def load(cls, path: Path) -> SessionKeys:
        try:
            obj = json.loads(path.read_text())
            return cls(
                str(obj["session"]),
                str(obj["root"]),
                bytes.fromhex(obj["literal_key"]),
                bytes.fromhex(obj["digest_key"]),
                bytes.fromhex(obj["param_key"]) if "param_key" in obj else None,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CommandError(
                f"{path}: not the output of `regogate keys disclose` ({exc})"
            ) from None


def disclose(directory: Path | None, root: mac.MacRoot, session: str) -> SessionKeys:
    """The keys of ``session`` (an id or a unique prefix, looked up in ``directory`` if
    given, which must say the session's commitments were made with ``root``)."""
    sid = session
    if directory is not None:
        opens = [
            x.record
            for x in RecordReader(directory, b'"type":"session.open"')
            if x.record.type == "session.open" and (x.record.sid or "").startswith(session)
        ]
        if len(opens) != 1:
            what = "no session" if not opens else f"{len(opens)} sessions"
            raise CommandError(f"{what} in {directory} match {session!r}", code=4)
        sid = str(opens[0].sid)
        scheme = opens[0].body.get("literal_commitments")
        if not isinstance(scheme, dict) or scheme.get("root") != root.id:
            raise CommandError(
                f"session {sid} was not recorded with MAC root {root.id} "
                f"(its session.open says {json.dumps(scheme)})"
            )
    return SessionKeys(
        sid, root.id, root.literal_key(sid), root.digest_key(sid), root.param_key(sid)
    )


@dataclass(frozen=True)
class LiteralClaim:
    seq: int
    n: int
    value: str

    @classmethod
    def parse(cls, text: str) -> LiteralClaim:
        head, sep, value = text.partition("=")
        seq, colon, n = head.partition(":")
        if not sep or not colon or not seq.isdigit() or not n.lstrip("$").isdigit():
            raise CommandError(f"--literal {text!r}: want SEQ:N=VALUE (e.g. 4711:2='O''Brien')")
        return cls(int(seq), int(n.lstrip("$")), value)


def check_literal(directory: Path, claim: LiteralClaim, keys: SessionKeys) -> str:
    """A line saying the claim holds; raises ``CommandError`` (exit 1) if it does not."""
    file, line, record = _session_record(directory, claim.seq, keys, "--literal")
    macs = record.body.get("literal_macs")
    if not isinstance(macs, dict):
        raise CommandError(
            f"--literal: record {claim.seq} ({record.type}) holds no per-literal commitments"
        )
    recorded = macs.get(str(claim.n))
    if not isinstance(recorded, str):
        raise CommandError(f"--literal: record {claim.seq} has no literal ${claim.n}")
    if mac.literal_mac(keys.literal_key, claim.n, claim.value) != recorded:
        raise CommandError(
            f"literal ${claim.n} of record {claim.seq} is NOT {claim.value!r}", code=1
        )
    return f"literal ${claim.n} of record {claim.seq} ({file}:{line}) is {claim.value!r}: confirmed"


def _session_record(
    directory: Path, seq: int, keys: SessionKeys, option: str
) -> tuple[str, int, Record]:
    """Record ``seq`` (file, line, record), which must be of the keys' session."""
    found = line_at(directory, seq)
    if found is None:
        raise CommandError(f"{option}: the log has no record {seq}", code=4)
    file, line, data = found
    try:
        record = Record.parse(data)
    except RecordError as exc:
        raise CommandError(f"{option}: {file}:{line} is not a record ({exc})") from None
    if record.sid != keys.session:
        raise CommandError(
            f"{option}: record {seq} is of session {record.sid}, the keys are of "
            f"session {keys.session}"
        )
    return file, line, record


# How a --param value is given: VALUE (text format, its UTF-8 bytes), text=VALUE,
# hex=HEX (text format, those bytes), binary=HEX (binary format), null (NULL, either).
_PARAM_FORMS = {"text": (0,), "hex": (0,), "binary": (1,), "null": (0, 1)}
PARAM_SYNTAX = "SEQ:N[:text|:hex|:binary]=VALUE or SEQ:N:null"


@dataclass(frozen=True)
class ParamClaim:
    """``--param``: parameter ``$n`` of the Bind recorded at ``seq`` was ``value`` (None:
    NULL), sent in one of ``formats`` (0 text, 1 binary)."""

    seq: int
    n: int
    value: bytes | None
    formats: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> ParamClaim:
        head, sep, given = text.partition("=")
        parts = head.split(":")
        form = parts[2] if len(parts) == 3 else "text"
        if (
            len(parts) not in (2, 3)
            or not parts[0].isdigit()
            or not parts[1].lstrip("$").isdigit()
            or form not in _PARAM_FORMS
            or (form == "null") == bool(sep)
        ):
            raise CommandError(
                f"--param {text!r}: want {PARAM_SYNTAX} "
                "(e.g. 4711:1=O'Brien, 4711:2:binary=0000002a)"
            )
        value: bytes | None = None
        if form in ("hex", "binary"):
            try:
                value = bytes.fromhex(given)
            except ValueError:
                raise CommandError(f"--param {text!r}: {given!r} is not hex") from None
        elif form == "text":
            value = given.encode("utf-8", "surrogateescape")
        return cls(int(parts[0]), int(parts[1].lstrip("$")), value, _PARAM_FORMS[form])

    def shown(self) -> str:
        if self.value is None:
            return "NULL"
        if self.formats == (1,):
            return f"binary {self.value.hex() or '(empty)'}"
        try:
            return repr(self.value.decode("utf-8"))
        except UnicodeDecodeError:
            return f"text bytes {self.value.hex()}"


def check_param(directory: Path, claim: ParamClaim, keys: SessionKeys) -> str:
    """A line saying the claim holds; raises ``CommandError`` (exit 1) if it does not."""
    if keys.param_key is None:
        raise CommandError(
            "--param: the session keys hold no param_key (disclosed by an older regogate): "
            "run `regogate keys disclose` again"
        )
    file, line, record = _session_record(directory, claim.seq, keys, "--param")
    macs = record.body.get("bind_macs")
    if not isinstance(macs, dict):
        what = (
            "one commitment over all its values, not one each"
            if "bind_commitment" in record.body
            else "no Bind parameter commitments"
        )
        raise CommandError(f"--param: record {claim.seq} ({record.type}) holds {what}")
    recorded = macs.get(str(claim.n))
    if not isinstance(recorded, str):
        raise CommandError(f"--param: record {claim.seq} has no parameter ${claim.n}")
    key = keys.param_key
    if not any(mac.param_mac(key, claim.n, f, claim.value) == recorded for f in claim.formats):
        raise CommandError(
            f"parameter ${claim.n} of record {claim.seq} is NOT {claim.shown()}", code=1
        )
    return (
        f"parameter ${claim.n} of record {claim.seq} ({file}:{line}) is {claim.shown()}: confirmed"
    )
