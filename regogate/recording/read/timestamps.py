"""RFC 3161 timestamps on checkpoints: the ``timestamps.log`` entry format, the request
sent to a time-stamping authority, and the check of the tokens (docs/recording-format.md
§5, "RFC 3161 timestamps"; §8). No I/O: ``recording.tsa`` talks to the TSA.

Each line of ``timestamps.log`` is ``<size> <base64 signed note> <base64 TimeStampResp>``:
the checkpoint as the writer signed it, and the TSA's response for the SHA-256 of the
note's bytes. ``rfc3161-client`` (the ``regogate[tsa]`` extra) builds requests and checks
tokens; it is imported only when a TSA is configured or tokens are checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509

from regogate.recording.format.checkpoint import Checkpoint
from regogate.recording.format.note import NoteError, Verifier, open_note, signing_times
from regogate.recording.read.findings import Findings

TIMESTAMPS = "timestamps.log"
MISSING = "RFC 3161 timestamps need the rfc3161-client package: pip install 'regogate[tsa]'"


class TimestampError(ValueError):
    """A timestamps.log line that is malformed, or a token that does not check."""


@dataclass(frozen=True)
class Entry:
    """One line of timestamps.log."""

    size: int
    note: str
    response: bytes  # DER TimeStampResp

    def line(self) -> bytes:
        note = base64.b64encode(self.note.encode()).decode()
        return f"{self.size} {note} {base64.b64encode(self.response).decode()}\n".encode()

    @classmethod
    def parse(cls, line: bytes) -> Entry:
        try:
            size, note, response = line.decode("ascii").split(" ")
            if not size.isdigit():
                raise ValueError(size)
            return cls(
                int(size),
                base64.b64decode(note, validate=True).decode("utf-8"),
                base64.b64decode(response, validate=True),
            )
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise TimestampError("not <size> <base64 note> <base64 TimeStampResp>") from None


def available() -> bool:
    """Whether the optional RFC 3161 library is installed (``regogate[tsa]``)."""
    return importlib.util.find_spec("rfc3161_client") is not None


def request(note: str) -> tuple[bytes, int | None]:
    """The DER TimeStampReq for a signed note (SHA-256 of its bytes, the TSA's certificate
    asked for) and its nonce. Raises ``ImportError`` without rfc3161-client (``MISSING``)."""
    from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

    builder = TimestampRequestBuilder().data(note.encode()).hash_algorithm(HashAlgorithm.SHA256)
    req = builder.build()
    return req.as_bytes(), req.nonce


def check_response(note: str, response: bytes, nonce: int | None) -> datetime:
    """The genTime of a TSA's response, for ``note``, to a request with ``nonce``; raises
    ``TimestampError`` if it is not a granted token for the note and the nonce. (The
    TSA's signature is checked by verify, against the certificates an examiner trusts.)"""
    from rfc3161_client import PKIStatus, decode_timestamp_response

    try:
        resp = decode_timestamp_response(response)
    except ValueError as exc:
        raise TimestampError(f"not a TimeStampResp: {exc}") from None
    if PKIStatus(resp.status) != PKIStatus.GRANTED:
        raise TimestampError(f"the TSA did not grant a token (status {resp.status})")
    info = resp.tst_info
    if info.message_imprint.message != hashlib.sha256(note.encode()).digest():
        raise TimestampError("the token is for other data than the checkpoint")
    if nonce is not None and info.nonce != nonce:
        raise TimestampError("the token does not carry the request's nonce")
    gen: datetime = info.gen_time
    return gen


@dataclass(frozen=True)
class TsaTrust:
    """The certificates an examiner trusts for the TSA: roots (self-signed) and others."""

    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()

    @classmethod
    def from_pem(cls, data: bytes) -> TsaTrust:
        certs = x509.load_pem_x509_certificates(data)
        roots = tuple(c for c in certs if c.issuer == c.subject)
        if not roots:
            raise ValueError("no self-signed (root) certificate among the TSA certificates")
        return cls(roots, tuple(c for c in certs if c.issuer != c.subject))


def check_timestamps(
    data: bytes,
    trusted: Sequence[Verifier],
    size: int,
    root: Callable[[int], bytes],
    tsa: TsaTrust | None,
    findings: Findings,
) -> None:
    """Findings for timestamps.log: each token checked against ``tsa``, its checkpoint
    against the records (``root(n)``: the records' root at n, n <= ``size``)."""
    if not data:
        if tsa is not None:
            msg = f"a TSA certificate was given, but there is no {TIMESTAMPS}"
            findings.warning("tsa-missing", msg)
        return
    lines = data.split(b"\n")
    if lines[-1]:
        lines[-1] = b""  # a torn last line (a crash while appending) is not a token
    count, latest = 0, None
    for number, raw in enumerate(lines[:-1], 1):
        if tsa is None:
            count += 1
            continue
        try:
            entry = Entry.parse(raw)
            gen_time = _check(entry, trusted, tsa)
        except TimestampError as exc:
            findings.error("tsa-token-invalid", f"timestamp: {exc}", file=TIMESTAMPS, line=number)
            continue
        cp = Checkpoint.parse(open_note(entry.note, list(trusted))[0])
        if cp.size > size or root(cp.size) != cp.root:
            msg = (
                f"the checkpoint of size {cp.size} that the TSA timestamped at "
                f"{gen_time:%Y-%m-%dT%H:%M:%SZ} is not a prefix of this log: records were "
                "removed or rewritten since"
            )
            findings.error("tsa-checkpoint-mismatch", msg, file=TIMESTAMPS, line=number)
            continue
        signed = min(signing_times(entry.note, list(trusted)).values(), default=None)
        if signed is not None and signed > gen_time.timestamp() + 1:
            ahead = signed - int(gen_time.timestamp())
            msg = (
                f"the checkpoint of size {cp.size} was signed at "
                f"{datetime.fromtimestamp(signed, UTC):%Y-%m-%dT%H:%M:%SZ}, {ahead} s after the "
                "TSA timestamped it: the gateway's clock was ahead"
            )
            findings.warning("tsa-time-before-signing", msg, file=TIMESTAMPS, line=number)
        count += 1
        latest = (cp.size, gen_time)
    if tsa is None:
        msg = f"{TIMESTAMPS} holds {count} RFC 3161 tokens; give the TSA's certificate to check"
        findings.info("tsa-unchecked", msg, file=TIMESTAMPS)
    elif latest is not None:
        msg = (
            f"{count} checkpoints timestamped by the TSA; the latest (size {latest[0]}) at "
            f"{latest[1]:%Y-%m-%dT%H:%M:%SZ}"
        )
        findings.info("tsa-timestamped", msg, file=TIMESTAMPS)


def _check(entry: Entry, trusted: Sequence[Verifier], tsa: TsaTrust) -> datetime:
    try:
        text, _ = open_note(entry.note, list(trusted))
        size = Checkpoint.parse(text).size
    except NoteError as exc:
        raise TimestampError(f"the timestamped checkpoint does not verify: {exc}") from None
    if size != entry.size:
        raise TimestampError(f"the line names size {entry.size}, its checkpoint {size}")
    try:
        from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response
    except ImportError:
        raise TimestampError(MISSING) from None
    builder = VerifierBuilder(roots=list(tsa.roots), intermediates=list(tsa.intermediates))
    try:
        resp = decode_timestamp_response(entry.response)
        builder.build().verify_message(resp, entry.note.encode())
    except (ValueError, VerificationError) as exc:
        raise TimestampError(f"the token for size {size} does not check: {exc}") from None
    if resp.tst_info.message_imprint.hash_algorithm != x509.ObjectIdentifier(
        "2.16.840.1.101.3.4.2.1"
    ):
        raise TimestampError("the token's imprint is not SHA-256")
    gen: datetime = resp.tst_info.gen_time
    return gen if gen.tzinfo is not None else gen.replace(tzinfo=UTC)
