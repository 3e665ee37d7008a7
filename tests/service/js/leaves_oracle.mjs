// Runs the Viewer's leaves oracle (js/viewer/ng/leaves.ts, bundled by the test) on the URLs given
// on stdin against a live chunkedgraph; prints, per URL, the supervoxel ids it answers with
// itself (null: left to the server) as JSON.
//   node leaves_oracle.mjs <bundle.mjs> <token> < urls.json
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [bundle, token] = process.argv.slice(2);
const { LeavesOracle } = await import(pathToFileURL(bundle).href);
const urls = JSON.parse(readFileSync(0, "utf8"));
const oracle = new LeavesOracle();
const headers = { Authorization: `Bearer ${token}` };
const getJson = (u) => fetch(u, { headers }).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`${r.status}`))));
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
