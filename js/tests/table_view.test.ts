import { describe, expect, it } from "vitest";
import { columnTracks, defaultWidth } from "../table/grid";
import { keyTarget } from "../table/selection";

describe("keyboard moves in the table", () => {
  it("steps, pages and jumps within the view's rows", () => {
    expect(keyTarget("ArrowDown", -1, 50, 10)).toBe(0); // no cursor yet: the first row in view
    expect(keyTarget("ArrowDown", 49, 50, 10)).toBe(49); // stays on the last row
    expect(keyTarget("ArrowUp", 0, 50, 10)).toBe(0);
    expect(keyTarget("PageDown", 5, 50, 10)).toBe(14); // a page is the viewport less one row
    expect(keyTarget("PageUp", 5, 50, 10)).toBe(0);
    expect(keyTarget("End", 3, 50, 10)).toBe(49);
    expect(keyTarget("Home", 30, 50, 10)).toBe(0);
    expect(keyTarget("PageDown", 0, 50, 1)).toBe(1); // a one-row viewport still moves
    expect(keyTarget("Enter", 3, 50, 10)).toBeNull();
  });
});

describe("column widths", () => {
  it("gives ids the width of a full uint64 and sums the tracks for the canvas", () => {
    const id = { name: "pt_root_id", kind: "uint" as const };
    const size = { name: "size", kind: "float" as const };
    expect(defaultWidth(id)).toBe("calc(20ch + 16px)");
    expect(defaultWidth({ name: "cell_id", kind: "int" })).toBe("calc(20ch + 16px)");
    expect(defaultWidth({ name: "count", kind: "int" })).toBe("110px");
    const { tracks, width } = columnTracks([id, size], new Map([["size", 80]]));
    expect(tracks).toBe("calc(20ch + 16px) 80px");
    expect(width).toBe("max(10px, calc((20ch + 16px) + 80px))");
    expect(columnTracks([], new Map())).toEqual({ tracks: "1fr", width: "10px" });
  });
});
