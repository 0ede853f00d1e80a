"""The bypass corpus: statements that try to read a classified column of the demo bank
through every route the issue names, and the oracle that looks for any raw classified
value (or an obvious transform of one) in what a client received."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

import psycopg

# Must succeed for both agent and analyst, with masked output.
MASKED = [
    "SELECT id, ssn FROM customers LIMIT 5",
    "SELECT id, full_name, email, ssn, phone, date_of_birth FROM customers LIMIT 5",
    "SELECT * FROM customers LIMIT 3",
    "TABLE customers LIMIT 3",
    "SELECT c.* FROM customers c LIMIT 3",
    "SELECT ssn AS s, email AS e FROM customers LIMIT 3",
    "SELECT upper(ssn), lower(email) FROM customers LIMIT 3",
    "SELECT substr(ssn, 1, 3) FROM customers LIMIT 3",
    "SELECT reverse(ssn) FROM customers LIMIT 3",
    "SELECT ssn || '' FROM customers LIMIT 3",
    "SELECT ssn::varchar(20), email::text FROM customers LIMIT 3",
    "SELECT replace(ssn, '-', '') FROM customers LIMIT 3",
    "SELECT CASE WHEN id > 0 THEN ssn END FROM customers LIMIT 3",
    "SELECT coalesce(phone, 'x') FROM customers LIMIT 3",
    "SELECT concat(full_name, ' ', email) FROM customers LIMIT 3",
    "SELECT format('%s', ssn) FROM customers LIMIT 3",
    "SELECT md5(ssn) FROM customers LIMIT 3",
    "SELECT encode(convert_to(ssn, 'UTF8'), 'hex') FROM customers LIMIT 3",
    "SELECT encode(convert_to(email, 'UTF8'), 'base64') FROM customers LIMIT 3",
    "SELECT translate(ssn, '0123456789', 'abcdefghij') FROM customers LIMIT 3",
    "SELECT length(ssn), ascii(ssn) FROM customers LIMIT 3",
    "SELECT date_of_birth::text FROM customers LIMIT 3",
    "SELECT extract(year FROM date_of_birth) FROM customers LIMIT 3",
    "SELECT date_of_birth + 1 FROM customers LIMIT 3",
    "SELECT to_char(date_of_birth, 'YYYYMMDD') FROM customers LIMIT 3",
    "SELECT string_agg(ssn, ',') FROM customers",
    "SELECT array_agg(email) FROM customers",
    "SELECT json_agg(full_name) FROM customers",
    "SELECT jsonb_object_agg(id, ssn) FROM customers",
    "SELECT array_to_string(array_agg(phone), ';') FROM customers",
    "SELECT max(ssn), min(email) FROM customers",
    "SELECT count(ssn) FROM customers",
    "SELECT (SELECT ssn FROM customers c2 WHERE c2.id = 1) FROM customers LIMIT 2",
    "SELECT x FROM (SELECT ssn AS x FROM customers) s LIMIT 3",
    "SELECT * FROM (SELECT id, email FROM customers) s LIMIT 3",
    "WITH x AS (SELECT ssn FROM customers) SELECT * FROM x LIMIT 3",
    "WITH RECURSIVE x AS (SELECT ssn FROM customers) SELECT * FROM x LIMIT 3",
    "WITH x(a) AS (SELECT email FROM customers) SELECT upper(a) FROM x LIMIT 3",
    "SELECT ssn FROM customers UNION ALL SELECT email FROM customers LIMIT 5",
    "SELECT email FROM customers UNION SELECT 'x' LIMIT 5",
    "SELECT full_name FROM customers INTERSECT SELECT full_name FROM customers LIMIT 5",
    "SELECT ssn FROM customers EXCEPT SELECT 'x' LIMIT 5",
    "SELECT id, lag(ssn) OVER () FROM customers LIMIT 3",
    "SELECT id, first_value(email) OVER (PARTITION BY id) FROM customers LIMIT 3",
    "SELECT c.id, l.v FROM customers c, LATERAL (SELECT c.ssn AS v) l LIMIT 3",
    "SELECT c FROM customers c LIMIT 2",
    "SELECT c::text FROM customers c LIMIT 2",
    "SELECT row_to_json(c) FROM customers c LIMIT 2",
    "SELECT to_jsonb(c) FROM customers c LIMIT 2",
    "SELECT ROW(c.ssn, c.id) FROM customers c LIMIT 2",
    "SELECT (c).ssn FROM customers c LIMIT 2",
    "SELECT (c.*)::text FROM customers c LIMIT 2",
    "SELECT json_build_object('s', ssn) FROM customers LIMIT 2",
    "SELECT jsonb_build_array(email, phone) FROM customers LIMIT 2",
    "SELECT ARRAY[ssn, email] FROM customers LIMIT 2",
    "SELECT hstore_like FROM (SELECT ssn AS hstore_like FROM customers) t LIMIT 2",
    "SELECT account_number FROM accounts LIMIT 3",
    "SELECT id, right(account_number, 6) FROM accounts LIMIT 3",
    "SELECT a.id, a.account_number FROM accounts a LIMIT 3",
    "SELECT ssn::bytea FROM customers LIMIT 2",
    "SELECT convert_to(ssn, 'UTF8') FROM customers LIMIT 2",
    "SELECT ssn FROM customers LIMIT 2 OFFSET 10",
    "SELECT DISTINCT full_name FROM customers LIMIT 5",
    "VALUES ((SELECT ssn FROM customers LIMIT 1))",
    'SELECT ssn COLLATE "C" FROM customers LIMIT 2',
    "SELECT regexp_replace(ssn, '(.)', '\\1 ', 'g') FROM customers LIMIT 2",
    "SELECT split_part(email, '@', 1) FROM customers LIMIT 2",
    "SELECT overlay(ssn placing 'x' from 1 for 1) FROM customers LIMIT 2",
    "SELECT lpad(phone, 30, '#') FROM customers LIMIT 2",
    "SELECT quote_literal(ssn), quote_ident(email) FROM customers LIMIT 2",
    "SELECT to_json(ssn)::text FROM customers LIMIT 2",
    "SELECT xmlelement(name x, ssn)::text FROM customers LIMIT 2",
    "SELECT * FROM customer_contacts LIMIT 3",
    "SELECT email FROM customer_contacts LIMIT 3",
    "SELECT prefix, rev FROM ssn_prefixes LIMIT 3",
    "SELECT * FROM customer_emails LIMIT 3",
]

# COPY ... TO STDOUT in text, CSV and binary: must succeed for both identities, with the
# masked fields NULL (docs/masking.md, "COPY").
COPIES = [
    "COPY (SELECT ssn FROM customers LIMIT 3) TO STDOUT",
    "COPY (SELECT id, ssn, upper(email) FROM customers ORDER BY id LIMIT 5) TO STDOUT",
    "COPY customers TO STDOUT",
    "COPY customers (id, ssn) TO STDOUT (DELIMITER '|', NULL 'NIL')",
    "COPY customers (ssn) TO STDOUT WITH (FORMAT csv)",
    "COPY customers TO STDOUT WITH (FORMAT csv, HEADER, DELIMITER ';', NULL 'NIL', FORCE_QUOTE *)",
    "COPY (SELECT id, full_name || ',\"' AS n FROM customers LIMIT 5) TO STDOUT (FORMAT csv)",
    "COPY accounts TO STDOUT (FORMAT csv, QUOTE '''', ESCAPE '\\')",
    "COPY (SELECT email FROM customers LIMIT 2) TO STDOUT WITH (FORMAT binary)",
    "COPY customers TO STDOUT WITH (FORMAT binary)",
    "COPY customers TO STDOUT WITH BINARY",
    "COPY (SELECT c FROM customers c LIMIT 3) TO STDOUT",
]

# May be denied or masked, never leak (the same for both identities).
ANY = [
    # Functional notation: PostgreSQL reads ssn(c) as c.ssn.
    "SELECT ssn(c) FROM customers c LIMIT 2",
    "SELECT full_name(c), email(customers) FROM customers c, customers LIMIT 2",
    "SELECT id FROM customers WHERE ssn LIKE '1%' LIMIT 2",
    "SELECT id FROM customers ORDER BY ssn LIMIT 2",
    "SELECT ssn::int FROM customers",
    "SELECT email::date FROM customers",
    "SELECT id FROM customers WHERE ssn::int = 1",
    "SELECT id FROM customers WHERE email::date IS NULL",
    "SELECT date_of_birth::text::int FROM customers",
    "SELECT full_name::numeric FROM customers",
    "SELECT account_number::bigint FROM accounts",
    "SELECT (ssn || 'x')::int FROM customers",
    "SELECT 1/(length(ssn) - 11) FROM customers",
    "SELECT id FROM customers GROUP BY ssn, id LIMIT 2",
    "SELECT DISTINCT ON (email) id FROM customers LIMIT 2",
    "SELECT count(*) FROM customers HAVING max(ssn) > '5'",
    "SELECT row_number() OVER (ORDER BY ssn) FROM customers LIMIT 2",
    "SELECT c.id FROM customers c JOIN accounts a ON a.account_number = c.ssn LIMIT 2",
    "COPY customers TO STDOUT (FORMAT csv, ENCODING 'LATIN1')",
    "COPY customers TO STDOUT (FORMAT csv, FORCE_NOT_NULL (ssn))",
    "COPY customer_contacts TO STDOUT",
    "CREATE TEMP TABLE leak AS SELECT ssn FROM customers",
    "SELECT ssn INTO TEMP leak2 FROM customers",
    "EXPLAIN SELECT ssn FROM customers",
    "EXPLAIN ANALYZE SELECT ssn FROM customers",
    "SELECT set_config('application_name', ssn, false) FROM customers LIMIT 1",
    "SELECT pg_notify('c', ssn) FROM customers LIMIT 1",
    "SELECT public.masked_email(email) FROM customers LIMIT 1",
    "DO $$ BEGIN RAISE EXCEPTION '%', (SELECT ssn FROM customers LIMIT 1); END $$",
    "SELECT query_to_xml('select ssn from customers', true, false, '')",
    "SELECT lo_from_bytea(0, convert_to(ssn, 'UTF8')) FROM customers LIMIT 1",
    "PREPARE leakp AS SELECT ssn FROM customers LIMIT 2; EXECUTE leakp; DEALLOCATE leakp",
    "BEGIN; DECLARE lc CURSOR FOR SELECT ssn, email FROM customers; "
    "FETCH 2 FROM lc; MOVE 1 IN lc; FETCH 1 FROM lc; COMMIT",
    "BEGIN; DECLARE bc BINARY CURSOR FOR SELECT ssn FROM customers; FETCH 2 FROM bc; COMMIT",
    "FETCH ALL FROM nosuchcursor",
    "SELECT ssn_of(1)",
    "UPDATE customers SET email = email WHERE id = 1 RETURNING ssn",
    "INSERT INTO transactions SELECT 99999, 1, 1, ssn, now() FROM customers LIMIT 1",
    "SELECT id FROM customers WHERE ssn = '000-00-0000'",
]


def classified_values(admin: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    """Every classified value of the demo bank, read directly from PostgreSQL."""
    values: set[str] = set()
    for sql in (
        "SELECT full_name, email, ssn, phone, date_of_birth::text FROM public.customers",
        "SELECT account_number FROM public.accounts",
    ):
        for row in admin.execute(sql):
            values.update(str(v) for v in row if v is not None)
    return sorted(values)


def needles(values: Iterable[str]) -> set[bytes]:
    """Each value and its obvious transforms: digits only, reversed, upper and lower
    case, md5 and sha256 (hex), its hex and base64."""
    out: set[bytes] = set()
    for v in values:
        raw = v.encode()
        forms = {v, v[::-1], v.upper(), v.lower()}
        digits = re.sub(r"\D", "", v)
        if len(digits) >= 9:
            forms.add(digits)
            forms.add(digits[::-1])
        forms.add(hashlib.md5(raw).hexdigest())
        forms.add(hashlib.sha256(raw).hexdigest())
        forms.add(raw.hex())
        forms.add(base64.b64encode(raw).decode())
        out.update(f.encode() for f in forms if len(f) >= 6)
    return out


class Oracle:
    def __init__(self, values: list[str]):
        self.needles = needles(values)
        # Every needle is at least 6 bytes: one pass over the data looks up each 6-byte
        # window, and only a window some needle starts with is compared further (a regex
        # of thousands of alternatives is too slow for a whole table's COPY).
        self._by_prefix: dict[bytes, list[bytes]] = {}
        for n in sorted(self.needles):
            self._by_prefix.setdefault(n[:6], []).append(n)

    def leaks(self, received: bytes | str) -> list[bytes]:
        data = received.encode() if isinstance(received, str) else received
        by_prefix = self._by_prefix
        found: set[bytes] = set()
        for i in range(len(data) - 5):
            candidates = by_prefix.get(data[i : i + 6])
            if candidates is not None:
                found.update(n for n in candidates if data.startswith(n, i))
        return sorted(found)[:5]
