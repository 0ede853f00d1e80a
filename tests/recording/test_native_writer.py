"""The native writer writes the bytes the Python writer writes, and refuses what it refuses.

Both run behind ``python -m regogate.recording.write.worker`` (``writer`` "python" or
"native") on the same frames: segment files, checkpoints.log (Ed25519 signatures are
deterministic) and every reply must be byte for byte the same.
"""

from __future__ import annotations

import math
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from regogate.recording.format.note import Signer
from regogate.recording.format.records import GatewayInfo
from regogate.recording.read.verify import verify_directory
from regogate.recording.write.core import frame
from regogate.recording.write.worker import NATIVE_ENV, native_writer


@pytest.fixture(autouse=True)
def built() -> None:
    if native_writer() is None:
        pytest.fail("the native writer is not built: run scripts/setup.sh")


GW = GatewayInfo("gw-ü-1", "0190f5a2-0000-7000-8000-000000000001", "0.1.0", "sha256:ab").to_json()
KEYS = ["a", "B", "z", "é", "€", "😀", "\ufb33", "\U0001f600x", "q\nr", "", "chain", "rows", "ñ"]
STRINGS = ["", "plain", 'quote " back \\ slash', "\x00\x01\x1f\x7f\b\f\n\r\t", "€ ü 😀 \u2028", "/"]
FLOATS = [0.0, -0.0, 1.0, -1.5, 0.1, 1e21, 1e20, 1e-7, 1e-6, 5e-324, 1.7976931348623157e308,
          333333333.33333329, 123456789012345.67, 2.5e-300, 9007199254740993.0]  # fmt: skip


def value(rng: random.Random, depth: int = 0) -> object:
    pick = rng.randrange(9 if depth < 3 else 6)
    if pick == 0:
        return rng.choice([None, True, False])
    if pick == 1:
        return rng.choice([0, 1, -1, 2**53 - 1, -(2**53 - 1), rng.randrange(-(10**12), 10**12)])
    if pick == 2:
        return rng.choice(FLOATS)
    if pick == 3:  # any finite double, from its bits
        f = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        return f if math.isfinite(f) else 2.0
    if pick in (4, 5):
        return rng.choice(STRINGS) + rng.choice(KEYS)
    if pick == 6:
        return [value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(KEYS) + str(i % 2): value(rng, depth + 1) for i in range(rng.randrange(5))}


def body(rng: random.Random) -> dict[str, object]:
    return {rng.choice(KEYS): value(rng) for _ in range(rng.randrange(6))}


OTHER = Signer.generate("other.example/log")
FUTURE = 4_102_444_800_000_000  # 2100-01-01, in µs


def batches(
    seed: int, count: int = 40, signer: Signer | None = None, first: int = 0
) -> list[tuple[list[bytes], bool, str | None]]:
    """Batches of frames as the gateway sends them: sessions opening, running and closing,
    gateway records, seals and (with ``signer``) a whole boot with a key rotation."""
    rng = random.Random(seed)
    # ts in 2100: each checkpoint's signing time is then the second of its last record
    # (never earlier, LogCore.signing_time), the same for both writers whatever the clock
    seq, ts = first, FUTURE + first * 10**9
    open_sessions: dict[str, int] = {}
    out: list[tuple[list[bytes], bool, str | None]] = []
    for b in range(count):
        frames = []
        if signer is not None and b == 0:
            start = {"origin": signer.name, "vkey": signer.verifier.vkey(), "recovered": [],
                     "last_seen_tree_size": 0, "prev_boot": None}  # fmt: skip
            frames.append(frame(seq, ts, "gateway.start", None, None, start))
            seq += 1
        for _ in range(rng.randrange(1, 12)):
            ts += rng.randrange(0, 3_000_000)
            roll = rng.random()
            if roll < 0.15 or not open_sessions:
                sid = f"0190f5a2-{seq:04x}-7000-8000-{rng.getrandbits(48):012x}"
                open_sessions[sid] = 0
                frames.append(frame(seq, ts, "session.open", sid, 0, body(rng)))
            elif roll < 0.25:
                sid = rng.choice(sorted(open_sessions))
                n = open_sessions.pop(sid) + 1
                close = {"reason": "terminated", "counts": {"records": n + 1}, "chain_head": None}
                frames.append(frame(seq, ts, "session.close", sid, n, close))
            elif roll < 0.3:
                frames.append(frame(seq, ts, "policy.load", None, None, body(rng)))
            else:
                sid = rng.choice(sorted(open_sessions))
                n = open_sessions[sid] = open_sessions[sid] + 1
                kind = rng.choice(["stmt", "decision", "result", "error", "x.custom"])
                frames.append(frame(seq, ts, kind, sid, n, body(rng)))
            seq += 1
        rotate = None
        if signer is not None and b == count // 2:
            keys = {"old": signer.verifier.vkey(), "new": OTHER.verifier.vkey()}
            frames.append(frame(seq, ts, "key.rotate", None, None, keys))
            seq, rotate = seq + 1, OTHER.skey()
        if signer is not None and b == count - 1:
            for sid, n in sorted(open_sessions.items()):
                close = {"reason": "gateway.stop", "counts": {"records": n + 2}, "chain_head": None}
                frames.append(frame(seq, ts, "session.close", sid, n + 1, close))
                seq += 1
            frames.append(frame(seq, ts, "gateway.stop", None, None, {"reason": "stop"}))
            seq += 1
        out.append((frames, rng.random() < 0.3 or b == count - 1, rotate))
    return out


def run(
    directory: Path, writer: str, signer: Signer, requests: bytes, fsync: str
) -> tuple[int, bytes]:
    init = {
        "dir": str(directory),
        "segment_bytes": 4096,  # many segments
        "fsync": fsync,
        "key": {"skey": signer.skey()},
        "gw": GW,
        "origin": signer.name,
        "writer": writer,
    }
    done = subprocess.run(
        [sys.executable, "-m", "regogate.recording.write.worker"],
        input=orjson.dumps(init) + b"\n" + requests,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert b"Traceback" not in done.stderr, done.stderr.decode()
    assert signer.skey().encode() not in done.stdout + done.stderr
    return done.returncode, done.stdout


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name != ".lock"}


def both(
    tmp_path: Path, requests: bytes, signer: Signer, fsync: str = "never"
) -> tuple[int, bytes]:
    """Run both writers on ``requests``; assert the same exit, replies and files."""
    results = {}
    for writer in ("python", "native"):
        d = tmp_path / writer
        results[writer] = (*run(d, writer, signer, requests, fsync), files(d))
    py, native = results["python"], results["native"]
    assert native[0] == py[0]
    assert native[2].keys() == py[2].keys()
    for name in py[2]:
        assert native[2][name] == py[2][name], name
    replies_py, replies_native = py[1].splitlines(), native[1].splitlines()
    assert orjson.loads(replies_py[0]) == {**orjson.loads(replies_native[0]), "writer": "python"}
    assert replies_native[1:] == replies_py[1:]
    return py[0], py[1]


def encode(batch: list[tuple[list[bytes], bool, str | None]]) -> bytes:
    lines = []
    for frames, seal, rotate in batch:
        lines.append(orjson.dumps([len(frames), seal, rotate]))
        lines.extend(frames)
    return b"\n".join(lines) + b"\n"


@pytest.mark.parametrize("seed", range(6))
def test_the_same_bytes_as_the_python_writer(tmp_path: Path, signer: Signer, seed: int) -> None:
    requests = encode(batches(seed, signer=signer))
    status, replies = both(
        tmp_path, requests, signer, fsync=["never", "always", "checkpoint"][seed % 3]
    )
    assert status == 0
    assert len(replies.splitlines()) == 41  # ok, then one per batch
    # and it is a sound log (the rotation's new key signs the later checkpoints)
    rotated = [orjson.loads(r)[1] for r in replies.splitlines()[1:]]
    assert any(rotated)
    verdict = verify_directory(tmp_path / "native", [signer.verifier, OTHER.verifier])
    assert verdict.ok, [str(f) for f in verdict.findings]


def test_continuing_a_log_in_a_new_segment(tmp_path: Path, signer: Signer) -> None:
    """A restart hands the scanned tree and segment to the native writer."""
    first = batches(7, 10)
    both(tmp_path, encode(first), signer)
    offset = sum(len(f) for f, _, _ in first)
    status, replies = both(tmp_path, encode(batches(8, 10, first=offset)), signer)
    assert status == 0
    assert orjson.loads(replies.splitlines()[0])["ok"]["size"] == offset


@pytest.mark.parametrize(
    "bad",
    [
        b'[0, 1000000, "stmt", "s", 1, {"seq": 5}]',  # sets an envelope field
        b'[0,1000000,"stmt","s",1,{"a":1,"seq":5}]',  # the same, compact and sorted
        b'[0, 1000000, "stmt", "s", 1, {"big": 9007199254740992}]',  # no canonical form
        b'[0,1000000,"stmt","s",1,{"big":9007199254740992}]',  # the same, compact
        b'[3, 1000000, "stmt", "s", 1, {}]',  # out of order
        b'[0, 1000000, "stmt", "s", 1, [1]]',  # body not an object
        b"[0, 1000000",  # not JSON
    ],
)
def test_a_refused_frame_writes_nothing_and_fails_closed(
    tmp_path: Path, signer: Signer, bad: bytes
) -> None:
    good = frame(0, FUTURE, "policy.load", None, None, {"ok": 1})
    requests = (
        b"[1, true, null]\n" + good + b"\n[1, false, null]\n" + bad.replace(b"[0,", b"[1,") + b"\n"
    )
    for writer in ("python", "native"):
        status, replies = run(tmp_path / writer, writer, signer, requests, "never")
        assert status == 1, writer
        lines = replies.splitlines()
        assert len(lines) == 3 and "error" in orjson.loads(lines[2]), (writer, lines)
    assert files(tmp_path / "python") == files(tmp_path / "native")
    assert verify_directory(tmp_path / "native", [signer.verifier]).records == 1


def _worker(
    tmp_path: Path, signer: Signer, writer: str, native: str
) -> tuple[int, list[object], str]:
    """The worker with ``$REGOGATE_NATIVE_WRITER`` set to ``native``, one sealed batch."""
    init = {
        "dir": str(tmp_path / "log"),
        "segment_bytes": 1 << 20,
        "fsync": "never",
        "key": {"skey": signer.skey()},
        "gw": GW,
        "origin": signer.name,
        "writer": writer,
    }
    good = frame(0, 1_000_000, "policy.load", None, None, {"ok": 1})
    done = subprocess.run(
        [sys.executable, "-m", "regogate.recording.write.worker"],
        input=orjson.dumps(init) + b"\n[1, true, null]\n" + good + b"\n",
        capture_output=True,
        timeout=60,
        check=False,
        env={**os.environ, NATIVE_ENV: native},
    )
    return (
        done.returncode,
        [orjson.loads(x) for x in done.stdout.splitlines()],
        done.stderr.decode(),
    )


def test_writer_native_refuses_to_start_without_the_native_writer(
    tmp_path: Path, signer: Signer
) -> None:
    status, replies, _ = _worker(tmp_path, signer, "native", str(tmp_path / "missing"))
    assert status == 1
    assert replies == [{"error": replies[0]["error"]}]  # type: ignore[index]
    assert "native recording writer is not built" in replies[0]["error"]  # type: ignore[index]


def test_writer_auto_falls_back_to_python_when_it_is_not_built(
    tmp_path: Path, signer: Signer
) -> None:
    status, replies, _ = _worker(tmp_path, signer, "auto", str(tmp_path / "missing"))
    assert status == 0
    assert replies[0]["writer"] == "python"  # type: ignore[index]
    assert replies[1][0] == 1 and replies[1][1]  # type: ignore[index]
    assert verify_directory(tmp_path / "log", [signer.verifier]).records == 1


def test_an_executable_that_cannot_run_leaves_the_python_writer_on(
    tmp_path: Path, signer: Signer
) -> None:
    broken = tmp_path / "regogate-writer"
    broken.write_bytes(b"\x7fELF not really")
    broken.chmod(0o755)
    status, replies, stderr = _worker(tmp_path, signer, "auto", str(broken))
    assert status == 0
    assert "could not start" in stderr and "Python writer" in stderr
    assert replies[1][0] == 1 and replies[1][1]  # type: ignore[index]
    assert verify_directory(tmp_path / "log", [signer.verifier]).records == 1
