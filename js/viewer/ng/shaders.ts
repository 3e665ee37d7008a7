// Keep neuroglancer's compiled shader variants for the viewer's lifetime.
//
// neuroglancer builds a layer's shader for its current parameters (for a segmentation layer:
// whether it has equivalences, stated colours, a default colour, ...) and frees the previous
// variant as soon as a parameter changes. When a parameter flips back (the segment set emptied
// and refilled, a graphene layer's equivalences cleared and reloaded after a segment change),
// the same program is compiled again. Without a GPU, SwiftShader compiles on the CPU, and
// `getShaderParameter` waits for it on the page's main thread: 100–500 ms per program, the
// largest single cost of the page's main thread in the sync benchmark, and everything else
// (a state from Python included) waits behind it. A few extra programs cost little GPU memory.

/** How many variants are kept; beyond that the least recently created one is released. */
export const KEPT_VARIANTS = 48;

interface RefCountedLike {
  addRef(): unknown;
  dispose(): void;
}

interface MemoizeLike {
  get(key: unknown, getter: () => RefCountedLike): RefCountedLike;
}

/**
 * Hold one extra reference to every shader program `memoize` creates, so that variants come back
 * without a compile; returns the function that releases them and restores `memoize`.
 *
 * Example:
 *   const release = retainShaders(viewer.gl.memoize, (o) => o instanceof ShaderProgram);
 *   release(); // on dispose
 */
export function retainShaders(memoize: MemoizeLike, isShader: (obj: unknown) => boolean, limit = KEPT_VARIANTS): () => void {
  const original = memoize.get;
  const kept: RefCountedLike[] = [];
  memoize.get = function (key, getter) {
    let created: RefCountedLike | undefined;
    const obj = original.call(this, key, () => (created = getter()));
    if (created === obj && isShader(obj)) {
      obj.addRef();
      kept.push(obj);
      if (kept.length > limit) kept.shift()?.dispose(); // freed only if nobody else holds it
    }
    return obj;
  };
  return () => {
    memoize.get = original;
    for (const obj of kept.splice(0)) obj.dispose();
  };
}
