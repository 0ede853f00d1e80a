"""Literal commitments: the Redactor's HMAC is the one docs/recording-format.md describes."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
import rfc8785

from regogate.recording.write import keys, native
from regogate.recording.write.commit import commit, commitment_key, committed
from regogate.recording.write.redactor import Redactor


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


@pytest.mark.parametrize("engine", ["python", "native"])
def test_a_literal_that_is_not_utf8_is_committed_by_its_exact_bytes(engine: str) -> None:
    # The wire codec decodes bytes that are not UTF-8 with surrogateescape (a Latin-1
    # client, say). JSON has no string for them: the array holds their base64.
    assert engine == "python" or native.BUILT, "regogate._native is not built (scripts/setup.sh)"
    key = bytes(range(32))
    raw = b"'caf\xe9'"
    literal = raw.decode("utf-8", "surrogateescape")
    array = ["1", {"base64": base64.b64encode(raw).decode()}]
    expected = hmac.new(key, rfc8785.dumps(array), hashlib.sha256).hexdigest()
    assert committed(("1", literal)) == array
    assert commit(key, ("1", literal)) == expected
    body = Redactor(key, engine=engine)(f"select 1, {literal}")
    assert body == {"text": "select $1, $2", "literals": 2, "literals_commitment": expected}
    assert commit(key, ("1", "'café'")) != expected  # not the same as the decoded text
