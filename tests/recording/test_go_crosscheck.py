"""Independent cross-check: Go's golang.org/x/mod/sumdb/note and sumdb/tlog verify our
signed checkpoints, tree hashes, inclusion and consistency proofs.

The Go program is built from tests/recording/gocheck with the Go module proxy; a missing
Go toolchain fails the test (it is part of CI's setup), it never skips.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from regogate.recording import merkle
from regogate.recording.checkpoint import Checkpoint
from regogate.recording.merkle import leaf_hash
from regogate.recording.note import Signer
from regogate.recording.proof import RecordProof
from regogate.recording.verify import verify_directory
from tests.recording.conftest import ORIGIN, everything, load, write_log

SRC = Path(__file__).parent / "gocheck"


@pytest.fixture(scope="session")
def gocheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert shutil.which("go"), "the Go toolchain is required for this test (CI installs it)"
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


def test_go_accepts_a_real_recording(gocheck: Path, tmp_path: Path) -> None:
    """A Recorder's own checkpoints.log, tlog-proofs and consistency proofs, before and
    after a key rotation, checked by note.Open, tlog.TreeHash, CheckRecord and CheckTree."""
    old, new = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    write_log(tmp_path, old, everything(rotate_to=new), checkpoint_every=7)
    verdict = verify_directory(tmp_path, [old.verifier, new.verifier])
    assert verdict.ok and verdict.sealed and len(verdict.checkpoints) > 4
    signed = verdict.checkpoints
    assert signed[0].signers == (old.verifier,) and signed[-1].signers == (new.verifier,)
    leaves = [leaf_hash(x) for seg in load(tmp_path)[0] for x in seg.data.splitlines()]
    last_old = max(i for i, c in enumerate(signed) if c.signers == (old.verifier,))
    for k in (last_old, len(signed) - 1):
        cp = signed[k].checkpoint
        inclusion = []
        for seq in range(0, cp.size, 2):
            if k == len(signed) - 1:  # the tlog-proof an examiner would be handed
                hashes = list(RecordProof.parse(verdict.inclusion_proof(seq).text()).hashes)
            else:
                hashes = verdict.tree.inclusion_proof(seq, cp.size)
            inclusion.append(
                {
                    "index": seq,
                    "size": cp.size,
                    "leaf": leaves[seq].hex(),
                    "root": cp.root.hex(),
                    "proof": [h.hex() for h in hashes],
                }
            )
        consistency = []
        for a, b in itertools.pairwise(c.checkpoint for c in signed[: k + 1]):
            proof = verdict.tree.consistency_proof(a.size, b.size)
            consistency.append(
                {
                    "old": a.size,
                    "new": b.size,
                    "old_root": a.root.hex(),
                    "new_root": b.root.hex(),
                    "proof": [h.hex() for h in proof],
                }
            )
        doc: dict[str, object] = {
            "vkey": signed[k].signers[0].vkey(),
            "note": signed[k].note,
            "text": cp.text(),
            "leaves": [h.hex() for h in leaves[: cp.size]],
            "root": cp.root.hex(),
            "inclusion": inclusion,
            "consistency": consistency,
        }
        assert _run(gocheck, doc) == "ok", k
