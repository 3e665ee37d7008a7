// The one uint64 helper every widget uses. Root ids exceed 2^53, so they live in JS as BigInt
// or as decimal strings at the boundary, never as Number.

const MAX_U64 = (1n << 64n) - 1n;

/** Exact decimal text for an id (BigInt, safe Number or decimal string); "" for null. */
export function idToString(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new RangeError(`unsafe integer id ${value}: ids must travel as BigInt or strings`);
    return String(value);
  }
  if (typeof value === "string" && /^\d+$/.test(value)) return value.replace(/^0+(?=\d)/, "");
  throw new TypeError(`not an id: ${String(value)}`);
}

/** Parse a decimal string (or BigInt) into a BigInt in the uint64 range; throws on anything else. */
export function parseUint64(text: string | bigint): bigint {
  const value = typeof text === "bigint" ? text : (() => {
    const t = String(text).trim();
    if (!/^\d+$/.test(t)) throw new TypeError(`not a uint64: "${t}"`);
    return BigInt(t);
  })();
  if (value < 0n || value > MAX_U64) throw new RangeError(`out of uint64 range: ${value}`);
  return value;
}

/** True when a string is a non-negative decimal integer (what a user pastes as a root id). */
export function looksLikeId(text: string): boolean {
  return /^\s*\d{1,20}\s*$/.test(text);
}
