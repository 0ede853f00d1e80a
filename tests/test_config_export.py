"""[recording] checkpoint_export and checkpoint_export_timeout."""

from __future__ import annotations

from pathlib import Path

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


def recording(lines: str, base: Path = Path("/etc/regogate")) -> RecordingConfig:
    text = f"[recording]\n{lines}\n" + BASE
    return parse_config(text, origin="gw.toml", env=ENV, base=base).recording


def test_defaults() -> None:
    rec = recording("")
    assert (rec.export_dirs, rec.export_urls, rec.checkpoint_export_timeout) == ((), (), 5.0)
    assert RecordingConfig().export_dirs == () and RecordingConfig().export_urls == ()


def test_one_directory_as_a_string_resolved_beside_the_config(tmp_path: Path) -> None:
    rec = recording("checkpoint_export = 'witness'", base=tmp_path)
    assert (rec.export_dirs, rec.export_urls) == ((tmp_path / "witness",), ())


def test_a_list_of_directories_and_urls_in_order() -> None:
    rec = recording(
        "checkpoint_export = ['/mnt/audit', 'https://witness.example.com/add', "
        "'rel/dir', 'http://127.0.0.1:8080/checkpoint']\ncheckpoint_export_timeout = 2"
    )
    assert rec.export_dirs == (Path("/mnt/audit"), Path("/etc/regogate/rel/dir"))
    assert rec.export_urls == (
        "https://witness.example.com/add",
        "http://127.0.0.1:8080/checkpoint",
    )
    assert rec.checkpoint_export_timeout == 2.0


def test_plain_http_to_another_host_is_allowed() -> None:
    rec = recording("checkpoint_export = 'http://audit.internal/checkpoints'")
    assert rec.export_urls == ("http://audit.internal/checkpoints",)


def test_an_empty_list_exports_nothing() -> None:
    rec = recording("checkpoint_export = []")
    assert (rec.export_dirs, rec.export_urls) == ((), ())


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("checkpoint_export = ''", "recording.checkpoint_export: must not be empty"),
        ("checkpoint_export = ['/a', ' ']", "recording.checkpoint_export[1]: must not be empty"),
        (
            "checkpoint_export = 3",
            "recording.checkpoint_export: must be a directory or an http(s):// URL, "
            "or a list of them; got int 3",
        ),
        (
            "checkpoint_export = ['/a', 7]",
            "recording.checkpoint_export[1]: must be a directory or an http(s):// URL",
        ),
        ("checkpoint_export = {dir = 'a'}", "recording.checkpoint_export: must be a directory"),
        (
            "checkpoint_export = 'ftp://witness.example.com/'",
            "recording.checkpoint_export: must be an http:// or https:// URL with a host, "
            "got 'ftp://witness.example.com/'",
        ),
        ("checkpoint_export = ['https://']", "recording.checkpoint_export[0]: must be an http"),
        ("checkpoint_export = 'https://h:99999/'", "checkpoint_export: is not a valid URL"),
        (
            "checkpoint_export = 'https://user:pw@witness.example.com/'",
            "recording.checkpoint_export: credentials are not allowed in the config file",
        ),
        (
            "checkpoint_export = ['/a', '/b', '/a']",
            "recording.checkpoint_export[2]: '/a' is listed twice",
        ),
        ("checkpoint_export_timeout = 0", "recording.checkpoint_export_timeout: must be more"),
        ("checkpoint_export_timeout = 61", "checkpoint_export_timeout: must be more than 0 and"),
        ("checkpoint_export_timeout = '5s'", "checkpoint_export_timeout: must be float"),
    ],
)
def test_errors(lines: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        recording(lines)
    assert str(info.value).startswith("gw.toml: ")
    assert message in str(info.value)


def test_the_anchor_defaults_beside_the_key_file_else_the_first_export_directory() -> None:
    base = Path("/etc/rg")
    beside = recording('key_file = "keys/signing.key"', base)
    assert beside.anchor_file == base / "keys/signing.key.checkpoint"
    assert beside.anchor_dir is None
    exported = recording('checkpoint_export = ["/mnt/audit", "https://w.example/add"]', base)
    assert exported.anchor_file is None and exported.anchor_dir == Path("/mnt/audit")
    named = recording('checkpoint_anchor = "state/last.note"\nkey_file = "k"', base)
    assert named.anchor_file == base / "state/last.note"
    assert recording("").anchor_file is None and recording("").anchor_dir is None


def test_the_runtime_uses_an_anchor_only_where_it_can_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from regogate.runtime import checkpoint_anchor

    missing = tmp_path / "absent"  # a directory that is not there: not writable
    explicit = recording(f'checkpoint_anchor = "{missing}/cp.note"', tmp_path)
    with pytest.raises(ConfigError, match="checkpoint_anchor: cannot write in"):
        checkpoint_anchor(explicit)
    beside = recording(f'key_file = "{missing}/signing.key"', tmp_path)
    assert checkpoint_anchor(beside) is None
    assert "the key file's directory" in caplog.text and "read-only" in caplog.text
    writable = recording(f'key_file = "{tmp_path}/signing.key"', tmp_path)
    assert checkpoint_anchor(writable) == tmp_path / "signing.key.checkpoint"
    exported = recording(
        f'key_file = "{missing}/signing.key"\ncheckpoint_export = "{tmp_path}/out"', tmp_path
    )
    caplog.clear()
    assert checkpoint_anchor(exported) is None and "no checkpoint anchor" not in caplog.text
