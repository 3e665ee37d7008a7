// Runs the Viewer's leaves oracle (js/viewer/ng/leaves.ts, bundled by the test) on the URLs given
// on stdin against a live chunkedgraph; prints its decisions as JSON.
//   node leaves_oracle.mjs <bundle.mjs> <token> < urls.json
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [bundle, token] = process.argv.slice(2);
const { LeavesOracle } = await import(pathToFileURL(bundle).href);
const urls = JSON.parse(readFileSync(0, "utf8"));
const oracle = new LeavesOracle();
const headers = { Authorization: `Bearer ${token}` };
const getJson = (u) => fetch(u, { headers }).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`${r.status}`))));
const empty = [];
for (const u of urls) {
  // the oracle never waits for its lookups (info, then the root's L2 ids): ask again once they are in
  let e = oracle.isEmpty(u, getJson);
  for (let i = 0; i < 2 && !e; i++) {
    await oracle.ready;
    e = oracle.isEmpty(u, getJson);
  }
  empty.push(e);
}
process.stdout.write(JSON.stringify({ empty, answered: oracle.answered }));
