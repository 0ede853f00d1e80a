"""OPA decision round trip on a cache miss, as the gateway asks it. A command, not a test:

    .venv/bin/python bench/opa_latency.py [--requests 2000] [--policies policies/rego]

Starts `opa run --server` as the gateway's sidecar does (regogate.policy.sidecar: a unix
socket, or loopback TCP with --tcp), pushes the policy directory (PolicyLoader), then sends
distinct real policy inputs (statement facts from regogate.policy.facts over a pgbench-like
catalog, for the demo identities) one at a time, so every request is a miss. Reports
p50/p90/p99 of the round trip for the decision client the gateway uses ("client":
OpaClient over regogate.policy.opa_http) and for httpx, plus OPA's own timers.
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
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from regogate.pgserver import free_port  # noqa: E402
from regogate.policy.catalog_rows import snapshot_from_rows  # noqa: E402
from regogate.policy.facts import analyze, to_input  # noqa: E402
from regogate.policy.opa import DECISION_PATH, OpaClient  # noqa: E402
from regogate.policy.opa_http import HttpPool  # noqa: E402
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


async def main(policies: Path, n: int, tcp: bool) -> dict[str, dict[str, float] | str]:
    sidecar = OpaSidecar(
        find_opa(),
        lambda c: PolicyLoader(c, policies, lambda _r: None),
        port=free_port() if tcp else 0,
    )
    results: dict[str, dict[str, float] | str] = {"listener": sidecar.addr}
    async with anyio.create_task_group() as tg:
        url = await tg.start(sidecar.run)
        uds = str(sidecar.socket_path) if sidecar.socket_path else None
        fast = OpaClient(url)
        slow = OpaClient(url, transport=httpx.AsyncHTTPTransport(uds=uds))
        for label, client in (("client", fast), ("httpx", slow), ("client again", fast)):
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
        # OPA's own timers, asked over the same lean connection as the decisions (httpx
        # writes the head and the body separately, which inflates rego_input_parse).
        pool = HttpPool("127.0.0.1", sidecar.port, unix=uds)
        timers: dict[str, list[float]] = {}
        for doc in inputs(500):
            _, body = await pool.post(
                f"{DECISION_PATH}?metrics=true", orjson.dumps({"input": doc}), 5.0
            )
            for key, ns in orjson.loads(body)["metrics"].items():
                timers.setdefault(key, []).append(ns / 1e9)
        await pool.aclose()
        results["opa eval"] = {
            "p50_ms": statistics.median(timers["timer_rego_query_eval_ns"]) * 1000
        }
        # OPA's own timers (p50): the query eval, input parsing, the whole handler, ...
        results["opa timers p50 ms"] = {
            key.removeprefix("timer_").removesuffix("_ns"): round(statistics.median(v) * 1000, 4)
            for key, v in sorted(timers.items())
            if key.startswith("timer_")
        }
        await fast.aclose()
        await slow.aclose()
        tg.cancel_scope.cancel()
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--policies", type=Path, default=ROOT / "policies" / "rego")
    ap.add_argument("--tcp", action="store_true", help="OPA on loopback TCP, not a unix socket")
    a = ap.parse_args()
    res = anyio.run(main, a.policies, a.requests, a.tcp, backend_options={"use_uvloop": True})
    print(json.dumps(res, indent=2))
