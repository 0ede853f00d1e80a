"""Signing keys: strict file permissions, environment, history file, no secret in any message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from regogate.errors import ConfigError
from regogate.recording.format.note import Signer, parse_verifier_list
from regogate.recording.write import keys

NAME = "bank.example/regogate/test"


def test_install_and_load(tmp_path: Path) -> None:
    signer = keys.generate(NAME)
    path = tmp_path / "signing.key"
    old = os.umask(0)
    try:
        keys.install_signer(path, signer)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600
    assert keys.load_signer(path).verifier == signer.verifier
    keys.install_signer(path, keys.generate(NAME))  # replaces atomically
    assert keys.load_signer(path).verifier != signer.verifier
    assert [p.name for p in tmp_path.iterdir()] == ["signing.key"]


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o620, 0o601])
def test_refuses_a_key_others_can_touch(tmp_path: Path, mode: int) -> None:
    signer = keys.generate(NAME)
    path = tmp_path / "signing.key"
    keys.install_signer(path, signer)
    path.chmod(mode)
    with pytest.raises(ConfigError) as err:
        keys.load_signer(path)
    message = str(err.value)
    assert message == (
        f"signing key file {path} has mode {mode:04o}: it must not be accessible to group or others"
    )
    assert err.value.hint == f"chmod 600 {path}"
    assert signer.skey() not in message and signer.skey().split("+", 4)[4] not in message


def test_refuses_what_is_not_a_key(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    secret = keys.generate(NAME).skey()
    path.write_text(secret[:-3] + "!!!\n")  # one typo in a real key
    path.chmod(0o600)
    with pytest.raises(ConfigError) as err:
        keys.load_signer(path)
    assert str(err.value).startswith(f"signing key file {path} does not hold a signer key")
    assert secret[20:] not in str(err.value)
    link = tmp_path / "link.key"
    link.symlink_to(path)
    with pytest.raises(ConfigError, match=r"link\.key"):
        keys.load_signer(link)
    with pytest.raises(ConfigError, match="No such file"):
        keys.load_signer(tmp_path / "absent.key")
    with pytest.raises(ConfigError, match="not a regular file"):
        keys.load_signer(Path("/dev/null"))


def test_from_the_environment() -> None:
    signer = keys.generate(NAME)
    got = keys.load_signer_from_env(environ={keys.ENV_VAR: signer.skey()})
    assert got.verifier == signer.verifier
    with pytest.raises(ConfigError, match=f"environment variable {keys.ENV_VAR} is not set"):
        keys.load_signer_from_env(environ={})
    with pytest.raises(ConfigError) as err:
        keys.load_signer_from_env("MY_KEY", environ={"MY_KEY": signer.skey()[:-4]})
    assert "environment variable MY_KEY does not hold a signer key" in str(err.value)
    assert signer.skey()[:-4] not in str(err.value)


def test_no_private_material_in_reprs() -> None:
    signer = keys.generate(NAME)
    seed = signer.skey().split("+", 4)[4]
    for text in (repr(signer), str(signer), repr(signer.verifier)):
        assert seed not in text
    with pytest.raises(ConfigError, match="signing key name"):
        keys.generate("has space")


def test_history(tmp_path: Path) -> None:
    path = tmp_path / "keys.vkeys"
    assert keys.read_history(path) == []
    a, b = Signer.generate(NAME), Signer.generate(NAME)
    assert keys.append_history(path, a.verifier, "2026-01-01T00:00:00.000000Z", a)
    assert keys.append_history(path, b.verifier, "2026-06-01T00:00:00.000000Z", a)
    assert not keys.append_history(path, a.verifier, "2027-01-01T00:00:00.000000Z", b)  # there
    history = keys.read_history(path)
    assert [(e.verifier, e.activated) for e in history] == [
        (a.verifier, "2026-01-01T00:00:00.000000Z"),
        (b.verifier, "2026-06-01T00:00:00.000000Z"),
    ]
    text = path.read_text()
    assert text.startswith("# regogate log-signing keys")
    assert parse_verifier_list(text) == [a.verifier, b.verifier]  # usable as a trust file
    c = Signer.generate(NAME)
    with pytest.raises(ConfigError, match="must be signed by"):  # only b may add the next key
        keys.append_history(path, c.verifier, "2027-01-01T00:00:00.000000Z", a)
    # A clock set back does not break the history: the entry takes the last time.
    assert keys.append_history(path, c.verifier, "2025-01-01T00:00:00.000000Z", b)
    assert keys.read_history(path)[-1].activated == "2026-06-01T00:00:00.000000Z"
    text = path.read_text()
    path.write_text(text + "garbage\n")
    with pytest.raises(ConfigError, match=r"keys.vkeys:7: malformed verifier key"):
        keys.read_history(path)
