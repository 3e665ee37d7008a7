// Bundle one ES module per widget into src/cavewidgets/static (git-ignored build output).
// Everything is bundled: nothing is loaded from a CDN at run time.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";

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
