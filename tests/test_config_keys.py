"""Known keys come from the section dataclasses; an unknown key names file, key and section
and suggests the closest known key."""

from __future__ import annotations

import pytest

from regogate.config import ConnectionConfig, RecordingConfig, ServerConfig, parse_config
from regogate.config.keys import known_keys
from regogate.errors import ConfigError
from regogate.oidc.config import OidcIssuerConfig

BASE = """
[policy]
mode = "off"

[connections.bank]
host = "127.0.0.1"
user = "svc"
"""
ISSUER = "issuer = 'https://idp.example.com'\naudience = 'a'\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sever = 1\n" + BASE, 'sever: unknown key in the top-level table; did you mean "server"?'),
        (
            "[server]\nlisten_prot = 1\n" + BASE,
            'server.listen_prot: unknown key in [server]; did you mean "listen_port"?',
        ),
        (
            BASE + "pasword_env = 'PW'\n",
            "connections.bank.pasword_env: unknown key in [connections.bank]; "
            'did you mean "password_env"?',
        ),
        (
            BASE + "[[tokens]]\nsub = 'a'\ngroup = ['x']\n",
            'tokens[0].group: unknown key in [[tokens]]; did you mean "groups"?',
        ),
        (
            "[policy]\nmode = 'off'\nopa_ulr = 'http://opa'\n"
            + BASE.replace('[policy]\nmode = "off"\n', ""),
            'policy.opa_ulr: unknown key in [policy]; did you mean "opa_url"?',
        ),
        (
            "[recording]\ncheckpoint_exports = 'x'\n" + BASE,
            'recording.checkpoint_exports: unknown key in [recording]; did you mean "checkpoint_export"?',
        ),
        (
            BASE + f"[[oidc]]\n{ISSUER}audiences = ['b']\n",
            'oidc[0].audiences: unknown key in [[oidc]]; did you mean "audience"?',
        ),
        (
            "[server]\nzzz = 1\n" + BASE,
            "server.zzz: unknown key in [server] (known keys: auth_timeout, cleartext_without_tls,",
        ),
    ],
)
def test_unknown_key_suggests_the_closest(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, origin="gw.toml", env={"REGOGATE_SIGNING_KEY": "k"})
    assert str(info.value).startswith(f"gw.toml: {message}")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        # fields that are no TOML key, or are read from a key of another name
        ("path = 'x'\n" + BASE, "path"),
        (BASE + "name = 'x'\n", "connections.bank.name"),
        (BASE + "password = 'x'\n", "connections.bank.password"),
        ("[recording]\nexport_dirs = ['x']\n" + BASE, "recording.export_dirs"),
        ("[recording]\nexport_urls = ['https://x']\n" + BASE, "recording.export_urls"),
        (BASE + "[[oidc]]\nissuer = 'https://idp.example.com'\naudiences = ['a']\n", "audiences"),
    ],
)
def test_field_names_that_are_not_keys(text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        parse_config(text, env={"REGOGATE_SIGNING_KEY": "k"})


def test_known_keys_are_the_fields() -> None:
    assert "listen_port" in known_keys(ServerConfig)
    connection = known_keys(ConnectionConfig)
    assert {"password_env", "password_file"} <= connection
    assert not {"name", "password"} & connection
    recording = known_keys(RecordingConfig)
    assert {"checkpoint_export", "checkpoint_export_timeout"} <= recording
    assert not {"export_dirs", "export_urls"} & recording
    assert "audience" in known_keys(OidcIssuerConfig)
    assert "audiences" not in known_keys(OidcIssuerConfig)
