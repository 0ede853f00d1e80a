"""Startup parameters: read ``options`` exactly as a PostgreSQL backend does, and let through
only the settings that cannot change how PostgreSQL reads a statement (an allowlist).

Pure. The list and the reason for each entry: docs/startup-parameters.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from regogate.errors import StartupRefused

# Startup keys PostgreSQL itself reads (ProcessStartupPacket compares them case-sensitively);
# every other key is a run-time setting applied as if by SET, after the ``options`` switches.
_GATEWAY_KEYS = frozenset({"user", "database"})  # the gateway's own: never forwarded
_OPTIONS_KEY = "options"
_REPLICATION_KEY = "replication"  # decided by the session, forwarded untouched
_PROTOCOL_PREFIX = "_pq_."  # protocol options: negotiated by the session, never forwarded

# isspace() in the C locale; pg_split_opts splits on these. Other bytes are refused (their
# class depends on the database's LC_CTYPE), so a token means the same to both readers.
_SPACE = frozenset(" \t\n\v\f\r")

# process_postgres_switches (src/backend/tcop/postgres.c), getopt string
# "B:bC:c:D:d:EeFf:h:ijk:lN:nOPp:r:S:sTt:v:W:-:". Only -c and -- are read here; for every
# other switch, the setting it would change (None: ignored for a client, or several).
_OTHER_SWITCHES: Mapping[str, str | None] = MappingProxyType(
    {
        "B": "shared_buffers",
        "b": None,
        "C": None,
        "D": None,
        "d": "log_min_messages",
        "E": None,
        "e": "datestyle",
        "F": "fsync",
        "f": None,
        "h": "listen_addresses",
        "i": "listen_addresses",
        "j": None,
        "k": "unix_socket_directories",
        "l": "ssl",
        "N": "max_connections",
        "n": None,
        "O": "allow_system_table_mods",
        "P": "ignore_system_indexes",
        "p": "port",
        "r": None,
        "S": "work_mem",
        "s": "log_statement_stats",
        "T": None,
        "t": None,
        "v": None,
        "W": "post_auth_delay",
    }
)

_DOC = "docs/startup-parameters.md"
_HINT = (
    "remove it from the connection string or PGOPTIONS; once connected, SET it "
    "if the policy allows that"
)


class StartupParameterRefused(StartupRefused):
    """A startup parameter (or an ``options`` entry) the gateway does not forward.

    42501 as PostgreSQL's own "permission denied to set parameter": the setting may exist,
    this connection may not set it. FATAL: it ends the handshake.
    """


class StartupOptionsUnreadable(StartupParameterRefused):
    """``options`` is not something the backend would read as settings (42601, as
    PostgreSQL's "invalid command-line argument for server process")."""

    sqlstate = "42601"


@dataclass(frozen=True, slots=True)
class StartupSetting:
    """One run-time setting a client asks for at connection time.

    ``name``: lower-case, as PostgreSQL looks it up. ``switch``: ``"-c"`` or ``"--"`` when
    it came from ``options``; None when it was a startup parameter of its own.
    """

    name: str
    value: str
    switch: str | None = None


@dataclass(frozen=True, slots=True)
class StartupSettings:
    """What :func:`check_startup` allows.

    ``forward``: the startup parameters for the upstream, in the client's order: every
    setting unchanged, ``options`` rebuilt from the settings read from it, ``replication``
    untouched; never user, database or ``_pq_.*``. ``settings``: in the order PostgreSQL
    applies them (``options`` first, then the others).
    """

    forward: Mapping[str, str]
    settings: tuple[StartupSetting, ...]
    # regogate's own (GATEWAY_SETTINGS), the later one winning: read, never forwarded.
    gateway: Mapping[str, str] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """Distinct setting names, first asked first, regogate's own last (policy input
        ``connection.startup_settings``)."""
        return tuple(dict.fromkeys([*(s.name for s in self.settings), *self.gateway]))

    @property
    def effective(self) -> dict[str, str]:
        """Each setting's value after the session starts: the later one wins."""
        return {s.name: s.value for s in self.settings}


# -- the allowlist ------------------------------------------------------------------------


def _any(value: str) -> bool:
    return True


def _is_utf8(value: str) -> bool:
    """The value names UTF8 as check_client_encoding reads it: clean_encoding_name keeps
    letters and digits, lower-cased ("'utf-8'" from asyncpg is UTF8), then looks it up."""
    if not value.isascii():
        return False
    # SQL_ASCII as well (psql on a terminal in the C locale): PostgreSQL validates such
    # input as the database encoding, so on a UTF-8 database it is read as UTF-8.
    return "".join(c for c in value.lower() if c.isalnum()) in {"utf8", "unicode", "sqlascii"}


def parse_bool(value: str) -> bool | None:
    """PostgreSQL's parse_bool: a non-empty prefix of true/false/yes/no, on/off (two
    letters at least), 1 or 0, any case; None when it is none of these."""
    low = value.lower() if value.isascii() else ""
    if not low:
        return None
    for word, result in (("true", True), ("false", False), ("yes", True), ("no", False)):
        if word.startswith(low):
            return result
    for word, result in (("on", True), ("off", False)):
        if len(low) >= 2 and word.startswith(low):
            return result
    return {"1": True, "0": False}.get(low)


def _is_on(value: str) -> bool:
    return parse_bool(value) is True


@dataclass(frozen=True, slots=True)
class Allowance:
    """One entry of the allowlist: which values of the setting are forwarded."""

    accepts: Callable[[str], bool]
    required: str | None = None  # what an accepted value is, for the refusal's detail


ALLOWED: Mapping[str, Allowance] = MappingProxyType(
    {
        # presentation: labels and output formats
        "application_name": Allowance(_any),
        "datestyle": Allowance(_any),
        "intervalstyle": Allowance(_any),
        "timezone": Allowance(_any),
        "extra_float_digits": Allowance(_any),
        # limits and transaction defaults
        "statement_timeout": Allowance(_any),
        "lock_timeout": Allowance(_any),
        "idle_in_transaction_session_timeout": Allowance(_any),
        "default_transaction_isolation": Allowance(_any),
        "default_transaction_read_only": Allowance(_any),
        # planner
        "geqo": Allowance(_any),
        # name resolution: the session model reads the upstream's effective search_path
        "search_path": Allowance(_any),
        # lexing: only the values the gateway's analyser assumes
        "client_encoding": Allowance(_is_utf8, "UTF8: regogate reads statements as UTF-8"),
        "standard_conforming_strings": Allowance(
            _is_on, "on: with off, a backslash in '...' escapes the quote that ends it"
        ),
    }
)

# regogate's own settings a client may send at startup (a startup parameter, or -c in
# ``options``): read by the gateway, never forwarded (docs/startup-parameters.md).
APPROVAL_MODE = "regogate.approval_mode"
GATEWAY_SETTINGS: Mapping[str, Allowance] = MappingProxyType(
    {
        # async: a statement needing approval fails at once with its request id
        # (docs/approvals.md, "Async mode"), for agents whose tool calls time out.
        APPROVAL_MODE: Allowance(lambda v: v.lower() in ("hold", "async"), "hold or async"),
    }
)

# Why some names that clients try are refused (the refusal's detail; the doc has them all).
_WHY_NOT: Mapping[str, str] = MappingProxyType(
    {
        "role": "it changes who the session acts as",
        "session_authorization": "it changes who the session acts as",
        "session_replication_role": "it switches triggers and rules off",
        "row_security": "it changes which rows policies let through",
        "backslash_quote": "it changes which string literals PostgreSQL accepts",
        "default_text_search_config": "it changes what unqualified text search names mean",
    }
)


# -- options ------------------------------------------------------------------------------


def split_options(options: str) -> tuple[str, ...]:
    """pg_split_opts (src/backend/utils/init/postinit.c): whitespace separates arguments, a
    backslash takes the next character as it is (a space, a backslash)."""
    for ch in options:
        if not (ch.isascii() and (ch.isprintable() or ch in _SPACE)):
            raise StartupOptionsUnreadable(
                f'regogate cannot read the startup parameter "options": it contains {ch!r}',
                detail="only printable ASCII and white space are read the same by every server",
                hint="send a setting with other characters as a startup parameter of its own",
            )
    args: list[str] = []
    i, n = 0, len(options)
    while i < n:
        while i < n and options[i] in _SPACE:
            i += 1
        if i == n:
            break
        arg: list[str] = []
        while i < n and options[i] not in _SPACE:
            if options[i] == "\\":
                if i + 1 == n:
                    # PostgreSQL drops a trailing lone backslash; refuse what reads two ways.
                    raise _unreadable("it ends with a lone backslash")
                i += 1
            arg.append(options[i])
            i += 1
        args.append("".join(arg))
    return tuple(args)


def parse_options(options: str) -> tuple[StartupSetting, ...]:
    """The settings ``options`` asks for, in order, as process_postgres_switches reads them:
    ``-c name=value``, ``-cname=value`` and ``--name=value``, with ``-`` in a name read as
    ``_`` (ParseLongOption). Every other switch is refused, naming what it would set."""
    args = split_options(options)
    settings: list[StartupSetting] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if len(arg) < 2 or arg[0] != "-":
            raise _unreadable(f'"{_show(arg)}" is not a switch')
        flag = arg[1]
        if flag == "-":
            if arg == "--":
                raise _unreadable('"--" (the end of switches) is not a setting')
            settings.append(_long_option(arg[2:], "--"))
        elif flag == "c":
            if len(arg) > 2:
                optarg = arg[2:]
            elif i < len(args):
                optarg = args[i]
                i += 1
            else:
                raise _unreadable("-c needs name=value")
            settings.append(_long_option(optarg, "-c"))
        else:
            raise _refused_switch(flag)
    return tuple(settings)


def format_options(settings: tuple[StartupSetting, ...]) -> str:
    """``options`` that PostgreSQL reads back as exactly ``settings`` (``-c name=value``)."""
    return " ".join(f"-c {_escape(f'{s.name}={s.value}')}" for s in settings)


def _escape(arg: str) -> str:
    return "".join("\\" + ch if ch in _SPACE or ch == "\\" else ch for ch in arg)


def _long_option(optarg: str, switch: str) -> StartupSetting:
    name, eq, value = optarg.partition("=")
    if not eq:
        raise _unreadable(f"{switch}{' ' if switch == '-c' else ''}{_show(optarg)} has no value")
    return StartupSetting(_fold(name.replace("-", "_")), value, switch)


def _unreadable(why: str) -> StartupOptionsUnreadable:
    return StartupOptionsUnreadable(
        f'regogate cannot read the startup parameter "options": {why}',
        detail='regogate reads "options" as -c name=value or --name=value settings only',
        hint=_HINT,
    )


def _refused_switch(flag: str) -> StartupParameterRefused:
    if flag not in _OTHER_SWITCHES:
        return _unreadable(f'"-{_show(flag)}" is not a switch PostgreSQL knows')
    setting = _OTHER_SWITCHES[flag]
    if setting is None:
        return StartupParameterRefused(
            f'regogate does not allow the switch "-{flag}" in the startup parameter "options"',
            detail='regogate reads "options" as -c name=value or --name=value settings only',
            hint=_HINT,
        )
    return StartupParameterRefused(
        f'regogate does not allow the startup parameter "{setting}" '
        f'(set by the switch -{flag} in "options")',
        detail=f"only the settings listed in {_DOC} can be set at connection time",
        hint=_HINT,
    )


# -- the check ----------------------------------------------------------------------------


def check_startup(params: Mapping[str, str]) -> StartupSettings:
    """Allow a StartupMessage's parameters, or raise :class:`StartupParameterRefused`
    naming the first one refused. Every occurrence is checked, not only the one that wins:
    PostgreSQL applies each in turn."""
    from_options = parse_options(params.get(_OPTIONS_KEY, ""))
    own = tuple(
        StartupSetting(_fold(k), v)
        for k, v in params.items()
        if k not in _GATEWAY_KEYS
        and k not in (_OPTIONS_KEY, _REPLICATION_KEY)
        and not k.startswith(_PROTOCOL_PREFIX)
    )
    for setting in from_options + own:
        _check(setting)
    gateway = {s.name: s.value.lower() for s in from_options + own if s.name in GATEWAY_SETTINGS}
    from_options = tuple(s for s in from_options if s.name not in GATEWAY_SETTINGS)
    settings = from_options + tuple(s for s in own if s.name not in GATEWAY_SETTINGS)
    forward: dict[str, str] = {}
    for k, v in params.items():
        if k in _GATEWAY_KEYS or k.startswith(_PROTOCOL_PREFIX) or _fold(k) in GATEWAY_SETTINGS:
            continue
        if k == _OPTIONS_KEY:
            if from_options:
                forward[k] = format_options(from_options)
        else:
            forward[k] = v
    return StartupSettings(MappingProxyType(forward), settings, MappingProxyType(gateway))


def _check(setting: StartupSetting) -> None:
    where = f' (set by {setting.switch} in "options")' if setting.switch else ""
    allowance = ALLOWED.get(setting.name) or GATEWAY_SETTINGS.get(setting.name)
    if allowance is None:
        raise StartupParameterRefused(
            f'regogate does not allow the startup parameter "{_show(setting.name)}"{where}',
            detail=_WHY_NOT.get(
                setting.name, f"only the settings listed in {_DOC} can be set at connection time"
            ),
            hint=_HINT,
        )
    if not allowance.accepts(setting.value):
        raise StartupParameterRefused(
            f'regogate does not allow the startup parameter "{setting.name}" '
            f'to be "{_show(setting.value)}"{where}',
            detail=f"{setting.name} must be {allowance.required}",
            hint="remove it from the connection string, or set the value regogate allows",
        )


def _fold(name: str) -> str:
    """GUC names compare case-insensitively in ASCII only (guc_name_compare): "TimeZone" is
    timezone, but a non-ASCII look-alike is no setting's name and is kept as it is."""
    return name.lower() if name.isascii() else name


def _show(text: str, limit: int = 64) -> str:
    """Client text inside a message: one line, bounded."""
    text = text.encode("unicode_escape", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."
