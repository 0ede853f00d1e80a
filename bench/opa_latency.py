"""OPA decision round trip on a cache miss, as the gateway asks it. A command, not a test:

    .venv/bin/python bench/opa_latency.py [--requests 2000] [--policies policies/rego]

Starts `opa run --server` on loopback, pushes the policy directory exactly as the gateway's
sidecar does (regogate.policy.sidecar.PolicyLoader), then sends distinct real policy inputs
(statement facts from regogate.policy.facts over a pgbench-like catalog, for the demo
identities) one at a time, so every request is a miss. Reports p50/p90/p99 of the round
trip for the h11 decision client the gateway uses and for httpx, plus OPA's own eval time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import anyio
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from regogate.policy.catalog import snapshot_from_rows  # noqa: E402
from regogate.policy.facts import analyze, to_input  # noqa: E402
from regogate.policy.opa import OpaClient  # noqa: E402
from regogate.policy.sidecar import OpaSidecar, PolicyLoader, find_opa  # noqa: E402

ROWS = [
    ("setting", "search_path", '"$user", public', None, None),
    ("path", "pg_catalog", "1", None, None),
    ("path", "public", "2", None, None),
    ("schema", "public", None, None, None),
    ("schema", "pg_catalog", None, None, None),
    *[
        ("relation", "public", t, "r", None)
        for t in ("pgbench_accounts", "pgbench_branches", "pgbench_tellers", "customers")
    ],
    *[
        ("column", "public", "pgbench_accounts", c, str(i))
        for i, c in enumerate(("aid", "bid", "abalance", "filler"), 1)
    ],
    *[
        ("column", "public", "customers", c, str(i))
        for i, c in enumerate(("id", "full_name", "email", "ssn", "created_at"), 1)
    ],
]
STATEMENTS = [
    "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
    "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
    "SELECT id, created_at FROM customers WHERE id = $1",
    "SELECT full_name, ssn FROM customers",
    "DELETE FROM customers",
    "DROP TABLE customers",
]
IDENTITIES = [("analyst", ["analysts"]), ("agent", ["mcp-agents"]), ("dba", ["dba"])]


def inputs(n: int) -> list[dict[str, object]]:
    catalog = snapshot_from_rows(ROWS)
    facts = [to_input(analyze(sql, catalog).statements[0]) for sql in STATEMENTS]
    out: list[dict[str, object]] = []
    i = 0
    while len(out) < n:
        sub, groups = IDENTITIES[i % len(IDENTITIES)]
        statement = dict(facts[i % len(facts)])
        statement["fingerprint"] = f"{i:016x}"  # distinct input: never a cache hit anywhere
        out.append(
            {
                "identity": {
                    "sub": sub,
                    "email": None,
                    "groups": groups,
                    "issuer": "regogate:static",
                    "auth": "token",
                    "expires_at": None,
                    "client": {"addr": "127.0.0.1", "application_name": "bench"},
                },
                "connection": {"name": "bench", "database": "bench"},
                "statement": statement,
            }
        )
        i += 1
    return out


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))] * 1000


async def main(policies: Path, n: int) -> dict[str, dict[str, float]]:
    sidecar = OpaSidecar(find_opa(), lambda c: PolicyLoader(c, policies, lambda _r: None))
    results: dict[str, dict[str, float]] = {}
    async with anyio.create_task_group() as tg:
        url = await tg.start(sidecar.run)
        fast = OpaClient(url)
        slow = OpaClient(url, transport=httpx.AsyncHTTPTransport())
        for label, client in (("h11", fast), ("httpx", slow), ("h11 again", fast)):
            batch = inputs(n)
            await client.decide(batch[0], "r")  # warm the connection
            lat = []
            for doc in batch:
                t = time.perf_counter()
                await client.decide(doc, "r")
                lat.append(time.perf_counter() - t)
            results[label] = {
                "p50_ms": pct(lat, 0.5),
                "p90_ms": pct(lat, 0.9),
                "p99_ms": pct(lat, 0.99),
            }
        evals = []
        async with httpx.AsyncClient(base_url=url) as c:
            for doc in inputs(200):
                r = await c.post("/v1/data/regogate/decision?metrics=true", json={"input": doc})
                evals.append(r.json()["metrics"]["timer_rego_query_eval_ns"] / 1e9)
        results["opa eval"] = {"p50_ms": statistics.median(evals) * 1000}
        await fast.aclose()
        await slow.aclose()
        tg.cancel_scope.cancel()
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--policies", type=Path, default=ROOT / "policies" / "rego")
    a = ap.parse_args()
    res = anyio.run(main, a.policies, a.requests, backend_options={"use_uvloop": True})
    print(json.dumps(res, indent=2))
