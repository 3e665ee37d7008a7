import { describe, expect, it } from "vitest";
import { BlockCache, MAX_SCROLL_PX, blocksFor, bodyHeight, firstRowAt, nextFetch, scrollTopFor } from "../table/virtual";

const small = { rows: 1000, rowHeight: 26, viewportRows: 15 };
const huge = { rows: 1_000_000, rowHeight: 26, viewportRows: 15 };

describe("virtual scrolling", () => {
  it("maps pixels to rows one to one for small tables", () => {
    expect(bodyHeight(small)).toBe(26_000);
    expect(firstRowAt(0, small)).toBe(0);
    expect(firstRowAt(26 * 40 + 5, small)).toBe(40);
    expect(scrollTopFor(40, small)).toBe(26 * 40);
    expect(firstRowAt(1e9, small)).toBe(1000 - 15); // clamped to the last full page
  });

  it("caps the body height and maps proportionally for a million rows", () => {
    expect(bodyHeight(huge)).toBe(MAX_SCROLL_PX);
    expect(firstRowAt(0, huge)).toBe(0);
    const last = huge.rows - huge.viewportRows;
    expect(firstRowAt(MAX_SCROLL_PX - 15 * 26, huge)).toBe(last);
    for (const row of [1, 12_345, 500_000, 900_000, last]) {
      expect(firstRowAt(scrollTopFor(row, huge), huge)).toBe(row); // round trip is exact
    }
  });

  it("handles empty and tiny views", () => {
    expect(firstRowAt(100, { rows: 0, rowHeight: 26, viewportRows: 15 })).toBe(0);
    expect(firstRowAt(100, { rows: 3, rowHeight: 26, viewportRows: 15 })).toBe(0);
    expect(blocksFor(0, 16, 0, 100)).toEqual([]);
  });

  it("asks for visible blocks first, in short contiguous runs", () => {
    expect(blocksFor(950, 16, 1_000_000, 100, 1)).toEqual([8, 9, 10]);
    expect(blocksFor(990, 16, 1_000_000, 100, 0)).toEqual([9, 10]);
    expect(blocksFor(0, 16, 50, 100, 1)).toEqual([0]);
    const have = new Set([8]);
    expect(nextFetch([8, 9, 10, 11], (b) => have.has(b), new Set([9, 10]))).toEqual([9, 11]);
    expect(nextFetch([8], (b) => have.has(b), new Set([8]))).toBeNull();
  });

  it("evicts least recently used blocks", () => {
    const cache = new BlockCache<string>(2);
    cache.set(1, "a");
    cache.set(2, "b");
    cache.get(1);
    cache.set(3, "c");
    expect(cache.has(1)).toBe(true);
    expect(cache.has(2)).toBe(false);
    expect(cache.size).toBe(2);
  });
});
