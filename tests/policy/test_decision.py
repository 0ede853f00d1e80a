"""Decision parsing fails closed; caches honour size and ttl."""

from __future__ import annotations

import pytest

from regogate.errors import PolicyUnavailable
from regogate.policy.cache import LruCache
from regogate.policy.decision import parse_decision


def test_allow() -> None:
    d = parse_decision({"allow": True, "deny": [], "ttl": 30, "rules": ["r1"]}, "rev1")
    assert d.outcome == "allow"
    assert d.refusal() is None
    assert (d.ttl, d.rules, d.revision) == (30.0, ("r1",), "rev1")


def test_deny_reasons() -> None:
    d = parse_decision({"allow": False, "deny": ["agents may not write", "no DROP"]})
    assert d.outcome == "deny"
    assert d.refusal() == "agents may not write; no DROP"


def test_allow_with_deny_reason_is_deny() -> None:
    assert parse_decision({"allow": True, "deny": ["x"]}).outcome == "deny"


def test_masks_are_not_refusals_approvals_are() -> None:
    masked = parse_decision(
        {"allow": True, "mask": {"public.customers.ssn": {"method": "partial", "keep": 4}}}
    )
    assert masked.outcome == "allow_masked"
    assert masked.mask["public.customers.ssn"].params == {"keep": 4}
    assert masked.refusal() is None  # masked in flight (regogate/masking), not refused
    held = parse_decision(
        {"allow": True, "approval": {"required": True, "approvers": ["group:dba"], "reason": "DDL"}}
    )
    assert held.outcome == "needs_approval"
    assert "group:dba" in (held.refusal() or "")


@pytest.mark.parametrize(
    "result",
    [
        None,
        [],
        {},
        {"allow": "yes"},
        {"allow": True, "deny": "x"},
        {"allow": True, "deny": [1]},
        {"allow": True, "mask": []},
        {"allow": True, "mask": {"c": {"method": "rot13"}}},
        {"allow": True, "mask": {"c": "redact"}},
        {"allow": True, "approval": {"required": "no"}},
        {"allow": True, "ttl": -1},
        {"allow": True, "ttl": True},
        {"allow": True, "upstream_role": 7},
    ],
)
def test_malformed_fails_closed(result: object) -> None:
    with pytest.raises(PolicyUnavailable) as info:
        parse_decision(result)
    assert info.value.sqlstate == "42501"
    assert "fail closed" in (info.value.hint or "")


def test_lru_and_ttl() -> None:
    now = [0.0]
    cache: LruCache[str, int] = LruCache(2, clock=lambda: now[0])
    cache.put("a", 1, ttl=10)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)  # evicts b (a was used more recently)
    assert cache.get("b") is None
    now[0] = 11
    assert cache.get("a") is None  # expired
    assert cache.get("c") == 3
    cache.clear()
    assert len(cache) == 0
