// Bundle one ES module per widget into src/cavewidgets/static (git-ignored build output), plus
// neuroglancer as one self-contained module the Viewer loads over the widget channel.
// Everything is bundled: nothing is loaded from a CDN at run time.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { buildNeuroglancer } from "./build_neuroglancer.mjs";

const out = new URL("../src/cavewidgets/static/", import.meta.url).pathname;
mkdirSync(out, { recursive: true });
const widgets = ["table", "viewer", "morphology"];
await build({
  entryPoints: Object.fromEntries(widgets.map((w) => [w, `${w}/index.ts`])),
  outdir: out,
  bundle: true,
  format: "esm",
  target: "es2020",
  minify: !process.env.CAVEWIDGETS_DEV,
  sourcemap: false,
  logLevel: "info",
});
for (const w of widgets) copyFileSync(`${w}/styles.css`, `${out}/${w}.css`);
await buildNeuroglancer(`${out}/neuroglancer.js`);
