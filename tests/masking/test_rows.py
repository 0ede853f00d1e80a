"""Row plans from lineage and RowDescription, DataRow rewriting in text and binary
formats, error and notice redaction (pure)."""

from __future__ import annotations

import pytest

from regogate.masking.methods import REDACTED, Mask
from regogate.masking.plan import row_plan, split_key, statement_masks
from regogate.masking.reports import redact_report
from regogate.masking.rows import compile_plan, mask_row
from regogate.wire.backend import (
    DataRow,
    ErrorResponse,
    FieldDescription,
    NoticeResponse,
    RowDescription,
)

KEY = b"k" * 32
SSN = "public.customers.ssn"
EMAIL = "public.customers.email"
DOB = "public.customers.date_of_birth"
MASKS = {SSN: Mask("partial", 4), EMAIL: Mask("email"), DOB: Mask("null")}
OID = 16400
# Where each masked column is in the catalog: (pg_class.oid, attnum).
ORIGINS = {"public.customers.id": (OID, 1), EMAIL: (OID, 3), SSN: (OID, 4), DOB: (OID, 6)}


def _field(name: str, type_oid: int = 25, fmt: int = 0, attnum: int = 1) -> FieldDescription:
    return FieldDescription(name, OID if attnum else 0, attnum, type_oid, format=fmt)


def _rewrite(
    outputs: list[tuple[str, tuple[str, ...]]],
    fields: list[FieldDescription],
    values: list[bytes | None],
    origins: dict[str, tuple[int, int]] = ORIGINS,
) -> tuple[bytes | None, ...]:
    masks = statement_masks(outputs, MASKS, origins.get)
    plan = row_plan(masks, RowDescription(tuple(fields)))
    body = DataRow(tuple(values)).encode()[5:]
    return DataRow.decode(mask_row(body, compile_plan(plan, KEY))).values


@pytest.mark.parametrize("fmt", [0, 1])
def test_direct_columns_get_their_own_method(fmt: int) -> None:
    out = _rewrite(
        [("id", ("public.customers.id",)), ("ssn", (SSN,)), ("email", (EMAIL,))],
        [_field("id", 20, fmt), _field("ssn", 25, fmt, 4), _field("email", 1043, fmt, 3)],
        [b"\x00" * 8 if fmt else b"1", b"123-45-6789", b"ada@example.com"],
    )
    assert out[1:] == (b"*******6789", b"***@example.com")
    assert out[0] == (b"\x00" * 8 if fmt else b"1")  # untouched


@pytest.mark.parametrize(
    ("table_oid", "attnum", "origins"),
    [
        (OID, 3, ORIGINS),  # another column of the table (email's attnum)
        (OID + 1, 4, ORIGINS),  # the same attnum of another table
        (0, 0, ORIGINS),  # no origin: an expression
        (OID, 4, {}),  # the catalog does not know where ssn is (no OID read)
    ],
)
def test_a_column_is_direct_only_where_rowdescription_names_it(
    table_oid: int, attnum: int, origins: dict[str, tuple[int, int]]
) -> None:
    """The analysis says the output is ssn; RowDescription must name exactly ssn's table
    OID and attribute number, else it is derived: redact, never partial."""
    field = FieldDescription("ssn", table_oid, attnum, 25)
    out = _rewrite([("ssn", (SSN,))], [field], [b"123-45-6789"], origins)
    assert out == (REDACTED,)
    assert _rewrite([("ssn", (SSN,))], [FieldDescription("ssn", OID, 4, 25)], [b"123-45-6789"]) == (
        b"*******6789",
    )


@pytest.mark.parametrize(
    ("key", "parts"),
    [
        ("public.customers.ssn", ("public", "customers", "ssn")),
        ('"odd.schema"."t.x"."a""b"', ("odd.schema", "t.x", 'a"b')),
        ("public.customers", None),
        ("public.customers.*.x", None),
        ('public."customers.ssn', None),
    ],
)
def test_split_key(key: str, parts: tuple[str, str, str] | None) -> None:
    assert split_key(key) == parts


def test_derived_outputs_are_redacted_and_non_text_types_nulled() -> None:
    out = _rewrite(
        [("s", (SSN,)), ("j", (EMAIL, SSN)), ("d", (DOB,)), ("n", (SSN,))],
        [
            _field("s", attnum=0),
            _field("j", 3802, attnum=0),
            _field("d", 1082, attnum=6),
            _field("n", 23, attnum=0),
        ],
        [b"123", b'{"a": 1}', b"1980-01-01", b"123456789"],
    )
    assert out == (REDACTED, None, None, None)


def test_a_mismatch_with_the_analysis_masks_every_column() -> None:
    out = _rewrite([("ssn", (SSN,))], [_field("a"), _field("b")], [b"x", b"y"])
    assert out == (None, None)  # the strictest derived mask of the statement: null


def test_unnamed_columns_of_a_masked_table_count_as_masked() -> None:
    out = _rewrite([("x", ("public.customers.*",))], [_field("x", attnum=0)], [b"v"])
    assert out == (None,)


def test_null_cells_stay_null_and_other_cells_stay_bytes() -> None:
    out = _rewrite(
        [("ssn", (SSN,)), ("t", ())],
        [_field("ssn", attnum=4), _field("t", attnum=0)],
        [None, b"keep"],
    )
    assert out == (None, b"keep")


def test_error_and_notice_fields_are_redacted() -> None:
    err = ErrorResponse(
        (
            ("S", "ERROR"),
            ("V", "ERROR"),
            ("C", "22P02"),
            ("M", 'invalid input syntax for type integer: "123-45-6789"'),
            ("D", "Key (ssn)=(123-45-6789)"),
            ("H", "123-45-6789"),
            ("W", "123-45-6789"),
            ("c", "123-45-6789"),
            ("P", "8"),
        )
    )
    body = redact_report(b"E", err.encode()[5:], (SSN,))
    assert b"123-45-6789" not in body
    out = ErrorResponse.decode(body)
    assert out.sqlstate == "22P02" and out.get("P") == "8" and SSN in out.message
    notice = NoticeResponse.make("00000", "value 123-45-6789", severity="NOTICE")
    assert b"123-45-6789" not in redact_report(b"N", notice.encode()[5:], (SSN,))


def test_hash_without_a_key_is_redacted() -> None:
    """No key reached the masker (or a short one): never an unkeyed, guessable hash."""
    masks = statement_masks([("ssn", (SSN,))], {SSN: Mask("hash")}, ORIGINS.get)
    plan = row_plan(masks, RowDescription((_field("ssn", attnum=4),)))
    body = DataRow((b"123-45-6789",)).encode()[5:]
    assert DataRow.decode(mask_row(body, compile_plan(plan, b""))).values == (REDACTED,)
    keyed = DataRow.decode(mask_row(body, compile_plan(plan, KEY))).values
    assert keyed[0] is not None and len(keyed[0]) == 64
