"""Startup parameters: ``options`` read as PostgreSQL reads it, and the allowlist.

The client tables are what each client sent to a capturing server (docs/startup-parameters.md
says how they were measured); the twin tests connect to the real PostgreSQL and check that it
applies exactly the settings the parser finds.
"""

from __future__ import annotations

import random

import psycopg
import pytest

from regogate.errors import RegogateError
from regogate.wire.startup_params import (
    ALLOWED,
    StartupOptionsUnreadable,
    StartupParameterRefused,
    StartupSetting,
    check_startup,
    format_options,
    parse_bool,
    parse_options,
    split_options,
)
from tests.fix_pg import PgFixture

U = {"user": "alice", "database": "bank"}

# (client, the parameters it sent), measured.
CLIENTS: list[tuple[str, dict[str, str]]] = [
    ("psql, not a terminal", {**U, "application_name": "psql"}),
    ("psql, terminal, UTF-8 locale", {**U, "application_name": "psql", "client_encoding": "UTF8"}),
    (
        "psql with PGOPTIONS PGDATESTYLE PGTZ PGGEQO PGAPPNAME PGCLIENTENCODING",
        {
            **U,
            "options": "-c intervalstyle=postgres_verbose",
            "application_name": "pg_regress",
            "client_encoding": "UTF8",
            "datestyle": "Postgres, MDY",
            "timezone": "PST8PDT",
            "geqo": "on",
        },
    ),
    ("pgbench", {**U, "application_name": "pgbench"}),
    ("psycopg 3.3", dict(U)),
    ("asyncpg 0.32", {"client_encoding": "'utf-8'", **U}),
    (
        "asyncpg server_settings",
        {"client_encoding": "'utf-8'", **U, "application_name": "app"},
    ),
    ("node-postgres 8.23", {**U, "client_encoding": "UTF8"}),
    (
        "node-postgres with timeouts and options",
        {
            **U,
            "application_name": "app",
            "statement_timeout": "1000",
            "lock_timeout": "2000",
            "idle_in_transaction_session_timeout": "3000",
            "options": "-c search_path=app",
            "client_encoding": "UTF8",
        },
    ),
    ("@modelcontextprotocol/server-postgres 0.6.2", {**U, "client_encoding": "UTF8"}),
    (
        "pgjdbc 42.7.13",
        {**U, "client_encoding": "UTF8", "DateStyle": "ISO", "TimeZone": "Etc/UTC"},
    ),
    (
        "pgjdbc currentSchema ApplicationName options",
        {
            **U,
            "client_encoding": "UTF8",
            "DateStyle": "ISO",
            "TimeZone": "Europe/Berlin",
            "application_name": "myapp",
            "search_path": "app",
            "options": "-c statement_timeout=5000",
        },
    ),
    (
        "pgjdbc 42.2 (source: ConnectionFactoryImpl)",
        {**U, "client_encoding": "UTF8", "DateStyle": "ISO", "extra_float_digits": "2"},
    ),
    (
        "pg_regress",
        {
            **U,
            "options": " -c intervalstyle=postgres_verbose",
            "application_name": "pg_regress/t",
            "datestyle": "Postgres, MDY",
            "timezone": "America/Los_Angeles",
        },
    ),
    (
        "pg_isolation_regress (isolationtester)",
        {
            **U,
            "options": " -c intervalstyle=postgres_verbose",
            "application_name": "isolation/t",
            "datestyle": "Postgres, MDY",
            "timezone": "America/Los_Angeles",
        },
    ),
    ("logical replication", {**U, "replication": "database"}),
    ("a protocol option", {**U, "_pq_.something": "1"}),
]


@pytest.mark.parametrize(("client", "params"), CLIENTS, ids=[c for c, _ in CLIENTS])
def test_every_client_connects(client: str, params: dict[str, str]) -> None:
    allowed = check_startup(params)
    expected = {k: v for k, v in params.items() if k not in U and not k.startswith("_pq_.")}
    forward = dict(allowed.forward)
    if "options" in expected:
        assert parse_options(forward.pop("options")) == parse_options(expected.pop("options"))
    assert forward == expected
    assert set(allowed.names) <= set(ALLOWED)


# (options, the arguments pg_split_opts makes)
SPLITS: list[tuple[str, tuple[str, ...]]] = [
    ("", ()),
    ("   \t ", ()),
    ("-c a=b", ("-c", "a=b")),
    (" \t-c\na=b\r\n", ("-c", "a=b")),
    (r"-c a=x\ y", ("-c", "a=x y")),
    (r"-c a=x\\y", ("-c", r"a=x\y")),
    (r"-c a=x\\\ y", ("-c", r"a=x\ y")),
    (r"\-c a=\b", ("-c", "a=b")),
    ("-c a=b\v--c=d\f-ce=f", ("-c", "a=b", "--c=d", "-ce=f")),
]


@pytest.mark.parametrize(("options", "args"), SPLITS)
def test_split_options_as_pg_split_opts(options: str, args: tuple[str, ...]) -> None:
    assert split_options(options) == args


def _s(name: str, value: str, switch: str = "-c") -> StartupSetting:
    return StartupSetting(name, value, switch)


# (options, the settings PostgreSQL applies, in order)
PARSES: list[tuple[str, tuple[StartupSetting, ...]]] = [
    ("", ()),
    ("-c application_name=a", (_s("application_name", "a"),)),
    ("-capplication_name=a", (_s("application_name", "a"),)),
    ("--application_name=a", (_s("application_name", "a", "--"),)),
    ("--application-name=a", (_s("application_name", "a", "--"),)),
    ("-c Application-Name=a", (_s("application_name", "a"),)),
    ("-c application_name=a=b", (_s("application_name", "a=b"),)),
    ("-c application_name=", (_s("application_name", ""),)),
    ("-c application_name=-x-", (_s("application_name", "-x-"),)),
    (r"-c application_name=a\ b\ \ c", (_s("application_name", "a b  c"),)),
    (r"-c application_name=back\\slash", (_s("application_name", "back\\slash"),)),
    (r"-cDateStyle=ISO,\ DMY", (_s("datestyle", "ISO, DMY"),)),
    (
        "-c application_name=x -c application_name=y",
        (_s("application_name", "x"), _s("application_name", "y")),
    ),
    (
        "--lock-timeout=5s\t-c standard_conforming_strings=off",
        (_s("lock_timeout", "5s", "--"), _s("standard_conforming_strings", "off")),
    ),
    ("-c client_encoding=SJIS", (_s("client_encoding", "SJIS"),)),
]


@pytest.mark.parametrize(("options", "settings"), PARSES)
def test_parse_options(options: str, settings: tuple[StartupSetting, ...]) -> None:
    assert parse_options(options) == settings


# (options, what the refusal says, PostgreSQL refuses it too): sqlstate 42601. The others
# PostgreSQL reads one way that a reader could take another; regogate refuses them.
UNREADABLE: list[tuple[str, str, bool]] = [
    ("application_name=a", '"application_name=a" is not a switch', True),
    ("-", '"-" is not a switch', True),
    ("-c", "-c needs name=value", True),
    ("-c application_name", "-c application_name has no value", True),
    ("--application_name", "--application_name has no value", True),
    ("-c -c a=b", "-c -c has no value", True),
    ("-x", '"-x" is not a switch PostgreSQL knows', True),
    ("-c application_name=a extra", '"extra" is not a switch', True),
    ("--", '"--" (the end of switches) is not a setting', False),
    ("-c application_name=a\\", "lone backslash", False),
    ("-c application_name=caf\u00e9", "it contains '\u00e9'", False),
    ("-c application_name=a\x01", "it contains '\\x01'", False),
]


@pytest.mark.parametrize(("options", "says", "pg_refuses"), UNREADABLE)
def test_unreadable_options_are_refused(options: str, says: str, pg_refuses: bool) -> None:
    with pytest.raises(StartupOptionsUnreadable) as caught:
        check_startup({**U, "options": options})
    assert caught.value.sqlstate == "42601"
    assert caught.value.message.startswith('regogate cannot read the startup parameter "options": ')
    assert says in caught.value.message


# (the parameters, the refusal's message): every way to reach a setting, and each is named.
REFUSED: list[tuple[dict[str, str], str]] = [
    (
        {"standard_conforming_strings": "off"},
        'the startup parameter "standard_conforming_strings" to be "off"',
    ),
    (
        {"Standard_Conforming_Strings": "of"},
        'the startup parameter "standard_conforming_strings" to be "of"',
    ),
    ({"client_encoding": "SJIS"}, 'the startup parameter "client_encoding" to be "SJIS"'),
    ({"client_encoding": "GBK"}, 'the startup parameter "client_encoding" to be "GBK"'),
    # psql on a terminal in the C locale; read as UTF-8 only by a UTF8 database
    ({"CLIENT_ENCODING": "LATIN1"}, 'the startup parameter "client_encoding" to be "LATIN1"'),
    (
        {"options": "-c standard_conforming_strings=off"},
        '"standard_conforming_strings" to be "off" (set by -c in "options")',
    ),
    (
        {"options": "-cstandard_conforming_strings=off"},
        '"standard_conforming_strings" to be "off" (set by -c in "options")',
    ),
    (
        {"options": "--standard-conforming-strings=off"},
        '"standard_conforming_strings" to be "off" (set by -- in "options")',
    ),
    (
        {"options": "--STANDARD_conforming_strings=OFF"},
        '"standard_conforming_strings" to be "OFF" (set by -- in "options")',
    ),
    (
        {"options": "--client_encoding=GBK"},
        '"client_encoding" to be "GBK" (set by -- in "options")',
    ),
    (
        {"options": r"-c application_name=a\ -c\ x -c client_encoding=BIG5"},
        '"client_encoding" to be "BIG5"',
    ),
    # one argument: the name starts with a space, which PostgreSQL knows no setting by
    (
        {"options": r"-c\ standard_conforming_strings=off"},
        'the startup parameter " standard_conforming_strings" (set by -c in "options")',
    ),
    # the later one wins in PostgreSQL: every occurrence is checked
    (
        {"options": "-c standard_conforming_strings=on -c standard_conforming_strings=off"},
        '"standard_conforming_strings" to be "off"',
    ),
    (
        {"options": "-c standard_conforming_strings=off", "standard_conforming_strings": "on"},
        '"standard_conforming_strings" to be "off"',
    ),
    (
        {"standard_conforming_strings": "on", "STANDARD_CONFORMING_STRINGS": "off"},
        '"standard_conforming_strings" to be "off"',
    ),
    (
        {"options": "-c application_name=a -c backslash_quote=on"},
        'the startup parameter "backslash_quote" (set by -c in "options")',
    ),
    ({"role": "postgres"}, 'the startup parameter "role"'),
    ({"options": "-c role=postgres"}, 'the startup parameter "role" (set by -c in "options")'),
    ({"options": "--session-authorization=x"}, '"session_authorization" (set by --'),
    ({"session_replication_role": "replica"}, 'the startup parameter "session_replication_role"'),
    ({"row_security": "off"}, 'the startup parameter "row_security"'),
    ({"backslash_quote": "on"}, 'the startup parameter "backslash_quote"'),
    ({"default_text_search_config": "x"}, 'the startup parameter "default_text_search_config"'),
    ({"plpgsql.variable_conflict": "use_column"}, '"plpgsql.variable_conflict"'),
    ({"app.tenant_id": "7"}, 'the startup parameter "app.tenant_id"'),
    ({"work_mem": "1GB"}, 'the startup parameter "work_mem"'),
    ({"fallback_application_name": "x"}, '"fallback_application_name"'),
    ({"Options": "-c a=b"}, 'the startup parameter "options"'),
    ({"User": "bob"}, 'the startup parameter "user"'),
    ({"": "x"}, 'the startup parameter ""'),
    ({"TimeZon\u212a": "UTC"}, 'the startup parameter "TimeZon\\u212a"'),
    # switches other than -c and --, alone or grouped with -c
    ({"options": "-e"}, '"datestyle" (set by the switch -e in "options")'),
    ({"options": "-F"}, '"fsync" (set by the switch -F in "options")'),
    ({"options": "-S 1GB"}, '"work_mem" (set by the switch -S in "options")'),
    ({"options": "-ec application_name=a"}, '"datestyle" (set by the switch -e'),
    ({"options": "-c application_name=a -P"}, '"ignore_system_indexes" (set by the switch -P'),
    ({"options": "-O"}, '"allow_system_table_mods" (set by the switch -O'),
    ({"options": "-d 5"}, '"log_min_messages" (set by the switch -d'),
    ({"options": "-fs"}, 'the switch "-f" in the startup parameter "options"'),
    ({"options": "-b"}, 'the switch "-b" in the startup parameter "options"'),
    ({"options": "-T"}, 'the switch "-T" in the startup parameter "options"'),
]


@pytest.mark.parametrize(("params", "says"), REFUSED)
def test_refused_and_named(params: dict[str, str], says: str) -> None:
    with pytest.raises(StartupParameterRefused) as caught:
        check_startup({**U, **params})
    err = caught.value
    assert type(err) is StartupParameterRefused
    assert isinstance(err, RegogateError)
    assert (err.sqlstate, err.severity) == ("42501", "FATAL")
    assert err.message.startswith("regogate does not allow ")
    assert says in err.message
    assert err.detail and err.hint


# (client_encoding, allowed): check_client_encoding reads letters and digits only.
ENCODINGS: list[tuple[str, bool]] = [
    ("UTF8", True),
    ("utf8", True),
    ("UTF-8", True),
    ("utf-8", True),
    ("'utf-8'", True),
    ("Unicode", True),
    ("utf_8", True),
    ("SJIS", False),
    ("GBK", False),
    ("BIG5", False),
    ("GB18030", False),
    ("UHC", False),
    ("LATIN1", False),
    ("SQL_ASCII", True),  # validated as UTF-8 on a UTF-8 database
    ("auto", False),
    ("utf16", False),
    ("", False),
    ("utf8\u0131", False),
]


@pytest.mark.parametrize(("value", "allowed"), ENCODINGS)
def test_client_encoding_is_utf8_only(value: str, allowed: bool) -> None:
    for params in ({"client_encoding": value}, {"options": f"-c client_encoding={value}"}):
        if allowed:
            check_startup({**U, **params})
        elif value.isascii():
            with pytest.raises(StartupParameterRefused, match='"client_encoding"'):
                check_startup({**U, **params})
        else:
            with pytest.raises(StartupParameterRefused):
                check_startup({**U, **params})


BOOLS: list[tuple[str, bool | None]] = [
    *[(v, True) for v in ("on", "ON", "t", "tr", "TRUE", "y", "yes", "1")],
    *[(v, False) for v in ("off", "OF", "f", "false", "n", "no", "0")],
    *[(v, None) for v in ("", "o", "onn", "truee", "2", "01", " on", "on ", "nope")],
]


@pytest.mark.parametrize(("value", "result"), BOOLS)
def test_parse_bool(value: str, result: bool | None) -> None:
    assert parse_bool(value) is result
    if result is True:
        check_startup({**U, "standard_conforming_strings": value})
    else:
        with pytest.raises(StartupParameterRefused, match="standard_conforming_strings"):
            check_startup({**U, "standard_conforming_strings": value})


def test_options_apply_first_and_the_later_setting_wins() -> None:
    allowed = check_startup(
        {
            **U,
            "TimeZone": "UTC",
            "options": "-c timezone=Europe/Berlin -c application_name=o",
            "application_name": "p",
            "timezone": "Asia/Tokyo",
        }
    )
    assert allowed.names == ("timezone", "application_name")
    assert allowed.effective == {"timezone": "Asia/Tokyo", "application_name": "p"}
    assert list(allowed.forward) == ["TimeZone", "options", "application_name", "timezone"]
    assert allowed.forward["options"] == "-c timezone=Europe/Berlin -c application_name=o"


def test_forward_drops_empty_options_and_gateway_keys() -> None:
    allowed = check_startup(
        {**U, "options": " \t ", "replication": "database", "_pq_.x": "1", "geqo": "off"}
    )
    assert dict(allowed.forward) == {"replication": "database", "geqo": "off"}
    assert allowed.names == ("geqo",)


def test_format_options_reads_back_exactly() -> None:
    rng = random.Random(20240531)
    alphabet = "ab=-\\ \t\n\v\f\r'\"x,"
    for _ in range(2000):
        settings = tuple(
            _s(rng.choice(["application_name", "search_path", "datestyle"]), value)
            for value in (
                "".join(rng.choice(alphabet) for _ in range(rng.randrange(8)))
                for _ in range(rng.randrange(4))
            )
        )
        assert parse_options(format_options(settings)) == settings


def test_allowlist_names_are_lower_case_settings() -> None:
    assert all(name == name.lower() and "." not in name for name in ALLOWED)


# -- twin: the real PostgreSQL applies what the parser reads ---------------------------

_SHOWN = {"datestyle": "DateStyle", "timezone": "TimeZone", "intervalstyle": "IntervalStyle"}

# (options, the value SHOW reports after the later one wins), for options PostgreSQL takes.
TWIN: list[tuple[str, dict[str, str]]] = [
    ("-c application_name=a", {"application_name": "a"}),
    ("  -capplication_name=a  ", {"application_name": "a"}),
    ("--application-name=a", {"application_name": "a"}),
    ("-c Application-Name=a=b", {"application_name": "a=b"}),
    (r"-c application_name=a\ b\\c", {"application_name": "a b\\c"}),
    (r"\-\c application_name=x", {"application_name": "x"}),
    ("-c application_name=x\t-c\napplication_name=y", {"application_name": "y"}),
    (r"-cDateStyle=ISO,\ DMY", {"datestyle": "ISO, DMY"}),
    ("--intervalstyle=postgres_verbose", {"intervalstyle": "postgres_verbose"}),
    ("-c standard_conforming_strings=off", {"standard_conforming_strings": "off"}),
    ("--standard-conforming-strings=of", {"standard_conforming_strings": "off"}),
    ("--client_encoding=SJIS", {"client_encoding": "SJIS"}),
    ("-c search_path=evil,public", {"search_path": "evil,public"}),
]


def _connect(pg: PgFixture, options: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host="127.0.0.1",
        port=pg.port,
        user="rg_trust",
        dbname="bank",
        options=options,
        client_encoding="",
        connect_timeout=10,
    )


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PGOPTIONS", "PGDATESTYLE", "PGTZ", "PGGEQO", "PGCLIENTENCODING", "PGAPPNAME"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(("options", "shown"), TWIN)
def test_postgres_applies_what_the_parser_reads(
    pg: PgFixture, options: str, shown: dict[str, str]
) -> None:
    settings = parse_options(options)
    assert set(shown) == {s.name for s in settings}
    with _connect(pg, options) as conn:
        for name, value in shown.items():
            row = conn.execute(f"SHOW {_SHOWN.get(name, name)}").fetchone()
            assert row is not None and row[0] == value
    with _connect(pg, format_options(settings)) as conn:
        for name, value in shown.items():
            row = conn.execute(f"SHOW {_SHOWN.get(name, name)}").fetchone()
            assert row is not None and row[0] == value


@pytest.mark.usefixtures("clean_env")
def test_postgres_knows_no_setting_by_a_name_with_a_space(pg: PgFixture) -> None:
    options = r"-c\ application_name=x"
    assert parse_options(options) == (_s(" application_name", "x"),)
    with pytest.raises(psycopg.OperationalError, match="unrecognized configuration parameter"):
        _connect(pg, options).close()


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(("options", "pg_refuses"), [(o, r) for o, _, r in UNREADABLE])
def test_postgres_on_what_the_parser_cannot_read(
    pg: PgFixture, options: str, pg_refuses: bool
) -> None:
    if pg_refuses:
        with pytest.raises(psycopg.OperationalError), _connect(pg, options):
            pass
    else:
        with _connect(pg, options):
            pass


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(
    ("options", "name", "value"),
    [
        ("-e", "DateStyle", "ISO, DMY"),
        ("-S 2048", "work_mem", "2MB"),
        ("-ec geqo=off", "geqo", "off"),
    ],
)
def test_postgres_applies_the_other_switches(
    pg: PgFixture, options: str, name: str, value: str
) -> None:
    """The switches regogate refuses do change settings: the refusal is not cosmetic."""
    with pytest.raises(StartupParameterRefused):
        parse_options(options)
    with _connect(pg, options) as conn:
        row = conn.execute(f"SHOW {name}").fetchone()
        assert row is not None and row[0] == value


@pytest.mark.parametrize(
    ("params", "mode", "forward"),
    [
        ({"regogate.approval_mode": "async"}, "async", {}),
        ({"Regogate.Approval_Mode": "ASYNC"}, "async", {}),
        ({"options": "-c regogate.approval_mode=hold"}, "hold", {}),
        (
            {"options": "-c statement_timeout=5s --regogate.approval-mode=async"},
            "async",
            {"options": "-c statement_timeout=5s"},
        ),
        # the later one wins, as PostgreSQL applies them: options first, then the others
        (
            {"regogate.approval_mode": "hold", "options": "-c regogate.approval_mode=async"},
            "hold",
            {},
        ),
        ({"application_name": "mcp"}, None, {"application_name": "mcp"}),
    ],
)
def test_regogates_own_settings_are_read_and_never_forwarded(
    params: dict[str, str], mode: str | None, forward: dict[str, str]
) -> None:
    allowed = check_startup({"user": "u", "database": "d", **params})
    assert allowed.gateway.get("regogate.approval_mode") == mode
    assert dict(allowed.forward) == forward
    assert ("regogate.approval_mode" in allowed.names) is (mode is not None)
    assert all(not s.name.startswith("regogate.") for s in allowed.settings)


@pytest.mark.parametrize("value", ["", "later", "asynchronous", "on"])
def test_an_approval_mode_other_than_hold_or_async_is_refused(value: str) -> None:
    with pytest.raises(StartupParameterRefused, match=r'"regogate\.approval_mode" to be') as err:
        check_startup({"user": "u", "regogate.approval_mode": value})
    assert err.value.detail == "regogate.approval_mode must be hold or async"
    with pytest.raises(StartupParameterRefused, match=r'"regogate\.approval_mode" to be'):
        check_startup({"user": "u", "options": f"-c regogate.approval_mode={value}x"})
