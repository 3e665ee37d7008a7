// TableBrowser front-end: a virtual-scrolling grid over a table that lives in the kernel.
// Only the rows in view travel, as Arrow IPC buffers requested after render; the DOM holds a
// fixed pool of row elements that is recycled while scrolling.
import { decodeArrow } from "../shared/arrow";
import { StaleReply, Transport, type WidgetModel } from "../shared/transport";
import { formatCell, isNumeric, type ColumnKind } from "./format";
import { BlockCache, blocksFor, bodyHeight, firstRowAt, nextFetch, scrollTopFor, type Geometry } from "./virtual";
import { el } from "../shared/dom";

interface Column {
  name: string;
  kind: ColumnKind;
  key?: boolean;
}

type FilterSpec =
  | { kind: "range"; min: string | number | null; max: string | number | null }
  | { kind: "in"; values: (string | number | boolean | null)[] }
  | { kind: "contains"; text: string };

interface Block {
  version: number;
  cells: (string | null)[][]; // [column][row]
  rowIds: number[]; // position of each row in the original frame
  selected: boolean[];
  colors: (string | null)[]; // stripe colour per row (Explorer: one colour per root id)
}

/** The traits of `cavewidgets.TableBrowser` (src/cavewidgets/table/widget.py). */
interface TableTraits {
  columns: Column[];
  total_rows: number;
  filtered_rows: number;
  selected_count: number;
  view_version: number;
  sort: [string, boolean][];
  filters: Record<string, FilterSpec>;
  search_text: string;
  hidden_columns: string[];
  height: number;
  error: string;
  key: string | null;
}
type Model = WidgetModel<TableTraits>;

const BLOCK = 100;
const ROW_HEIGHT = 26;
const MIN_WIDTH = 48;

// A full uint64 (20 digits) in the cell font, plus the cell's padding and border: `ch` is the
// width of "0" and the cells use tabular figures, so this fits whatever font the page has.
const ID_WIDTH = "calc(20ch + 16px)";

function isIdColumn(c: Column): boolean {
  return c.kind === "uint" || (c.kind === "int" && c.name.endsWith("id"));
}

/** CSS width of a column before the user resizes it. */
function defaultWidth(c: Column): string {
  if (isIdColumn(c)) return ID_WIDTH;
  if (c.kind === "position") return "190px";
  if (c.kind === "int") return "110px";
  if (c.kind === "datetime") return "160px";
  if (c.kind === "float" || c.kind === "bool") return "100px";
  return "140px";
}

class TableView {
  private root: HTMLElement;
  private model: Model;
  private transport: Transport;
  private cache = new BlockCache<Block>(80);
  private widths = new Map<string, number>();
  private pool: HTMLDivElement[] = [];
  private scroller!: HTMLDivElement;
  private canvas!: HTMLDivElement;
  private header!: HTMLDivElement;
  private rowsBox!: HTMLDivElement;
  private status!: HTMLSpanElement;
  private message!: HTMLDivElement;
  private search!: HTMLInputElement;
  private popover: HTMLElement | null = null;
  private anchor: number | null = null; // view position of the last plain/ctrl click
  private cursor: number | null = null; // view position the keyboard moves from
  private pendingOptimistic = new Map<number, boolean>(); // rowId -> selected, until the kernel confirms
  private searchTimer: number | undefined;
  private disposed = false;
  private renderQueued = false;
  private resizeObserver: ResizeObserver | null = null;
  private listeners: [string, (...args: any[]) => void][] = [];

  constructor(model: Model, root: HTMLElement) {
    this.model = model;
    this.root = root;
    this.transport = new Transport(model);
    this.build();
    this.bind();
    this.layout();
  }

  // ---------- model state ----------
  private columns(): Column[] {
    return this.model.get("columns") ?? [];
  }
  private visibleColumns(): Column[] {
    const hidden = new Set<string>(this.model.get("hidden_columns") ?? []);
    return this.columns().filter((c) => !hidden.has(c.name));
  }
  private rows(): number {
    return this.model.get("filtered_rows") ?? 0;
  }
  private version(): number {
    return this.model.get("view_version") ?? 0;
  }
  private geometry(): Geometry {
    const viewport = Math.max(1, Math.floor((this.scroller.clientHeight - ROW_HEIGHT) / ROW_HEIGHT));
    return { rows: this.rows(), rowHeight: ROW_HEIGHT, viewportRows: viewport };
  }

  // ---------- DOM ----------
  private build(): void {
    this.root.classList.add("cw-table");
    this.root.tabIndex = 0;
    const toolbar = el("div", "cw-toolbar");
    this.search = el("input", "cw-search");
    this.search.type = "search";
    this.search.placeholder = "Search all columns…";
    this.search.value = this.model.get("search_text") ?? "";
    this.status = el("span", "cw-status");
    const columnsButton = el("button", "cw-button cw-columns-button", "Columns");
    const clearButton = el("button", "cw-button cw-clear-filters", "Clear filters");
    const clearSelection = el("button", "cw-button cw-clear-selection", "Clear selection");
    columnsButton.addEventListener("click", (e) => this.openColumnsMenu(e.currentTarget as HTMLElement));
    clearButton.addEventListener("click", () => {
      this.search.value = "";
      this.changeView({ filters: {}, search_text: "" });
    });
    clearSelection.addEventListener("click", () => this.sendClick(-1, "clear"));
    toolbar.append(this.search, this.status, clearSelection, clearButton, columnsButton);

    this.message = el("div", "cw-message");
    this.scroller = el("div", "cw-scroll");
    this.scroller.style.height = `${this.model.get("height") ?? 420}px`;
    this.canvas = el("div", "cw-canvas");
    this.header = el("div", "cw-header");
    this.rowsBox = el("div", "cw-rows");
    this.canvas.append(this.header, this.rowsBox);
    this.scroller.append(this.canvas);
    this.root.append(toolbar, this.message, this.scroller);
  }

  private layout(): void {
    const cols = this.visibleColumns();
    this.applyWidths(cols);
    this.renderHeader();

    // row pool: enough rows to fill the viewport; recycled while scrolling
    const g = this.geometry();
    const needed = g.viewportRows + 1;
    this.rowsBox.replaceChildren();
    this.pool = [];
    for (let i = 0; i < needed; i++) {
      const row = el("div", "cw-row");
      row.style.top = `${i * ROW_HEIGHT}px`;
      for (let j = 0; j < cols.length; j++) row.append(el("div", "cw-cell" + (isNumeric(cols[j].kind) ? " cw-num" : "")));
      this.rowsBox.append(row);
      this.pool.push(row);
    }
    this.rowsBox.style.height = `${needed * ROW_HEIGHT}px`;
    this.updateHeight();
    this.renderRows();
  }

  private width(c: Column): string {
    const px = this.widths.get(c.name);
    return px === undefined ? defaultWidth(c) : `${px}px`;
  }

  /** Column tracks and the canvas width (the sum of the tracks, `ch` units included). */
  private applyWidths(cols: Column[]): void {
    const tracks = cols.map((c) => this.width(c));
    this.root.style.setProperty("--cw-cols", tracks.join(" ") || "1fr");
    this.canvas.style.width = tracks.length ? `max(10px, calc(${tracks.map((w) => w.replace(/^calc/, "")).join(" + ")}))` : "10px";
  }

  /** Header cells only: a sort or filter change needs no new row pool. */
  private renderHeader(): void {
    const cols = this.visibleColumns();
    this.header.replaceChildren();
    const sort: [string, boolean][] = this.model.get("sort") ?? [];
    const filters: Record<string, FilterSpec> = this.model.get("filters") ?? {};
    for (const c of cols) {
      const cell = el("div", "cw-hcell" + (isNumeric(c.kind) ? " cw-num" : ""));
      cell.dataset.column = c.name;
      cell.title = `${c.name} (${c.kind})${c.key ? " — key" : ""}`;
      const label = el("span", "cw-hlabel", c.name);
      const s = sort.findIndex(([n]) => n === c.name);
      const arrow = el("span", "cw-sort", s >= 0 ? (sort[s][1] ? "▲" : "▼") : "");
      const funnel = el("button", "cw-filter-button" + (filters[c.name] ? " cw-active" : ""), "▾");
      funnel.title = `Filter ${c.name}`;
      funnel.addEventListener("click", (e) => {
        e.stopPropagation();
        this.openFilter(c, funnel);
      });
      const grip = el("div", "cw-resize");
      grip.addEventListener("mousedown", (e) => this.startResize(e, c));
      grip.addEventListener("click", (e) => e.stopPropagation());
      cell.append(label, arrow, funnel, grip);
      cell.addEventListener("click", () => this.cycleSort(c.name));
      this.header.append(cell);
    }
    if (cols.length === 0) this.header.append(el("div", "cw-hcell cw-empty", "(no columns)"));
  }

  private updateHeight(): void {
    const g = this.geometry();
    this.canvas.style.height = `${ROW_HEIGHT + Math.max(bodyHeight(g), g.rowHeight)}px`;
  }

  private updateStatus(): void {
    const total = this.model.get("total_rows") ?? 0;
    const shown = this.rows();
    const sel = this.model.get("selected_count") ?? 0;
    const fmt = (n: number) => n.toLocaleString("en-US");
    this.status.textContent =
      (shown === total ? `${fmt(total)} rows` : `${fmt(shown)} of ${fmt(total)} rows`) + (sel ? ` · ${fmt(sel)} selected` : "");
    const err = this.model.get("error") ?? "";
    this.message.textContent = err;
    this.message.style.display = err ? "block" : "none";
  }

  private scheduleRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.renderRows();
    });
  }

  private renderRows(): void {
    if (this.disposed) return;
    this.updateStatus();
    const g = this.geometry();
    const first = firstRowAt(this.scroller.scrollTop, g);
    this.root.dataset.firstRow = String(first);
    const cols = this.visibleColumns();
    const allCols = this.columns();
    const index = cols.map((c) => allCols.findIndex((a) => a.name === c.name));
    for (let i = 0; i < this.pool.length; i++) {
      const row = this.pool[i];
      const pos = first + i;
      if (pos >= g.rows) {
        row.style.display = "none";
        continue;
      }
      row.style.display = "";
      row.dataset.pos = String(pos);
      const block = this.cache.get(Math.floor(pos / BLOCK));
      const k = pos % BLOCK;
      if (!block || k >= block.rowIds.length) {
        row.classList.add("cw-loading");
        row.classList.remove("cw-selected");
        row.style.boxShadow = "";
        delete row.dataset.row;
        for (const cell of Array.from(row.children)) cell.textContent = "";
        continue;
      }
      row.classList.remove("cw-loading");
      const rowId = block.rowIds[k];
      row.dataset.row = String(rowId);
      const optimistic = this.pendingOptimistic.get(rowId);
      row.classList.toggle("cw-selected", optimistic ?? block.selected[k]);
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
    this.fetchMissing(first, g);
  }

  // ---------- data ----------
  private fetchMissing(first: number, g: Geometry): void {
    if (this.transport.busy("page")) return; // the reply's handler fetches what is still missing
    const needed = blocksFor(first, g.viewportRows + 1, g.rows, BLOCK, 1);
    const visible = new Set(blocksFor(first, g.viewportRows + 1, g.rows, BLOCK, 0));
    const version = this.version();
    const run = nextFetch(needed, (b) => this.cache.get(b)?.version === version, visible);
    if (!run) return;
    const [b0, b1] = run;
    const start = b0 * BLOCK;
    const count = Math.min(g.rows, (b1 + 1) * BLOCK) - start;
    this.transport
      .request("page", { start, count, view_version: version }, "page", undefined, { skippable: true })
      .then(({ result, buffers }) => {
        if (this.disposed) return;
        if (result.view_version === this.version()) this.storePage(result.start, result.view_version, buffers[0]);
        this.scheduleRender();
      })
      .catch((err) => {
        if (err instanceof StaleReply || this.disposed) return;
        this.showError(String(err.message ?? err));
      });
  }

  private storePage(start: number, version: number, buffer: DataView): void {
    const table = decodeArrow(buffer);
    const cols = this.columns();
    const n = table.numRows;
    const cells = cols.map((c) => {
      const child = table.getChild(c.name);
      const out: (string | null)[] = new Array(n);
      if (!child) return out.fill(null);
      for (let i = 0; i < n; i++) out[i] = formatCell(child.at(i), c.kind);
      return out;
    });
    const rowIdCol = table.getChild("__row")!;
    const selCol = table.getChild("__sel")!;
    const rowIds = Array.from({ length: n }, (_, i) => Number(rowIdCol.at(i)));
    const selected = Array.from({ length: n }, (_, i) => Boolean(selCol.at(i)));
    const colorCol = table.getChild("__color");
    const colors = Array.from({ length: n }, (_, i) => (colorCol ? (colorCol.at(i) as string | null) : null));
    for (let b = 0; b * BLOCK < n; b++) {
      const s = b * BLOCK;
      const e = Math.min(n, s + BLOCK);
      this.cache.set(Math.floor((start + s) / BLOCK), {
        version,
        cells: cells.map((col) => col.slice(s, e)),
        rowIds: rowIds.slice(s, e),
        selected: selected.slice(s, e),
        colors: colors.slice(s, e),
      });
    }
  }

  /**
   * Change sort / filters / search in one round trip: the kernel applies the change (its traits
   * and observers update as usual) and replies with the first page of the new view.
   */
  private changeView(patch: { sort?: [string, boolean][]; filters?: Record<string, FilterSpec>; search_text?: string }): void {
    this.scroller.scrollTop = 0;
    this.anchor = this.cursor = null;
    const g = this.geometry();
    const count = Math.min(BLOCK * Math.ceil((g.viewportRows + 1) / BLOCK), 5000);
    this.transport
      .request("view", { ...patch, start: 0, count }, "page")
      .then(({ result, buffers }) => {
        if (this.disposed) return;
        if (result.view_version === this.version()) this.storePage(0, result.view_version, buffers[0]);
        this.scheduleRender();
      })
      .catch((err) => {
        if (err instanceof StaleReply || this.disposed) return;
        this.showError(String(err.message ?? err));
      });
  }

  private showError(text: string): void {
    this.message.textContent = text;
    this.message.style.display = "block";
  }

  // ---------- interaction ----------
  private bind(): void {
    this.scroller.addEventListener("scroll", () => this.scheduleRender(), { passive: true });
    this.rowsBox.addEventListener("click", (e) => {
      const row = (e.target as HTMLElement).closest(".cw-row") as HTMLElement | null;
      if (!row || row.dataset.pos === undefined) return;
      const pos = Number(row.dataset.pos);
      const additive = e.ctrlKey || e.metaKey;
      if (e.shiftKey && this.anchor !== null) this.sendClick(pos, additive ? "add-range" : "range");
      else this.sendClick(pos, additive ? "toggle" : "replace");
      if (!e.shiftKey) this.anchor = pos;
      this.cursor = pos;
      this.root.focus({ preventScroll: true });
    });
    this.root.addEventListener("keydown", (e) => this.onKey(e));
    this.search.addEventListener("input", () => {
      window.clearTimeout(this.searchTimer);
      this.searchTimer = window.setTimeout(() => this.changeView({ search_text: this.search.value }), 150);
    });
    const onView = () => {
      // keep showing the old rows until the new ones arrive (no flash of empty rows)
      this.updateHeight();
      this.scheduleRender();
    };
    this.listen("change:view_version", onView);
    this.listen("change:filtered_rows", onView);
    this.listen("change:selected_count", () => this.updateStatus());
    this.listen("change:error", () => this.updateStatus());
    this.listen("change:search_text", () => {
      if (document.activeElement !== this.search) this.search.value = this.model.get("search_text") ?? "";
    });
    for (const name of ["columns", "hidden_columns"]) this.listen(`change:${name}`, () => this.layout());
    for (const name of ["sort", "filters"]) this.listen(`change:${name}`, () => this.renderHeader());
    this.listen("change:height", () => {
      this.scroller.style.height = `${this.model.get("height")}px`;
      this.layout();
    });
    this.listen("msg:custom", (content: any) => {
      if (content?.kind === "cw:scroll_to") this.scrollTo(content.position);
    });
    document.addEventListener("mousedown", this.outsideClick, true);
    // the view is built before JupyterLab attaches it: size the row pool once it has a height
    let lastHeight = -1;
    this.resizeObserver = new ResizeObserver(() => {
      const h = this.scroller.clientHeight;
      if (h !== lastHeight) {
        lastHeight = h;
        this.layout();
      }
    });
    this.resizeObserver.observe(this.scroller);
  }

  /** Keyboard review: arrows move the selection (Shift extends it), PageUp/PageDown/Home/End jump. */
  private onKey(e: KeyboardEvent): void {
    if (e.key === "Escape" && this.popover) {
      this.closePopover();
      return;
    }
    if ((e.target as HTMLElement).closest("input, .cw-popover")) return;
    const g = this.geometry();
    if (g.rows === 0) return;
    const page = Math.max(1, g.viewportRows - 1);
    const steps: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, Home: -Infinity, End: Infinity };
    if (!(e.key in steps)) return;
    e.preventDefault();
    const from = this.cursor ?? firstRowAt(this.scroller.scrollTop, g) - 1;
    const to = Math.min(g.rows - 1, Math.max(0, from + steps[e.key]));
    if (e.shiftKey && this.anchor !== null) this.sendClick(to, "range");
    else {
      this.sendClick(to, "replace");
      this.anchor = to;
    }
    this.cursor = to;
    // keep the cursor row in view
    const first = firstRowAt(this.scroller.scrollTop, g);
    if (to < first) this.scrollTo(to);
    else if (to >= first + g.viewportRows) this.scrollTo(to - g.viewportRows + 1);
  }

  /** model.on, remembered so that dispose() removes it (a re-rendered cell leaves no listeners behind). */
  private listen(event: string, handler: (...args: any[]) => void): void {
    this.model.on(event, handler);
    this.listeners.push([event, handler]);
  }

  private outsideClick = (e: MouseEvent) => {
    if (this.popover && !this.popover.contains(e.target as Node)) this.closePopover();
  };

  scrollTo(position: number): void {
    this.scroller.scrollTop = scrollTopFor(position, this.geometry());
    this.scheduleRender();
  }

  private sendClick(pos: number, mode: string): void {
    // optimistic highlight for the clicked row; the kernel's answer replaces it
    const row = this.pool.find((r) => r.dataset.pos === String(pos));
    if (row?.dataset.row !== undefined && (mode === "toggle" || mode === "replace")) {
      const rowId = Number(row.dataset.row);
      const now = !row.classList.contains("cw-selected") || mode === "replace";
      if (mode === "replace") for (const r of this.pool) r.classList.remove("cw-selected");
      row.classList.toggle("cw-selected", now);
      this.pendingOptimistic.set(rowId, now);
    }
    this.transport
      .request("click", { position: pos, mode, anchor: this.anchor, view_version: this.version() })
      .catch((err) => this.showError(String(err.message ?? err)))
      .finally(() => {
        this.pendingOptimistic.clear();
        this.scheduleRender();
      });
  }

  private cycleSort(name: string): void {
    const sort: [string, boolean][] = this.model.get("sort") ?? [];
    const current = sort.length && sort[0][0] === name ? sort[0][1] : null;
    const next: [string, boolean][] = current === null ? [[name, true]] : current ? [[name, false]] : [];
    this.changeView({ sort: next });
  }

  private startResize(e: MouseEvent, c: Column): void {
    e.preventDefault();
    const startX = e.clientX;
    const cell = (e.currentTarget as HTMLElement).closest(".cw-hcell") as HTMLElement | null;
    const startW = this.widths.get(c.name) ?? cell?.getBoundingClientRect().width ?? MIN_WIDTH;
    const move = (ev: MouseEvent) => {
      this.widths.set(c.name, Math.max(MIN_WIDTH, startW + ev.clientX - startX));
      this.applyWidths(this.visibleColumns());
    };
    const up = () => {
      document.removeEventListener("mousemove", move);
      document.removeEventListener("mouseup", up);
    };
    document.addEventListener("mousemove", move);
    document.addEventListener("mouseup", up);
  }

  // ---------- popovers ----------
  private closePopover(): void {
    this.popover?.remove();
    this.popover = null;
  }

  private placePopover(pop: HTMLElement, anchor: HTMLElement): void {
    this.closePopover();
    this.popover = pop;
    const a = anchor.getBoundingClientRect();
    const r = this.root.getBoundingClientRect();
    pop.style.left = `${Math.max(0, Math.min(a.left - r.left, r.width - 260))}px`;
    pop.style.top = `${a.bottom - r.top + 2}px`;
    this.root.append(pop);
  }

  private setFilter(name: string, spec: FilterSpec | null): void {
    const filters = { ...(this.model.get("filters") ?? {}) };
    if (spec) filters[name] = spec;
    else delete filters[name];
    this.closePopover();
    this.changeView({ filters });
  }

  private openFilter(c: Column, anchor: HTMLElement): void {
    const pop = el("div", "cw-popover cw-filter");
    pop.dataset.column = c.name;
    pop.append(el("div", "cw-pop-title", `Filter ${c.name}`));
    const body = el("div", "cw-pop-body", "Loading…");
    const actions = el("div", "cw-pop-actions");
    const apply = el("button", "cw-button cw-apply", "Apply");
    const clear = el("button", "cw-button cw-clear", "Clear");
    clear.addEventListener("click", () => this.setFilter(c.name, null));
    actions.append(clear, apply);
    pop.append(body, actions);
    this.placePopover(pop, anchor);
    const current: FilterSpec | undefined = (this.model.get("filters") ?? {})[c.name];

    this.transport
      .request("summary", { column: c.name })
      .then(({ result }) => {
        body.replaceChildren();
        if (result.values) {
          // pick list with counts
          const chosen = new Set<string>(current?.kind === "in" ? current.values.map((v) => JSON.stringify(v)) : []);
          const list = el("div", "cw-picklist");
          for (const [value, count] of result.values as [string | number | boolean | null, number][]) {
            const label = el("label", "cw-pick");
            const box = el("input");
            box.type = "checkbox";
            box.checked = chosen.has(JSON.stringify(value));
            box.dataset.value = JSON.stringify(value);
            label.append(box, el("span", "cw-pick-value", value === null ? "(missing)" : String(value)), el("span", "cw-pick-count", count.toLocaleString("en-US")));
            list.append(label);
          }
          if (result.truncated) list.append(el("div", "cw-note", `showing the ${result.values.length} most frequent values`));
          body.append(list);
          apply.onclick = () => {
            const values = Array.from(list.querySelectorAll<HTMLInputElement>("input:checked")).map((b) => JSON.parse(b.dataset.value!));
            this.setFilter(c.name, values.length ? { kind: "in", values } : null);
          };
        } else if (result.min !== undefined) {
          const min = el("input", "cw-min");
          const max = el("input", "cw-max");
          min.placeholder = `min ${result.min ?? ""}`;
          max.placeholder = `max ${result.max ?? ""}`;
          if (current?.kind === "range") {
            min.value = current.min === null ? "" : String(current.min);
            max.value = current.max === null ? "" : String(current.max);
          }
          body.append(min, el("span", "cw-dash", "–"), max);
          apply.onclick = () => {
            const lo = min.value.trim() || null;
            const hi = max.value.trim() || null;
            this.setFilter(c.name, lo === null && hi === null ? null : { kind: "range", min: lo, max: hi });
          };
        } else {
          const text = el("input", "cw-contains");
          text.placeholder = "contains…";
          if (current?.kind === "contains") text.value = current.text;
          body.append(text);
          text.focus();
          apply.onclick = () => this.setFilter(c.name, text.value ? { kind: "contains", text: text.value } : null);
          text.addEventListener("keydown", (e) => e.key === "Enter" && apply.click());
        }
      })
      .catch((err) => {
        body.textContent = String(err.message ?? err);
      });
  }

  private openColumnsMenu(anchor: HTMLElement): void {
    const pop = el("div", "cw-popover cw-columns");
    const hidden = new Set<string>(this.model.get("hidden_columns") ?? []);
    for (const c of this.columns()) {
      const label = el("label", "cw-pick");
      const box = el("input");
      box.type = "checkbox";
      box.checked = !hidden.has(c.name);
      box.addEventListener("change", () => {
        const now = new Set<string>(this.model.get("hidden_columns") ?? []);
        if (box.checked) now.delete(c.name);
        else now.add(c.name);
        this.model.set("hidden_columns", this.columns().map((k) => k.name).filter((n) => now.has(n)));
        this.model.save_changes();
      });
      label.append(box, el("span", "cw-pick-value", c.name));
      pop.append(label);
    }
    this.placePopover(pop, anchor);
  }

  dispose(): void {
    this.disposed = true;
    this.resizeObserver?.disconnect();
    for (const [event, handler] of this.listeners) this.model.off(event, handler);
    this.listeners = [];
    document.removeEventListener("mousedown", this.outsideClick, true);
    this.transport.dispose();
  }
}

export default {
  render({ model, el: root }: { model: Model; el: HTMLElement }) {
    const view = new TableView(model, root);
    return () => view.dispose();
  },
};
