"""The settings that change how PostgreSQL lexes statement text, held at the values the
analyser reads (pglast lexes as PostgreSQL does with standard_conforming_strings on and
UTF-8 text). Pure.

- ``standard_conforming_strings`` must stay ``on``: off, a backslash in '...' escapes the
  closing quote and one literal becomes several statements.
- ``client_encoding`` must stay UTF-8 (or SQL_ASCII on a UTF-8 database, which PostgreSQL
  validates as UTF-8): in GBK, SJIS, BIG5 ... a byte 0x5C (backslash) can be the second
  half of a character, and in any other encoding non-ASCII bytes spell other names.
- ``backslash_quote`` is modelled, not pinned: it only decides whether ``\\'`` inside an
  escape string is an error; where the statement runs, it runs as the analyser read it.

Any way of changing the first two is refused unless it keeps them at these values: SET,
SET LOCAL, RESET (to a reset value that is not), RESET ALL, set_config, ALTER ROLE /
DATABASE / SYSTEM ... SET and a function's SET clause. What PostgreSQL reports
(ParameterStatus) is checked too: an unexpected value ends the session.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from regogate.policy.setting_change import SettingChange

PINNED = ("standard_conforming_strings", "client_encoding")
_TRUE = frozenset({"on", "true", "yes", "1", "t", "tr", "tru", "y", "ye"})
_NON_ALNUM = re.compile(r"[^0-9a-z]")


def acceptable(name: str, value: str | None) -> bool:
    """Whether ``value`` keeps the lexing setting ``name`` where the analyser reads it."""
    if value is None:
        return False
    v = value.strip().lower()
    if name == "standard_conforming_strings":
        return v in _TRUE
    if name == "client_encoding":
        # pg_char_to_encoding ignores case and non-alphanumerics; "unicode" is UTF8.
        return _NON_ALNUM.sub("", v) in ("utf8", "unicode", "sqlascii")
    return True


def expected_value(name: str) -> str:
    return "on" if name == "standard_conforming_strings" else "UTF8"


def refused_change(changes: Iterable[SettingChange], reset: Mapping[str, str | None]) -> str | None:
    """Why one of ``changes`` cannot be let through, or None."""
    for change in changes:
        if change.name is None:
            if change.action == "reset_all":
                for name in PINNED:
                    if not acceptable(name, reset.get(name)):
                        return (
                            f"RESET ALL would set {name} to {reset.get(name)!r}; regogate "
                            f"keeps it at {expected_value(name)!r}"
                        )
                continue
            if change.action in ("role_default", "database_default", "system", "function"):
                continue  # RESET ALL of stored defaults: nothing set to a new value
            return (
                "this statement may change a setting regogate cannot name (set_config() "
                "with a parameter name that is not a constant, or EXECUTE of a prepared "
                "statement regogate does not know)"
            )
        if change.name not in PINNED:
            continue
        value = change.value
        if change.action == "reset":
            value = reset.get(change.name)
        elif change.action in ("role_default", "database_default", "system") and value is None:
            continue  # RESET of a stored default
        if not acceptable(change.name, value):
            shown = "a value computed at run time" if value is None else repr(value)
            return (
                f"changing {change.name} to {shown} would make PostgreSQL read statement "
                f"text differently from regogate; it stays {expected_value(change.name)!r}"
            )
    return None
