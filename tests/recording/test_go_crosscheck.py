"""Independent cross-check: Go's golang.org/x/mod/sumdb/note and sumdb/tlog verify our
signed checkpoints, tree hashes, inclusion and consistency proofs.

Go is given only the trusted verifier keys, the origin, the signed notes and the exact
record bytes. It hashes the leaves itself (``tlog.RecordHash``), parses each checkpoint
out of the verified note text, and requires its size and root to match
``tlog.TreeHash`` over its own leaves; proofs are checked against Go's own leaf and tree
hashes. Leaf and root values we send next to a proof are only compared with Go's.

The Go program is built from tests/recording/gocheck with the Go module proxy; a missing
Go toolchain fails the test (it is part of CI's setup), it never skips.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from regogate.recording.format import merkle
from regogate.recording.format.checkpoint import Checkpoint
from regogate.recording.format.merkle import leaf_hash
from regogate.recording.format.note import Signer
from regogate.recording.format.proof import RecordProof
from regogate.recording.read.verify import verify_directory
from tests.recording.conftest import ORIGIN, everything, load, write_log

SRC = Path(__file__).parent / "gocheck"
CROSS = "bank.example/regogate/crosscheck"


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
    out = p.stdout.strip()
    assert (p.returncode == 0) == (out == "ok"), (p.returncode, out, p.stderr)
    return out


def _b64(records: list[bytes]) -> list[str]:
    return [base64.b64encode(r).decode() for r in records]


def _records(n: int) -> list[bytes]:
    return [f"record {i}".encode() for i in range(n)]


def _flip(record: bytes, at: int = 3) -> bytes:
    return record[:at] + bytes([record[at] ^ 0x01]) + record[at + 1 :]


def _document(n: int) -> tuple[dict[str, object], Signer]:
    records = _records(n)
    leaves = [merkle.leaf_hash(r) for r in records]
    signer = Signer.generate(CROSS)
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
        "origin": CROSS,
        "vkeys": [signer.verifier.vkey()],
        "notes": [signer.sign(Checkpoint(CROSS, n, merkle.root(leaves)).text())],
        "records": _b64(records),
        "inclusion": inclusion,
        "consistency": consistency,
    }
    return doc, signer


def _signed(signer: Signer, size: int, root: bytes, origin: str = CROSS) -> list[str]:
    """One checkpoint note, correctly signed by ``signer``, saying whatever we ask."""
    return [signer.sign(Checkpoint(origin, size, root).text())]


def test_go_accepts_our_checkpoints_and_proofs(gocheck: Path) -> None:
    doc, signer = _document(23)
    assert _run(gocheck, doc) == "ok"
    # Nothing but notes and records: Go derives every hash itself.
    bare = dict(doc, inclusion=[], consistency=[])
    assert _run(gocheck, bare) == "ok"
    for key in ("leaf", "root"):
        inc = [{k: v for k, v in x.items() if k != key} for x in doc["inclusion"]]  # type: ignore[attr-defined]
        assert _run(gocheck, dict(doc, inclusion=inc)) == "ok"
    # Several checkpoints over growing prefixes, and extension lines (kept, not read).
    leaves = [leaf_hash(r) for r in _records(23)]
    notes = [*_signed(signer, 7, merkle.root(leaves[:7])), *doc["notes"]]  # type: ignore[misc]
    assert _run(gocheck, dict(doc, notes=notes)) == "ok"
    ext = signer.sign(Checkpoint(CROSS, 23, merkle.root(leaves), ("x-ext 1",)).text())
    assert _run(gocheck, dict(doc, notes=[ext])) == "ok"


def test_go_rejects_tampering(gocheck: Path) -> None:
    doc, _ = _document(9)
    notes: list[str] = doc["notes"]  # type: ignore[assignment]
    forged = dict(doc, notes=[notes[0].replace("\n9\n", "\n8\n")])
    assert "note.Open" in _run(gocheck, forged)
    other = Signer.generate(CROSS)
    assert "note.Open" in _run(gocheck, dict(doc, vkeys=[other.verifier.vkey()]))
    inc = list(doc["inclusion"])  # type: ignore[call-overload]
    assert "supplied root differs" in _run(
        gocheck, dict(doc, inclusion=[*inc[:5], dict(inc[5], root="00" * 32), *inc[6:]])
    )
    assert "supplied leaf differs" in _run(
        gocheck, dict(doc, inclusion=[*inc[:5], dict(inc[5], leaf="11" * 32), *inc[6:]])
    )
    big = next(i for i, x in enumerate(inc) if x["proof"])
    bad = dict(inc[big], proof=["22" * 32, *inc[big]["proof"][1:]])
    bare = [{k: v for k, v in x.items() if k not in ("leaf", "root")} for x in inc]
    assert "CheckRecord" in _run(gocheck, dict(doc, inclusion=[*inc[:big], bad]))
    assert "CheckRecord" in _run(gocheck, dict(doc, inclusion=[*bare[:big], bad]))
    con = list(doc["consistency"])  # type: ignore[call-overload]
    bad = dict(con[-1], proof=["33" * 32, *con[-1]["proof"][1:]])
    assert "CheckTree" in _run(gocheck, dict(doc, consistency=[bad]))


def test_go_rejects_a_signed_checkpoint_that_disagrees_with_the_records(gocheck: Path) -> None:
    """Correctly signed notes by the trusted key whose body does not describe the tree
    of the records: Go must check the body, not only the signature."""
    doc, signer = _document(9)
    records = _records(9)
    leaves = [leaf_hash(r) for r in records]

    def run(notes: list[str]) -> str:
        return _run(gocheck, dict(doc, notes=notes))

    assert "signed root" in run(_signed(signer, 5, bytes(32)))
    assert "signed root" in run(_signed(signer, 9, bytes(32)))
    altered = [*leaves[:4], leaf_hash(b"record x"), *leaves[5:]]
    assert "signed root" in run(_signed(signer, 9, merkle.root(altered)))
    assert "signed root" in run(_signed(signer, 9, merkle.root(leaves[:8])))
    assert "signed root" in run(_signed(signer, 8, merkle.root(leaves)))
    # A true statement about a prefix, but the records go further: not the newest head.
    assert "covers 5 of the 9" in run(_signed(signer, 5, merkle.root(leaves[:5])))
    assert "exceeds" in run(_signed(signer, 10, merkle.root([*leaves, leaves[0]])))
    assert "origin" in run(_signed(signer, 9, merkle.root(leaves), "bank.example/other"))
    # The older of two checkpoints is checked too, and sizes never decrease.
    good = _signed(signer, 9, merkle.root(leaves))
    assert "checkpoint 0: signed root" in run(_signed(signer, 5, bytes(32)) + good)
    assert "size 5 after 9" in run(good + _signed(signer, 5, merkle.root(leaves[:5])))


def test_go_rejects_a_flipped_record_byte(gocheck: Path) -> None:
    """Go hashes the record bytes itself: one flipped bit anywhere breaks the signed root,
    whatever leaf and root values come along with the proofs."""
    doc, _ = _document(9)
    for k in (0, 4, 8):
        records = _records(9)
        records[k] = _flip(records[k])
        assert "signed root" in _run(gocheck, dict(doc, records=_b64(records))), k
    records = _records(9)
    records[4] += b"\n"  # the leaf is the line without its newline
    assert "signed root" in _run(gocheck, dict(doc, records=_b64(records)))


def test_go_accepts_a_real_recording(gocheck: Path, tmp_path: Path) -> None:
    """A Recorder's own checkpoints.log, tlog-proofs and consistency proofs, before and
    after a key rotation, checked by note.Open, tlog.RecordHash, tlog.TreeHash,
    CheckRecord and CheckTree."""
    old, new = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    write_log(tmp_path, old, everything(rotate_to=new), checkpoint_every=7)
    verdict = verify_directory(tmp_path, [old.verifier, new.verifier])
    assert verdict.ok and verdict.sealed and len(verdict.checkpoints) > 4
    signed = verdict.checkpoints
    assert signed[0].signers == (old.verifier,) and signed[-1].signers == (new.verifier,)
    records: list[bytes] = []
    for seg in load(tmp_path)[0]:  # §1: each record is its bytes, then "\n"
        *lines, tail = seg.data.split(b"\n")
        assert tail == b""
        records += lines
    assert len(records) == signed[-1].checkpoint.size
    leaves = [leaf_hash(x) for x in records]
    vkeys = [old.verifier.vkey(), new.verifier.vkey()]
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
            "origin": ORIGIN,
            "vkeys": vkeys,
            "notes": [c.note for c in signed[: k + 1]],
            "records": _b64(records[: cp.size]),
            "inclusion": inclusion,
            "consistency": consistency,
        }
        assert _run(gocheck, doc) == "ok", k
        flipped = [*records[:3], _flip(records[3], 10), *records[4 : cp.size]]
        assert "signed root" in _run(gocheck, dict(doc, records=_b64(flipped))), k
    # Trusting only the new key leaves the old key's checkpoints unverified.
    assert "note.Open(checkpoint 0)" in _run(gocheck, dict(doc, vkeys=[new.verifier.vkey()]))
