"""`regogate keys disclose --session ID` and `regogate verify --literal SEQ:N=VALUE`:
one session's commitment keys for an examiner, and a literal checked with them."""

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

    def to_json(self) -> dict[str, str]:
        return {
            "session": self.session,
            "scheme": mac.SCHEME,
            "root": self.root,
            "literal_key": self.literal_key.hex(),
            "digest_key": self.digest_key.hex(),
        }

    @classmethod
    def load(cls, path: Path) -> SessionKeys:
        try:
            obj = json.loads(path.read_text())
            return cls(
                str(obj["session"]),
                str(obj["root"]),
                bytes.fromhex(obj["literal_key"]),
                bytes.fromhex(obj["digest_key"]),
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
    return SessionKeys(sid, root.id, root.literal_key(sid), root.digest_key(sid))


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
    found = line_at(directory, claim.seq)
    if found is None:
        raise CommandError(f"--literal: the log has no record {claim.seq}", code=4)
    file, line, data = found
    try:
        record = Record.parse(data)
    except RecordError as exc:
        raise CommandError(f"--literal: {file}:{line} is not a record ({exc})") from None
    if record.sid != keys.session:
        raise CommandError(
            f"--literal: record {claim.seq} is of session {record.sid}, the keys are of "
            f"session {keys.session}"
        )
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
