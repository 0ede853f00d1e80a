// Runs each statement of a JSON list through node-postgres and prints everything the
// client received (rows, errors with every field, notices, parameter statuses) as JSON.
const { Client } = require("pg");

async function main() {
  const [url, file] = process.argv.slice(2);
  const queries = JSON.parse(require("fs").readFileSync(file, "utf8"));
  const client = new Client({ connectionString: url });
  const notices = [];
  client.on("notice", (n) => notices.push({ ...n, message: n.message }));
  await client.connect();
  const out = [];
  for (const sql of queries) {
    try {
      const res = await client.query(sql);
      const results = Array.isArray(res) ? res : [res];
      out.push({ sql, ok: true, rows: results.map((r) => r.rows) });
    } catch (e) {
      out.push({ sql, ok: false, error: { ...e, message: e.message } });
      try { await client.query("ROLLBACK"); } catch (_) {}
    }
  }
  out.push({ notices, params: client.parameters || null });
  await client.end();
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { console.error(e); process.exit(1); });
