// Answers to neuroglancer's per-chunk graphene leaves requests, known in the chunk worker.
//
// To draw a graphene segment in 2D, neuroglancer asks the chunkedgraph for the segment's
// supervoxels in every chunkedgraph chunk in view (`GET .../node/<root>/leaves?bounds=...`): one
// request per chunk and segment, whether or not the segment reaches that chunk. A segment change
// in the sample's xy view makes about 900 of them; a view of 16 neurons, about 2,500. Each one
// crosses the widget channel to the kernel and back (or, against a real CAVE, goes to its
// chunkedgraph server) through the page's main thread, which also draws: a 16-neuron view took
// 40 s to draw its xy panel, nearly all of it these requests, and a state from Python waits
// behind them.
//
// A root's supervoxels all lie in the chunks of its level-2 nodes, and a root id never changes
// (an edit makes new roots). So the worker asks once per root for its L2 ids
// (`leaves?stop_layer=2`), reads each one's chunk from the id's bits (PyChunkedGraph's layout:
// `n_bits_for_layer_id` bits of layer, then `spatial_bit_masks[layer]` bits each of x, y, z; the
// graphene `info` says both) and answers `{"leaf_ids": []}` itself for a chunk none of them is
// in. For a root of at most FULL_LEAVES_MAX_L2 L2 nodes (the sample's neurons have 250-1,100;
// their supervoxel list is the size of a few chunk answers) it also asks once for all its
// supervoxels, and answers every chunk from them: a supervoxel lies in its L2 node's chunk.
//
// Bounds on the chunk grid (what neuroglancer sends: one chunk) are read exactly as
// PyChunkedGraph's `normalize_bounding_box` reads them (chunks from floor((lo - offset) / size)
// to ceil((hi - offset) / size)). Other bounds keep one chunk of margin and are never answered
// with supervoxels, so a rounding difference can only send a request to the server, never hide
// a supervoxel. Anything else is fetched as before, and so is a request whose root's lookups are
// not in after LOOKUP_WAIT_MS (a big neuron on a slow server is never drawn much later).

const LEAVES = /^(.*\/segmentation\/api\/v1\/table\/[^/?#]+)\/node\/(\d{1,20})\/leaves$/;
/** Roots whose L2 chunks (and supervoxels) are remembered. */
export const KEPT_ROOTS = 256;
/** Roots with at most this many L2 nodes get their supervoxels fetched once, whole. */
export const FULL_LEAVES_MAX_L2 = 2000;
/** How long a request waits for its root's lookups before it goes to the server anyway: about a
 *  round trip, which the request itself would take (so it is not drawn later for waiting). */
export const LOOKUP_WAIT_MS = 400;

export interface Layout {
  layerBits: number;
  l1Bits: number;
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
  const l1Bits = Number(bits["1"] ?? bits[1] ?? l2Bits);
  const mip = Number(graph.cv_mip ?? 0);
  const scale = info.scales?.[mip] ?? info.scales?.[0] ?? {};
  const layout = {
    layerBits: Number(graph.n_bits_for_layer_id ?? 8),
    l1Bits,
    l2Bits,
    chunkSize: (graph.chunk_size as unknown[]).map(Number),
    voxelOffset: ((scale.voxel_offset as unknown[]) ?? [0, 0, 0]).map(Number),
  };
  const ok = [layout.layerBits, layout.l1Bits, layout.l2Bits, ...layout.chunkSize, ...layout.voxelOffset].every(Number.isFinite);
  if (!ok || layout.chunkSize.length !== 3 || layout.voxelOffset.length !== 3 || layout.chunkSize.some((c) => c <= 0)) {
    throw new Error("the chunkedgraph info has no usable id layout");
  }
  return layout;
}

/** Layer of a node id (its top `layerBits` bits). */
export function layerOf(id: bigint, layout: Layout): number {
  return Number(id >> BigInt(64 - layout.layerBits));
}

/** Chunk coordinates of an L2 id (or, with `bits` = `layout.l1Bits`, of a supervoxel). */
export function chunkOf(id: bigint, layout: Layout, bitsPerAxis = layout.l2Bits): [number, number, number] {
  const bits = BigInt(bitsPerAxis);
  const mask = (1n << bits) - 1n;
  const shift = BigInt(64 - layout.layerBits) - bits;
  return [0, 1, 2].map((i) => Number((id >> (shift - BigInt(i) * bits)) & mask)) as [number, number, number];
}

/** `x0-x1_y0-y1_z0-z1` as [[x0, x1], [y0, y1], [z0, z1]], or null. */
export function parseBounds(text: string | null): number[][] | null {
  if (!text || !/^\d+-\d+_\d+-\d+_\d+-\d+$/.test(text)) return null;
  return text.split("_").map((p) => p.split("-").map(Number));
}

/** The chunks `[[x0, x1), [y0, y1), [z0, z1)]` that bounds on the chunk grid cover, as
 *  PyChunkedGraph reads them; null for bounds off the grid. */
export function gridRange(bounds: number[][], layout: Layout): number[][] | null {
  const range: number[][] = [];
  for (let i = 0; i < 3; i++) {
    const [a, b] = bounds[i].map((v) => (v - layout.voxelOffset[i]) / layout.chunkSize[i]);
    if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b <= a) return null;
    range.push([a, b]);
  }
  return range;
}

function inRange(chunks: Int32Array, k: number, range: number[][]): boolean {
  return (
    chunks[k] >= range[0][0] && chunks[k] < range[0][1] && chunks[k + 1] >= range[1][0] && chunks[k + 1] < range[1][1] &&
    chunks[k + 2] >= range[2][0] && chunks[k + 2] < range[2][1]
  );
}

/** Whether any of `chunks` lies within `bounds` widened by one chunk on every side. */
export function reaches(chunks: Int32Array, bounds: number[][], layout: Layout): boolean {
  const range = [0, 1, 2].map((i) => [
    Math.floor((bounds[i][0] - layout.voxelOffset[i]) / layout.chunkSize[i]) - 1,
    Math.ceil((bounds[i][1] - layout.voxelOffset[i]) / layout.chunkSize[i]) + 1,
  ]);
  return anyInRange(chunks, range);
}

function anyInRange(chunks: Int32Array, range: number[][]): boolean {
  for (let k = 0; k < chunks.length; k += 3) if (inRange(chunks, k, range)) return true;
  return false;
}

/** A root's L2 chunks, and its supervoxels with their chunks once known (small roots only). */
interface RootChunks {
  l2: Int32Array;
  svs?: { ids: string[]; chunks: Int32Array } | null;
}

/**
 * Answers the leaves requests it can from what it learnt of each root.
 *
 * Example:
 *   const oracle = new LeavesOracle();
 *   const local = oracle.answer(url, (u) => fetch(u, { headers }).then((r) => r.json()));
 *   if (local) return local;
 */
export class LeavesOracle {
  // undefined while the answer is on its way: requests meanwhile go to the server, so a root whose
  // lookups are slow to come (a big neuron on a busy server) is never drawn later than without this
  private layouts = new Map<string, Layout | null | undefined>();
  private roots = new Map<string, RootChunks | null | undefined>();
  private lookups = new Map<string, Promise<void>>(); // per base or root, while on its way
  /** Requests answered empty without a fetch (tests, diagnostics). */
  answered = 0;
  /** Requests answered with supervoxels without a fetch. */
  filled = 0;
  /** Settles when the last lookup started has (tests). */
  ready: Promise<void> = Promise.resolve();

  /** `waitMs`: how long `answer` waits for a root's lookups (tests set it). */
  constructor(private waitMs = LOOKUP_WAIT_MS) {}

  /** The answer to `url` when it is a leaves request this oracle can answer, else null;
   *  `getJson` fetches what that takes (the graphene info, the root's L2 ids and supervoxels)
   *  the way `url` would be. Never waits for them: until they are in, the answer is null. */
  async answer(url: string, getJson: GetJson): Promise<Response | null> {
    const deadline = Date.now() + this.waitMs;
    let ids = this.leafIds(url, getJson);
    for (let wait = this.pendingFor(url); ids === null && wait && Date.now() < deadline; wait = this.pendingFor(url)) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, deadline - Date.now());
      });
      await Promise.race([wait, late]);
      clearTimeout(timer);
      ids = this.leafIds(url, getJson);
    }
    return ids === null ? null : leavesResponse(url, ids);
  }

  /** The lookup `url`'s answer waits for (its chunkedgraph's info, then its root's), if one is on its way. */
  private pendingFor(url: string): Promise<void> | undefined {
    const m = LEAVES.exec(url.split("?")[0]);
    return m ? (this.lookups.get(m[1]) ?? this.lookups.get(`${m[1]}|${m[2]}`)) : undefined;
  }

  private track(key: string, lookup: Promise<void>): void {
    const done: Promise<void> = lookup.finally(() => {
      if (this.lookups.get(key) === done) this.lookups.delete(key); // not a later lookup's entry
    });
    this.lookups.set(key, done);
    this.ready = done;
  }

  /** The supervoxel ids `answer` would send, or null (tests). */
  leafIds(url: string, getJson: GetJson): string[] | null {
    const q = url.indexOf("?");
    if (q < 0) return null;
    const m = LEAVES.exec(url.slice(0, q));
    if (!m) return null;
    const params = new URLSearchParams(url.slice(q + 1));
    const bounds = parseBounds(params.get("bounds"));
    if (!bounds || (params.get("stop_layer") ?? "1") !== "1") return null;
    const [, base, node] = m;
    const root = BigInt(node);
    if (root >= 1n << 64n) return null;
    const layout = this.layout(base, getJson);
    if (!layout || layerOf(root, layout) <= 2) return null;
    const known = this.root(base, node, layout, getJson);
    if (!known) return null;
    const range = gridRange(bounds, layout);
    if (!range) {
      if (reaches(known.l2, bounds, layout)) return null;
      this.answered++;
      return [];
    }
    if (!anyInRange(known.l2, range)) {
      this.answered++;
      return [];
    }
    if (!known.svs) return null;
    const { ids, chunks } = known.svs;
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) if (inRange(chunks, 3 * i, range)) out.push(ids[i]);
    this.filled++;
    return out;
  }

  private layout(base: string, getJson: GetJson): Layout | null | undefined {
    if (!this.layouts.has(base)) {
      this.layouts.set(base, undefined);
      const info = `${base.replace("/segmentation/api/v1/table/", "/segmentation/table/")}/info`;
      this.track(base, getJson(info).then(layoutOf, () => null).then((layout) => void this.layouts.set(base, layout)));
    }
    return this.layouts.get(base);
  }

  private root(base: string, node: string, layout: Layout, getJson: GetJson): RootChunks | null | undefined {
    const key = `${base}|${node}`;
    if (this.roots.has(key)) {
      const known = this.roots.get(key);
      this.roots.delete(key); // most recently used last
      this.roots.set(key, known);
      return known;
    }
    if (this.roots.size >= KEPT_ROOTS) this.roots.delete(this.roots.keys().next().value as string);
    this.roots.set(key, undefined);
    const keep = (known: RootChunks | null) => {
      if (this.roots.has(key)) this.roots.set(key, known);
    };
    const l2Lookup = getJson(`${base}/node/${node}/leaves?int64_as_str=1&stop_layer=2`)
      .then((reply) => idChunks(reply, layout, 2), () => null)
      .then((l2) => {
        keep(l2 && { l2: l2.chunks });
        if (!l2 || l2.ids.length > FULL_LEAVES_MAX_L2) return;
        // the whole supervoxel list of a small root: every chunk of it is answered from here
        this.track(
          key,
          getJson(`${base}/node/${node}/leaves?int64_as_str=1`)
            .then((reply) => idChunks(reply, layout, 1), () => null)
            .then((svs) => keep({ l2: l2.chunks, svs })),
        );
      });
    this.track(key, l2Lookup);
    return undefined;
  }
}

/** The ids of a leaves reply and their chunks, or null if any is not of `layer` (not the layout
 *  we think: let the server answer). */
function idChunks(reply: unknown, layout: Layout, layer: 1 | 2): { ids: string[]; chunks: Int32Array } | null {
  const ids = (reply as { leaf_ids?: unknown[] })?.leaf_ids;
  if (!Array.isArray(ids)) return null;
  const out = new Int32Array(ids.length * 3);
  const text: string[] = new Array(ids.length);
  const bits = layer === 1 ? layout.l1Bits : layout.l2Bits;
  for (let i = 0; i < ids.length; i++) {
    text[i] = String(ids[i]);
    if (!/^\d{1,20}$/.test(text[i])) return null;
    const id = BigInt(text[i]);
    if (id >= 1n << 64n || layerOf(id, layout) !== layer) return null;
    out.set(chunkOf(id, layout, bits), i * 3);
  }
  return { ids: text, chunks: out };
}

/** The chunkedgraph's answer (`int64_as_str`: ids as strings) for a chunk of the root. */
export function leavesResponse(url: string, ids: string[]): Response {
  const res = new Response(JSON.stringify({ leaf_ids: ids }), { status: 200, headers: { "content-type": "application/json" } });
  Object.defineProperty(res, "url", { value: url });
  return res;
}
