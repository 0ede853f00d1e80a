"""Only the writer process holds the log-signing key: a real `regogate serve` whose key
comes from the environment or a file keeps no copy of it — not in its environment, not
anywhere in its memory — and its log verifies (issue 19, "Only the writer can sign")."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path

import psutil
import psycopg
import pytest

from regogate.recording.format.note import Signer
from regogate.recording.read.verify import verify_directory
from regogate.recording.write import keys
from tests.fix_gateway import GatewayFixture
from tests.policy.test_enforce_e2e import policy_dir, policy_section

_REGION = re.compile(rb"^([0-9a-f]+)-([0-9a-f]+) (r)")


def memory_holds(pid: int, needles: list[bytes]) -> list[bytes]:
    """The needles found in any readable mapping of process ``pid``."""
    found: set[bytes] = set()
    with open(f"/proc/{pid}/maps", "rb") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for entry in maps:
            m = _REGION.match(entry)
            if m is None or b"[vvar" in entry or b"[vsyscall" in entry:
                continue
            lo, hi = int(m.group(1), 16), int(m.group(2), 16)
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            found.update(n for n in needles if n in data)
    return sorted(found)


def secrets_of(signer: Signer) -> list[bytes]:
    """The key as text, its base64 seed and the raw seed bytes."""
    skey = signer.skey()
    blob = skey.split("+", 4)[4]
    return [skey.encode(), blob.encode(), base64.b64decode(blob)[1:]]


def run_and_check(gw: GatewayFixture, signer: Signer, rec_dir: Path) -> None:
    assert gw.process is not None
    with psycopg.connect(gw.dsn("analyst"), autocommit=True) as conn:
        assert conn.execute("select count(*) from customers").fetchone() is not None
        pid = gw.process.proc.pid
        gateway = psutil.Process(pid)
        writers = [c for c in gateway.children() if "python" not in " ".join(c.cmdline()[:1])]
        writers = writers or gateway.children()
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert b"REGOGATE_SIGNING_KEY" not in environ
        assert not memory_holds(pid, secrets_of(signer)), "the gateway holds the signing key"
        for child in writers:
            assert b"REGOGATE_SIGNING_KEY" not in Path(f"/proc/{child.pid}/environ").read_bytes()
    gw.process.stop()
    verdict = verify_directory(rec_dir, [signer.verifier])
    assert verdict.ok and verdict.sealed, [str(f) for f in verdict.errors]


def test_a_key_from_the_environment_is_consumed_before_serving(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> None:
    signer = keys.generate("test.example/regogate")
    rec_dir = tmp_path / "recordings"
    section = f'[recording]\ndir = "{rec_dir}"\ncheckpoint_interval = 0.5\n'
    gw = make_gateway(
        extra=policy_section(policy_dir(tmp_path)) + section,
        env={"REGOGATE_SIGNING_KEY": signer.skey()},
    )
    run_and_check(gw, signer, rec_dir)


def test_a_key_file_is_read_by_the_writer_alone(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> None:
    signer = keys.generate("test.example/regogate")
    key_file = tmp_path / "rec.key"
    keys.install_signer(key_file, signer)
    rec_dir = tmp_path / "recordings"
    section = f'[recording]\ndir = "{rec_dir}"\nkey_file = "{key_file}"\n'
    gw = make_gateway(extra=policy_section(policy_dir(tmp_path)) + section)
    run_and_check(gw, signer, rec_dir)


def test_the_memory_scan_finds_a_key_that_is_there(tmp_path: Path) -> None:
    """The check above can fail: this process holds the key it just made."""
    import os

    signer = keys.generate("test.example/regogate")
    held = signer.skey().encode()
    assert memory_holds(os.getpid(), [held]) == [held]
    del held


def test_a_bad_key_is_a_readable_error_from_the_writer(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> None:
    rec_dir = tmp_path / "recordings"
    section = f'[recording]\ndir = "{rec_dir}"\n'
    with pytest.raises(RuntimeError) as err:
        make_gateway(
            extra=policy_section(policy_dir(tmp_path)) + section,
            env={"REGOGATE_SIGNING_KEY": "PRIVATE+KEY+not+a+key"},
        )
    text = str(err.value)
    assert "REGOGATE_SIGNING_KEY does not hold a signer key" in text
    assert "Traceback" not in text and "not+a+key" not in text
