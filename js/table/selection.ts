// Keyboard and click selection in the TableBrowser: which view row a key moves to, and the
// optimistic highlight a click shows until the kernel's answer arrives.

/** How a click or key changes the selection (the kernel's `click` request). */
export type ClickMode = "replace" | "toggle" | "range" | "add-range" | "clear";

/** The click mode of a mouse click on a row. */
export function clickMode(e: MouseEvent, hasAnchor: boolean): ClickMode {
  const additive = e.ctrlKey || e.metaKey;
  if (e.shiftKey && hasAnchor) return additive ? "add-range" : "range";
  return additive ? "toggle" : "replace";
}

/** The view row a navigation key moves to from `from` (-1: above the first row), or null for other keys. */
export function keyTarget(key: string, from: number, rows: number, viewportRows: number): number | null {
  const page = Math.max(1, viewportRows - 1);
  const steps: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, Home: -Infinity, End: Infinity };
  if (!(key in steps)) return null;
  return Math.min(rows - 1, Math.max(0, from + steps[key]));
}

/** Highlight the clicked row at once (toggle / replace only); the row id and its new state, or null. */
export function optimisticSelect(pool: HTMLElement[], pos: number, mode: ClickMode): [number, boolean] | null {
  const row = pool.find((r) => r.dataset.pos === String(pos));
  if (row?.dataset.row === undefined || (mode !== "toggle" && mode !== "replace")) return null;
  const rowId = Number(row.dataset.row);
  const now = !row.classList.contains("cw-selected") || mode === "replace";
  if (mode === "replace") for (const r of pool) r.classList.remove("cw-selected");
  row.classList.toggle("cw-selected", now);
  return [rowId, now];
}
