"""Statement facts: whole-row values and functional notation (``c.row_to_json`` is
``row_to_json(c)``) carry every column of the row, read where output and filtered where
they filter; attempts to get public.customers.ssn out unseen are kept here."""

from __future__ import annotations

import pytest

from regogate.policy.catalog_rows import snapshot_from_rows
from regogate.policy.facts import StatementFacts, analyze, view_outputs
from tests.policy.corpus import CATALOG_ROWS

SSN = "public.customers.ssn"
ROWS = [
    *CATALOG_ROWS,
    ("relation", "public", "notes", "r", None),
    ("column", "public", "notes", "id", "1"),
    ("column", "public", "notes", "text", "2"),
    ("relation", "public", "people", "r", None),
    ("column", "public", "people", "id", "1"),
    ("column", "public", "people", "addr", "2"),
]
for _f in (
    "text",
    "to_json",
    "format",
    "array_agg",
    "string_agg",
    "json_populate_record",
    "jsonb_populate_record",
    "jsonb_each",
    "jsonb_each_text",
    "jsonb_to_record",
    "concat",
    "md5",
    "row_number",
):
    ROWS.append(("function", "pg_catalog", _f, None, None))
ROWS.append(("function", "public", "hstore", None, None))
CATALOG = snapshot_from_rows(ROWS)


def _facts(sql: str) -> StatementFacts:
    analysis = analyze(sql, CATALOG)
    return analysis.statements[-1]


# (id, sql): the ssn must be in columns.read and in the lineage of some output.
READ = [
    ("functional-notation", "SELECT c.row_to_json FROM customers c"),
    ("functional-notation-parens", "SELECT (c).row_to_json FROM customers c"),
    ("functional-notation-star", "SELECT (c.*).to_jsonb FROM customers c"),
    ("cast-notation", "SELECT c.text FROM customers c"),
    ("cast-notation-table-name", "SELECT customers.text FROM customers"),
    ("cast-notation-qualified", "SELECT public.customers.text FROM public.customers"),
    ("cast-notation-quoted-alias", 'SELECT "C".text FROM customers "C"'),
    ("functional-notation-json-op", "SELECT c.to_jsonb->>'ssn' FROM customers c"),
    ("functional-notation-subscript", "SELECT (c.to_jsonb)['ssn'] FROM customers c"),
    ("functional-notation-field-of-result", "SELECT (c.row_to_json) FROM customers c"),
    ("functional-notation-renamed-columns", "SELECT c.row_to_json FROM customers AS c(a)"),
    ("whole-row-alias", "SELECT c FROM customers c"),
    ("whole-row-table-name", "SELECT customers FROM customers"),
    ("whole-row-renamed-columns", "SELECT c FROM customers AS c(a, b)"),
    ("renamed-column", "SELECT x FROM customers AS c(a, b, e, x)"),
    ("row-to-json", "SELECT row_to_json(c) FROM customers c"),
    ("to-jsonb-star", "SELECT to_jsonb(c.*) FROM customers c"),
    ("to-json", "SELECT to_json(c) FROM customers c"),
    ("hstore", "SELECT hstore(c) FROM customers c"),
    ("format", "SELECT format('%s', c) FROM customers c"),
    ("concat", "SELECT concat(c) FROM customers c"),
    ("md5-text", "SELECT md5(c::text) FROM customers c"),
    ("row-star", "SELECT ROW(c.*) FROM customers c"),
    ("cast", "SELECT c::text FROM customers c"),
    ("cast-star", "SELECT (c.*)::text FROM customers c"),
    ("is-null", "SELECT c IS NULL FROM customers c"),
    ("paren-star", "SELECT (c).* FROM customers c"),
    ("paren-star-star", "SELECT (c.*).* FROM customers c"),
    ("json-build-object", "SELECT json_build_object('r', c) FROM customers c"),
    ("array-agg", "SELECT array_agg(c) FROM customers c"),
    ("json-agg", "SELECT json_agg(c) FROM customers c"),
    ("string-agg", "SELECT string_agg(c::text, ',') FROM customers c"),
    ("count-distinct-row", "SELECT count(DISTINCT c) FROM customers c"),
    ("window-row", "SELECT first_value(c) OVER () FROM customers c"),
    ("distinct-row", "SELECT DISTINCT c FROM customers c"),
    ("lateral-subquery", "SELECT x FROM customers c, LATERAL (SELECT c) s(x)"),
    ("lateral-subquery-star", "SELECT r FROM customers c, LATERAL (SELECT c.*) r"),
    ("lateral-values", "SELECT x FROM customers c CROSS JOIN LATERAL (VALUES (c.text)) v(x)"),
    ("lateral-function", "SELECT r FROM customers c, LATERAL row_to_json(c) r"),
    ("lateral-function-star", "SELECT r.* FROM customers c, LATERAL row_to_json(c) r"),
    ("lateral-functional-notation", "SELECT s.t FROM customers c, LATERAL (SELECT c.text AS t) s"),
    ("subquery-row", "SELECT s.x FROM (SELECT c AS x FROM customers c) s"),
    ("subquery-whole-row", "SELECT s FROM (SELECT * FROM customers) s"),
    ("subquery-functional-notation", "SELECT s.text FROM (SELECT * FROM customers) s"),
    ("subquery-row-to-json", "SELECT row_to_json(s) FROM (SELECT ssn FROM customers) s"),
    ("scalar-subquery", "SELECT (SELECT c) FROM customers c"),
    ("scalar-subquery-field", "SELECT ((SELECT c FROM customers c LIMIT 1)).text"),
    ("array-subquery", "SELECT ARRAY(SELECT c.text FROM customers c)"),
    ("array-agg-subquery", "SELECT (SELECT array_agg(c) FROM customers c)"),
    ("cte-row", "WITH w AS (SELECT c FROM customers c) SELECT w.c::text FROM w"),
    ("cte-functional-notation", "WITH w AS (SELECT * FROM customers) SELECT w.row_to_json FROM w"),
    ("cte-whole-row", "WITH w AS (SELECT * FROM customers) SELECT w FROM w"),
    ("jsonb-each", "SELECT j.value FROM customers c, jsonb_each(to_jsonb(c)) j"),
    ("jsonb-each-functional", "SELECT j.* FROM customers c, jsonb_each_text(c.to_jsonb) j"),
    (
        "json-populate-field",
        "SELECT (json_populate_record(null::customers, row_to_json(c))).ssn FROM customers c",
    ),
    (
        "json-populate-from",
        "SELECT r.ssn FROM customers c, json_populate_record(null::customers, row_to_json(c)) r",
    ),
    (
        "jsonb-to-record",
        "SELECT r.* FROM customers c, jsonb_to_record(to_jsonb(c)) AS r(ssn text)",
    ),
    ("join-alias-row", "SELECT j FROM (customers c JOIN accounts a ON a.customer_id = c.id) j"),
    ("join-alias-functional", "SELECT j.text FROM (customers c JOIN accounts a ON true) j"),
    ("union", "SELECT c::text FROM customers c UNION SELECT 'x'"),
    (
        "union-in-subquery",
        "SELECT x FROM (SELECT c FROM customers c UNION ALL SELECT c FROM customers c) s(x)",
    ),
    (
        "recursive-cte-rotation",
        "WITH RECURSIVE r(a, b, c) AS (SELECT ssn, '', '' FROM customers "
        "UNION ALL SELECT c, a, b FROM r) SELECT c FROM r",
    ),
    (
        "recursive-cte-long-rotation",
        "WITH RECURSIVE r(a, b, c, d, e) AS (SELECT ssn, '', '', '', '' FROM customers "
        "UNION ALL SELECT e, a, b, c, d FROM r) SELECT e FROM r",
    ),
    ("xmlelement", "SELECT xmlelement(name x, c.text) FROM customers c"),
    ("table-command", "TABLE customers"),
    ("outer-row-in-subquery-over-unknown", "SELECT (SELECT c FROM unknown_t u) FROM customers c"),
    ("delete-returning", "DELETE FROM customers c WHERE id = 1 RETURNING c.text"),
    ("update-returning-row", "UPDATE customers c SET email = email WHERE id = 1 RETURNING c"),
    ("insert-select-row", "INSERT INTO transactions (memo) SELECT c::text FROM customers c"),
    (
        "merge-row",
        "MERGE INTO transactions t USING customers c ON t.id = c.id "
        "WHEN MATCHED THEN UPDATE SET memo = c.text",
    ),
    ("copy-row", "COPY (SELECT c FROM customers c) TO STDOUT"),
    ("declare-row", "DECLARE k CURSOR FOR SELECT c.text FROM customers c"),
    (
        "execute-row",
        "PREPARE p AS SELECT c.row_to_json FROM customers c; EXECUTE p",
    ),
    ("rows-from", "SELECT * FROM ROWS FROM (jsonb_each(to_jsonb((SELECT c FROM customers c))))"),
]


@pytest.mark.parametrize(("sql"), [c[1] for c in READ], ids=[c[0] for c in READ])
def test_whole_row_is_read(sql: str) -> None:
    facts = _facts(sql)
    assert SSN in facts.read, facts.read
    if facts.verb in ("SELECT", "DECLARE CURSOR", "EXECUTE", "COPY") or "RETURNING" in sql:
        lineage = {c for _, lin in facts.outputs for c in lin}
        assert SSN in lineage, facts.outputs
    assert all(lin for _, lin in facts.outputs)  # never an empty lineage


# (id, sql): the ssn decides which rows or which order come back.
FILTERED = [
    ("where-functional-notation", "SELECT c.id FROM customers c WHERE c.text LIKE '%1%'"),
    ("where-parens", "SELECT 1 FROM customers c WHERE (c).text LIKE '%1%'"),
    ("where-is-not-null", "SELECT 1 FROM customers c WHERE c IS NOT NULL"),
    ("where-cast", "SELECT 1 FROM customers c WHERE c::text LIKE '%1%'"),
    ("where-row-to-json", "SELECT 1 FROM customers c WHERE row_to_json(c)::text LIKE '%1%'"),
    ("where-star", "SELECT 1 FROM customers c WHERE ROW(c.*) IS NOT NULL"),
    ("order-by-row", "SELECT 1 FROM customers c ORDER BY c"),
    ("order-by-functional", "SELECT 1 FROM customers c ORDER BY c.text"),
    ("group-by-row", "SELECT count(*) FROM customers c GROUP BY c"),
    ("group-by-functional", "SELECT count(*) FROM customers c GROUP BY c.text"),
    ("having", "SELECT 1 FROM customers c GROUP BY c.id HAVING max(c.text) > ''"),
    ("distinct-on-row", "SELECT DISTINCT ON (c) 1 FROM customers c"),
    ("join-on", "SELECT 1 FROM customers c JOIN accounts a ON a.account_number = c.text"),
    ("window-partition", "SELECT row_number() OVER (PARTITION BY c) FROM customers c"),
    ("exists", "SELECT 1 WHERE EXISTS (SELECT 1 FROM customers c WHERE c.text LIKE '1%')"),
    ("update-where", "UPDATE accounts a SET balance = 0 FROM customers c WHERE c.text = ''"),
    ("delete-using", "DELETE FROM accounts a USING customers c WHERE c::text LIKE '%1%'"),
    ("limit", "SELECT 1 FROM customers c LIMIT (SELECT length(c.text) FROM customers c)"),
]


@pytest.mark.parametrize(("sql"), [c[1] for c in FILTERED], ids=[c[0] for c in FILTERED])
def test_whole_row_is_filtered(sql: str) -> None:
    facts = _facts(sql)
    assert SSN in facts.filtered, facts.filtered


@pytest.mark.parametrize(
    ("sql", "function"),
    [
        ("SELECT c.row_to_json FROM customers c", "pg_catalog.row_to_json"),
        ("SELECT (c).row_to_json FROM customers c", "pg_catalog.row_to_json"),
        ("SELECT c.text FROM customers c", "pg_catalog.text"),
        ("SELECT 1 FROM customers c WHERE c.to_jsonb IS NULL", "pg_catalog.to_jsonb"),
        ("SELECT w.hstore FROM (SELECT * FROM customers) w", "public.hstore"),
        ("SELECT u.row_to_json FROM unknown_t u", "pg_catalog.row_to_json"),
    ],
)
def test_functional_notation_lists_the_function(sql: str, function: str) -> None:
    assert function in _facts(sql).functions


@pytest.mark.parametrize(
    ("sql", "read"),
    [
        # a column named like a function is the column
        ("SELECT n.text FROM notes n", ("public.notes.text",)),
        ("SELECT (n).text FROM notes n", ("public.notes.text",)),
        # a field of a composite column is that column
        ("SELECT (p.addr).street FROM people p", ("public.people.addr",)),
        ("SELECT (p.addr).* FROM people p", ("public.people.addr",)),
        # a system column is that column
        ("SELECT c.ctid FROM customers c", ("public.customers.ctid",)),
        # the row of an unknown relation: its marker
        ("SELECT u.row_to_json FROM unknown_t u", ("public.unknown_t.*",)),
        ("SELECT u FROM unknown_t u", ("public.unknown_t.*", "public.unknown_t.u")),
        # a name that is not a function over an unknown relation: a column of it
        ("SELECT u.whatever FROM unknown_t u", ("public.unknown_t.whatever",)),
    ],
)
def test_precise_lineage(sql: str, read: tuple[str, ...]) -> None:
    facts = _facts(sql)
    assert facts.read == read
    assert not facts.opaque


def test_functional_notation_of_a_stale_column_keeps_its_name() -> None:
    """A name that is neither a column nor a function (the catalog may be stale: a column
    added since) counts as the whole row and as that column."""
    (facts,) = analyze("SELECT c.added_since FROM customers c", CATALOG).statements
    assert SSN in facts.read and "public.customers.added_since" in facts.read


def test_whole_row_of_a_view_reaches_its_base_columns() -> None:
    facts = _facts("SELECT v.text FROM customer_contacts v")
    assert "public.customers.email" in facts.read
    assert "public.customer_contacts.email" in facts.read
    assert SSN not in facts.read


def test_paren_star_expands_to_one_output_per_column() -> None:
    facts = _facts("SELECT (c).* FROM customers c")
    assert [name for name, _ in facts.outputs] == [
        "id",
        "full_name",
        "email",
        "ssn",
        "phone",
        "date_of_birth",
        "created_at",
    ]
    assert facts.outputs[3] == ("ssn", (SSN,))


def test_a_column_named_like_an_alias_is_the_column() -> None:
    """``(c).x`` where ``c`` is a column of another FROM item is a field of that column."""
    facts = _facts("SELECT (c).text FROM customers c, (SELECT 1 AS c) s")
    assert facts.read == ()
    facts = _facts("SELECT (c).x FROM customers c, unknown_t u")
    assert SSN in facts.read and "public.unknown_t.c" in facts.read


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM customers AS c(ssn)",
        "SELECT c.* FROM customers AS c(ssn)",
        "SELECT c FROM customers AS c(ssn)",
        "SELECT * FROM (SELECT id AS x, ssn AS x FROM customers) t",
        "WITH w(a, b) AS (SELECT * FROM customers) SELECT * FROM w",
        "SELECT * FROM (SELECT * FROM customers) AS t(a, b, c, d)",
        "SELECT * FROM (customers c JOIN accounts a ON true) AS j(id)",
    ],
)
def test_alias_column_lists_keep_every_column(sql: str) -> None:
    facts = _facts(sql)
    assert SSN in facts.read
    assert SSN in {c for _, lin in facts.outputs for c in lin}


def test_alias_column_lists_keep_positions() -> None:
    """View lineage maps outputs by position: a renamed column must stay in its place."""
    outputs = view_outputs("SELECT * FROM customers AS c(a, b, c, d)", CATALOG)
    assert outputs is not None
    assert outputs[3] == frozenset({SSN})
    assert outputs[0] == frozenset({"public.customers.id"})
    facts = _facts("SELECT * FROM customers AS c(ssn)")
    assert [name for name, _ in facts.outputs][:4] == ["ssn", "full_name", "email", "ssn"]
    assert facts.outputs[0][1] == ("public.customers.id",)
    assert facts.outputs[3][1] == (SSN,)


@pytest.mark.parametrize(
    ("sql", "read"),
    [
        # alias names over columns that cannot be listed: any column of the relation
        ("SELECT u.a FROM unknown_t AS u(a)", ("public.unknown_t.*",)),
        ("SELECT t.a FROM (SELECT * FROM unknown_t) t(a)", ("public.unknown_t.*",)),
        (
            "WITH w(a, b) AS (SELECT u.*, c.ssn FROM unknown_t u, customers c) SELECT w.b FROM w",
            (SSN, "public.unknown_t.*"),
        ),
    ],
)
def test_alias_names_over_unknown_columns(sql: str, read: tuple[str, ...]) -> None:
    facts = _facts(sql)
    assert facts.read == read
    assert view_outputs(sql, CATALOG) == [frozenset(read)]
