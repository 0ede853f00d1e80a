"""[[tokens]]: static service tokens, stored only as SHA-256 hashes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from regogate.config.reader import Reader, Table

_REFUSED = {
    "token": 'store only the token\'s hash: token_sha256 = "<hex>" (regogate token hash prints it)',
}


@dataclass(frozen=True)
class StaticToken:
    sub: str
    groups: tuple[str, ...]
    token_sha256: str
    email: str | None = None


def parse_tokens(r: Reader, data: Mapping[str, object]) -> tuple[StaticToken, ...]:
    return tuple(_token(t) for t in r.entries(data, "tokens", StaticToken, _REFUSED))


def _token(t: Table) -> StaticToken:
    digest = t.require("token_sha256", str).lower()
    if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
        raise t.fail("token_sha256", "must be 64 hex characters (a SHA-256 digest)")
    groups = t.get("groups", list, [])
    if not all(isinstance(g, str) for g in groups):
        raise t.fail("groups", "must be a list of strings")
    email = t.get("email", str, "") or None
    return StaticToken(t.require("sub", str), tuple(groups), digest, email)
