// Colours of the morphology panel: compartment palette, a perceptual colormap for numeric node
// columns, synapse point sizes.

export const COMPARTMENT_COLORS: Record<string, string> = {
  unknown: "#4d4d4d",
  soma: "#8c564b",
  axon: "#ff7f0e",
  dendrite: "#9467bd",
};

/** "#rrggbb" → [r, g, b] in 0..1. */
export function hexToRgb(hex: string): [number, number, number] {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex.trim());
  if (!m) throw new TypeError(`not a hex colour: ${hex}`);
  const v = parseInt(m[1], 16);
  return [((v >> 16) & 255) / 255, ((v >> 8) & 255) / 255, (v & 255) / 255];
}

// viridis at 9 stops (matplotlib), interpolated linearly
const VIRIDIS: [number, number, number][] = [
  [0.267, 0.005, 0.329], [0.283, 0.141, 0.458], [0.254, 0.265, 0.53], [0.207, 0.372, 0.553],
  [0.164, 0.471, 0.558], [0.128, 0.567, 0.551], [0.135, 0.659, 0.518], [0.267, 0.749, 0.441],
  [0.478, 0.821, 0.318], [0.741, 0.873, 0.15], [0.993, 0.906, 0.144],
];

/** Viridis colour of t in [0, 1] (clamped; NaN → grey). */
export function viridis(t: number): [number, number, number] {
  if (!Number.isFinite(t)) return [0.6, 0.6, 0.6];
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i];
  const b = VIRIDIS[i + 1];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/** Per-node RGB (n × 3) for a numeric column, scaled between its min and max. */
export function colorsForColumn(values: Float32Array, min: number, max: number): Float32Array {
  const out = new Float32Array(values.length * 3);
  const span = max > min ? max - min : 1;
  for (let i = 0; i < values.length; i++) {
    const c = viridis((values[i] - min) / span);
    out.set(c, i * 3);
  }
  return out;
}

/** Per-node RGB (n × 3) from compartment codes. */
export function colorsForCompartments(codes: Uint8Array, names: string[]): Float32Array {
  const palette = names.map((n) => hexToRgb(COMPARTMENT_COLORS[n] ?? COMPARTMENT_COLORS.unknown));
  const out = new Float32Array(codes.length * 3);
  for (let i = 0; i < codes.length; i++) out.set(palette[codes[i]] ?? palette[0], i * 3);
  return out;
}

/** Point size in CSS pixels for a synapse size: 3..9 px by cube root, 5 px if unknown. */
export function synapsePointSize(size: number, min: number, max: number): number {
  if (!Number.isFinite(size) || !(max > min)) return 5;
  const a = Math.cbrt(Math.max(min, 0));
  const b = Math.cbrt(max);
  const t = b > a ? (Math.cbrt(Math.max(size, 0)) - a) / (b - a) : 0.5;
  return 3 + 6 * Math.min(1, Math.max(0, t));
}
