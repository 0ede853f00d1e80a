"""The evidence document: the aggregation and each log's verification as one JSON value.

``evidence(...)`` is what the JSON report holds under ``evidence``, what the HTML renders
and what ``report check`` recomputes; it is a function of the logs and the options only
(sorted everywhere, no clock), so the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from regogate.recording.format import jcs
from regogate.recording.format.jcs import JSONValue
from regogate.recording.read.report_aggregate import Aggregator, JSONObject, Window
from regogate.recording.read.report_controls import CONTROLS
from regogate.recording.read.report_pii import scan_json
from regogate.recording.read.report_rows import Event, StatementClass

SCHEMA = "regogate.report/1"


@dataclass(frozen=True)
class Checkpointed:
    size: int
    root: str  # lowercase hex
    note: str  # the signed note, as in checkpoints.log

    def to_json(self) -> JSONObject:
        return {"size": self.size, "root": self.root, "note": self.note}


@dataclass(frozen=True)
class KeyPrint:
    vkey: str  # the verifier key (public)
    fingerprint: str  # SHA-256 of the vkey text, lowercase hex

    @classmethod
    def of(cls, vkey: str) -> KeyPrint:
        return cls(vkey, hashlib.sha256(vkey.encode()).hexdigest())


@dataclass
class OriginCheck:
    """One log's verification, as the report states it."""

    directory: str  # as given on the command line
    origin: str | None
    status: str  # verify's verdict word
    passed: bool  # no error finding
    records: int
    sealed: int  # records covered by the last valid checkpoint
    sessions: int
    checkpoints: int
    first: Checkpointed | None
    last: Checkpointed | None
    keys: list[KeyPrint]
    errors: list[JSONObject]
    warnings: list[JSONObject]
    command: str
    aggregated: int = 0  # sealed records read again for the figures
    mismatched: int = 0  # of those, bytes that differ from what was verified
    sample_seed: str = ""
    sample: list[JSONObject] = field(default_factory=list)

    def to_json(self, index: int) -> JSONObject:
        return {
            "index": index,
            "directory": self.directory,
            "origin": self.origin,
            "status": self.status,
            "verdict": "PASS" if self.passed else "FAIL",
            "records": self.records,
            "sealed": self.sealed,
            "unsealed_excluded": self.records - self.sealed,
            "sessions": self.sessions,
            "checkpoints": self.checkpoints,
            "first_checkpoint": None if self.first is None else self.first.to_json(),
            "last_checkpoint": None if self.last is None else self.last.to_json(),
            "keys": [{"vkey": k.vkey, "fingerprint": k.fingerprint} for k in self.keys],
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "command": self.command,
            "aggregated": self.aggregated,
            "mismatched": self.mismatched,
        }


def report_id(window: Window, checks: list[OriginCheck]) -> str:
    """A name for the report that depends on what it covers: the options and each log's
    latest signed root (so the same inputs name the same report)."""
    params: JSONValue = {
        "from": window.since,
        "to": window.until,
        "connection": window.connection,
        "identity": window.identity,
        "protected": list(window.protected),
        "roots": [[c.origin, c.last.size, c.last.root] if c.last else None for c in checks],
    }
    return "rgr-" + hashlib.sha256(jcs.dumps(params)).hexdigest()[:20]


def evidence(
    agg: Aggregator, checks: list[OriginCheck], window: Window, rid: str, inputs: JSONObject
) -> JSONObject:
    """The document; ``inputs`` names what it was made from (logs, trust and prior files
    as given, the sample size), so that ``report check`` can make it again."""
    passed = bool(checks) and all(c.passed and not c.mismatched for c in checks)
    privileged = _privileged(agg)
    totals = _totals(agg, checks, privileged)
    doc: JSONObject = {
        "schema": SCHEMA,
        "report_id": rid,
        "period": {"from": window.since, "to": window.until},
        "filters": {
            "connection": window.connection,
            "identity": window.identity,
            "protected_tables": list(window.protected),
        },
        "inputs": inputs,
        "integrity": {
            "verdict": "PASS" if passed else "FAIL",
            "origins": [c.to_json(i) for i, c in enumerate(checks)],
        },
        "empty": totals["statements"] == 0 and totals["sessions"] == 0,
        "totals": totals,
        "scope": _scope(agg, checks),
        "identities": [agg.activity[n].to_json(n) for n in sorted(agg.activity)],
        "privileged": privileged,
        "writes": [
            {"identity": who, "table": table, "statements": n}
            for (who, table), n in sorted(agg.writes.items())
        ],
        "exceptions": list(agg.exceptions),  # in log order: origin, then seq
        "masking": {
            "columns": [
                {"column": col, "method": method, "decisions": n}
                for (col, method), n in sorted(agg.masks.items())
            ],
            "masked_cells": {
                k.removeprefix("masked_cells:"): v
                for k, v in sorted(agg.totals.items())
                if k.startswith("masked_cells:")
            },
            "scan": _scan(agg),
        },
        "sample": [
            {"origin": i, "seed": c.sample_seed, "sessions": list(c.sample)}
            for i, c in enumerate(checks)
        ],
    }
    doc["controls"] = _controls(totals)
    return doc


def _scan(agg: Aggregator) -> JSONValue:
    if agg.pii is None:
        return {
            "run": False,
            "note": "not run: the scan of the period's records against the upstream's "
            "classified values needs --pii-scan-dsn",
        }
    return scan_json(agg.pii, agg.pii_hits)


def _privileged(agg: Aggregator) -> list[JSONValue]:
    rows: list[JSONValue] = []
    for key, row in agg.privileged:  # in log order: origin, then seq
        rows.append({**row, "approved_by": agg.approved_by.get(key)})
    return rows


def _totals(agg: Aggregator, checks: list[OriginCheck], privileged: list[JSONValue]) -> JSONObject:
    t = agg.totals
    return {
        "sessions": t["sessions"],
        "statements": t["statements"],
        "denials": t["denials"],
        "masked_reads": t["masked_reads"],
        "approvals": t["approvals"],
        "errors": t["errors"],
        "privileged": len(privileged),
        "exceptions": len(agg.exceptions),
        "identities": len(agg.activity),
        "masked_columns": len({col for col, _ in agg.masks}),
        "records_verified": sum(c.records for c in checks),
        "records_in_period": sum(o.records_in_period for o in agg.origins),
        "checkpoints": sum(c.checkpoints for c in checks),
        "sampled_sessions": sum(len(c.sample) for c in checks),
        "by_class": {c.value: agg.by_class[c.value] for c in StatementClass},
        "by_event": {e.value: t[f"event:{e.value}"] for e in Event},
    }


def _scope(agg: Aggregator, checks: list[OriginCheck]) -> JSONObject:
    revisions: list[JSONValue] = []
    for name, row in sorted(agg.revisions.items(), key=lambda kv: str(kv[1]["loaded"])):
        revisions.append(
            {**row, "loads": agg.revision_loads[name], "decisions": agg.revision_use[name]}
        )
    named = set(agg.revisions)
    for name in sorted(set(agg.revision_use) - named):  # decided under, never loaded here
        revisions.append(
            {
                **dict.fromkeys(("git_commit", "digest", "loaded", "seq", "origin", "gateway")),
                "revision": name,
                "loads": 0,
                "decisions": agg.revision_use[name],
            }
        )
    return {
        "origins": [
            {
                "index": i,
                "origin": c.origin,
                "records_in_period": o.records_in_period,
                "first_seq": o.first_seq,
                "last_seq": o.last_seq,
                "boots": o.boots,
                "key_rotations": list(o.rotations),
            }
            for i, (c, o) in enumerate(zip(checks, agg.origins, strict=True))
        ],
        "gateways": [g.to_json() for _, g in sorted(agg.gateways.items())],
        "connections": [
            {"connection": name, "sessions": n} for name, n in sorted(agg.connections.items())
        ],
        "identities": sorted(agg.activity),
        "revisions": revisions,
    }


def _controls(totals: JSONObject) -> list[JSONValue]:
    return [
        {
            "framework": c.framework,
            "clause": c.clause,
            "title": c.title,
            "sections": list(c.sections),
            "figures": {name: totals[name] for name in c.figures},
        }
        for c in CONTROLS
    ]
