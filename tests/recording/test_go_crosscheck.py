"""Independent cross-check: Go's golang.org/x/mod/sumdb/note and sumdb/tlog verify our
signed checkpoints, tree hashes, inclusion and consistency proofs.

The Go program is built from tests/recording/gocheck with the Go module proxy; a missing
Go toolchain fails the test (it is part of CI's setup), it never skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from regogate.recording import merkle
from regogate.recording.checkpoint import Checkpoint
from regogate.recording.note import Signer

SRC = Path(__file__).parent / "gocheck"


@pytest.fixture(scope="session")
def gocheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("gocheck")
    shutil.copytree(SRC, work / "src")
    out = work / "gocheck"
    p = subprocess.run(
        ["go", "build", "-o", str(out), "."],
        cwd=work / "src",
        env={**os.environ, "GOFLAGS": "-mod=mod"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    return out


def _run(binary: Path, doc: dict[str, object]) -> str:
    p = subprocess.run(
        [str(binary)],
        input=json.dumps(doc),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return p.stdout.strip()


def _document(n: int) -> tuple[dict[str, object], Signer]:
    leaves = [merkle.leaf_hash(f"record {i}".encode()) for i in range(n)]
    root = merkle.root(leaves)
    signer = Signer.generate("bank.example/regogate/crosscheck")
    text = Checkpoint("bank.example/regogate/crosscheck", n, root).text()
    inclusion = [
        {
            "index": i,
            "size": size,
            "leaf": leaves[i].hex(),
            "root": merkle.root(leaves[:size]).hex(),
            "proof": [x.hex() for x in merkle.inclusion_proof(i, leaves[:size])],
        }
        for size in range(1, n + 1)
        for i in range(0, size, 3)
    ]
    consistency = [
        {
            "old": m,
            "new": size,
            "old_root": merkle.root(leaves[:m]).hex(),
            "new_root": merkle.root(leaves[:size]).hex(),
            "proof": [x.hex() for x in merkle.consistency_proof(m, leaves[:size])],
        }
        for size in range(2, n + 1)
        for m in range(1, size)
    ]
    doc: dict[str, object] = {
        "vkey": signer.verifier.vkey(),
        "note": signer.sign(text),
        "text": text,
        "leaves": [x.hex() for x in leaves],
        "root": root.hex(),
        "inclusion": inclusion,
        "consistency": consistency,
    }
    return doc, signer


def test_go_accepts_our_checkpoints_and_proofs(gocheck: Path) -> None:
    doc, _ = _document(23)
    assert _run(gocheck, doc) == "ok"


def test_go_rejects_tampering(gocheck: Path) -> None:
    doc, _ = _document(9)
    forged = dict(doc, note=str(doc["note"]).replace("\n9\n", "\n8\n"))
    assert "note.Open" in _run(gocheck, forged)
    other = Signer.generate("bank.example/regogate/crosscheck")
    assert "note.Open" in _run(gocheck, dict(doc, vkey=other.verifier.vkey()))
    bad_root = dict(doc, root="00" * 32)
    assert "tree hash differs" in _run(gocheck, bad_root)
    inc = list(doc["inclusion"])  # type: ignore[call-overload]
    inc[5] = dict(inc[5], leaf="11" * 32)
    assert "CheckRecord" in _run(gocheck, dict(doc, inclusion=inc))
