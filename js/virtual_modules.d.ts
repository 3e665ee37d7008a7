// Modules esbuild makes at build time (build_neuroglancer.mjs), declared for the type checker.
declare module "cw:worker-sources" {
  /** neuroglancer's chunk worker, bundled, as source text (started from a blob URL). */
  export const CHUNK_WORKER_SOURCE: string;
  /** neuroglancer's async-computation worker, bundled, as source text. */
  export const ASYNC_WORKER_SOURCE: string;
}
