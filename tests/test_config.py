"""regogate.toml validation: every error names the file, the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from regogate.config import load_config, parse_config
from regogate.errors import ConfigError

BASE = """
[connections.bank]
host = "127.0.0.1"
user = "svc"
password_env = "PW"
"""
ENV = {"PW": "s3cret-upstream"}


def test_minimal_config() -> None:
    cfg = parse_config(BASE, env=ENV)
    conn = cfg.connections["bank"]
    assert (conn.port, conn.database, conn.tls) == (5432, "bank", "disable")
    assert conn.password is not None and conn.password.value == "s3cret-upstream"
    assert "s3cret-upstream" not in repr(cfg)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nlisten_port = 'x'\n" + BASE, "server.listen_port: must be int"),
        ("[server]\nlisten_port = 70000\n" + BASE, "server.listen_port: must be a TCP port"),
        ("[server]\nmax_sessions = 0\n" + BASE, "server.max_sessions: must be positive"),
        ("[server]\nbogus = 1\n" + BASE, "server.bogus: unknown key"),
        (
            "[server]\ntoken_expiry = 'never'\n" + BASE,
            "server.token_expiry: must be one of disconnect, allow",
        ),
        (
            "[server]\ncleartext_without_tls = 'maybe'\n" + BASE,
            "server.cleartext_without_tls: must be one of never, loopback, always",
        ),
        ("[server]\ntls_cert_file = 'a.pem'\n" + BASE, "tls_cert_file and tls_key_file"),
        ("", "connections: at least one"),
        ("[connections.x]\nuser = 'u'\n", "connections.x.host: is required"),
        (
            "[connections.x]\nhost = 'h'\nuser = 'u'\npassword = 'inline'\n",
            "connections.x.password: secrets are not allowed",
        ),
        (
            "[connections.x]\nhost = 'h'\nuser = 'u'\npassword_env = 'MISSING'\n",
            "connections.x.password_env: environment variable MISSING is not set",
        ),
        (
            "[connections.x]\nhost = 'h'\nuser = 'u'\ntls = 'verify-full'\n",
            "connections.x.tls_ca_file: is required",
        ),
        (
            "[connections.x]\nhost = 'h'\nuser = 'u'\ntls = 'yes'\n",
            "connections.x.tls: must be one of",
        ),
        (
            BASE + "[[tokens]]\nsub = 'a'\ntoken = 'plain'\n",
            "tokens[0].token: store only the token's hash",
        ),
        (
            BASE + "[[tokens]]\nsub = 'a'\ntoken_sha256 = 'abc'\n",
            "tokens[0].token_sha256: must be 64 hex",
        ),
        (BASE + "[[tokens]]\ntoken_sha256 = '" + "a" * 64 + "'\n", "tokens[0].sub: is required"),
        ("[server\n", "invalid TOML"),
    ],
)
def test_readable_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, origin="gw.toml", env=ENV)
    assert str(info.value).startswith("gw.toml: ")
    assert message in str(info.value)


def test_password_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    cfg_file = tmp_path / "regogate.toml"
    cfg_file.write_text(
        "[policy]\nmode = 'off'\n[connections.db]\nhost = 'h'\nuser = 'u'\npassword_file = 'pw'\n"
    )
    cfg = load_config(cfg_file, env={})
    assert cfg.connections["db"].password is not None
    assert cfg.connections["db"].password.value == "from-file"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.toml")


def test_policy_defaults_enforce_with_the_directory_beside_the_config(tmp_path: Path) -> None:
    cfg_file = tmp_path / "regogate.toml"
    cfg_file.write_text(BASE)
    with pytest.raises(ConfigError, match=r"policy\.dir: policy directory .* does not exist"):
        load_config(cfg_file, env=ENV)
    (tmp_path / "policies" / "rego").mkdir(parents=True)
    cfg = load_config(cfg_file, env=ENV)
    assert cfg.policy.mode == "enforce"
    assert cfg.policy.dir == tmp_path / "policies" / "rego"
    assert cfg.policy.opa_url is None and cfg.policy.cache_size == 10000
    assert not cfg.recording.enabled


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("[policy]\nmode = 'maybe'\n", "policy.mode: must be one of enforce, off"),
        ("[policy]\nopa_url = 'localhost:8181'\n", "policy.opa_url: must be an http"),
        ("[policy]\ntimeout = 0\n", "policy.timeout: must be between"),
        ("[policy]\ncache_size = -1\n", "policy.cache_size: must be 0"),
        ("[policy]\nbogus = 1\n", "policy.bogus: unknown key"),
        ("[policy]\nenv = 'STAGE'\n", "policy.env: must be list"),
        ("[policy]\nenv = ['STAGE', 3]\n", "policy.env: must be a list of environment"),
        ("[policy]\nenv = ['REGOGATE_SIGNING_KEY']\n", "policy.env: the signing key is never"),
        ("[recording]\ndir = 'r'\n", "recording.key_file: is required"),
        ("[recording]\nsigning_key = 'abc'\n", "recording.signing_key: the signing key is not"),
        ("[recording]\nkey_file = 'k'\non_error = 'ignore'\n", "recording.on_error: must be"),
        ("[recording]\nkey_file = 'k'\ncommit_interval = 0\n", "recording.commit_interval: must"),
        ("[recording]\nkey_file = 'k'\ncommit_interval = 2\n", "recording.commit_interval: must"),
        ("[recording]\nkey_file = 'k'\ncommit_interval = '1'\n", "commit_interval: must be float"),
        ("[recording]\nkey_file = 'k'\ndurability = 'fsync'\n", "recording.durability: must be"),
        ("[recording]\nkey_file = 'k'\nwrite_timeout = 0\n", "recording.write_timeout: must"),
        ("[recording]\nkey_file = 'k'\nwrite_timeout = 301\n", "recording.write_timeout: must"),
    ],
)
def test_policy_and_recording_errors(section: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(section + BASE, env=ENV, base=Path(__file__).parents[1])


def test_recording_section(tmp_path: Path) -> None:
    text = "[policy]\nmode = 'off'\n[recording]\nkey_file = 'k.key'\n" + BASE
    cfg = parse_config(text, env=ENV, base=tmp_path)
    rec = cfg.recording
    assert rec.enabled and rec.on_error == "deny" and rec.commit_interval == 0.05
    assert rec.durability == "group" and rec.write_timeout == 5.0
    strict = parse_config(
        text.replace("[recording]\n", "[recording]\ndurability = 'statement'\n"),
        env=ENV,
        base=tmp_path,
    )
    assert strict.recording.durability == "statement"
    assert (rec.dir, rec.key_file) == (tmp_path / "recordings", tmp_path / "k.key")
    env_key = parse_config(
        "[policy]\nmode = 'off'\n[recording]\n" + BASE,
        env={**ENV, "REGOGATE_SIGNING_KEY": "x"},
        base=tmp_path,
    )
    assert env_key.recording.enabled and env_key.recording.key_file is None
