import { Memoize } from "neuroglancer/unstable/util/memoize.js";
import { RefCounted } from "neuroglancer/unstable/util/disposable.js";
import { describe, expect, it } from "vitest";
import { retainShaders } from "../viewer/ng/shaders";

class FakeProgram extends RefCounted {
  static compiled = 0;
  freed = false;
  constructor() {
    super();
    FakeProgram.compiled++;
    this.registerDisposer(() => {
      this.freed = true;
    });
  }
}
class Other extends RefCounted {}

const isShader = (o: unknown) => o instanceof FakeProgram;

describe("retainShaders", () => {
  it("a variant freed by its layer comes back without a compile", () => {
    const memoize = new Memoize<string, RefCounted>();
    retainShaders(memoize as any, isShader);
    FakeProgram.compiled = 0;
    // a layer flips a parameter: it takes the new variant and drops the old one, then flips back
    let current = memoize.get("a", () => new FakeProgram()) as FakeProgram;
    const first = current;
    const b = memoize.get("b", () => new FakeProgram());
    current.dispose();
    current = memoize.get("a", () => new FakeProgram()) as FakeProgram;
    b.dispose();
    expect(FakeProgram.compiled).toBe(2);
    expect(current).toBe(first);
    expect(first.freed).toBe(false);
  });

  it("only shaders are kept, the oldest beyond the limit is released, and release frees them all", () => {
    const memoize = new Memoize<string, RefCounted>();
    const release = retainShaders(memoize as any, isShader, 2);
    const other = memoize.get("o", () => new Other());
    other.dispose();
    expect((memoize as any).map.has("o")).toBe(false);
    const programs = ["x", "y", "z"].map((k) => memoize.get(k, () => new FakeProgram()) as FakeProgram);
    for (const p of programs) p.dispose();
    expect(programs.map((p) => p.freed)).toEqual([true, false, false]);
    release();
    expect(programs.map((p) => p.freed)).toEqual([true, true, true]);
    expect((memoize as any).map.size).toBe(0);
    // restored: nothing is kept any more
    const later = memoize.get("w", () => new FakeProgram()) as FakeProgram;
    later.dispose();
    expect(later.freed).toBe(true);
  });

  it("a hit is not counted as a new variant", () => {
    const memoize = new Memoize<string, RefCounted>();
    const release = retainShaders(memoize as any, isShader);
    const a = memoize.get("a", () => new FakeProgram()) as FakeProgram;
    const again = memoize.get("a", () => new FakeProgram());
    expect(again).toBe(a);
    a.dispose();
    again.dispose();
    release();
    expect(a.freed).toBe(true);
  });
});
