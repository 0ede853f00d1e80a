"""The recording side of deciding: one ``stmt`` record per message the gate decides (text
without literals, literal commitment, fingerprint, decisions), handed to the session's
RecordSink. Kept apart from the gate so that deciding can be tested without a recorder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from regogate.errors import RegogateError
from regogate.policy.engine import Decided
from regogate.proxy.hooks import RecordSink
from regogate.recording.write.core import prepared as serialized

Redactor = Callable[[str], Mapping[str, object]]


# Recorded statement text beyond this many characters is cut (its digest and length
# kept): a statement under [policy] max_statement_bytes can still redact to a text far
# over the recorder's record limit (each one-digit literal becomes a "$123456").
TEXT_MAX = 64 * 1024


def capped(redacted: Mapping[str, object]) -> Mapping[str, object]:
    """``redacted`` with a text over ``TEXT_MAX`` characters cut, and ``text_chars`` and
    ``text_sha256`` (of the whole redacted text, UTF-8) beside it."""
    text = redacted.get("text")
    if not isinstance(text, str) or len(text) <= TEXT_MAX:
        return redacted
    whole = text.encode("utf-8", "surrogatepass")
    return {
        **redacted,
        "text": text[:TEXT_MAX] + f" /* regogate: cut at {TEXT_MAX} of {len(text)} characters */",
        "text_chars": len(text),
        "text_sha256": hashlib.sha256(whole).hexdigest(),
    }


class StatementRecorder:
    """Builds a message's ``stmt`` record while the gate decides it; ``flush`` sends it."""

    def __init__(self, sink: RecordSink, redact: Redactor | None):
        self.sink = sink
        self.redact = redact
        self.pending: dict[str, object] | bytes | None = None

    @property
    def enabled(self) -> bool:
        return self.redact is not None

    def start(self, sql: str, protocol: str, fingerprint: str, prepared: str | None = None) -> None:
        """Start the statement's record; its decisions are added, then ``flush``."""
        if self.redact is None:
            return
        body: dict[str, object] = {
            **capped(self.redact(sql)),
            "protocol": protocol,
            "fingerprint": fingerprint,
            "decisions": [],
        }
        if prepared is not None:
            body["prepared"] = prepared
        self.pending = body

    def start_unread(self, size: int, protocol: str, prepared: str | None = None) -> None:
        """The record of a text refused unread (over ``[policy] max_statement_bytes``): it
        is not redacted (that would read it); ``text`` says only how long it was."""
        if self.redact is None:
            return
        body: dict[str, object] = {
            "text": f"/* regogate: statement text of {size} characters, not read */",
            "literals": 0,
            "literals_commitment": None,
            "protocol": protocol,
            "fingerprint": "",
            "decisions": [],
        }
        if prepared is not None:
            body["prepared"] = prepared
        self.pending = body

    def reuse(self, body: bytes) -> None:
        """A record built once and serialized (a replayed verdict, a re-run statement)."""
        if self.redact is not None:
            self.pending = body

    def serialized(self) -> bytes:
        """The pending record, serialized once for reuse."""
        assert isinstance(self.pending, dict)
        return serialized(self.pending)

    def decision(self, decided: Decided) -> None:
        self._add(
            {
                **decided.decision.recorded,
                "input_sha256": decided.input_sha256,
                "cached": decided.cached,
            }
        )

    def refusal(self, exc: RegogateError, revision: str, rules: tuple[str, ...] = ()) -> None:
        """A deny that no policy decision carries: OPA unavailable, the gate's own rules."""
        self._add(
            {
                "revision": revision,
                "input_sha256": None,
                "outcome": "deny",
                "reasons": [exc.message],
                "rules": list(rules),
                "masks": {},
                "approval": False,
                "cached": False,
                "sqlstate": exc.sqlstate,
            }
        )

    def _add(self, decision: dict[str, object]) -> None:
        if isinstance(self.pending, dict):
            decisions = self.pending["decisions"]
            assert isinstance(decisions, list)
            decisions.append(decision)

    def drop(self) -> None:
        self.pending = None

    def flush(self) -> None:
        """One ``stmt`` record per message."""
        pending, self.pending = self.pending, None
        if pending is not None and self.redact is not None:
            self.sink.event("stmt", pending)
