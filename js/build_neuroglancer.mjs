// Bundle neuroglancer (npm `neuroglancer`, the same release as the Python package) into ONE
// self-contained ES module, src/cavewidgets/static/neuroglancer.js, that the Viewer's front-end
// imports from a blob URL after the kernel sends it over the widget channel (once per page).
//
// Why a custom build: anywidget modules load from blob URLs, so neuroglancer's
// `new URL("./chunk_worker.bundle.js", import.meta.url)` workers and `new URL("./x.wasm", ...)`
// WebAssembly cannot resolve. Here the two workers are built first and inlined as strings
// (started from blob URLs), the wasm is inlined as data URLs, CSS is injected from the module,
// and every `fetch` of neuroglancer goes through js/viewer/ng/routing.ts (kernel-hosted data
// travels over the widget channel). Only the data sources we need are included.
import { build } from "esbuild";
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const ngLib = dirname(fileURLToPath(import.meta.resolve("neuroglancer")));
const ikonate = join(dirname(fileURLToPath(import.meta.resolve("ikonate/package.json"))), "icons");
const glueWorker = join(here, "viewer/ng/worker_fetch.ts");
const glueMain = join(here, "viewer/ng/workers.ts");

// Data sources and kvstores a CAVE user needs; everything else is left out of the bundle.
const conditions = [
  "neuroglancer/datasource:none_by_default",
  ...["precomputed", "graphene", "zarr", "n5"].map((d) => `neuroglancer/datasource/${d}:enabled`),
  "neuroglancer/kvstore:none_by_default",
  ...["http", "middleauth", "gzip", "byte_range", "gcs", "s3"].map((k) => `neuroglancer/kvstore/${k}:enabled`),
  "browser",
];

// ikonate from the npm registry (neuroglancer pins a git commit we cannot fetch) lacks 3 icons
const ICON_SUBSTITUTES = {
  "layers.svg": "stack.svg",
  "controls-alt.svg": "controls.svg",
  "code-alt.svg": null,
};
const CODE_ICON =
  '<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2"><polyline points="8 6 2 12 8 18"/><polyline points="16 6 22 12 16 18"/></svg>';

const WASM_STUB = "data:application/wasm;base64,AGFzbQEAAAA="; // an empty module: JPEG XL left out

/** Rewrites inside neuroglancer's own files (each must match, or the build fails loudly). */
function ngRewrites(glue) {
  const edits = {
    "data_management_context.js": [
      [/new Worker\(\s*(\/\*[^*]*\*\/\s*)?new URL\("\.\/chunk_worker\.bundle\.js", import\.meta\.url\),\s*\{ type: "module" \}\s*\)/, "__cwMakeChunkWorker()"],
    ],
    "async_computation/request.js": [
      [/new Worker\(\s*(\/\*[^*]*\*\/\s*)?new URL\("\.\.\/async_computation\.bundle\.js", import\.meta\.url\),/, "new Worker(__cwAsyncWorkerUrl(),"],
    ],
    // the sample service is plain http on the kernel's loopback: allow middleauth+http too
    "kvstore/middleauth/common.js": [[/for \(const httpScheme of \["https"\]\)/, 'for (const httpScheme of ["https", "http"])']],
  };
  return {
    name: "neuroglancer-rewrites",
    setup(b) {
      b.onLoad({ filter: /neuroglancer[\\/]lib[\\/].*\.js$/ }, async (args) => {
        let text = readFileSync(args.path, "utf8");
        const rel = args.path.slice(ngLib.length + 1).replaceAll("\\", "/");
        for (const [pattern, replacement] of edits[rel] ?? []) {
          if (!pattern.test(text)) throw new Error(`neuroglancer changed: ${rel} no longer matches ${pattern}`);
          text = text.replace(pattern, replacement);
        }
        if (rel === "data_management_context.js") text = `import { makeChunkWorker as __cwMakeChunkWorker } from ${JSON.stringify(glueMain)};\n${text}`;
        if (rel === "async_computation/request.js") text = `import { cwAsyncWorkerUrl as __cwAsyncWorkerUrl } from ${JSON.stringify(glue)};\n${text}`;
        text = text.replace(/new URL\("\.\/([\w.-]+\.wasm)", import\.meta\.url\)/g, (_m, name) => {
          if (name === "jxl_decoder.wasm") return JSON.stringify(WASM_STUB);
          const file = join(dirname(args.path), name);
          return JSON.stringify(`data:application/wasm;base64,${readFileSync(file).toString("base64")}`);
        });
        return { contents: text, loader: "js", resolveDir: dirname(args.path) };
      });
      // SVG icons imported with ?raw, as text
      b.onResolve({ filter: /\.svg\?raw$/ }, (args) => {
        const name = args.path.replace(/^ikonate\/icons\//, "").replace(/\?raw$/, "");
        return { path: name, namespace: "svg-raw" };
      });
      b.onLoad({ filter: /.*/, namespace: "svg-raw" }, (args) => {
        let name = args.path;
        if (!existsSync(join(ikonate, name)) && name in ICON_SUBSTITUTES) {
          if (ICON_SUBSTITUTES[name] === null) return { contents: CODE_ICON, loader: "text" };
          name = ICON_SUBSTITUTES[name];
        }
        return { contents: readFileSync(join(ikonate, name), "utf8"), loader: "text" };
      });
      // CSS: injected into the page by the module itself (one <style> per page)
      b.onLoad({ filter: /\.css$/ }, (args) => ({
        contents: `import { addCss } from ${JSON.stringify(join(here, "viewer/ng/css.ts"))}; addCss(${JSON.stringify(readFileSync(args.path, "utf8"))});`,
        loader: "js",
      }));
    },
  };
}

const common = {
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: !process.env.CAVEWIDGETS_DEV,
  conditions,
  write: false,
  logLevel: "warning",
  legalComments: "none",
  define: { "process.env.NODE_ENV": '"production"' },
};

async function text(options) {
  const result = await build({ ...common, ...options });
  return result.outputFiles[0].text;
}

export async function buildNeuroglancer(outFile) {
  const asyncSource = await text({
    entryPoints: [join(ngLib, "async_computation.bundle.js")],
    plugins: [ngRewrites(glueWorker)],
  });
  const chunkSource = await text({
    entryPoints: [join(ngLib, "chunk_worker.bundle.js")],
    inject: [glueWorker],
    plugins: [ngRewrites(glueWorker)],
  });
  const sources = {
    name: "worker-sources",
    setup(b) {
      b.onResolve({ filter: /^cw:worker-sources$/ }, () => ({ path: "worker-sources", namespace: "cw" }));
      b.onLoad({ filter: /.*/, namespace: "cw" }, () => ({
        contents: `export const CHUNK_WORKER_SOURCE = ${JSON.stringify(chunkSource)};\nexport const ASYNC_WORKER_SOURCE = ${JSON.stringify(asyncSource)};`,
        loader: "js",
      }));
    },
  };
  await build({
    ...common,
    write: true,
    entryPoints: [join(here, "viewer/ng/runtime.ts")],
    outfile: outFile,
    inject: [join(here, "viewer/ng/routing.ts")],
    plugins: [sources, ngRewrites(glueMain)],
  });
  return { chunk: chunkSource.length, async: asyncSource.length };
}
