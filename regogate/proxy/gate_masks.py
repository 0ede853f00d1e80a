"""The gate's side of masking: a decided statement's masks (or why it cannot be masked),
and the cursors and portals whose masks a FETCH follows (docs/masking.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from regogate.errors import PolicyDenied
from regogate.masking.copy import copy_options
from regogate.masking.plan import (
    Origins,
    StatementMasks,
    masks_from_decision,
    split_key,
    statement_masks,
)
from regogate.masking.support import refusal
from regogate.policy.catalog import VIEW_KINDS, CatalogSnapshot
from regogate.policy.decision import Decision
from regogate.policy.facts import StatementFacts

Masks = tuple[StatementMasks | None, ...]
MAX_CURSORS = 4096


def decided_masks(
    statements: Sequence[StatementFacts],
    decisions: Sequence[Decision],
    catalog: CatalogSnapshot,
) -> tuple[Masks, PolicyDenied | None]:
    """Each statement's masks from its decision; a refusal when one cannot be masked."""
    out: list[StatementMasks | None] = []
    origins = catalog_origins(catalog)
    for index, (facts, decision) in enumerate(zip(statements, decisions, strict=False)):
        if not decision.mask:
            out.append(None)
            continue
        masks = masks_from_decision(decision.mask)
        why = refusal(facts, masks, catalog.function_details)
        if why is not None:
            where = facts.verb if len(statements) == 1 else f"statement {index + 1} ({facts.verb})"
            return (), PolicyDenied(
                why, detail=f"{where}; masks: {', '.join(sorted(masks))}", hint=_HINT
            )
        copy = copy_options(facts.copy_options) if facts.copy_options is not None else None
        out.append(
            statement_masks(
                facts.outputs, masks, origins, copy if not isinstance(copy, str) else None
            )
        )
    return tuple(out), None


def catalog_origins(catalog: CatalogSnapshot) -> Origins:
    """(pg_class.oid, attnum) of a catalog column, as RowDescription names it. The
    attnum is the column's 1-based position among the relation's columns: the catalog
    skips dropped columns, so after a dropped column the position is not the attnum and
    RowDescription does not match: the output counts as derived (a stricter mask)."""
    relations = catalog.relations

    def origin(key: str) -> tuple[int, int] | None:
        parts = split_key(key)
        if parts is None:
            return None
        rel = relations.get((parts[0], parts[1]))
        if rel is None or rel.oid is None or rel.kind in VIEW_KINDS:
            return None
        try:
            return rel.oid, rel.columns.index(parts[2]) + 1
        except ValueError:
            return None

    return origin


_HINT = "select the masked columns in a plain query (docs/masking.md lists what can be masked)"


class Cursors:
    """The masks of every cursor and named portal the session opened through the gate
    (None: opened without masks). A FETCH or MOVE of a name not here reads a cursor opened
    by code the gate cannot see (a refcursor a function returned): it is decided as
    opaque (``unknown``), and runs only without masks. Once a masked cursor has been
    forgotten (more than MAX_CURSORS open), a FETCH of any unknown name is denied: it may
    be that one."""

    def __init__(self) -> None:
        self.known: dict[str, StatementMasks | None] = {}
        self.forgot_masked = False

    def portal(self, name: str, masks: StatementMasks | None) -> None:
        if name:
            self._put(name, masks)

    def _put(self, name: str, masks: StatementMasks | None) -> None:
        if len(self.known) >= MAX_CURSORS and name not in self.known:
            # Forget the oldest unmasked one first; if a masked one goes, FETCHes of
            # unknown names are denied from then on (never shown unmasked).
            victim = next((k for k, v in self.known.items() if v is None), None)
            if victim is None:
                victim = next(iter(self.known))
                self.forgot_masked = True
            del self.known[victim]
        self.known[name] = masks

    def unknown(self, statements: Sequence[StatementFacts]) -> tuple[int, ...]:
        """The positions of the FETCH and MOVE statements of ``statements`` whose cursor
        the gate will not know when they run (DECLARE and CLOSE earlier in the same text
        count); the state is not changed."""
        if not any(f.cursor is not None for f in statements):
            return ()
        opened: set[str] = set()
        closed: set[str] = set()
        closed_all = False
        out: list[int] = []
        for index, facts in enumerate(statements):
            name = facts.cursor
            if name is None:
                continue
            verb = facts.verb
            if verb == "DECLARE CURSOR":
                opened.add(name)
                closed.discard(name)
            elif verb.startswith("CLOSE CURSOR"):
                if name:
                    opened.discard(name)
                    closed.add(name)
                else:
                    opened.clear()
                    closed_all = True
            elif verb in CURSOR_READS:
                seen = name in opened or (
                    not closed_all and name not in closed and name in self.known
                )
                if not seen:
                    out.append(index)
        return tuple(out)

    def resolve(
        self, statements: Sequence[StatementFacts], masks: Masks
    ) -> tuple[Masks, PolicyDenied | None]:
        """The masks of ``statements`` with FETCHes following their cursor; DECLARE and
        CLOSE change what is known (before PostgreSQL confirms them: a DECLARE that fails
        leaves masks on a name, which only masks more). A FETCH of an unknown cursor was
        decided as opaque (``unknown``; a decision with masks for it was refused): it
        gets no masks."""
        out: list[StatementMasks | None] = list(masks) if masks else [None] * len(statements)
        for index, facts in enumerate(statements):
            name = facts.cursor
            if name is None:
                continue
            if facts.verb == "DECLARE CURSOR":
                self._put(name, out[index])
                out[index] = None  # a DECLARE returns no rows
            elif facts.verb in CURSOR_READS:
                if name not in self.known:
                    if self.forgot_masked:
                        return (), self._forgotten(name)
                    out[index] = None
                elif facts.verb == "FETCH":
                    out[index] = self.known[name]
            elif facts.verb.startswith("CLOSE CURSOR"):
                if name:
                    self.known.pop(name, None)
                else:
                    self.known.clear()
        return tuple(out), None

    @staticmethod
    def _forgotten(name: str) -> PolicyDenied:
        return PolicyDenied(
            f"regogate does not know the cursor {name!r}, and it had to forget masked "
            f"cursors of this session (more than {MAX_CURSORS} open): it may be one of them",
            hint="close cursors you no longer use, or reconnect",
        )

    def resolve_one(
        self, name: str, masks: StatementMasks | None
    ) -> tuple[StatementMasks | None, PolicyDenied | None]:
        """A prepared FETCH of ``name`` at its Bind: the cursor's masks as they are now."""
        if name in self.known:
            return self.known[name], None
        if self.forgot_masked:
            return None, self._forgotten(name)
        return None, None


CURSOR_READS = frozenset({"FETCH", "MOVE"})
UNKNOWN_CURSOR_REASON = (
    "it reads a cursor regogate did not see opened (a refcursor opened by a function, "
    "or one it forgot): what its rows hold cannot be known"
)


def opaque_cursor(facts: StatementFacts) -> StatementFacts:
    """The facts of a FETCH or MOVE of an unknown cursor, as the policy sees them: opaque,
    with the reason (flags.unknown_cursor)."""
    return replace(
        facts,
        opaque=True,
        unknown_cursor=True,
        opaque_reasons=(*facts.opaque_reasons, UNKNOWN_CURSOR_REASON),
    )
