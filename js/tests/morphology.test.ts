import { describe, expect, it } from "vitest";
import { decodeGeometry, dequantize, skeletonSegments, typedArray, type GeometryMeta } from "../morphology/decode";
import { colorsForColumn, colorsForCompartments, hexToRgb, synapsePointSize, viridis } from "../morphology/colors";
import { nearestPoint, nearestSegmentNode } from "../morphology/pick";

// pack buffers into one ArrayBuffer at odd offsets, as a websocket message may deliver them
function packed(parts: ArrayBufferView[]): DataView[] {
  const total = parts.reduce((a, p) => a + p.byteLength + 1, 1);
  const whole = new Uint8Array(total);
  const views: DataView[] = [];
  let at = 1; // odd: misaligned for every element size above 1
  for (const p of parts) {
    whole.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), at);
    views.push(new DataView(whole.buffer, at, p.byteLength));
    at += p.byteLength + 1;
  }
  return views;
}

describe("morphology decode", () => {
  it("dequantizes uint16 positions in their box", () => {
    const q = new Uint16Array([0, 0, 0, 65535, 65535, 65535, 100, 200, 300]);
    const p = dequantize(q, { offset: [1000, 2000, 3000], scale: [2, 0.5, 1] });
    expect(Array.from(p)).toEqual([1000, 2000, 3000, 1000 + 65535 * 2, 2000 + 65535 * 0.5, 3000 + 65535, 1200, 2100, 3300]);
  });

  it("decodes every part from misaligned buffers, uint64 ids exact", () => {
    const ids = new BigUint64Array([864691135808684573n, 2n ** 64n - 1n]);
    const meta: GeometryMeta = {
      empty: false,
      data_version: 3,
      buffers: [
        { name: "mesh.positions", dtype: "uint16", shape: [3, 3], index: 0 },
        { name: "mesh.faces", dtype: "uint32", shape: [1, 3], index: 1 },
        { name: "skeleton.positions", dtype: "uint16", shape: [2, 3], index: 2 },
        { name: "skeleton.parents", dtype: "int32", shape: [2], index: 3 },
        { name: "skeleton.compartment", dtype: "uint8", shape: [2], index: 4 },
        { name: "skeleton.column.radius", dtype: "float32", shape: [2], index: 5 },
        { name: "synapses.positions", dtype: "uint16", shape: [2, 3], index: 6 },
        { name: "synapses.ids", dtype: "uint64", shape: [2], index: 7 },
        { name: "synapses.output", dtype: "uint8", shape: [2], index: 8 },
        { name: "synapses.size", dtype: "float32", shape: [2], index: 9 },
      ],
      mesh: { offset: [0, 0, 0], scale: [1, 1, 1], vertices: 3, triangles: 1, full_triangles: 1 },
      skeleton: { offset: [10, 0, 0], scale: [1, 1, 1], nodes: 2, compartments: ["unknown", "soma"], columns: [{ name: "radius", min: 1, max: 2 }], soma_node: 0, soma_radius: 2 },
      synapses: { offset: [0, 0, 0], scale: [2, 2, 2], count: 2, inputs: 1, outputs: 1, size_min: 5, size_max: 9 },
    };
    const bufs = packed([
      new Uint16Array([0, 0, 0, 1, 0, 0, 0, 1, 0]),
      new Uint32Array([0, 1, 2]),
      new Uint16Array([0, 0, 0, 5, 0, 0]),
      new Int32Array([-1, 0]),
      new Uint8Array([1, 0]),
      new Float32Array([2, 1]),
      new Uint16Array([1, 1, 1, 2, 2, 2]),
      ids,
      new Uint8Array([1, 0]),
      new Float32Array([5, NaN]),
    ]);
    const d = decodeGeometry(meta, bufs);
    expect(Array.from(d.mesh!.index)).toEqual([0, 1, 2]);
    expect(Array.from(d.skeleton!.positions)).toEqual([10, 0, 0, 15, 0, 0]);
    expect(Array.from(d.skeleton!.parents)).toEqual([-1, 0]);
    expect(Array.from(d.skeleton!.columns.get("radius")!)).toEqual([2, 1]);
    expect(d.synapses!.ids[0]).toBe(864691135808684573n);
    expect(d.synapses!.ids[1]).toBe(2n ** 64n - 1n);
    expect(Array.from(d.synapses!.positions)).toEqual([2, 2, 2, 4, 4, 4]);
    expect(Number.isNaN(d.synapses!.size[1])).toBe(true);
  });

  it("refuses buffers of the wrong length and unknown dtypes", () => {
    const dv = new DataView(new ArrayBuffer(5));
    expect(() => typedArray(dv, { name: "x", dtype: "uint16", shape: [3], index: 0 })).toThrow(RangeError);
    expect(() => typedArray(dv, { name: "x", dtype: "complex", shape: [1], index: 0 })).toThrow(TypeError);
    expect(() =>
      decodeGeometry({ empty: false, data_version: 1, buffers: [{ name: "a", dtype: "uint8", shape: [1], index: 4 }] }, []),
    ).toThrow(/missing buffer/);
  });

  it("turns parents into segments", () => {
    expect(Array.from(skeletonSegments(new Int32Array([-1, 0, 1, 1])))).toEqual([1, 0, 2, 1, 3, 1]);
  });
});

describe("morphology colours", () => {
  it("parses hex colours", () => {
    expect(hexToRgb("#ff0000")).toEqual([1, 0, 0]);
    expect(() => hexToRgb("red")).toThrow();
  });
  it("maps columns through viridis and compartments through the palette", () => {
    const c = colorsForColumn(new Float32Array([0, 10, NaN]), 0, 10);
    expect(Array.from(c.slice(0, 3)).map((x) => +x.toFixed(3))).toEqual(viridis(0).map((x) => +x.toFixed(3)));
    expect(Array.from(c.slice(3, 6)).map((x) => +x.toFixed(3))).toEqual(viridis(1).map((x) => +x.toFixed(3)));
    expect(Array.from(c.slice(6, 9)).map((x) => +x.toFixed(2))).toEqual([0.6, 0.6, 0.6]);
    const k = colorsForCompartments(new Uint8Array([2, 9]), ["unknown", "soma", "axon"]);
    expect(Array.from(k.slice(0, 3)).map((x) => +x.toFixed(3))).toEqual(hexToRgb("#ff7f0e").map((x) => +x.toFixed(3)));
  });
  it("sizes synapse points by size, within 3..9 px", () => {
    expect(synapsePointSize(100, 100, 10000)).toBe(3);
    expect(synapsePointSize(10000, 100, 10000)).toBe(9);
    expect(synapsePointSize(NaN, 100, 10000)).toBe(5);
  });
});

describe("morphology picking", () => {
  it("picks the nearest point within its radius, the front-most on ties", () => {
    const s = new Float32Array([10, 10, 0.5, 50, 50, 0.2, 50.5, 50, -0.1, 200, 200, 1.5]);
    expect(nearestPoint(s, 12, 11, 5)).toBe(0);
    expect(nearestPoint(s, 50, 50, 5)).toBe(2); // same spot: the nearer one (smaller depth)
    expect(nearestPoint(s, 100, 100, 5)).toBe(-1);
    expect(nearestPoint(s, 200, 200, 5)).toBe(-1); // behind the far plane
    expect(nearestPoint(s, 12, 11, 5, (i) => i !== 0)).toBe(-1);
  });
  it("picks the segment closest to the cursor and returns its nearer node", () => {
    const s = new Float32Array([0, 0, 0, 100, 0, 0, 100, 100, 0]);
    const seg = new Uint32Array([1, 0, 2, 1]);
    expect(nearestSegmentNode(s, seg, 20, 3, 5)).toBe(0);
    expect(nearestSegmentNode(s, seg, 98, 70, 5)).toBe(2);
    expect(nearestSegmentNode(s, seg, 50, 50, 5)).toBe(-1);
  });
});
