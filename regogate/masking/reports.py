"""Errors and notices of statements that involve masked columns, redacted before they
reach the client: their message, DETAIL, HINT, WHERE and internal query can quote a
value (a cast error, a unique violation's key, a RAISE in a function). What stays:
severity, SQLSTATE and the position in the statement (protocol §55.8, Error and Notice
Message Fields)."""

from __future__ import annotations

from regogate.wire.backend import ErrorResponse, NoticeResponse

# Fields that carry no value: S/V severity, C SQLSTATE, P/p positions, F/L/R the
# server's source file, line and routine. (Object names go too: RAISE ... USING COLUMN =
# sets them to any text.)
_KEPT = frozenset("SVCPpFLR")
_CLASSES = {
    "22": "data exception",
    "23": "integrity constraint violation",
    "P0": "error raised by PL/pgSQL code",
    "42": "syntax error or access rule violation",
    "54": "program limit exceeded",
    "57": "operator intervention",
    "40": "transaction rollback",
    "25": "invalid transaction state",
    "0A": "feature not supported",
    "XX": "internal error",
    "01": "warning",
    "00": "notice",
}


def _message(sqlstate: str, masked: tuple[str, ...]) -> str:
    kind = _CLASSES.get(sqlstate[:2], "error")
    cols = ", ".join(masked[:4]) + (", ..." if len(masked) > 4 else "")
    return (
        f"{kind} (SQLSTATE {sqlstate}); its text is withheld by regogate because the "
        f"statement involves masked columns ({cols}) and the text could quote their values"
    )


def redact_report(tag: bytes, body: bytes, masked: tuple[str, ...]) -> bytes:
    """An ErrorResponse ('E') or NoticeResponse ('N') body, redacted."""
    cls = ErrorResponse if tag == b"E" else NoticeResponse
    report = cls.decode(body)
    fields = [(code, value) for code, value in report.fields if code in _KEPT]
    sqlstate = report.sqlstate or "XX000"
    at = next((i for i, (code, _) in enumerate(fields) if code == "C"), len(fields) - 1)
    fields.insert(at + 1, ("M", _message(sqlstate, masked)))
    return cls(tuple(fields)).encode()[5:]
