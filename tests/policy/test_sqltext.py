"""Literal redaction: statement text keeps its structure, literals go to a separate list."""

from __future__ import annotations

import re

import pytest
from pglast.parser import fingerprint, parse_sql
from pglast.parser import normalize as pg_query_normalize

from regogate.policy.sqltext import literals, normalize, redact

CASES = [
    ("select 'abc'", "select $1", ["'abc'"]),
    ("select 1, 2.5, 1e5, .5, 10.", "select $1, $2, $3, $4, $5", ["1", "2.5", "1e5", ".5", "10."]),
    ("select 0x1F, 1_000_000", "select $1, $2", ["0x1F", "1_000_000"]),
    ("select -42", "select -$1", ["42"]),
    ("select E'it\\'s'", "select $1", ["E'it\\'s'"]),
    ("select e'\\x41\\n'", "select $1", ["e'\\x41\\n'"]),
    ("select N'national'", "select $1", ["N'national'"]),
    ("select U&'d\\0061ta'", "select $1", ["U&'d\\0061ta'"]),
    ("select U&'d!0061ta' UESCAPE '!'", "select $1", ["U&'d!0061ta' UESCAPE '!'"]),
    ("select X'ff', B'0101'", "select $1, $2", ["X'ff'", "B'0101'"]),
    ("select 'it''s'", "select $1", ["'it''s'"]),
    ("select $$dollar 'quoted'$$", "select $1", ["$$dollar 'quoted'$$"]),
    ("select $tag$ has $$ inside $tag$", "select $1", ["$tag$ has $$ inside $tag$"]),
    ("select 'first'\n  'continued'", "select $1", ["'first'\n  'continued'"]),
    ("select date '2024-01-01'", "select date $1", ["'2024-01-01'"]),
    ("select '1 day'::interval", "select $1::interval", ["'1 day'"]),
    ("select a::numeric(14,2) from t", "select a::numeric($1,$2) from t", ["14", "2"]),
    (
        "select * from t where a = $1 and b = 'x' and c = $3",
        "select * from t where a = $1 and b = $4 and c = $3",
        ["'x'"],
    ),
    (
        'select "quoted ident", U&"\\0073sn" from t',
        'select "quoted ident", U&"\\0073sn" from t',
        [],
    ),
    ("select U&\"!0073sn\" UESCAPE '!' from t", "select U&\"!0073sn\" UESCAPE '!' from t", []),
    ("select'glued'from t", "select $1 from t", ["'glued'"]),
    ("do $$ begin perform 1; end $$", "do $1", ["$$ begin perform 1; end $$"]),
    (
        "create user bob password 'hunter2-secret'",
        "create user bob password $1",
        ["'hunter2-secret'"],
    ),
    ("set search_path = 'audit', public", "set search_path = $1, public", ["'audit'"]),
    ("select 1; select 'two'", "select $1; select $2", ["1", "'two'"]),
    ("", "", []),
]


@pytest.mark.parametrize(("sql", "text", "found"), CASES, ids=[c[0][:40] for c in CASES])
def test_redact(sql: str, text: str, found: list[str]) -> None:
    assert normalize(sql) == text
    assert literals(sql) == found


@pytest.mark.parametrize(
    ("sql", "text"),
    [
        ("select /* it's a 'comment' */ 1", "select $1"),
        ("select 1 -- don't keep 'this'\nfrom t", "select $1 \nfrom t"),
        ("select/* glued */1", "select $1"),
        ("select /* outer /* nested 'x' */ still */ 2", "select $1"),
    ],
)
def test_comments_are_dropped(sql: str, text: str) -> None:
    assert normalize(sql) == text
    assert all("'" not in lit or lit.startswith("'") for lit in literals(sql))


def test_comments_can_be_kept() -> None:
    sql = "select /* note: it's fine */ 'v' -- trailing\n"
    assert normalize(sql, keep_comments=True) == "select /* note: it's fine */ $1 -- trailing\n"


def test_placeholders_number_after_existing_parameters() -> None:
    red = redact("select $2, 'a', $7, 'b'")
    assert red.text == "select $2, $8, $7, $9"
    assert red.first == 8 and red.literals == ("'a'", "'b'")


@pytest.mark.parametrize(
    ("sql", "text", "found"),
    [
        ("select 'abc", "select $1", ["'abc"]),
        (
            "select 1, 'ok', 'unterminated secret",
            "select $1, $2, $3",
            ["1", "'ok'", "'unterminated secret"],
        ),
        ("select $$never closed", "select $1", ["$$never closed"]),
        ('select "open ident', "select $1", ['"open ident']),
        ("select 1 /* open comment 'x'", "select $1 $2", ["1", "/* open comment 'x'"]),
    ],
)
def test_unscannable_tail_becomes_one_literal(sql: str, text: str, found: list[str]) -> None:
    assert normalize(sql) == text
    assert literals(sql) == found


def test_literals_fill_the_placeholders_back() -> None:
    sql = (
        "insert into t (a, b, c, d) values (E'x\\'y', $$z$$, 12.5e3, U&'\\0041' UESCAPE '\\')"
        " on conflict (a) do update set b = 'q''r'"
    )
    red = redact(sql)
    rebuilt = re.sub(r"\$(\d+)", lambda m: red.literals[int(m.group(1)) - red.first], red.text)
    assert rebuilt == sql


@pytest.mark.parametrize(
    "sql",
    [
        "select * from customers where id = 42 and email = 'a@example.com'",
        "update accounts set balance = balance - 10.50 where id = $1",
        "insert into transactions (account_id, amount, memo) values (1, 5, E'refund\\n')",
        "delete from customers where ssn in ('078-05-1120', '219-09-9999')",
        "select $$x$$ || 'y', B'1', X'0f' from t limit 10 offset 5",
    ],
)
def test_normalized_statements_still_parse_the_same(sql: str) -> None:
    text = normalize(sql)
    assert parse_sql(text)
    assert fingerprint(text) == fingerprint(sql) == fingerprint(pg_query_normalize(sql))
    for lit in literals(sql):
        assert lit[0].isdigit() or lit not in text


def test_no_literal_survives_in_bank_statements() -> None:
    sql = (
        "select full_name from customers where ssn = '078-05-1120' "
        "or email = $x$alice@example.com$x$ or phone = E'+1-555-0100'"
    )
    text = normalize(sql)
    for secret in ("078-05-1120", "alice@example.com", "+1-555-0100"):
        assert secret not in text
