"""The report's reproducible sample of sessions, seeded from a signed checkpoint root.

seed = SHA-256(LABEL || 0x0A || root (32 bytes) || 0x0A || report id (UTF-8)); each
candidate session ranks by SHA-256(seed || session id (UTF-8)), lowest first. Anyone
holding the checkpoint and the report id re-derives the same sample (docs/report.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

LABEL = b"regogate report sample v1"


def seed(root: bytes, report_id: str) -> bytes:
    return hashlib.sha256(LABEL + b"\n" + root + b"\n" + report_id.encode()).digest()


def rank(seed_bytes: bytes, sid: str) -> bytes:
    return hashlib.sha256(seed_bytes + sid.encode()).digest()


def choose(seed_bytes: bytes, sids: Iterable[str], size: int) -> list[str]:
    """The ``size`` session ids of lowest rank, in rank order."""
    ranked = sorted((rank(seed_bytes, sid), sid) for sid in set(sids))
    return [sid for _, sid in ranked[:size]]
