"""What PostgreSQL's session holds, as far as deciding needs it: the run-time parameters
the gate relies on, the transaction (block, savepoints) and the prepared statements.

Pure. Changes apply when PostgreSQL reports a statement complete (``complete``), never
when it is admitted; a failed statement (``failed``) and the end of a request cycle
(``ready``) roll them back as PostgreSQL does. The parameter stack follows guc.c's
push_old_value / AtEOXact_GUC: SET lasts unless its transaction (or savepoint) aborts,
SET LOCAL until the end of its transaction, SET followed by SET LOCAL keeps the SET's
value at commit. A value that cannot be known (set_config with a computed value, user
code) is ``UNKNOWN``, and stays so until a known change replaces it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from regogate.policy.setting_change import SettingChange

UNKNOWN: Final = None  # a value PostgreSQL holds but the gate cannot know
Value = str | None

# The parameters the gate relies on: name resolution, roles, and how text is lexed.
TRACKED: Final = frozenset(
    {
        "search_path",
        "role",
        "session_authorization",
        "standard_conforming_strings",
        "client_encoding",
        "backslash_quote",
    }
)
# RESET ALL / DISCARD ALL leave these alone (GUC_NO_RESET_ALL in guc.c).
NO_RESET_ALL: Final = frozenset({"role", "session_authorization"})
# PostgreSQL reports changes of these in ParameterStatus (GUC_REPORT) before each
# ReadyForQuery: user code cannot change them unseen.
REPORTED: Final = frozenset(
    {"standard_conforming_strings", "client_encoding", "session_authorization"}
)

TxnOp = Literal[
    "begin", "commit", "rollback", "savepoint", "release", "rollback_to", "prepare_transaction"
]


@dataclass(frozen=True)
class StatementEffect:
    """What one statement does to the session when it completes."""

    changes: tuple[SettingChange, ...] = ()
    txn: TxnOp | None = None
    savepoint: str | None = None
    prepare: tuple[str, str] | None = None  # SQL PREPARE: (name, text)
    deallocate: str | None = None
    deallocate_all: bool = False
    user_code: bool = False  # runs code the gate cannot see (user functions, DO, CALL)
    # Whether the statement can change what later statements are decided on (derived).
    matters: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        matters = bool(
            self.changes
            or self.txn
            or self.prepare
            or self.deallocate
            or self.deallocate_all
            or self.user_code
        )
        object.__setattr__(self, "matters", matters)


NO_EFFECT: Final = StatementEffect()


@dataclass
class _Saved:
    """One stack entry of a parameter (guc.c GucStack): its value before this level."""

    level: int
    state: Literal["set", "local", "set_local"]
    prior: Value
    masked: Value = None


class ParameterStack:
    """Values of the tracked parameters through transactions and savepoints."""

    def __init__(self, values: Mapping[str, Value], reset: Mapping[str, Value]):
        self.values: dict[str, Value] = dict(values)
        self.reset: dict[str, Value] = dict(reset)
        self.level = 0
        self._stack: dict[str, list[_Saved]] = {}

    def get(self, name: str) -> Value:
        return self.values.get(name)

    @property
    def tentative(self) -> bool:
        """Some tracked value would change if the open transaction aborted."""
        return bool(self._stack)  # a name's list is removed when it empties

    def reported(self, name: str, value: str) -> None:
        """PostgreSQL's own word on a value (ParameterStatus)."""
        self.values[name] = value

    def push(self) -> None:
        self.level += 1

    def set(self, name: str, value: Value, *, local: bool) -> None:
        """push_old_value, then the assignment."""
        if self.level > 0:
            entries = self._stack.setdefault(name, [])
            top = entries[-1] if entries else None
            current = self.values.get(name)
            if top is not None and top.level >= self.level:
                if not local:
                    top.state, top.masked = "set", None
                elif top.state == "set":
                    top.state, top.masked = "set_local", current
            else:
                entries.append(_Saved(self.level, "local" if local else "set", current))
        self.values[name] = value

    def pop(self, *, commit: bool) -> None:
        """AtEOXact_GUC / AtEOSubXact for the innermost level."""
        level = self.level
        if level == 0:
            return
        emptied: list[str] = []
        for name, entries in self._stack.items():
            if entries[-1].level < level:
                continue
            top = entries.pop()
            if not entries:
                emptied.append(name)
            prev = entries[-1] if entries else None
            if not commit:
                self.values[name] = top.prior
            elif level == 1:
                if top.state == "set_local":
                    self.values[name] = top.masked
                elif top.state == "local":
                    self.values[name] = top.prior
            elif prev is None or prev.level < level - 1:
                top.level -= 1  # migrates down a level, kept
                entries.append(top)
            elif top.state == "set":
                prev.state, prev.masked = "set", None
            elif top.state == "local":
                if prev.state == "set":
                    prev.state, prev.masked = "set_local", top.prior
            else:  # set_local
                prev.state, prev.masked = "set_local", top.masked
        for name in emptied:
            if not self._stack[name]:
                del self._stack[name]
        self.level -= 1

    def pop_to(self, level: int, *, commit: bool) -> None:
        if not self._stack:  # nothing saved: only the level changes
            self.level = min(self.level, level)
            return
        while self.level > level:
            self.pop(commit=commit)

    def forget(self) -> None:
        """Nothing is known any more (the model lost step with PostgreSQL)."""
        for name in list(self.values):
            self.values[name] = UNKNOWN
        self._stack.clear()


_STATUS: Final = {"idle": b"I", "block": b"T", "failed": b"E"}  # ReadyForQuery's


@dataclass
class _Savepoint:
    name: str
    level: int


@dataclass
class SessionModel:
    """PostgreSQL's session state as far as the gate needs it."""

    params: ParameterStack
    block: Literal["idle", "implicit", "block", "failed"] = "idle"
    savepoints: list[_Savepoint] = field(default_factory=list)
    # Prepared statements by name, SQL PREPARE and protocol Parse alike (one namespace):
    # the text that defined them.
    prepared: dict[str, str] = field(default_factory=dict)
    lost: bool = False  # the model disagreed with a ReadyForQuery status

    @classmethod
    def start(cls, values: Mapping[str, Value], reset: Mapping[str, Value]) -> SessionModel:
        return cls(ParameterStack(values, reset))

    def value(self, name: str) -> Value:
        return self.params.get(name)

    # -- events, in the order PostgreSQL reports them -----------------------------------
    def _statement_starts(self) -> None:
        if self.block == "idle":
            self.params.push()
            self.block = "implicit"

    def complete(self, effect: StatementEffect) -> None:
        """A statement reported complete (CommandComplete)."""
        if self.block == "idle":  # _statement_starts, inline: this runs per statement
            self.params.push()
            self.block = "implicit"
        if effect is NO_EFFECT:
            return
        for change in effect.changes:
            self._change(change)
        if effect.user_code:
            # Functions, DO blocks and procedures may have changed anything (set_config);
            # what PostgreSQL reports comes back in ParameterStatus.
            for name in TRACKED - REPORTED:
                self.params.set(name, UNKNOWN, local=False)
        if effect.txn is not None:
            self._transaction(effect.txn, effect.savepoint)
        if effect.prepare is not None:
            self.prepared[effect.prepare[0]] = effect.prepare[1]
        if effect.deallocate_all:
            self.prepared.clear()
        if effect.deallocate is not None:
            self.prepared.pop(effect.deallocate, None)

    def rolled_back_commit(self) -> None:
        """COMMIT of a failed transaction: PostgreSQL rolls back (tag ROLLBACK)."""
        self.params.pop_to(0, commit=False)
        self.savepoints.clear()
        self.block = "idle"

    def failed(self) -> None:
        """A statement (or a message of the extended protocol) failed."""
        if self.block in ("block", "failed"):
            if self.block == "block":
                floor = self.savepoints[-1].level - 1 if self.savepoints else 0
                self.params.pop_to(floor, commit=False)
                if not self.savepoints:
                    self.params.push()  # the aborted transaction block is still open
            self.block = "failed"
        else:
            self.params.pop_to(0, commit=False)
            self.block = "idle"

    def ready(self, status: bytes) -> None:
        """ReadyForQuery: the implicit transaction of the request cycle is over."""
        if self.block == "implicit":
            self.params.pop_to(0, commit=True)
            self.block = "idle"
        if status != _STATUS.get(self.block):
            self.lose()
            if status == b"T":
                self.block = "block"
            elif status == b"E":
                self.block = "failed"
            else:
                self.block = "idle"
            if self.block != "idle":
                self.params.push()

    def lose(self) -> None:
        self.lost = True
        self.params.pop_to(0, commit=True)
        self.params.forget()
        self.savepoints.clear()

    # -- internals ---------------------------------------------------------------------
    def _change(self, change: SettingChange) -> None:
        if change.action not in ("set", "local", "reset", "reset_all", "unknown"):
            return  # role/database defaults, ALTER SYSTEM, function SET: not this session
        if change.name is None:
            names: Iterable[str] = (
                (n for n in TRACKED if n not in NO_RESET_ALL)
                if change.action == "reset_all"
                else TRACKED
            )
            for name in names:
                value = self.params.reset.get(name) if change.action == "reset_all" else UNKNOWN
                self.params.set(name, value, local=False)
            return
        if change.name not in TRACKED:
            return
        new: Value = (
            self.params.reset.get(change.name)
            if change.action == "reset"
            else (change.value if change.certain else UNKNOWN)
        )
        self.params.set(change.name, new, local=change.action == "local")

    def _transaction(self, op: TxnOp, name: str | None) -> None:
        if op == "begin":
            if self.block in ("idle", "implicit"):
                self.block = "block"
            return
        if op in ("commit", "prepare_transaction"):
            self.params.pop_to(0, commit=self.block != "failed")
            self.savepoints.clear()
            self.block = "idle"
        elif op == "rollback":
            self.rolled_back_commit()
        elif op == "savepoint" and name is not None:
            self.params.push()
            self.savepoints.append(_Savepoint(name, self.params.level))
        elif op in ("release", "rollback_to") and name is not None:
            found = [i for i, p in enumerate(self.savepoints) if p.name == name]
            index = found[-1] if found else None
            if index is None:
                self.lose()
                return
            point = self.savepoints[index]
            if op == "release":
                self.params.pop_to(point.level - 1, commit=True)
                del self.savepoints[index:]
            else:
                self.params.pop_to(point.level - 1, commit=False)
                del self.savepoints[index + 1 :]
                self.params.push()
                point.level = self.params.level
                self.block = "block"
