// Grid rendering of the TableBrowser: column widths, the header row, the recycled row pool and
// the page → block decoding. No model or transport here: the view passes what it needs.
import { decodeArrow } from "../shared/arrow";
import { el } from "../shared/dom";
import { formatCell, isNumeric } from "./format";
import type { Block, Column, FilterSpec } from "./traits";

export const BLOCK = 100;
export const ROW_HEIGHT = 26;
export const MIN_WIDTH = 48;

// A full uint64 (20 digits) in the cell font, plus the cell's padding and border: `ch` is the
// width of "0" and the cells use tabular figures, so this fits whatever font the page has.
const ID_WIDTH = "calc(20ch + 16px)";

function isIdColumn(c: Column): boolean {
  return c.kind === "uint" || (c.kind === "int" && c.name.endsWith("id"));
}

/** CSS width of a column before the user resizes it. */
export function defaultWidth(c: Column): string {
  if (isIdColumn(c)) return ID_WIDTH;
  if (c.kind === "position") return "190px";
  if (c.kind === "int") return "110px";
  if (c.kind === "datetime") return "160px";
  if (c.kind === "float" || c.kind === "bool") return "100px";
  return "140px";
}

/** CSS column tracks, and the canvas width: the sum of the tracks (`ch` units included). */
export function columnTracks(cols: Column[], widths: Map<string, number>): { tracks: string; width: string } {
  const tracks = cols.map((c) => {
    const px = widths.get(c.name);
    return px === undefined ? defaultWidth(c) : `${px}px`;
  });
  return {
    tracks: tracks.join(" ") || "1fr",
    width: tracks.length ? `max(10px, calc(${tracks.map((w) => w.replace(/^calc/, "")).join(" + ")}))` : "10px",
  };
}

/** What a header cell does: sort on click, a filter popover from its funnel, resize from its grip. */
export interface HeaderActions {
  sort(name: string): void;
  filter(c: Column, funnel: HTMLElement): void;
  resize(e: MouseEvent, c: Column): void;
}

/** Header cells with sort arrows and active-filter marks. */
export function renderHeader(header: HTMLElement, cols: Column[], sort: [string, boolean][], filters: Record<string, FilterSpec>, actions: HeaderActions): void {
  header.replaceChildren();
  for (const c of cols) {
    const cell = el("div", `cw-hcell${isNumeric(c.kind) ? " cw-num" : ""}`);
    cell.dataset.column = c.name;
    cell.title = `${c.name} (${c.kind})${c.key ? " — key" : ""}`;
    const label = el("span", "cw-hlabel", c.name);
    const s = sort.findIndex(([n]) => n === c.name);
    const arrow = el("span", "cw-sort", s >= 0 ? (sort[s][1] ? "▲" : "▼") : "");
    const funnel = el("button", `cw-filter-button${filters[c.name] ? " cw-active" : ""}`, "▾");
    funnel.title = `Filter ${c.name}`;
    funnel.addEventListener("click", (e) => {
      e.stopPropagation();
      actions.filter(c, funnel);
    });
    const grip = el("div", "cw-resize");
    grip.addEventListener("mousedown", (e) => actions.resize(e, c));
    grip.addEventListener("click", (e) => e.stopPropagation());
    cell.append(label, arrow, funnel, grip);
    cell.addEventListener("click", () => actions.sort(c.name));
    header.append(cell);
  }
  if (cols.length === 0) header.append(el("div", "cw-hcell cw-empty", "(no columns)"));
}

/** `needed` empty row elements, one cell per column, stacked ROW_HEIGHT apart. */
export function rowPool(rowsBox: HTMLElement, needed: number, cols: Column[]): HTMLDivElement[] {
  rowsBox.replaceChildren();
  const pool: HTMLDivElement[] = [];
  for (let i = 0; i < needed; i++) {
    const row = el("div", "cw-row");
    row.style.top = `${i * ROW_HEIGHT}px`;
    for (let j = 0; j < cols.length; j++) row.append(el("div", `cw-cell${isNumeric(cols[j].kind) ? " cw-num" : ""}`));
    rowsBox.append(row);
    pool.push(row);
  }
  rowsBox.style.height = `${needed * ROW_HEIGHT}px`;
  return pool;
}

/** A pooled row showing row `k` of `block` (a loading row without one); `index`: block column per cell. */
export function paintRow(row: HTMLElement, block: Block | undefined, k: number, index: number[], optimistic: Map<number, boolean>): void {
  if (!block || k >= block.rowIds.length) {
    row.classList.add("cw-loading");
    row.classList.remove("cw-selected");
    row.style.boxShadow = "";
    delete row.dataset.row;
    for (const cell of Array.from(row.children)) cell.textContent = "";
    return;
  }
  row.classList.remove("cw-loading");
  const rowId = block.rowIds[k];
  row.dataset.row = String(rowId);
  row.classList.toggle("cw-selected", optimistic.get(rowId) ?? block.selected[k]);
  const stripe = block.colors[k];
  row.style.boxShadow = stripe ? `inset 5px 0 0 ${stripe}` : "";
  row.dataset.color = stripe ?? "";
  const cells = row.children;
  for (let j = 0; j < index.length; j++) {
    const text = block.cells[index[j]]?.[k] ?? null;
    const cell = cells[j] as HTMLElement;
    cell.textContent = text ?? "";
    cell.classList.toggle("cw-null", text === null);
  }
}

/** A page (Arrow IPC) as cache blocks `[blockNumber, Block]`, starting at view row `start`. */
export function pageBlocks(buffer: DataView, cols: Column[], start: number, version: number): [number, Block][] {
  const table = decodeArrow(buffer);
  const n = table.numRows;
  const cells = cols.map((c) => {
    const child = table.getChild(c.name);
    const out: (string | null)[] = new Array(n);
    if (!child) return out.fill(null);
    for (let i = 0; i < n; i++) out[i] = formatCell(child.at(i), c.kind);
    return out;
  });
  const rowIdCol = table.getChild("__row");
  const selCol = table.getChild("__sel");
  if (!rowIdCol || !selCol) throw new Error("a table page without __row / __sel columns");
  const rowIds = Array.from({ length: n }, (_, i) => Number(rowIdCol.at(i)));
  const selected = Array.from({ length: n }, (_, i) => Boolean(selCol.at(i)));
  const colorCol = table.getChild("__color");
  const colors = Array.from({ length: n }, (_, i) => (colorCol ? (colorCol.at(i) as string | null) : null));
  const blocks: [number, Block][] = [];
  for (let b = 0; b * BLOCK < n; b++) {
    const s = b * BLOCK;
    const e = Math.min(n, s + BLOCK);
    blocks.push([
      Math.floor((start + s) / BLOCK),
      { version, cells: cells.map((col) => col.slice(s, e)), rowIds: rowIds.slice(s, e), selected: selected.slice(s, e), colors: colors.slice(s, e) },
    ]);
  }
  return blocks;
}
