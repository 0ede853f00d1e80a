"""What ``regogate policy explain`` shows of masking: the mask of each output column,
and why a statement cannot be masked (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from regogate.masking.methods import Mask
from regogate.masking.plan import masks_from_decision, statement_masks
from regogate.masking.support import refusal
from regogate.policy.catalog import FunctionDetails
from regogate.policy.decision import Decision
from regogate.policy.facts import StatementFacts


def describe(mask: Mask | None) -> str:
    if mask is None:
        return "-"
    return f"partial (keep {mask.keep})" if mask.method == "partial" else mask.method


def output_masks(
    facts: StatementFacts, decision: Decision, functions: Mapping[str, FunctionDetails]
) -> tuple[list[dict[str, str]], str | None]:
    """Per output column: its name, the mask if the column is the masked column itself,
    and the mask if derived (what applies is chosen against RowDescription); and the
    reason the statement would be denied instead, if any."""
    if not decision.mask:
        return [], None
    masks = masks_from_decision(decision.mask)
    why = refusal(facts, masks, functions)
    plan = statement_masks(facts.outputs, masks)
    rows = [
        {
            "column": name,
            "mask": describe(rule.direct if rule.single else rule.derived),
            "derived": describe(rule.derived),
        }
        for (name, _), rule in zip(facts.outputs, plan.columns, strict=True)
    ]
    return rows, why
