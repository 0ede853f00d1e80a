"""Literal commitments: the Redactor's HMAC is the one docs/recording-format.md describes."""

from __future__ import annotations

import hashlib
import hmac

import rfc8785

from regogate.recording import keys
from regogate.recording.commit import Redactor, commit, commitment_key


def test_redactor_commitment_is_hmac_over_the_jcs_literals() -> None:
    signer = keys.generate("test.example/commit")
    key = commitment_key(signer)
    redactor = Redactor(key, "k")
    sql = "SELECT * FROM t WHERE name = E'Zo\\u00eb' AND id = 42 AND note = 'a\"b'"
    body = redactor(sql)
    literals = ["E'Zo\\u00eb'", "42", "'a\"b'"]
    assert body["literals"] == 3
    expected = hmac.new(key, rfc8785.dumps(literals), hashlib.sha256).hexdigest()
    assert body["literals_commitment"] == expected == commit(key, tuple(literals))
    # the keyed state is copied per statement, not consumed
    again = redactor("SELECT * FROM t WHERE name = E'Zo\\u00eb' AND id = 42 AND note = 'a\"b' ")
    assert again["literals_commitment"] == expected
    other = redactor("SELECT * FROM t WHERE name = 'x' AND id = 43 AND note = 'y'")
    assert other["literals_commitment"] != expected
    assert redactor("SELECT 1 + 1")["literals"] == 2
    assert redactor("SELECT now()")["literals_commitment"] is None
