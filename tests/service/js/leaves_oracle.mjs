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
for (const u of urls) empty.push(await oracle.isEmpty(u, getJson));
process.stdout.write(JSON.stringify({ empty, answered: oracle.answered }));
