// Cell text for each column kind. Ids (64-bit ints) arrive as BigInt and print exactly.
import { idToString } from "../shared/uint64";

export type ColumnKind = "int" | "uint" | "float" | "bool" | "string" | "category" | "position" | "datetime" | "object";

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "" : v > 0 ? "∞" : "-∞";
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e9)) return v.toExponential(4);
  return String(Number(v.toPrecision(6)));
}

function scalar(v: unknown): string {
  if (typeof v === "bigint") return idToString(v);
  if (typeof v === "number") return formatNumber(v);
  return String(v);
}

/** Text for one cell; `null` when the value is missing (rendered as an empty, dimmed cell). */
export function formatCell(value: unknown, kind: ColumnKind): string | null {
  if (value === null || value === undefined) return null;
  switch (kind) {
    case "int":
    case "uint":
      return typeof value === "bigint" ? idToString(value) : scalar(value);
    case "float":
      return typeof value === "number" && Number.isNaN(value) ? null : scalar(value);
    case "bool":
      return value ? "true" : "false";
    case "datetime": {
      const ms = typeof value === "bigint" ? Number(value) : (value as number);
      const d = new Date(ms);
      return Number.isNaN(d.getTime()) ? String(value) : d.toISOString().replace("T", " ").replace(/(\.000)?Z$/, "");
    }
    case "position": {
      const items = Array.from(value as ArrayLike<unknown>);
      if (items.some((x) => x === null || (typeof x === "number" && Number.isNaN(x)))) return null;
      return items.map(scalar).join(", ");
    }
    default:
      return String(value);
  }
}

/** Whether a column is right-aligned (numbers line up). */
export function isNumeric(kind: ColumnKind): boolean {
  return kind === "int" || kind === "uint" || kind === "float";
}
