"""COPY TO STDOUT rewriting (pure): options modelled or refused, and rows in text, CSV and
binary with masked fields made NULL, the other fields' bytes untouched; malformed data
refused. The rows are PostgreSQL's own output shapes (escapes, quotes, embedded
newlines, custom NULL strings and delimiters)."""

from __future__ import annotations

import struct

import pytest

from regogate.errors import ProtocolViolation
from regogate.masking.copy import SIGNATURE, CopyOptions, CopyRewriter, copy_options


def _opts(*pairs: tuple[str, str]) -> CopyOptions:
    out = copy_options(pairs)
    assert isinstance(out, CopyOptions), out
    return out


@pytest.mark.parametrize(
    ("pairs", "why"),
    [
        ((("format", "json"),), "format"),
        ((("encoding", "latin1"),), "ENCODING"),
        ((("header", "match"),), "HEADER"),
        ((("delimiter", "ab"),), "DELIMITER"),
        ((("format", "csv"), ("quote", "é")), "QUOTE"),
        ((("null", "a\nb"),), "NULL"),
        ((("force_not_null", "*"),), "force_not_null"),
        ((("delimiter", ","), ("delimiter", ";")), "twice"),
    ],
)
def test_options_not_modelled_are_refused(pairs: tuple[tuple[str, str], ...], why: str) -> None:
    out = copy_options(pairs)
    assert isinstance(out, str) and why in out


def test_options_modelled() -> None:
    assert _opts() == CopyOptions("text", b"\t", b"\\N")
    csv = _opts(("format", "csv"), ("header", ""), ("delimiter", ";"), ("null", "NULL"))
    assert csv == CopyOptions("csv", b";", b"NULL", b'"', b'"', True)
    assert _opts(("format", "CSV"), ("quote", "'"), ("force_quote", "*")).escape == b"'"
    assert _opts(("format", "binary"), ("encoding", "UTF-8")).format == "binary"


@pytest.mark.parametrize(
    ("row", "out"),
    [
        (b"1\t123-45-6789\tx\n", b"1\t\\N\tx\n"),
        (b"1\ta\\tb\\\\\tx\n", b"1\t\\N\tx\n"),  # escaped tab and backslash inside
        (b"\\N\t\\N\t\\N\n", b"\\N\t\\N\t\\N\n"),
        (b"2\t\t\n", b"2\t\\N\t\n"),
    ],
)
def test_text_rows(row: bytes, out: bytes) -> None:
    assert CopyRewriter(_opts(), 3, frozenset({1})).data(row) == out


def test_text_rows_with_a_custom_delimiter_and_null() -> None:
    rw = CopyRewriter(_opts(("delimiter", "|"), ("null", "NIL")), 2, frozenset({0}))
    assert rw.data(b"a\\|b|c\n") == b"NIL|c\n"


@pytest.mark.parametrize(
    ("row", "out"),
    [
        (b'1,"a,b",x\n', b"1,,x\n"),
        (b'1,"line\nbreak ""q""",x\n', b"1,,x\n"),
        (b'1,"",x\n', b"1,,x\n"),
        (b"1,plain,\n", b"1,,\n"),
    ],
)
def test_csv_rows(row: bytes, out: bytes) -> None:
    rw = CopyRewriter(_opts(("format", "csv")), 3, frozenset({1}))
    assert rw.data(row) == out


def test_csv_header_and_escape_and_null() -> None:
    opts = _opts(("format", "csv"), ("header", "true"), ("escape", "\\"), ("null", "N"))
    rw = CopyRewriter(opts, 2, frozenset({1}))
    assert rw.data(b"id,ssn\n") == b"id,ssn\n"  # the header line: column names
    assert rw.data(b'1,"a\\"b,c"\n') == b"1,N\n"


@pytest.mark.parametrize(
    ("opts", "row"),
    [
        (CopyOptions("text", b"\t", b"\\N"), b"1\t2\n"),  # two fields, not three
        (CopyOptions("text", b"\t", b"\\N"), b"1\t2\t3"),  # no end of line: split row
        (CopyOptions("text", b"\t", b"\\N"), b"1\t2\t3\\"),
        (CopyOptions("csv", b",", b""), b'1,"open,3\n'),
    ],
)
def test_malformed_rows_are_refused(opts: CopyOptions, row: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        CopyRewriter(opts, 3, frozenset({1})).data(row)


def _tuple(*cells: bytes | None) -> bytes:
    out = struct.pack("!h", len(cells))
    for c in cells:
        out += struct.pack("!i", -1) if c is None else struct.pack("!i", len(c)) + c
    return out


HEADER = SIGNATURE + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)


def test_binary_rows() -> None:
    rw = CopyRewriter(_opts(("format", "binary")), 2, frozenset({1}))
    assert rw.data(HEADER + _tuple(b"\x00\x01", b"123-45-6789")) == HEADER + _tuple(
        b"\x00\x01", None
    )
    assert rw.data(_tuple(None, b"x") + _tuple(b"y", b"z")) == _tuple(None, None) + _tuple(
        b"y", None
    )
    assert rw.data(TRAILER) == TRAILER
    with pytest.raises(ProtocolViolation):
        rw.data(_tuple(b"a", b"b"))  # nothing after the trailer


def test_binary_header_alone_and_with_extension() -> None:
    rw = CopyRewriter(_opts(("format", "binary")), 1, frozenset({0}))
    ext = SIGNATURE + struct.pack("!ii", 0, 3) + b"abc"
    assert rw.data(ext + _tuple(b"v") + TRAILER) == ext + _tuple(None) + TRAILER


@pytest.mark.parametrize(
    "data",
    [
        b"PGCOPY\n",  # short header
        HEADER + _tuple(b"a", b"b")[:-1],  # split tuple
        HEADER + _tuple(b"a"),  # one field, not two
        HEADER + TRAILER + b"x",
    ],
)
def test_malformed_binary_is_refused(data: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        CopyRewriter(_opts(("format", "binary")), 2, frozenset({1})).data(data)
