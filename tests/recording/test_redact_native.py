"""The native plain-text redaction (regogate._native.redact_plain) against the reference,
policy/sqltext.redact over pglast's scanner (PostgreSQL's lexer): on every text it
accepts it gives the same text, literals and numbering, and it leaves every text it
cannot read with certainty to the reference."""

from __future__ import annotations

import random

import pytest

from regogate.policy.sqltext import redact
from regogate.recording.write import native
from regogate.recording.write.redactor import Redactor
from tests.policy.test_sqltext import CASES

pytestmark = pytest.mark.skipif(
    not native.BUILT, reason="regogate._native is not built (scripts/setup.sh builds it)"
)

# Pieces of SQL, the tricky ones next to the plain: prefixed, continued, escaped and
# dollar-quoted strings, numbers in every lexical form, parameters with junk, comments,
# quoted identifiers, non-ASCII and characters the lexer does not expect.
WORDS = [
    "select",
    "from",
    "where",
    "t",
    "E",
    "e",
    "u",
    "U",
    "b",
    "X",
    "n",
    "N",
    "abc",
    "a$b",
    "_x",
    "aid",
    "é",
    "日本",
    "interval",
    "date",
    "UESCAPE",
]
NUMBERS = [
    "1",
    "42",
    "007",
    "1.5",
    "1.",
    ".5",
    "1e5",
    "1E-3",
    "2.5e+3",
    "0x1F",
    "0o17",
    "0b101",
    "1_000",
    "1..2",
    "99999999999999999999",
    "4711",
]
STRINGS = [
    "'a'",
    "''",
    "'it''s'",
    "'a\\'",
    "'a\\\\'",
    "'é'",
    "'--x'",
    "'/*'",
    "'$1'",
    "'\"'",
    "'unterminated",
    "'a\nb'",
    "'x'''",
    "''''",
]
QUOTED = ['"q"', '""', '"a""b"', '"it\'s"', '"é"', '"unterminated', '"--"']
PARAMS = ["$1", "$2", "$10", "$0", "$01", "$1a", "$1_0", "$", "$$", "$q$", "$99999999999", "$3.5"]
COMMENTS = ["--c\n", "-- c", "/*c*/", "/* /* n */ */", "--", "/*"]
PUNCT = [
    "=",
    "-",
    "+",
    "::",
    ".",
    ",",
    "(",
    ")",
    ";",
    "<>",
    "||",
    "&",
    "!",
    "?",
    "@",
    "#",
    "*",
    "/",
    "%",
    "^",
    "~",
    "[",
    "]",
    ":",
    "=-",
    "<=",
    "->>",
]
ODD = ["\\", "`", "{", "}", "\f", "\v", "\x7f", "\u00a0", "\U0001f600", "\udcff"]
SEPARATORS = ["", " ", " ", " ", "\n", "\t", "\r\n", "  \n  "]
KINDS = [
    (WORDS, 6),
    (NUMBERS, 4),
    (STRINGS, 4),
    (QUOTED, 1),
    (PARAMS, 2),
    (COMMENTS, 1),
    (PUNCT, 5),
    (ODD, 1),
]
POOL = [piece for pieces, weight in KINDS for piece in pieces for _ in range(weight)]

PLAIN = [
    "SELECT abalance FROM pgbench_accounts WHERE aid = 4711;",
    "UPDATE pgbench_accounts SET abalance = abalance + -312 WHERE aid = 90210;",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
    "VALUES (7, 1, 4711, -312, CURRENT_TIMESTAMP);",
    "select c.relname from pg_catalog.pg_class c where c.oid = '16384'::oid",
    "SELECT \"name\", email FROM customers WHERE name = 'O''Brien' AND balance > 1000.50",
    "SELECT * FROM t WHERE a = $1 AND b = 'x' AND c IN (1, 2, 3) LIMIT 10",
    'SELECT \'héllo wörld\' || "Spalte" FROM "Tabelle"',
]


def generated(seed: int, count: int) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for _ in range(count):
        parts = rnd.choices(POOL, k=rnd.randint(1, 12))
        out.append("".join(p + rnd.choice(SEPARATORS) for p in parts))
    return out


def reference(sql: str) -> tuple[str, tuple[str, ...], int]:
    red = redact(sql)
    return red.text, red.literals, red.first


def test_plain_statements_take_the_native_path() -> None:
    from regogate import _native

    for sql in PLAIN:
        assert _native.redact_plain(sql) == reference(sql), sql


@pytest.mark.parametrize(("sql", "text", "found"), CASES, ids=[c[0][:40] for c in CASES])
def test_the_reference_cases_agree_or_are_left_to_the_lexer(
    sql: str, text: str, found: list[str]
) -> None:
    from regogate import _native

    got = _native.redact_plain(sql)
    assert got is None or got == (text, tuple(found), reference(sql)[2])


@pytest.mark.parametrize("seed", range(4))
def test_generated_text_agrees_with_postgresqls_lexer(seed: int) -> None:
    from regogate import _native

    texts = generated(seed, 10_000)
    taken = 0
    for sql in texts:
        got = _native.redact_plain(sql)
        if got is not None:
            taken += 1
            assert got == reference(sql), repr(sql)
    # both paths get exercised: plain text is taken, the rest is left to the lexer
    assert 0.05 * len(texts) < taken < 0.9 * len(texts)


def test_very_long_text_is_left_to_the_lexer() -> None:
    # Past its allocation limits (2**25 tokens) PostgreSQL's lexer fails and the
    # reference redacts the whole text as one literal: the native path must not answer.
    from regogate import _native

    assert _native.redact_plain("select " + "(" * ((1 << 24) - 10) + "1") is not None
    assert _native.redact_plain("select " + "(" * (1 << 24) + "1") is None


def test_the_redactor_records_the_same_on_either_path() -> None:
    key = bytes(range(32))
    fast, slow = Redactor(key, engine="native"), Redactor(key, engine="python")
    for sql in PLAIN + generated(99, 3_000):
        assert fast(sql) == slow(sql), repr(sql)
