"""The report's aggregation in the verifier's workers (report_scan) against adding each
record in order (Aggregator.add): the same figures, however the log is cut into chunks.

Seeded random logs hold every kind of record the aggregation treats apart (sessions
opened before the period, denials, gate refusals, masks, errors, masked cells, DDL,
role changes, writes to protected tables, approvals, unknown types, lines that are not
records); the real logs of tests/report/conftest.py are checked the same way.
"""

from __future__ import annotations

import pickle
import random
from dataclasses import replace
from typing import Any

import orjson
import pytest

from regogate.cli.recording import _trusted
from regogate.recording.read import report_read, report_scan, verify
from regogate.recording.read.chunk_reader import ChunkReader
from regogate.recording.read.report_aggregate import Aggregator, Window
from regogate.recording.read.report_figures import OriginCheck
from regogate.recording.read.report_pii import PiiValues, scan_args
from regogate.recording.read.report_read import quiet
from regogate.recording.read.verify import spanned, verify_directory
from tests.report.conftest import Recorded

TEXTS = [
    "select id from customers where id = $1",
    "update accounts set balance = $1 where id = $2",
    "insert into report_scratch values ($1)",
    "delete from ledger where id = $1",
    "create table t (id int)",
    "grant select on t to bob",
    "set role admin",
    "begin",
    "",
]
DECISIONS: list[dict[str, Any]] = [
    {"outcome": "allow", "revision": "r1", "masks": {}},
    {"outcome": "allow", "revision": "r2", "masks": ["not", "an object"]},
    {"outcome": "allow_masked", "revision": "r1", "masks": {"customers.ssn": "redact"}},
    {"outcome": "allow", "masks": {"customers.email": "hash", "customers.ssn": "redact"}},
    {"outcome": "deny", "revision": "r1", "reasons": ["no"], "rules": ["r"]},
    {"outcome": "needs_approval", "revision": "r1"},
    {"outcome": "allow", "sqlstate": "42501"},
    {"sqlstate": "54000"},
    {"outcome": "mystery"},
    {"outcome": "approved", "revision": "r2"},
]
WINDOW = Window("2024-01-01T00:00:10", "2024-01-01T00:09:00", None, "u[0-2]", ("report_*",))


def random_log(seed: int, records: int = 3000) -> list[bytes]:
    rnd = random.Random(seed)
    lines: list[bytes] = []
    open_sids: list[str] = []
    gw = {"boot": "b", "id": "gw1", "ver": "1"}

    def emit(rec: dict[str, Any]) -> None:
        rec.setdefault("gw", gw)
        seq = len(lines)
        ts = f"2024-01-01T00:{seq * 10 // records:02d}:{seq % 60:02d}.000000Z"
        lines.append(orjson.dumps({**rec, "seq": seq, "ts": ts}))

    emit({"type": "gateway.start", "gw": gw})
    emit({"type": "policy.load", "revision": "r1", "digest": "d", "git_commit": "c"})
    while len(lines) < records:
        roll = rnd.random()
        if roll < 0.04 or not open_sids:
            sid = f"s{len(lines)}"
            who = {"sub": f"u{rnd.randrange(5)}", "groups": ["g"]}
            emit({"type": "session.open", "sid": sid, "identity": who,
                  "connection": {"name": rnd.choice(["bank", "crm"]), "database": "bank"}})  # fmt: skip
            open_sids.append(sid)
        elif roll < 0.06:
            sid = open_sids.pop(rnd.randrange(len(open_sids)))
            emit({"type": "session.close", "sid": sid, "reason": "terminate"})
        elif roll < 0.55:
            ds = [rnd.choice(DECISIONS[:4]) if rnd.random() < 0.9 else rnd.choice(DECISIONS)
                  for _ in range(rnd.choice([0, 1, 1, 1, 2]))]  # fmt: skip
            emit({"type": "stmt", "sid": rnd.choice(open_sids), "text": rnd.choice(TEXTS),
                  "decisions": ds})  # fmt: skip
        elif roll < 0.93:
            rec: dict[str, Any] = {"type": "result", "sid": rnd.choice(open_sids), "error": None}
            if rnd.random() < 0.05:
                rec["error"] = {"sqlstate": "23505"}
            if rnd.random() < 0.03:
                rec["masked_cells"] = {"pii": rnd.randrange(1, 9)}
            emit(rec)
        else:
            kind = rnd.choice(["approval", "approval.expired", "clock.step", "telemetry",
                               "stmt", "result", "decision"])  # fmt: skip
            emit({"type": kind, "sid": rnd.choice([None, rnd.choice(open_sids)]),
                  "approver": {"sub": "boss"}, "ref_seq": rnd.randrange(len(lines)),
                  "outcome": "deny", "text": "drop table t"})  # fmt: skip
        if rnd.random() < 0.002:
            lines.append(rnd.choice([b"not json", b"[1, 2]", b'{"seq": "x", "type": "stmt"}']))
    return lines


# "Classified values" that the random logs hold: in statement texts, a close reason.
PII = PiiValues(("t.a", "t.b"), (("REPORT_scratch", "customers"), ("terminate",)))


def state(agg: Aggregator) -> dict[str, Any]:
    return {k: v for k, v in vars(agg).items() if k not in {"window", "scanner"}}


def one_by_one(lines: list[bytes], window: Window, pii: PiiValues | None = None) -> dict[str, Any]:
    agg = Aggregator(window, pii)
    agg.begin(0)
    for line in lines:
        record = report_scan.record_of(line)
        if record is not None:
            agg.add(record)
    return state(agg)


def by_chunks(
    lines: list[bytes], window: Window, cuts: list[int], pii: PiiValues | None = None
) -> dict[str, Any]:
    agg = Aggregator(window, pii)
    agg.begin(0)
    same: dict[object, object] = {}
    args = (window.since, window.until, list(window.protected), scan_args(pii))
    for lo, hi in zip([0, *cuts], [*cuts, len(lines)], strict=True):
        data = b"".join(line + b"\n" for line in lines[lo:hi])
        items = pickle.loads(pickle.dumps(report_scan.summarize(data, *args)))  # as from a worker
        report_scan.apply(agg, report_scan.shared(items, same))
    return state(agg)


@pytest.mark.parametrize("seed", range(6))
def test_summaries_give_the_figures_of_adding_every_record(seed: int) -> None:
    lines = random_log(seed)
    rnd = random.Random(seed)
    cuts = sorted(rnd.sample(range(1, len(lines)), rnd.choice([0, 1, 7, 40])))
    window = WINDOW if seed % 2 else Window(protected=("ledger",))
    pii = PII if seed % 3 else None
    expected = one_by_one(lines, window, pii)
    assert expected["totals"]["statements"] > 100 and expected["exceptions"]  # it counts
    assert pii is None or {c for _, _, cols in expected["pii_hits"] for c in cols} == {"t.a", "t.b"}
    assert by_chunks(lines, window, cuts, pii) == expected


def test_a_batch_never_holds_a_session_or_register_record() -> None:
    lines = random_log(99)
    data = b"".join(line + b"\n" for line in lines)
    items = report_scan.summarize(data, None, None, [])
    kept = [orjson.loads(i) for i in items if isinstance(i, bytes)]
    batched = sum(i.records for i in items if isinstance(i, report_scan.Batch))
    assert {"session.open", "session.close", "gateway.start", "policy.load"} <= {
        k["type"] for k in kept
    }
    assert batched > len(lines) // 2  # most records are only counted
    assert all(
        not (k["type"] == "result" and k.get("error") is None and "masked_cells" not in k)
        for k in kept
    )


def test_the_recorded_logs_give_the_same_figures_both_ways(recorded: Recorded) -> None:
    for log in (recorded.log_a, recorded.log_b):
        lines = [line for _, path in spanned(log) for line in path.read_bytes().split(b"\n")[:-1]]
        window = Window("2024-01-01", None, None, None, ("report_*",))
        expected = one_by_one(lines, window)
        assert expected["totals"]["statements"] > 0
        for cuts in ([], list(range(1, len(lines)))):  # one chunk; a chunk per line
            assert by_chunks(lines, window, cuts) == expected


def test_only_records_under_the_seal_are_counted(recorded: Recorded) -> None:
    """However far the last valid checkpoint reaches into a chunk, the figures are those
    of the records it covers: the chunk it ends in is read again up to it."""
    given = _trusted([recorded.trust_a], None)
    assert given is not None
    window = Window("2024-01-01", None, None, None, ("report_*",))
    chunks = report_read._Summaries()
    reader = ChunkReader(report_scan.__name__, "ChunkSummary", ("2024-01-01", None, ["report_*"]),
                         chunks.take)  # fmt: skip
    verdict = verify_directory(recorded.log_a, given.keys, histories=given.histories,
                               reader=reader)  # fmt: skip
    assert verdict.ok and len(verdict.checkpoints) > 2
    assert sum(place.lines for place, _ in chunks.chunks) == verdict.records
    lines = [line for _, path in spanned(recorded.log_a)
             for line in path.read_bytes().split(b"\n")[:-1]]  # fmt: skip
    sizes = set()
    for kept in range(1, len(verdict.checkpoints) + 1):
        cut = replace(verdict, checkpoints=verdict.checkpoints[:kept])
        sizes.add(cut.sealed_size)
        agg = Aggregator(window)
        agg.begin(0)
        check = OriginCheck("a", None, "", True, 0, 0, 0, 0, None, None, [], [], [], "")
        report_read._aggregate(agg, chunks, check, cut, quiet, "")
        assert check.aggregated == cut.sealed_size and check.mismatched == 0
        assert state(agg) == one_by_one(lines[: cut.sealed_size], window)
    assert len(sizes) > 2 and max(sizes) == verdict.records


def test_worker_processes_summarize_as_this_process_does(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verifier's worker processes (small chunks, so that there are many) hand back
    the summaries a scan in this process makes, chunk for chunk."""
    given = _trusted([recorded.trust_a], None)
    assert given is not None
    args = ("2024-01-01", None, ["report_*"])
    found = []
    for workers in (2, 1):
        chunks = report_read._Summaries()
        reader = ChunkReader(report_scan.__name__, "ChunkSummary", args, chunks.take)
        with monkeypatch.context() as patch:
            patch.setattr(verify, "CHUNK_BYTES", 1000)
            patch.setattr(verify, "_PARALLEL_CHUNKS", 2 if workers > 1 else 10**9)
            verdict = verify_directory(recorded.log_a, given.keys, histories=given.histories,
                                       workers=workers, reader=reader)  # fmt: skip
        assert verdict.ok
        found.append(chunks.chunks)
    assert len(found[0]) >= 5 and found[0] == found[1]
