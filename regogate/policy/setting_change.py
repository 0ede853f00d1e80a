"""What a statement does to run-time parameters (SET, RESET, set_config, DISCARD ALL,
ALTER ROLE/DATABASE/SYSTEM ... SET, a function's SET clause), as the facts analyser
finds it. Pure; the gate's session model (proxy/session_state.py) applies them when
PostgreSQL reports the statement complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SettingAction = Literal[
    "set",  # SET / SET SESSION / set_config(name, value, false): until changed or rolled back
    "local",  # SET LOCAL / set_config(name, value, true): until the transaction ends
    "reset",  # RESET name / SET name TO DEFAULT: back to the session's reset value
    "reset_all",  # RESET ALL / DISCARD ALL
    "role_default",  # ALTER ROLE ... SET / RESET: the next sessions of that role
    "database_default",  # ALTER DATABASE ... SET / RESET: the next sessions there
    "system",  # ALTER SYSTEM SET / RESET: the server's configuration file
    "function",  # CREATE/ALTER FUNCTION|PROCEDURE ... SET: while that function runs
    "unknown",  # set_config(name, value, <not a constant>): session or local, unknown
]

# Actions that change the session the statement runs in.
SESSION_ACTIONS = frozenset({"set", "local", "reset", "reset_all", "unknown"})


@dataclass(frozen=True)
class SettingChange:
    """One change of a run-time parameter.

    ``name``: lower-cased; None when it is computed (set_config with a name that is not a
    constant). ``value``: the new value as PostgreSQL receives it (SET's arguments
    flattened as ``flatten_set_variable_args`` does: list parameters joined by ", " with
    identifiers quoted where needed; set_config's text as written); None for RESET,
    DEFAULT and values that are not constants. ``certain``: the change happens exactly
    once when the statement completes (a top-level SET, or set_config in the select list
    of a SELECT without FROM, WHERE or set-returning functions); False when it may run
    any number of times (set_config inside a query over rows, a CASE, a subquery).
    """

    name: str | None
    value: str | None
    action: SettingAction
    certain: bool = True
