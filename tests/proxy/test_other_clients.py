"""A non-Python client (node-postgres) and a real MCP server (npm) through the gateway."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.fix_gateway import GatewayFixture

CLIENTS = Path(__file__).resolve().parents[1] / "clients"

NODE_SCRIPT = r"""
const { Client } = require('pg');
(async () => {
  const c = new Client({ connectionString: process.env.RG_URL });
  await c.connect();
  const simple = await c.query('select count(*)::int as n from customers');
  const param = await c.query('select id, email from customers where id = $1', [42]);
  const named = await c.query({ name: 'acct', text: 'select balance from accounts where id = $1', values: [3] });
  const again = await c.query({ name: 'acct', text: 'select balance from accounts where id = $1', values: [4] });
  let err = null;
  try { await c.query('select * from nope'); } catch (e) { err = e.code; }
  const after = await c.query('select 1 as one');
  await c.end();
  console.log(JSON.stringify({ n: simple.rows[0].n, id: param.rows[0].id,
    named: named.rows.length + again.rows.length, err, one: after.rows[0].one }));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def test_node_postgres(gateway: GatewayFixture) -> None:
    p = subprocess.run(
        ["node", "-e", NODE_SCRIPT],
        cwd=CLIENTS,
        env={**os.environ, "RG_URL": gateway.url("dba")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"n": 1000, "id": "42", "named": 2, "err": "42P01", "one": 1}


def test_mcp_server_postgres_query_tool(gateway: GatewayFixture) -> None:
    server = StdioServerParameters(
        command="node",
        args=[
            str(CLIENTS / "node_modules/@modelcontextprotocol/server-postgres/dist/index.js"),
            gateway.url("agent"),
        ],
    )

    async def main() -> str:
        async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            assert "query" in [t.name for t in tools.tools]
            result = await session.call_tool(
                "query", {"sql": "select count(*)::int as n from transactions"}
            )
            assert not result.is_error, result
            text = result.content[0]
            return text.text  # type: ignore[union-attr]

    out = asyncio.run(main())
    assert json.loads(out) == [{"n": 10000}]
