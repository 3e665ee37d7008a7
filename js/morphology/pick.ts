// Screen-space picking helpers: the nearest projected point or segment to the cursor. Points
// (synapses, skeleton nodes) are picked on screen, where they are drawn at a fixed pixel size,
// so a click hits what the eye sees; depth breaks ties (the front-most wins).

/** Index of the point nearest to (x, y) within `radius` px (per-point radius if given), or -1.
 *  `screen` holds x, y, depth (NDC z, -1 near .. 1 far) per point; points with depth outside
 *  [-1, 1] are behind the camera or clipped and never picked. */
export function nearestPoint(screen: Float32Array, x: number, y: number, radius: number | Float32Array, visible?: (i: number) => boolean): number {
  let best = -1;
  let bestD = Infinity;
  let bestZ = Infinity;
  const n = screen.length / 3;
  for (let i = 0; i < n; i++) {
    const z = screen[i * 3 + 2];
    if (!(z >= -1 && z <= 1)) continue;
    if (visible && !visible(i)) continue;
    const dx = screen[i * 3] - x;
    const dy = screen[i * 3 + 1] - y;
    const d = Math.sqrt(dx * dx + dy * dy);
    const r = typeof radius === "number" ? radius : radius[i];
    if (d > r) continue;
    // within ~1.5 px of the best, prefer the front-most
    if (d < bestD - 1.5 || (Math.abs(d - bestD) <= 1.5 && z < bestZ)) {
      best = i;
      bestD = d;
      bestZ = z;
    }
  }
  return best;
}

/** For segments (pairs of point indices), the point index (of the nearer end) of the segment
 *  closest to (x, y) within `radius` px, or -1. */
export function nearestSegmentNode(screen: Float32Array, segments: Uint32Array, x: number, y: number, radius: number): number {
  let best = -1;
  let bestD = radius;
  for (let k = 0; k < segments.length; k += 2) {
    const a = segments[k];
    const b = segments[k + 1];
    const az = screen[a * 3 + 2];
    const bz = screen[b * 3 + 2];
    if (!(az >= -1 && az <= 1 && bz >= -1 && bz <= 1)) continue;
    const ax = screen[a * 3], ay = screen[a * 3 + 1];
    const bx = screen[b * 3], by = screen[b * 3 + 1];
    const vx = bx - ax, vy = by - ay;
    const len2 = vx * vx + vy * vy;
    const t = len2 > 0 ? Math.min(1, Math.max(0, ((x - ax) * vx + (y - ay) * vy) / len2)) : 0;
    const px = ax + t * vx - x, py = ay + t * vy - y;
    const d = Math.sqrt(px * px + py * py);
    if (d <= bestD) {
      bestD = d;
      best = t < 0.5 ? a : b;
    }
  }
  return best;
}
