"""[recording] tsa_url and tsa_interval: RFC 3161 timestamps on checkpoints."""

from __future__ import annotations

import pytest

from regogate.config import RecordingConfig, parse_config
from regogate.errors import ConfigError

BASE = """
[policy]
mode = "off"

[connections.bank]
host = "127.0.0.1"
user = "svc"
"""
ENV = {"REGOGATE_SIGNING_KEY": "k"}


def recording(lines: str) -> RecordingConfig:
    return parse_config(f"[recording]\n{lines}\n" + BASE, origin="gw.toml", env=ENV).recording


def test_off_by_default() -> None:
    rec = recording("")
    assert (rec.tsa_url, rec.tsa_interval) == (None, 60.0)
    assert (RecordingConfig().tsa_url, RecordingConfig().tsa_interval) == (None, 60.0)


def test_a_tsa() -> None:
    rec = recording("tsa_url = 'https://tsa.bank.example/tsr'\ntsa_interval = 3600")
    assert (rec.tsa_url, rec.tsa_interval) == ("https://tsa.bank.example/tsr", 3600.0)
    assert recording("tsa_url = 'http://127.0.0.1:8318/'").tsa_url == "http://127.0.0.1:8318/"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("tsa_url = 'ftp://tsa.example/'", "recording.tsa_url: must be an http:// or https://"),
        ("tsa_url = ''", "recording.tsa_url: must be an http:// or https:// URL"),
        ("tsa_url = 5", "recording.tsa_url: must be an http:// or https:// URL, got 5"),
        ("tsa_url = 'https://u:p@tsa.example/'", "tsa_url: credentials are not allowed"),
        ("tsa_interval = 0", "recording.tsa_interval: must be positive"),
        ("tsa_url_x = 'https://t/'", 'did you mean "tsa_url"?'),
    ],
)
def test_errors(lines: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        recording(lines)
    assert str(info.value).startswith("gw.toml: ")
    assert message in str(info.value)
