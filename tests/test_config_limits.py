"""[server] keys that bound what a client may hold before and after authentication."""

from __future__ import annotations

import pytest

from regogate.config import ServerConfig, parse_config
from regogate.errors import ConfigError

BASE = """
[connections.bank]
host = "127.0.0.1"
user = "svc"
"""


def test_defaults() -> None:
    server = parse_config(BASE).server
    assert (server.auth_timeout, server.max_pending_auth, server.max_sessions_per_identity) == (
        10.0,
        64,
        0,
    )
    assert server == ServerConfig()


def test_values() -> None:
    text = "[server]\nauth_timeout = 3\nmax_pending_auth = 8\nmax_sessions_per_identity = 5\n"
    server = parse_config(text + BASE).server
    assert (server.auth_timeout, server.max_pending_auth, server.max_sessions_per_identity) == (
        3.0,
        8,
        5,
    )


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("auth_timeout = 0", "server.auth_timeout: must be more than 0 and at most 600 seconds"),
        ("auth_timeout = 601", "server.auth_timeout: must be more than 0 and at most 600"),
        ("auth_timeout = 'soon'", "server.auth_timeout: must be float"),
        ("max_pending_auth = 0", "server.max_pending_auth: must be positive"),
        ("max_pending_auth = true", "server.max_pending_auth: must be int"),
        ("max_sessions_per_identity = -1", "server.max_sessions_per_identity: must be 0"),
        ("max_sessions_per_identity = 1.5", "server.max_sessions_per_identity: must be int"),
    ],
)
def test_readable_errors(setting: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"[server]\n{setting}\n" + BASE, origin="gw.toml")
    assert str(info.value).startswith("gw.toml: ")
    assert message in str(info.value)
