"""Setting changes for the facts analyser: SET/RESET and the SET clauses of ALTER ROLE,
DATABASE, SYSTEM and functions as SettingChange, values flattened as PostgreSQL's
flatten_set_variable_args does (guc_funcs.c), set_config() calls, and which of those
calls run exactly once. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pglast import ast
from pglast.enums import VariableSetKind
from pglast.keywords import COL_NAME_KEYWORDS, RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS

from regogate.policy.catalog import parse_search_path
from regogate.policy.setting_change import SESSION_ACTIONS, SettingAction, SettingChange

# Parameters flagged GUC_LIST_QUOTE in guc_tables.c: each string element goes through
# quote_identifier.
LIST_QUOTE = frozenset(
    {
        "search_path",
        "temp_tablespaces",
        "local_preload_libraries",
        "session_preload_libraries",
        "shared_preload_libraries",
    }
)
# guc.c map_old_guc_names: setting the old name sets the new one.
_OLD_NAMES = {"sort_mem": "work_mem", "vacuum_mem": "maintenance_work_mem"}
# quote_identifier quotes every keyword that is not UNRESERVED_KEYWORD (ruleutils.c).
_QUOTED_KEYWORDS = frozenset(RESERVED_KEYWORDS | TYPE_FUNC_NAME_KEYWORDS | COL_NAME_KEYWORDS)
_SET_CONFIG_PARAMS = ("setting_name", "new_value", "is_local")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def literal_string(node: Any) -> str | None:
    """The value of a string constant (possibly cast), else None."""
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.String):
        return str(node.val.sval)
    return None


def guc_name(name: str) -> str:
    """A parameter name as PostgreSQL looks it up: case-insensitive, old names mapped."""
    lowered = name.lower()
    return _OLD_NAMES.get(lowered, lowered)


def quote_identifier(ident: str) -> str:
    """ruleutils.c quote_identifier: quoted unless a lower-case identifier that is not a
    keyword (beyond the unreserved ones)."""
    safe = bool(ident) and (ident[0] == "_" or "a" <= ident[0] <= "z")
    safe = safe and all(c == "_" or "a" <= c <= "z" or "0" <= c <= "9" for c in ident)
    if safe and ident not in _QUOTED_KEYWORDS:
        return ident
    return '"' + ident.replace('"', '""') + '"'


def flatten_set_args(name: str, args: Sequence[Any] | None) -> str | None:
    """The value SET hands to the parameter; None when an argument is not a plain
    constant (an interval-typed TIME ZONE, normalised by PostgreSQL, is not computed)."""
    parts: list[str] = []
    for arg in args or ():
        if not isinstance(arg, ast.A_Const) or arg.isnull:
            return None
        val = arg.val
        if isinstance(val, ast.Integer):
            parts.append(str(int(val.ival or 0)))
        elif isinstance(val, ast.Float):
            parts.append(str(val.fval))
        elif isinstance(val, ast.String):
            text = str(val.sval)
            parts.append(quote_identifier(text) if name in LIST_QUOTE else text)
        else:
            return None
    return ", ".join(parts) if parts else None


def set_statement_changes(node: Any, scope: SettingAction | None = None) -> list[SettingChange]:
    """The changes of a VariableSetStmt. ``scope``: None for SET/RESET in this session,
    else the fixed action of the statement around it (role_default, database_default,
    system, function)."""
    kind = node.kind
    local = bool(node.is_local)
    setting: SettingAction = scope or ("local" if local else "set")
    if kind == VariableSetKind.VAR_RESET_ALL:
        return [SettingChange(None, None, scope or "reset_all")]
    if kind == VariableSetKind.VAR_SET_MULTI:
        return _multi(node, scope, setting)
    name = guc_name(node.name or "")
    if kind in (VariableSetKind.VAR_RESET, VariableSetKind.VAR_SET_DEFAULT):
        # SET LOCAL x TO DEFAULT lasts until the transaction ends: not a session reset.
        action: SettingAction = scope or ("local" if local else "reset")
        return [SettingChange(name, None, action)]
    if kind == VariableSetKind.VAR_SET_VALUE:
        return [SettingChange(name, flatten_set_args(name, node.args), setting)]
    return [SettingChange(name, None, setting)]  # FROM CURRENT: the value is not known here


def _multi(node: Any, scope: SettingAction | None, setting: SettingAction) -> list[SettingChange]:
    """SET TRANSACTION / SESSION CHARACTERISTICS AS TRANSACTION / TRANSACTION SNAPSHOT
    (ExecSetVariableStmt's VAR_SET_MULTI)."""
    what = (node.name or "").upper()
    if what == "TRANSACTION SNAPSHOT":
        args = node.args or ()
        value = literal_string(args[0]) if args else None
        return [SettingChange("transaction_snapshot", value, scope or "local")]
    if what == "TRANSACTION":
        return transaction_changes(node.args, scope or "local")
    if what == "SESSION CHARACTERISTICS":
        return [
            SettingChange(f"default_{c.name}", c.value, setting)
            for c in transaction_changes(node.args, setting)
        ]
    return [SettingChange(None, None, setting)]


def transaction_changes(
    options: Sequence[Any] | None, action: SettingAction
) -> list[SettingChange]:
    """Transaction modes (SET TRANSACTION, BEGIN/START TRANSACTION options)."""
    out: list[SettingChange] = []
    for item in options or ():
        if isinstance(item, ast.DefElem) and item.defname:
            name = guc_name(str(item.defname))
            out.append(SettingChange(name, flatten_set_args(name, (item.arg,)), action))
    return out


# -- set_config ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SetConfigCall:
    """What a pg_catalog.set_config(setting_name, new_value, is_local) call sets."""

    name: str | None
    value: str | None
    action: SettingAction

    def change(self, *, certain: bool) -> SettingChange:
        return SettingChange(self.name, self.value, self.action, certain)


def set_config_call(args: Sequence[Any]) -> SetConfigCall:
    """The arguments of a set_config call (positional or named), as constants where they
    are. A NULL value is a reset (set_config_by_name); a NULL is_local means false."""
    slots = _arguments(args)
    if slots is None:
        return SetConfigCall(None, None, "unknown")
    name_node, value_node, local_node = slots
    name = literal_string(name_node)
    is_local = _boolean(local_node)
    action: SettingAction = "unknown" if is_local is None else "local" if is_local else "set"
    if _is_null(value_node) and action == "set":
        action = "reset"
    return SetConfigCall(
        guc_name(name.strip()) if name is not None else None, literal_string(value_node), action
    )


def _arguments(args: Sequence[Any]) -> tuple[Any, Any, Any] | None:
    slots: list[Any] = [None, None, None]
    for i, arg in enumerate(args):
        if isinstance(arg, ast.NamedArgExpr):
            if arg.name not in _SET_CONFIG_PARAMS:
                return None
            slots[_SET_CONFIG_PARAMS.index(arg.name)] = arg.arg
        elif i < len(slots):
            slots[i] = arg
        else:
            return None
    return slots[0], slots[1], slots[2]


def _uncast(node: Any) -> Any:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return node


def _is_null(node: Any) -> bool:
    node = _uncast(node)
    return isinstance(node, ast.A_Const) and bool(node.isnull)


def _boolean(node: Any) -> bool | None:
    """A boolean constant as boolin reads it; None when it is not a constant."""
    cast = isinstance(node, ast.TypeCast)
    node = _uncast(node)
    if not isinstance(node, ast.A_Const):
        return None
    if node.isnull:
        return False
    val = node.val
    if isinstance(val, ast.Boolean):
        return bool(val.boolval)
    if isinstance(val, ast.Integer) and cast:
        return bool(val.ival)
    if isinstance(val, ast.String):
        return parse_bool(str(val.sval))
    return None


def parse_bool(text: str) -> bool | None:
    """boolin (parse_bool_with_len): a prefix of true/yes/on/false/no/off ("o" alone is
    ambiguous), or 1/0; surrounding blanks ignored."""
    text = text.strip().lower()
    if not text or text == "o":
        return None
    if any(w.startswith(text) for w in _TRUE):
        return True
    if any(w.startswith(text) for w in _FALSE):
        return False
    return None


# -- which calls run exactly once ----------------------------------------------------------

_PLAIN: tuple[type[Any], ...] = (ast.A_Const, ast.ParamRef)


def _plain(node: Any) -> bool:
    """A constant, parameter, or a cast or named argument of one: evaluated once, calls
    nothing that could return a set."""
    while isinstance(node, (ast.TypeCast, ast.NamedArgExpr)):
        node = node.arg
    return isinstance(node, _PLAIN)


def once_calls(node: Any, is_set_config: Callable[[Any], bool]) -> frozenset[int]:
    """Ids of the set_config calls of a top-level SELECT that run exactly once: the SELECT
    has no FROM, WHERE or any other clause that repeats or skips its select list, and its
    select list holds nothing but constants and such calls (anything else could be a
    set-returning function, which would run them once per row)."""
    clauses = (
        node.fromClause,
        node.whereClause,
        node.havingClause,
        node.groupClause,
        node.sortClause,
        node.distinctClause,
        node.windowClause,
        node.limitCount,
        node.limitOffset,
        node.lockingClause,
        node.withClause,
        node.intoClause,
        node.valuesLists,
        node.larg,
        node.rarg,
    )
    if any(clauses):
        return frozenset()
    calls: list[int] = []
    for target in node.targetList or ():
        val = target.val
        while isinstance(val, ast.TypeCast):
            val = val.arg
        if isinstance(val, ast.FuncCall) and _simple_call(val) and is_set_config(val):
            calls.append(id(val))
        elif not _plain(val):
            return frozenset()
    return frozenset(calls)


def _simple_call(node: Any) -> bool:
    plain_args = all(_plain(a) for a in node.args or ())
    decorated = (
        node.agg_order
        or node.agg_filter is not None
        or node.over is not None
        or node.agg_star
        or node.agg_distinct
        or node.func_variadic
    )
    return plain_args and not decorated


# -- the search_path through the statements of one query text -----------------------------

_ROLE_SETTINGS = frozenset({"role", "session_authorization"})


@dataclass
class SearchPath:
    """The search_path (and the user ``$user`` stands for) as the statements of one query
    text see it: PostgreSQL runs them as one implicit transaction, so SET and SET LOCAL
    both apply to the later ones. ``known``: the setting is known; ``changed``: a
    statement set it."""

    path: tuple[str, ...]
    reset_path: tuple[str, ...]
    known: bool
    user: str | None
    user_known: bool = True
    changed: bool = False

    @property
    def names_known(self) -> bool:
        """Whether unqualified names resolve as the catalog says with this path."""
        return self.known and (self.user_known or "$user" not in self.path)

    def unknown(self) -> None:
        """Something ran that may have changed anything (user code, a computed name)."""
        self.known = self.user_known = False

    def apply(self, changes: Sequence[SettingChange]) -> None:
        for change in changes:
            if change.action not in SESSION_ACTIONS:
                continue
            if change.name is None:
                if change.action == "reset_all" and change.certain:
                    self.path, self.known, self.changed = self.reset_path, True, True
                else:
                    self.unknown()
            elif change.name == "search_path":
                self._search_path(change)
            elif change.name in _ROLE_SETTINGS:
                known = change.certain and change.action != "reset"
                if known and change.value is not None and change.value != "none":
                    self.user, self.user_known = change.value, True
                else:
                    self.user_known = False

    def _search_path(self, change: SettingChange) -> None:
        self.changed = True
        if change.certain and change.action == "reset":
            self.path, self.known = self.reset_path, True
        elif change.certain and change.value is not None:
            self.path, self.known = parse_search_path(change.value), True
        else:
            self.known = False
