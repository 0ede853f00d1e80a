"""The policy decision (``data.regogate.decision``), validated; malformed means deny.

Pure code: parses what OPA returned into a Decision and says how the gateway enforces
it (approvals are enforced as denials until that layer lands; masks are applied by
regogate/masking).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from regogate.errors import PolicyUnavailable

MASK_METHODS = frozenset({"redact", "null", "partial", "email", "hash"})
# The settings a CONNECT decision may give the session (``session_settings``): timeouts
# that bound how long a session can hold the database, and nothing that changes how
# statements are read or who runs them.
SESSION_SETTINGS = frozenset(
    {
        "statement_timeout",
        "lock_timeout",
        "idle_in_transaction_session_timeout",
        "idle_session_timeout",
        "transaction_timeout",
    }
)
# A PostgreSQL time value: a number, optionally with a unit (config.sgml "Parameter
# Names and Values": us, ms, s, min, h, d). Anything else refuses the session.
_DURATION = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,6})?(?: ?(?:us|ms|s|min|h|d))?")


@dataclass(frozen=True)
class MaskSpec:
    method: str
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Approval:
    required: bool = False
    approvers: tuple[str, ...] = ()
    reason: str | None = None
    min_approvals: int = 1  # distinct people who must approve (docs/approvals.md)


@dataclass(frozen=True)
class Decision:
    allow: bool
    deny: tuple[str, ...] = ()
    mask: Mapping[str, MaskSpec] = field(default_factory=dict)
    approval: Approval = Approval()
    ttl: float = 0.0
    rules: tuple[str, ...] = ()
    upstream_role: str | None = None
    session_limit: int | None = None  # CONNECT: sessions the identity may hold at once
    # CONNECT: settings the gateway SETs before the client's first statement
    session_settings: Mapping[str, str] = field(default_factory=dict)
    revision: str = ""

    @property
    def outcome(self) -> str:
        """deny | needs_approval | allow_masked | allow (the recorded decision word)."""
        if not self.allow or self.deny:
            return "deny"
        if self.approval.required:
            return "needs_approval"
        if self.mask:
            return "allow_masked"
        return "allow"

    @cached_property
    def recorded(self) -> Mapping[str, object]:
        """This decision as a ``stmt`` record lists it (docs/recording-format.md), but for
        ``input_sha256`` and ``cached``: built once per decision, which the decision cache
        hands out again and again. Callers copy it and never change it."""
        refusal = None if self.deny else self.refusal()
        return {
            "revision": self.revision,
            "outcome": self.outcome,
            "reasons": list(self.deny) or ([refusal] if refusal else []),
            "rules": list(self.rules),
            "masks": {col: spec.method for col, spec in sorted(self.mask.items())},
            "approval": self.approval.required,
        }

    def refusal(self) -> str | None:
        """Why this statement may not run now, or None if it may run as is."""
        if not self.allow or self.deny:
            return "; ".join(self.deny) or "the policy does not allow this statement"
        if self.approval.required:
            who = ", ".join(self.approval.approvers) or "an approver"
            why = f" ({self.approval.reason})" if self.approval.reason else ""
            return (
                f"this statement requires approval by {who}{why}; approvals are not "
                f"enabled on this gateway ([approvals]), so it is denied"
            )
        # Masks do not refuse: the gateway masks the result cells (regogate/masking), and
        # denies what it cannot mask (masking.support).
        return None


def _bad(what: str) -> PolicyUnavailable:
    return PolicyUnavailable(
        f"policy engine returned a malformed decision: {what}",
        hint="data.regogate.decision must be an object with a boolean 'allow' "
        "(see docs/policy-contract.md); the statement is denied (fail closed)",
    )


def _strings(value: object, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"{what} must be a list of strings")
    return tuple(value)


def _session_settings(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad("'session_settings' must be an object of setting name -> value")
    out: dict[str, str] = {}
    for name, setting in value.items():
        if name not in SESSION_SETTINGS:
            raise _bad(
                f"'session_settings' may not set {name!r} "
                f"(allowed: {', '.join(sorted(SESSION_SETTINGS))})"
            )
        if not isinstance(setting, str) or not _DURATION.fullmatch(setting):
            raise _bad(
                f"'session_settings' value of {name} must be a duration such as "
                f"'30s' or '500ms', not {setting!r}"
            )
        out[name] = setting
    return out


def parse_decision(result: object, revision: str = "") -> Decision:
    if not isinstance(result, dict):
        raise _bad(f"expected an object, got {type(result).__name__}")
    allow = result.get("allow")
    if not isinstance(allow, bool):
        raise _bad("'allow' must be true or false")
    deny = _strings(result.get("deny"), "'deny'")
    mask_raw = result.get("mask", {})
    if mask_raw is None:
        mask_raw = {}
    if not isinstance(mask_raw, dict):
        raise _bad("'mask' must be an object of column -> {method: ...}")
    mask: dict[str, MaskSpec] = {}
    for col, spec in mask_raw.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("method"), str):
            raise _bad(f"mask of {col} must be an object with a 'method'")
        if spec["method"] not in MASK_METHODS:
            raise _bad(
                f"mask method {spec['method']!r} of {col} is unknown "
                f"(known: {', '.join(sorted(MASK_METHODS))})"
            )
        mask[str(col)] = MaskSpec(spec["method"], {k: v for k, v in spec.items() if k != "method"})
    ap = result.get("approval", {})
    if ap is None:
        ap = {}
    if not isinstance(ap, dict) or not isinstance(ap.get("required", False), bool):
        raise _bad("'approval' must be an object with a boolean 'required'")
    reason = ap.get("reason")
    least = ap.get("min_approvals", 1)
    if least is None:
        least = 1
    if not isinstance(least, int) or isinstance(least, bool) or not 1 <= least <= 100:
        raise _bad("'approval.min_approvals' must be an integer from 1 to 100")
    approval = Approval(
        bool(ap.get("required", False)),
        _strings(ap.get("approvers"), "approvers"),
        reason if isinstance(reason, str) else None,
        least,
    )
    ttl = result.get("ttl", 0)
    if not isinstance(ttl, int | float) or isinstance(ttl, bool) or ttl < 0:
        raise _bad("'ttl' must be a non-negative number of seconds")
    role = result.get("upstream_role")
    if role is not None and not isinstance(role, str):
        raise _bad("'upstream_role' must be a string or null")
    limit = result.get("session_limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise _bad("'session_limit' must be a non-negative integer or null")
    return Decision(
        allow=allow,
        deny=deny,
        mask=mask,
        approval=approval,
        ttl=float(ttl),
        rules=_strings(result.get("rules"), "'rules'"),
        upstream_role=role,
        session_limit=limit,
        session_settings=_session_settings(result.get("session_settings")),
        revision=revision,
    )
