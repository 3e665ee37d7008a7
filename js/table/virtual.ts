// Virtual scrolling arithmetic, kept free of the DOM so it can be unit-tested.
// Browsers cap an element's height (~16-33M px), so past MAX_SCROLL_PX the scrollbar is mapped
// proportionally onto rows instead of one pixel per pixel.

export const MAX_SCROLL_PX = 8_000_000;

export interface Geometry {
  rows: number; // rows in the current view
  rowHeight: number;
  viewportRows: number; // rows that fit in the viewport
}

/** Height of the scrollable body. */
export function bodyHeight(g: Geometry): number {
  return Math.min(g.rows * g.rowHeight, MAX_SCROLL_PX);
}

function scrollRange(g: Geometry): number {
  return Math.max(0, bodyHeight(g) - g.viewportRows * g.rowHeight);
}

function lastFirstRow(g: Geometry): number {
  return Math.max(0, g.rows - g.viewportRows);
}

/** First row shown for a scroll offset. */
export function firstRowAt(scrollTop: number, g: Geometry): number {
  const range = scrollRange(g);
  if (range <= 0) return 0;
  const exact = g.rows * g.rowHeight <= MAX_SCROLL_PX;
  const row = exact ? Math.floor(scrollTop / g.rowHeight) : Math.round((scrollTop / range) * lastFirstRow(g));
  return Math.min(Math.max(0, row), lastFirstRow(g));
}

/** Scroll offset that shows `row` first. */
export function scrollTopFor(row: number, g: Geometry): number {
  const target = Math.min(Math.max(0, row), lastFirstRow(g));
  const exact = g.rows * g.rowHeight <= MAX_SCROLL_PX;
  if (exact) return target * g.rowHeight;
  const last = lastFirstRow(g);
  return last === 0 ? 0 : (target / last) * scrollRange(g);
}

/** Blocks of `blockSize` rows needed to show rows [first, first+count), plus `ahead` blocks either side. */
export function blocksFor(first: number, count: number, rows: number, blockSize: number, ahead = 1): number[] {
  if (rows <= 0 || count <= 0) return [];
  const lastBlock = Math.floor((rows - 1) / blockSize);
  const start = Math.max(0, Math.floor(first / blockSize) - ahead);
  const end = Math.min(lastBlock, Math.floor((first + count - 1) / blockSize) + ahead);
  const out: number[] = [];
  for (let b = start; b <= end; b++) out.push(b);
  return out;
}

/** The blocks to request next: the missing ones, visible first, as one contiguous run. */
export function nextFetch(needed: number[], have: (b: number) => boolean, visible: Set<number>): [number, number] | null {
  const missing = needed.filter((b) => !have(b));
  if (missing.length === 0) return null;
  const first = missing.find((b) => visible.has(b)) ?? missing[0];
  let last = first;
  while (missing.includes(last + 1) && last - first < 4) last++;
  return [first, last];
}

/** Least-recently-used cache of decoded blocks. */
export class BlockCache<T> {
  private map = new Map<number, T>();
  constructor(private capacity = 64) {}
  get(block: number): T | undefined {
    const v = this.map.get(block);
    if (v !== undefined) {
      this.map.delete(block);
      this.map.set(block, v);
    }
    return v;
  }
  has(block: number): boolean {
    return this.map.has(block);
  }
  set(block: number, value: T): void {
    this.map.delete(block);
    this.map.set(block, value);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as number);
  }
  clear(): void {
    this.map.clear();
  }
  get size(): number {
    return this.map.size;
  }
}
