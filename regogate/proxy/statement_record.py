"""The recording side of deciding: one ``stmt`` record per message the gate decides (text
without literals, literal commitment, fingerprint, decisions), and the commitments of the
values each Bind that runs carries, handed to the session's RecordSink. Kept apart from
the gate so that deciding can be tested without a recorder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

import orjson

from regogate.errors import RegogateError
from regogate.policy.engine import Decided
from regogate.proxy.hooks import RecordSink
from regogate.recording.format.mac import ParamCommitter
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

    def __init__(
        self, sink: RecordSink, redact: Redactor | None, params: ParamCommitter | None = None
    ):
        self.sink = sink
        self.redact = redact
        self.params = params  # commits Bind parameter values (None: not committed)
        self.pending: dict[str, object] | bytes | None = None
        self.kind = "stmt"  # the pending record's type: "bind" for values alone

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

    def bound(self, bind: bytes) -> None:
        """A Bind that runs (its message body): the commitments of its values go on the
        record pending for it, the ``stmt`` of a run of a prepared statement, or else
        (the first run after its Parse, whose ``stmt`` was written at the Parse) in a
        ``bind`` record of their own: ``{bind_macs | bind_commitment, prepared}``. A Bind
        without values adds nothing; nor does one PostgreSQL refuses unread (malformed):
        it runs nothing."""
        if self.params is None or self.redact is None:
            return
        committed = self.params.commit(bind)
        if committed is None:
            return
        name, fields = committed
        pending = self.pending
        if pending is None:
            self.pending = {**fields, "prepared": name.decode("utf-8", "replace")}
            self.kind = "bind"
        elif isinstance(pending, bytes):
            # A body serialized once, reused (serialized()): its keys are sorted and the
            # commitment's name sorts before them all ("bind_..." < "decisions"), so the
            # spliced body is still in canonical key order (which the native writer copies
            # as it is; out of order, it would canonicalize it: the same record, slower).
            head = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)  # hex strings only
            rest = pending[1:]
            self.pending = head[:-1] + (b"," + rest if rest != b"}" else rest)
        else:
            pending.update(fields)

    def drop(self) -> None:
        self.pending = None
        self.kind = "stmt"

    def flush(self) -> None:
        """One ``stmt`` record per message, or a Bind's ``bind`` record."""
        pending, self.pending = self.pending, None
        kind, self.kind = self.kind, "stmt"
        if pending is not None and self.redact is not None:
            self.sink.event(kind, pending)
