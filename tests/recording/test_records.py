"""The record envelope: encoding, parsing, the shape checks, timestamps and ids."""

from __future__ import annotations

import re
import uuid

import pytest

from regogate.recording.format.merkle import leaf_hash
from regogate.recording.format.records import (
    SCHEMA,
    GatewayInfo,
    Record,
    RecordError,
    encode,
    envelope_problem,
    format_ts,
    new_session_id,
)

GW = GatewayInfo("gw-1", "boot-1", "0.1.0").to_json()


def stmt(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "v": SCHEMA, "seq": 4, "ts": "2026-01-02T03:04:05.000006Z", "gw": dict(GW),
        "type": "stmt", "sid": "s1", "n": 2, "prev": "ab" * 32, "q": {"norm": "SELECT 1"},
    }  # fmt: skip
    base.update(over)
    return base


def test_encode_parse_round_trip() -> None:
    prev = leaf_hash(b"x")
    data = encode(
        seq=4, ts="2026-01-02T03:04:05.000006Z", gw=GW, type="stmt", sid="s1", n=2, prev=prev,
        body={"q": {"norm": "SELECT 1"}},
    )  # fmt: skip
    assert data.startswith(b'{"gw":{"boot":"boot-1","id":"gw-1","ver":"0.1.0"},"n":2,"prev":"')
    rec = Record.parse(data)
    assert (rec.seq, rec.type, rec.sid, rec.n, rec.prev) == (4, "stmt", "s1", 2, prev.hex())
    assert rec.body == {"q": {"norm": "SELECT 1"}} and rec.leaf == leaf_hash(data)


def test_body_may_not_set_envelope_fields() -> None:
    with pytest.raises(RecordError, match=r"envelope fields \['prev', 'seq'\]"):
        encode(
            seq=0, ts="", gw=GW, type="stmt", sid="s", n=0, prev=None, body={"seq": 1, "prev": 2}
        )


@pytest.mark.parametrize(
    ("over", "problem"),
    [
        ({"v": "regogate.audit/2"}, "v is 'regogate.audit/2'"),
        ({"seq": -1}, "seq is not a non-negative integer"),
        ({"seq": True}, "seq is not a non-negative integer"),
        ({"ts": "2026-01-02T03:04:05Z"}, "ts is not RFC 3339"),
        ({"ts": "2026-01-02 03:04:05.000006Z"}, "ts is not RFC 3339"),
        ({"gw": {"id": "x", "boot": "y"}}, "gw is not an object"),
        ({"type": ""}, "type is not a non-empty string"),
        ({"sid": None}, "a gateway record (sid null) must have n and prev null"),
        ({"sid": None, "n": None, "prev": None}, "stmt record without a sid"),
        ({"type": "gateway.start"}, "gateway.start is a gateway record but has a sid"),
        ({"sid": 5}, "sid is not a non-empty string"),
        ({"n": "2"}, "n is not a non-negative integer"),
        ({"prev": "AB" * 32}, "prev is not a lowercase hex SHA-256"),
        ({"type": "session.close"}, "session.close record lacks chain_head, counts, reason"),
    ],
)
def test_envelope_problems(over: dict[str, object], problem: str) -> None:
    found = envelope_problem(stmt(**over))
    assert found is not None and found.startswith(problem)


def test_missing_envelope_field() -> None:
    obj = stmt()
    del obj["prev"]
    assert envelope_problem(obj) == "missing envelope fields ['prev']"
    assert envelope_problem(stmt()) is None
    with pytest.raises(RecordError, match="not JSON"):
        Record.parse(b"{")
    with pytest.raises(RecordError, match="not a JSON object"):
        Record.parse(b"[]")


def test_format_ts() -> None:
    assert format_ts(0) == "1970-01-01T00:00:00.000000Z"
    assert format_ts(1_767_323_045_000_006) == "2026-01-02T03:04:05.000006Z"


def test_session_ids_are_uuid7_and_ordered() -> None:
    ids = [new_session_id() for _ in range(50)]
    for sid in ids:
        u = uuid.UUID(sid)
        assert u.version == 7 and u.variant == uuid.RFC_4122
        assert re.fullmatch(r"[0-9a-f-]{36}", sid)
    assert len(set(ids)) == 50
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)  # millisecond prefix
    assert GatewayInfo.new("gw", "1").boot != GatewayInfo.new("gw", "1").boot
    assert GatewayInfo("a", "b", "c", "sha256:x").to_json()["build_digest"] == "sha256:x"
