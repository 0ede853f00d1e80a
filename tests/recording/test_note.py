"""Signed notes and checkpoints: round trip, tamper, wrong key, malformed input."""

from __future__ import annotations

import pytest

from regogate.recording.format import merkle
from regogate.recording.format.checkpoint import Checkpoint
from regogate.recording.format.note import (
    NoteError,
    Signer,
    Verifier,
    open_note,
    parse_verifier_list,
)

ORIGIN = "bank.example/regogate/test"


def _checkpoint(n: int = 5) -> Checkpoint:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(n)]
    return Checkpoint(ORIGIN, n, merkle.root(leaves))


def test_sign_open_round_trip() -> None:
    signer = Signer.generate(ORIGIN)
    note = signer.sign(_checkpoint().text())
    text, good = open_note(note, [signer.verifier])
    assert good == [signer.verifier]
    assert Checkpoint.parse(text) == _checkpoint()
    assert "\n\u2014 bank.example/regogate/test " in note


@pytest.mark.parametrize("attempt", range(20))  # fresh keys: base64 with "+" and "/" occurs
def test_keys_round_trip_and_ids(attempt: int) -> None:
    signer = Signer.generate(f"regogate-demo-{attempt}")
    again = Signer.parse(signer.skey())
    assert again.verifier == signer.verifier
    assert Verifier.parse(signer.verifier.vkey()) == signer.verifier
    assert signer.skey() not in repr(signer)
    vkey = signer.verifier.vkey()
    _name, hexid, _ = vkey.split("+", 2)
    with pytest.raises(NoteError, match="does not match"):
        Verifier.parse(vkey.replace(hexid, "00000000"))


def test_tampered_text_fails() -> None:
    signer = Signer.generate(ORIGIN)
    note = signer.sign(_checkpoint(5).text())
    forged = note.replace("\n5\n", "\n6\n", 1)
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(forged, [signer.verifier])


def test_other_key_is_not_trusted() -> None:
    signer, other = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    note = other.sign(_checkpoint().text())
    with pytest.raises(NoteError, match="no signature by a trusted key"):
        open_note(note, [signer.verifier])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "origin\n5\n",
        "origin\nx\nAAAA\n",
        "origin\n05\n" + "A" * 44 + "\n",
        "origin\n5\nnot base64!\n",
        "\n5\n" + "A" * 44 + "\n",
    ],
)
def test_malformed_checkpoints(text: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse(text)


def test_malformed_notes() -> None:
    signer = Signer.generate(ORIGIN)
    with pytest.raises(NoteError):
        open_note("no signatures\n", [signer.verifier])
    with pytest.raises(NoteError):
        open_note("text\n\nnot a signature line\n", [signer.verifier])
    with pytest.raises(NoteError):
        signer.sign("no trailing newline")


def test_checkpoint_extension_lines() -> None:
    cp = Checkpoint.parse(_checkpoint().text().rstrip("\n") + "\nextension one\n")
    assert cp.extensions == ("extension one",)
    assert Checkpoint.parse(cp.text()) == cp
    with pytest.raises(NoteError, match="empty extension line"):
        Checkpoint.parse(_checkpoint().text() + "\nx\n")


def test_trust_file() -> None:
    a, b = Signer.generate("a.example/log"), Signer.generate("b.example/log")
    text = f"# trusted log keys\n\n{a.verifier.vkey()}\n  {b.verifier.vkey()} 2026-01-01T00:00:00.000000Z\n"
    assert parse_verifier_list(text) == [a.verifier, b.verifier]
    with pytest.raises(NoteError, match="line 2: malformed verifier key"):
        parse_verifier_list(f"{a.verifier.vkey()}\nnot-a-key\n")


def test_unknown_signatures_are_ignored_and_cosigned_notes_open() -> None:
    log, witness = Signer.generate(ORIGIN), Signer.generate("witness.example")
    note = log.sign(_checkpoint().text())
    cosigned = note + witness.sign(_checkpoint().text()).split("\n\n", 1)[1]
    _, good = open_note(cosigned, [log.verifier])
    assert good == [log.verifier]
    _, both = open_note(cosigned, [log.verifier, witness.verifier])
    assert both == [log.verifier, witness.verifier]
