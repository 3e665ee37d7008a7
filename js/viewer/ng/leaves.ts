// Empty answers to neuroglancer's per-chunk graphene leaves requests, known in the chunk worker.
//
// To draw a graphene segment in 2D, neuroglancer asks the chunkedgraph for the segment's
// supervoxels in every chunkedgraph chunk in view (`GET .../node/<root>/leaves?bounds=...`): one
// request per chunk and segment, whether or not the segment reaches that chunk. A segment change
// in the sample's xy view makes about 900 of them, nearly all empty. Each one crosses the widget
// channel to the kernel and back (or, against a real CAVE, goes to its chunkedgraph server), and
// together they keep the page's main thread busy for seconds after every selection: a state from
// Python waits behind them.
//
// A root's supervoxels all lie in the chunks of its level-2 nodes, and a root id never changes
// (an edit makes new roots). So the worker asks once per root for its L2 ids
// (`leaves?stop_layer=2`), reads each one's chunk from the id's bits (PyChunkedGraph's layout:
// `n_bits_for_layer_id` bits of layer, then `spatial_bit_masks[2]` bits each of x, y, z; the
// graphene `info` says both) and answers `{"leaf_ids": []}` itself for a chunk none of them is
// in. Anything else, and anything it cannot decide, is fetched as before. The chunk test keeps one
// chunk of margin around the requested bounds, so a rounding difference from the server's own
// bounding-box code can only send a request to the server, never hide a supervoxel.

const LEAVES = /^(.*\/segmentation\/api\/v1\/table\/[^/?#]+)\/node\/(\d{1,20})\/leaves$/;
/** Roots whose L2 chunks are remembered. */
export const KEPT_ROOTS = 256;

export interface Layout {
  layerBits: number;
  l2Bits: number;
  chunkSize: number[];
  voxelOffset: number[];
}

type GetJson = (url: string) => Promise<unknown>;

/** The id layout and chunk grid of a chunkedgraph, from its graphene `info`. */
export function layoutOf(info: any): Layout {
  const graph = info.graph;
  const bits = graph.spatial_bit_masks;
  const l2Bits = Number(bits["2"] ?? bits[2]);
  const mip = Number(graph.cv_mip ?? 0);
  const scale = info.scales?.[mip] ?? info.scales?.[0] ?? {};
  const layout = {
    layerBits: Number(graph.n_bits_for_layer_id ?? 8),
    l2Bits,
    chunkSize: (graph.chunk_size as unknown[]).map(Number),
    voxelOffset: ((scale.voxel_offset as unknown[]) ?? [0, 0, 0]).map(Number),
  };
  const ok = [layout.layerBits, layout.l2Bits, ...layout.chunkSize, ...layout.voxelOffset].every(Number.isFinite);
  if (!ok || layout.chunkSize.length !== 3 || layout.voxelOffset.length !== 3 || layout.chunkSize.some((c) => c <= 0)) {
    throw new Error("the chunkedgraph info has no usable id layout");
  }
  return layout;
}

/** Layer of a node id (its top `layerBits` bits). */
export function layerOf(id: bigint, layout: Layout): number {
  return Number(id >> BigInt(64 - layout.layerBits));
}

/** Chunk coordinates of an L2 id. */
export function chunkOf(id: bigint, layout: Layout): [number, number, number] {
  const bits = BigInt(layout.l2Bits);
  const mask = (1n << bits) - 1n;
  const shift = BigInt(64 - layout.layerBits) - bits;
  return [0, 1, 2].map((i) => Number((id >> (shift - BigInt(i) * bits)) & mask)) as [number, number, number];
}

/** `x0-x1_y0-y1_z0-z1` as [[x0, x1], [y0, y1], [z0, z1]], or null. */
export function parseBounds(text: string | null): number[][] | null {
  if (!text || !/^\d+-\d+_\d+-\d+_\d+-\d+$/.test(text)) return null;
  return text.split("_").map((p) => p.split("-").map(Number));
}

/** Whether any of `chunks` lies within `bounds` widened by one chunk on every side. */
export function reaches(chunks: Int32Array, bounds: number[][], layout: Layout): boolean {
  const lo = [0, 1, 2].map((i) => Math.floor((bounds[i][0] - layout.voxelOffset[i]) / layout.chunkSize[i]) - 1);
  const hi = [0, 1, 2].map((i) => Math.ceil((bounds[i][1] - layout.voxelOffset[i]) / layout.chunkSize[i]) + 1);
  for (let k = 0; k < chunks.length; k += 3) {
    if (chunks[k] >= lo[0] && chunks[k] < hi[0] && chunks[k + 1] >= lo[1] && chunks[k + 1] < hi[1] && chunks[k + 2] >= lo[2] && chunks[k + 2] < hi[2]) {
      return true;
    }
  }
  return false;
}

/**
 * Decides the leaves requests of chunks a root does not reach.
 *
 * Example:
 *   const oracle = new LeavesOracle();
 *   if (oracle.isEmpty(url, (u) => fetch(u, { headers }).then((r) => r.json()))) return emptyLeaves(url);
 */
export class LeavesOracle {
  // undefined while the answer is on its way: requests meanwhile go to the server, so a root whose
  // L2 list is slow to come (a big neuron on a busy server) is never drawn later than without this
  private layouts = new Map<string, Layout | null | undefined>();
  private roots = new Map<string, Int32Array | null | undefined>();
  /** Requests answered without a fetch (tests, diagnostics). */
  answered = 0;
  /** Settles when the last lookup started has (tests). */
  ready: Promise<void> = Promise.resolve();

  /** True when `url` is a leaves request of a chunk the root surely does not reach; `getJson`
   *  fetches what that takes (the graphene info, the root's L2 ids) the way `url` would be.
   *  Never waits for them: until they are in, the answer is false. */
  isEmpty(url: string, getJson: GetJson): boolean {
    const q = url.indexOf("?");
    if (q < 0) return false;
    const m = LEAVES.exec(url.slice(0, q));
    if (!m) return false;
    const params = new URLSearchParams(url.slice(q + 1));
    const bounds = parseBounds(params.get("bounds"));
    if (!bounds || (params.get("stop_layer") ?? "1") !== "1") return false;
    const [, base, node] = m;
    const root = BigInt(node);
    if (root >= 1n << 64n) return false;
    const layout = this.layout(base, getJson);
    if (!layout || layerOf(root, layout) <= 2) return false;
    const chunks = this.chunks(base, node, layout, getJson);
    if (!chunks || reaches(chunks, bounds, layout)) return false;
    this.answered++;
    return true;
  }

  private layout(base: string, getJson: GetJson): Layout | null | undefined {
    if (!this.layouts.has(base)) {
      this.layouts.set(base, undefined);
      const info = `${base.replace("/segmentation/api/v1/table/", "/segmentation/table/")}/info`;
      this.ready = getJson(info).then(layoutOf, () => null).then((layout) => void this.layouts.set(base, layout));
    }
    return this.layouts.get(base);
  }

  private chunks(base: string, node: string, layout: Layout, getJson: GetJson): Int32Array | null | undefined {
    const key = `${base}|${node}`;
    if (this.roots.has(key)) {
      const chunks = this.roots.get(key);
      this.roots.delete(key); // most recently used last
      this.roots.set(key, chunks);
      return chunks;
    }
    if (this.roots.size >= KEPT_ROOTS) this.roots.delete(this.roots.keys().next().value as string);
    this.roots.set(key, undefined);
    this.ready = getJson(`${base}/node/${node}/leaves?int64_as_str=1&stop_layer=2`)
      .then((reply) => l2Chunks(reply, layout), () => null)
      .then((chunks) => {
        if (this.roots.has(key)) this.roots.set(key, chunks);
      });
    return undefined;
  }
}

function l2Chunks(reply: unknown, layout: Layout): Int32Array | null {
  const ids = (reply as { leaf_ids?: unknown[] })?.leaf_ids;
  if (!Array.isArray(ids)) return null;
  const out = new Int32Array(ids.length * 3);
  for (let i = 0; i < ids.length; i++) {
    const id = BigInt(String(ids[i]));
    if (layerOf(id, layout) !== 2) return null; // not the layout we think: let the server answer
    out.set(chunkOf(id, layout), i * 3);
  }
  return out;
}

/** The chunkedgraph's answer for a chunk without any of the root's supervoxels. */
export function emptyLeaves(url: string): Response {
  const res = new Response('{"leaf_ids": []}', { status: 200, headers: { "content-type": "application/json" } });
  Object.defineProperty(res, "url", { value: url });
  return res;
}
