"""The seam through which a large text's analysis leaves the gateway's process: the
statement budget (``proxy.analysis_budget``) sets ``BIG_ANALYSIS`` around the work it
runs in its thread, and the engine hands a large text it has not cached to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Protocol

from regogate.policy.catalog import CatalogSnapshot
from regogate.policy.facts import Analysis


class BigAnalysis(Protocol):
    """Analysis elsewhere, within the statement's time budget (blocking: called from the
    budget's thread). Raises a RegogateError (the statement is denied) when it cannot."""

    def analyze(
        self,
        sql: str,
        catalog: CatalogSnapshot,
        search_path: tuple[str, ...],
        prepared: Mapping[str, str],
        path_known: bool,
    ) -> Analysis: ...

    def cached(self, sql: str) -> None:
        """The engine had ``sql``'s analysis cached: whatever else a large text needs
        (its redaction for the recording) may still have to be made."""


BIG_ANALYSIS: ContextVar[BigAnalysis | None] = ContextVar("regogate_big_analysis", default=None)
