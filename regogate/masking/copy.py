"""COPY ... TO STDOUT data rewriting (protocol §55.2.6, COPY Operations; COPY's File
Formats): the masked columns of every row become NULL, the other fields' bytes stay.

PostgreSQL sends one CopyData per row for COPY TO (copyto.c, CopySendEndOfRow), a text
or CSV header line in its own, and in binary the file header in front of the first
tuple and the trailer in its own. Anything else (a row split over two messages, a row
with another number of fields, options this module does not model) is refused: raised
as ProtocolViolation, or, for options, a reason the statement is denied before it runs.

Masked fields become NULL whatever their method: a COPY does not say the columns' types,
and NULL is a valid value of every type (``\\N``, or the statement's NULL string, in text;
the NULL string unquoted in CSV; length -1 in binary).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from regogate.errors import ProtocolViolation

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_NULL32 = _I32.pack(-1)
SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_TRUE = frozenset({"", "true", "on", "yes", "1"})
_FALSE = frozenset({"false", "off", "no", "0"})
# Options of COPY TO that only change what is quoted (never how a row is read back).
_QUOTING = frozenset({"force_quote"})


@dataclass(frozen=True, slots=True)
class CopyOptions:
    """How the rows of one COPY TO are written (the statement's options)."""

    format: str  # text, csv, binary
    delimiter: bytes
    null: bytes
    quote: bytes = b'"'
    escape: bytes = b'"'
    header: bool = False


def copy_options(options: tuple[tuple[str, str], ...]) -> CopyOptions | str:
    """The options of a COPY TO (StatementFacts.copy_options), or why they cannot be
    modelled (the statement is then denied when it has masks)."""
    given: dict[str, str] = {}
    for name, value in options:
        if name in given:
            return f"the COPY option {name} is given twice"
        given[name] = value
    fmt = given.pop("format", "text").lower()
    if fmt not in ("text", "csv", "binary"):
        return f"COPY format {fmt!r} is not one regogate rewrites"
    encoding = given.pop("encoding", None)
    if encoding is not None and encoding.lower().replace("-", "").replace("_", "") != "utf8":
        return "COPY with an ENCODING other than UTF8 is not rewritten by regogate"
    header = given.pop("header", "false").lower()
    if header not in _TRUE | _FALSE:
        return f"COPY HEADER {header!r} is not one regogate rewrites"
    csv = fmt == "csv"
    default_delim = "," if csv else "\t"
    delimiter = given.pop("delimiter", default_delim)
    null = given.pop("null", "" if csv else "\\N")
    quote = given.pop("quote", '"')
    escape = given.pop("escape", quote)
    for name in _QUOTING:
        given.pop(name, None)
    if given:
        return f"the COPY options {', '.join(sorted(given))} are not ones regogate rewrites"
    singles = (delimiter, quote, escape) if csv else (delimiter,)
    if any(len(c) != 1 or not c.isascii() or c in "\r\n" for c in singles):
        return "COPY with a DELIMITER, QUOTE or ESCAPE that is not one ASCII character"
    if not null.isascii() or "\r" in null or "\n" in null:
        return "COPY with a NULL string that is not ASCII on one line"
    if fmt == "binary":
        return CopyOptions("binary", b"", b"")
    return CopyOptions(
        fmt,
        delimiter.encode(),
        null.encode(),
        quote.encode(),
        escape.encode(),
        header in _TRUE,
    )


class CopyRewriter:
    """The CopyData bodies of one COPY TO, rewritten one at a time: ``masked`` are the
    positions of the fields that become NULL, ``columns`` how many each row has."""

    def __init__(self, options: CopyOptions, columns: int, masked: frozenset[int]) -> None:
        self.options = options
        self.columns = columns
        self.masked = masked
        self._first = True
        self._done = False

    def data(self, body: bytes) -> bytes:
        first, self._first = self._first, False
        if self._done:
            raise ProtocolViolation("the upstream sent COPY data after the end of the rows")
        fmt = self.options.format
        if fmt == "binary":
            return self._binary(body, first)
        if first and self.options.header:
            return body  # the column names
        if not self.masked:
            return body
        if not body.endswith(b"\n"):
            raise ProtocolViolation("the upstream sent a COPY row that does not end a line")
        line = body[:-1]
        fields = (
            _csv_fields(line, self.options) if fmt == "csv" else _text_fields(line, self.options)
        )
        if len(fields) != self.columns:
            raise ProtocolViolation(
                f"the upstream sent a COPY row of {len(fields)} fields, not {self.columns}"
            )
        null = self.options.null
        out = [null if i in self.masked else f for i, f in enumerate(fields)]
        return self.options.delimiter.join(out) + b"\n"

    def _binary(self, body: bytes, first: bool) -> bytes:
        pos = 0
        out: list[bytes] = []
        if first:
            if not body.startswith(SIGNATURE) or len(body) < 19:
                raise ProtocolViolation("the upstream's binary COPY data has no header")
            (ext,) = _I32.unpack_from(body, 15)
            pos = 19 + ext
            if ext < 0 or pos > len(body):
                raise ProtocolViolation("the upstream's binary COPY header is malformed")
            out.append(body[:pos])
        size = len(body)
        if pos == size:
            return body
        while pos < size:
            if pos + 2 > size:
                raise ProtocolViolation("the upstream split a binary COPY tuple")
            (count,) = _I16.unpack_from(body, pos)
            if count == -1:  # the trailer
                if pos + 2 != size:
                    raise ProtocolViolation("the upstream sent data after the binary COPY trailer")
                out.append(body[pos:])
                self._done = True
                break
            if count != self.columns:
                raise ProtocolViolation(
                    f"the upstream sent a binary COPY tuple of {count} fields, not {self.columns}"
                )
            out.append(body[pos : pos + 2])
            pos += 2
            for index in range(count):
                if pos + 4 > size:
                    raise ProtocolViolation("the upstream split a binary COPY tuple")
                (length,) = _I32.unpack_from(body, pos)
                end = pos + 4 + max(length, 0)
                if end > size:
                    raise ProtocolViolation("the upstream split a binary COPY tuple")
                out.append(_NULL32 if index in self.masked else body[pos:end])
                pos = end
        return b"".join(out)


def _text_fields(line: bytes, options: CopyOptions) -> list[bytes]:
    """The raw fields of a text-format row: split at the delimiter, which a value escapes
    with a backslash (as it does a backslash)."""
    delim = options.delimiter[0]
    fields: list[bytes] = []
    start = 0
    i = 0
    n = len(line)
    while i < n:
        c = line[i]
        if c == 0x5C:  # backslash: the next byte is part of the value
            i += 2
            continue
        if c == delim:
            fields.append(line[start:i])
            start = i + 1
        i += 1
    if i > n:
        raise ProtocolViolation("the upstream sent a COPY row ending in a lone backslash")
    fields.append(line[start:])
    return fields


def _csv_fields(line: bytes, options: CopyOptions) -> list[bytes]:
    """The raw fields of a CSV row (quotes kept): a quoted field ends at a quote that is
    not escaped; inside it, the escape character escapes a quote or itself."""
    delim = options.delimiter[0]
    quote = options.quote[0]
    escape = options.escape[0]
    fields: list[bytes] = []
    start = 0
    i = 0
    n = len(line)
    quoted = False
    while i < n:
        c = line[i]
        if quoted:
            if (
                c == escape
                and i + 1 < n
                and line[i + 1] in (quote, escape)
                and (escape != quote or line[i + 1] == quote)
            ):
                i += 2
                continue
            if c == quote:
                quoted = False
        elif c == quote:
            quoted = True
        elif c == delim:
            fields.append(line[start:i])
            start = i + 1
        i += 1
    if quoted:
        raise ProtocolViolation("the upstream sent a CSV COPY row with an open quote")
    fields.append(line[start:])
    return fields
