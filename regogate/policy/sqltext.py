"""Statement text without its literal values: ``$n`` placeholders for recordings, and the
literals themselves apart for keyed commitments. Pure; tokens come from pglast's scanner,
which is PostgreSQL's own lexer (dollar quoting, E'' and U&'' strings, comments).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pglast.parser import ParseError, scan

from regogate.wire.text import replace_raw_bytes

# Token names of pglast.parser.scan (PostgreSQL's gram.y terminals) that carry a value.
LITERAL_TOKENS = frozenset({"SCONST", "USCONST", "BCONST", "XCONST", "ICONST", "FCONST"})
COMMENT_TOKENS = frozenset({"SQL_COMMENT", "C_COMMENT"})
_ERROR_INDEX = re.compile(r"at index (\d+)")


@dataclass(frozen=True)
class RedactedText:
    """``text`` with every literal replaced by ``$n``; ``literals[i]`` is what ``$k`` (k =
    ``first + i``) replaced, exactly as written (quotes, E/U&/B/X/N prefixes, UESCAPE)."""

    text: str
    literals: tuple[str, ...]
    first: int  # the number of the first placeholder: one above the highest $n already used


def _word(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


def redact(sql: str, *, keep_comments: bool = False) -> RedactedText:
    """Replace every literal token by a ``$n`` placeholder, numbered after the highest
    parameter the text already uses (as pg_query's normalize does). Comments are dropped
    unless ``keep_comments`` (they are free text and may hold anything).

    Every literal goes, type modifiers included (``numeric(14,2)`` becomes
    ``numeric($1,$2)``), and a minus sign stays in the text (``-5`` becomes ``-$1``): the
    result is for recording and display, and need not parse back. Text
    the scanner rejects (an unterminated quote, say) is cut at that point and everything
    from there on becomes one literal.
    """
    text, lits, first = _redact(sql, keep_comments, None)
    return RedactedText(text, tuple(lits), first)


def normalize(sql: str, *, keep_comments: bool = False) -> str:
    """The statement text with literals replaced by ``$n`` (see :func:`redact`)."""
    return redact(sql, keep_comments=keep_comments).text


def literals(sql: str) -> list[str]:
    """The literals :func:`normalize` replaces, in placeholder order, as written."""
    return list(redact(sql).literals)


def _redact(sql: str, keep_comments: bool, first: int | None) -> tuple[str, list[str], int]:
    try:
        # a byte that is not UTF-8 (wire.text) is scanned as U+FFFD: non-ASCII, as the
        # byte is to PostgreSQL's lexer, and one character for one keeps the positions
        tokens = scan(replace_raw_bytes(sql))
    except ParseError as exc:
        match = _ERROR_INDEX.search(str(exc))
        cut = int(match.group(1)) if match else 0
        if not 0 < cut < len(sql):
            cut = 0
        head, found, start = _redact(sql[:cut], keep_comments, first) if cut else ("", [], 1)
        sep = " " if head and _word(head[-1]) else ""
        return f"{head}{sep}${start + len(found)}", [*found, sql[cut:]], start
    if first is None:
        highest = 0
        for tok in tokens:
            if tok.name == "PARAM":
                digits = sql[tok.start + 1 : tok.end + 1]
                if digits.isdigit():
                    highest = max(highest, int(digits))
        first = highest + 1
    out: list[str] = []
    lits: list[str] = []
    pos = 0
    i, count = 0, len(tokens)
    while i < count:
        tok = tokens[i]
        name = tok.name
        start, end = tok.start, tok.end + 1
        nxt = tokens[i + 1] if i + 1 < count else None
        if name == "NCHAR" and nxt is not None and nxt.name == "SCONST" and nxt.start == end:
            name, end = "SCONST", nxt.end + 1  # N'...' is one literal
            i += 1
        if name in LITERAL_TOKENS:
            if (
                name == "USCONST"
                and i + 2 < count
                and tokens[i + 1].name == "UESCAPE"
                and tokens[i + 2].name == "SCONST"
            ):
                end = tokens[i + 2].end + 1  # U&'...' UESCAPE '!' is one literal
                i += 2
            placeholder = f"${first + len(lits)}"
            if start > 0 and _word(sql[start - 1]):
                placeholder = " " + placeholder
            if end < len(sql) and _word(sql[end]):
                placeholder += " "
            out.append(sql[pos:start])
            out.append(placeholder)
            lits.append(sql[start:end])
            pos = end
        elif name == "UIDENT" and i + 2 < count and tokens[i + 1].name == "UESCAPE":
            i += 2  # U&"..." UESCAPE '!': the escape character belongs to the identifier
        elif name in COMMENT_TOKENS and not keep_comments:
            out.append(sql[pos:start])
            before = sql[start - 1] if start > 0 else " "
            after = sql[end] if end < len(sql) else " "
            if not before.isspace() and not after.isspace():
                out.append(" ")  # keep the tokens around it apart
            elif before.isspace() and after in " \t":
                end += 1  # no double space where the comment was
            pos = end
        i += 1
    out.append(sql[pos:])
    return "".join(out), lits, first
