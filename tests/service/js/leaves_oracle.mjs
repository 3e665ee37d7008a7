// Runs the Viewer's leaves oracle (js/viewer/ng/leaves.ts, bundled by the test) on the URLs given
// on stdin against a live chunkedgraph; prints, per URL, the supervoxel ids it answers with
// itself (null: left to the server) as JSON.
//   node leaves_oracle.mjs <bundle.mjs> <token> [wait ms] < urls.json
// With a wait, each URL goes once through `answer` of a fresh oracle (what the chunk worker
// calls: it waits up to that long for the root's lookups) and the lookups it made are listed.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [bundle, token, wait] = process.argv.slice(2);
const { LeavesOracle } = await import(pathToFileURL(bundle).href);
const urls = JSON.parse(readFileSync(0, "utf8"));
const oracle = new LeavesOracle();
const headers = { Authorization: `Bearer ${token}` };
const getJson = (u) => fetch(u, { headers }).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`${r.status}`))));
if (wait !== undefined) {
  const out = [];
  for (const u of urls) {
    const fresh = new LeavesOracle(Number(wait));
    const asked = [];
    const res = await fresh.answer(u, (x) => (asked.push(x), getJson(x)));
    out.push({ ids: res === null ? null : (await res.json()).leaf_ids, asked });
  }
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
}
const local = [];
for (const u of urls) {
  // the oracle never waits for its lookups (info, the root's L2 ids, then its supervoxels): ask
  // again once they are in
  let ids = oracle.leafIds(u, getJson);
  for (let i = 0; i < 3 && ids === null; i++) {
    await oracle.ready;
    ids = oracle.leafIds(u, getJson);
  }
  local.push(ids);
}
process.stdout.write(JSON.stringify({ local, answered: oracle.answered, filled: oracle.filled }));
