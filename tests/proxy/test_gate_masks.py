"""The gate's side of masking, pure: which FETCH/MOVE reads a cursor the gate did not see
opened (decided as opaque), the masks a FETCH takes from its cursor, and the refusal of a
decision that masks a FETCH of an unknown cursor."""

from __future__ import annotations

import pytest

from regogate.masking.methods import NULL
from regogate.masking.plan import StatementMasks
from regogate.policy.catalog import CatalogSnapshot, Relation
from regogate.policy.decision import Decision, MaskSpec
from regogate.policy.facts import StatementFacts
from regogate.proxy.gate_masks import (
    MAX_CURSORS,
    Cursors,
    catalog_origins,
    decided_masks,
    opaque_cursor,
)

MASKS = StatementMasks((), NULL, ("x",))


def _f(verb: str, cursor: str | None = None) -> StatementFacts:
    return StatementFacts(verb=verb, verbs=(verb,), cursor=cursor)


DECLARE = _f("DECLARE CURSOR", "c")
FETCH = _f("FETCH", "c")
MOVE = _f("MOVE", "c")
CLOSE = _f("CLOSE CURSOR", "c")
CLOSE_ALL = _f("CLOSE CURSOR ALL", "")
SELECT = _f("SELECT")


@pytest.mark.parametrize(
    ("known", "statements", "unknown"),
    [
        ((), (FETCH,), (0,)),
        ((), (MOVE,), (0,)),
        ((), (DECLARE, FETCH, MOVE), ()),
        (("c",), (FETCH,), ()),
        (("c",), (CLOSE, FETCH), (1,)),
        (("c",), (CLOSE_ALL, FETCH), (1,)),
        (("c",), (CLOSE_ALL, DECLARE, FETCH), ()),
        ((), (SELECT,), ()),
        ((), (FETCH, DECLARE, FETCH), (0,)),
    ],
)
def test_unknown_cursors_in_statement_order(
    known: tuple[str, ...], statements: tuple[StatementFacts, ...], unknown: tuple[int, ...]
) -> None:
    cursors = Cursors()
    for name in known:
        cursors.portal(name, None)
    before = dict(cursors.known)
    assert cursors.unknown(statements) == unknown
    assert cursors.known == before  # asking changes nothing


def test_a_fetch_takes_its_cursors_masks_and_an_unknown_one_none() -> None:
    cursors = Cursors()
    masks, refusal = cursors.resolve((DECLARE, FETCH), (MASKS, None))
    assert refusal is None and masks == (None, MASKS)
    masks, refusal = cursors.resolve((CLOSE, FETCH), (None, None))
    assert refusal is None and masks == (None, None)
    assert cursors.resolve_one("c", None) == (None, None)


def test_once_a_masked_cursor_is_forgotten_unknown_cursors_are_denied() -> None:
    cursors = Cursors()
    for i in range(MAX_CURSORS):
        cursors.portal(f"m{i}", MASKS)
    before = cursors.forgot_masked
    cursors.portal("one-more", None)
    assert not before
    assert cursors.forgot_masked
    assert "m0" not in cursors.known
    masks, refusal = cursors.resolve((_f("FETCH", "m0"),), ())
    assert masks == () and refusal is not None and "forget" in refusal.message
    assert cursors.resolve_one("m0", None)[1] is not None


def test_forgetting_takes_unmasked_cursors_first() -> None:
    cursors = Cursors()
    cursors.portal("plain", None)
    for i in range(MAX_CURSORS - 1):
        cursors.portal(f"m{i}", MASKS)
    cursors.portal("new", MASKS)
    assert "plain" not in cursors.known and not cursors.forgot_masked


def test_a_decision_masking_a_fetch_of_an_unknown_cursor_is_refused() -> None:
    facts = opaque_cursor(FETCH)
    assert facts.opaque and facts.unknown_cursor and facts.opaque_reasons
    decision = Decision(allow=True, mask={"public.customers.ssn": MaskSpec("partial", {"keep": 4})})
    masks, refusal = decided_masks((facts,), (decision,), CatalogSnapshot())
    assert masks == () and refusal is not None
    assert "did not see opened" in refusal.message
    # without a mask it runs (the policy allowed it)
    masks, refusal = decided_masks((facts,), (Decision(allow=True),), CatalogSnapshot())
    assert refusal is None and masks == (None,)


def test_catalog_origins() -> None:
    rel = Relation("public", "customers", "table", ("id", "email", "ssn"), oid=16400)
    view = Relation("public", "v", "view", ("ssn",), oid=16500)
    old = Relation("public", "old", "table", ("ssn",))  # no OID read
    catalog = CatalogSnapshot(
        relations={("public", "customers"): rel, ("public", "v"): view, ("public", "old"): old}
    )
    origin = catalog_origins(catalog)
    assert origin("public.customers.ssn") == (16400, 3)
    assert origin("public.customers.nope") is None
    assert origin("public.v.ssn") is None
    assert origin("public.old.ssn") is None
    assert origin("public.customers.*") is None
