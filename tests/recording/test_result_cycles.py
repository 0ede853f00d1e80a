"""One ``result`` record per request cycle, however TCP cut the bytes, and a digest an
examiner can recompute from a capture of what the client received (recording-format.md
"Result digests").

The recomputation here is independent of regogate's code: messages are split with
``struct``, the key derived with ``cryptography``'s HKDF, the MAC with ``hmac``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from regogate.recording.format.note import Signer
from regogate.recording.read.verify import verify_directory
from regogate.recording.write import hotpath, native
from regogate.recording.write.core import serialize
from regogate.wire.backend import (
    CommandComplete,
    DataRow,
    FieldDescription,
    ReadyForQuery,
    RowDescription,
)
from regogate.wire.frontend import Query
from tests.fix_gateway import GatewayFixture
from tests.policy.test_enforce_e2e import policy_dir, policy_section
from tests.rawpg import RawClient
from tests.recording.test_gateway_recording import recording_setup, records

KEY = b"k" * 32


def examiner_key(signer: Signer) -> bytes:
    """HKDF-SHA256(seed of the Ed25519 key, info "regogate result digests v1")."""
    seed = base64.b64decode(signer.skey().split("+", 4)[4])[1:]
    info = b"regogate result digests v1"
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(seed)


def cycles(captured: bytes) -> list[bytes]:
    """The captured bytes cut after each ReadyForQuery ('Z'): one slice per cycle."""
    out, start, pos = [], 0, 0
    while pos + 5 <= len(captured):
        tag = captured[pos : pos + 1]
        (length,) = struct.unpack("!I", captured[pos + 1 : pos + 5])
        pos += 1 + length
        if tag == b"Z":
            out.append(captured[start:pos])
            start = pos
    assert start == len(captured), "the capture ends inside a cycle"
    return out


def engines() -> list[hotpath.Engine]:
    out = [hotpath.PYTHON]
    if native.use_native("auto"):
        out.append(hotpath.select("native"))
    return out


def _cycle(n: int) -> bytes:
    return (
        RowDescription((FieldDescription("n"),)).encode()
        + b"".join(DataRow((str(i).encode(),)).encode() for i in range(n))
        + CommandComplete(f"SELECT {n}").encode()
        + ReadyForQuery(b"I").encode()
    )


@pytest.mark.parametrize("engine", engines(), ids=lambda e: e.name)
@pytest.mark.parametrize("step", [0, 1, 3, 7])
def test_a_chunk_with_two_cycles_gives_two_results(engine: hotpath.Engine, step: int) -> None:
    stream = _cycle(2) + _cycle(5)
    queue = engine.queue(1, wake=lambda: None, max_record=1 << 20, max_pending=1 << 24)
    queue.accepting = True
    chain = engine.chain(queue, "0190f5a2-0000-7000-8000-000000000000")
    tap = engine.tap(chain, key=KEY, serialize=serialize, clock=lambda: 1.0)
    tap.event("stmt", {"text": "a"})
    tap.event("stmt", {"text": "b"})
    chunks = [stream] if not step else [stream[i : i + step] for i in range(0, len(stream), step)]
    for chunk in chunks:
        tap.upstream(chunk)
    blob, count, _ = queue.take(100)
    bodies = [json.loads(line)[5] for line in blob.splitlines()]
    results = [b for b in bodies if "digest" in b]
    assert count == 4 and len(results) == 2
    for body, part in zip(results, cycles(stream), strict=True):
        assert body["bytes"] == len(part)
        assert body["digest"] == hmac.new(KEY, part, hashlib.sha256).hexdigest()
    assert [r["tags"] for r in results] == [["SELECT 2"], ["SELECT 5"]]
    assert [r["rows"] for r in results] == [2, 5]


def test_pipelined_cycles_through_a_gateway_match_the_capture(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> None:
    section, signer, rec_dir = recording_setup(tmp_path)
    gw = make_gateway(extra=policy_section(policy_dir(tmp_path)) + section)
    client = RawClient(gw.port, "dba", gw.token("dba"))
    assert client.startup_error is None
    queries = [f"select {i} as n, repeat('x', {i})" for i in range(12)] + ["select 1/0"]
    # every Query in one write: responses pile up, so reads carry several ReadyForQuery
    client.send(b"".join(Query(q).encode() for q in queries))
    captured = bytearray(client.reader.take_buffered())
    while len(cycles_partial(bytes(captured))) < len(queries):
        data = client.sock.recv(65536)
        assert data, "the gateway closed the connection"
        captured += data
    client.close()
    assert gw.process is not None
    assert gw.process.stop() == 0
    assert verify_directory(rec_dir, [signer.verifier]).ok

    results = [json.loads(r.data) for r in records(rec_dir) if r.type == "result"]
    parts = cycles(bytes(captured))
    assert len(parts) == len(queries)
    mine = results[-len(queries) :]
    key = examiner_key(signer)
    for body, part in zip(mine, parts, strict=True):
        assert body["bytes"] == len(part)
        assert body["digest"] == hmac.new(key, part, hashlib.sha256).hexdigest()
    assert mine[0]["tags"] == ["SELECT 1"] and mine[-1]["error"] == "22012"


def cycles_partial(captured: bytes) -> list[int]:
    """End offsets of the complete cycles in ``captured`` so far."""
    ends, pos = [], 0
    while pos + 5 <= len(captured):
        (length,) = struct.unpack("!I", captured[pos + 1 : pos + 5])
        if pos + 1 + length > len(captured):
            break
        if captured[pos : pos + 1] == b"Z":
            ends.append(pos + 1 + length)
        pos += 1 + length
    return ends
