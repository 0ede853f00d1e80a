"""The MAC root secret (recording.mac): per-session keys, per-literal commitments."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import pytest

from regogate.errors import ConfigError
from regogate.recording.format.mac import MacError, MacRoot, literal_mac, literal_macs
from regogate.recording.write import keys


def test_sessions_get_keys_of_their_own_that_open_nothing_else() -> None:
    root = MacRoot.generate()
    a, b = root.literal_key("s-a"), root.literal_key("s-b")
    assert len(a) == 32 and a != b and a != root.digest_key("s-a")
    assert root.literal_key("s-a") == a  # stable
    assert MacRoot.parse(root.text()).literal_key("s-a") == a
    assert MacRoot.generate().literal_key("s-a") != a
    assert root.id.startswith("mac+") and root.id == MacRoot.parse(root.text()).id
    assert root.text() not in repr(root)


def test_a_literal_commitment_is_over_its_number_and_its_token_text() -> None:
    key = bytes(range(32))
    expected = hmac.new(key, b"[3,\"'O''Brien'\"]", hashlib.sha256).hexdigest()[:32]
    assert literal_mac(key, 3, "'O''Brien'") == expected
    assert literal_mac(key, 2, "'O''Brien'") != expected  # bound to its place
    assert literal_mac(key, 3, "'O'Brien'") != expected
    assert literal_macs(key, 3, ("'O''Brien'", "42")) == {
        "3": expected,
        "4": literal_mac(key, 4, "42"),
    }
    raw = "'\udcff'"  # a byte that is not UTF-8, kept exact
    assert (
        literal_mac(key, 1, raw)
        == hmac.new(key, b'[1,{"base64":"J/8n"}]', hashlib.sha256).hexdigest()[:32]
    )


@pytest.mark.parametrize("text", ["", "regogate-mac-v1:", "regogate-mac-v1:!!", "x" * 60])
def test_malformed_roots_are_refused(text: str) -> None:
    with pytest.raises(MacError):
        MacRoot.parse(text)


def test_the_mac_file_is_private_and_never_quoted(tmp_path: Path) -> None:
    path = tmp_path / "signing.key.mac"
    root = MacRoot.generate()
    keys.write_mac_root(path, root)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert keys.load_mac_root(path).id == root.id
    os.chmod(path, 0o640)
    with pytest.raises(ConfigError, match="mode 0640"):
        keys.load_mac_root(path)
    os.chmod(path, 0o600)
    path.write_text("regogate-mac-v1:c2VjcmV0LXNlY3JldA==\n")
    with pytest.raises(ConfigError) as err:
        keys.load_mac_root(path)
    assert "c2VjcmV0" not in err.value.message
