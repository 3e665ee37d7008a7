// TableBrowser front-end: a virtual-scrolling grid over a table that lives in the kernel.
// Only the rows in view travel, as Arrow IPC buffers requested after render; the DOM holds a
// fixed pool of row elements that is recycled while scrolling. The view wires the model and the
// transport to the grid (grid.ts), the popovers (popovers.ts) and selection (selection.ts).
import { el } from "../shared/dom";
import { ModelListeners } from "../shared/listeners";
import { type Reply, StaleReply, Transport } from "../shared/transport";
import { BLOCK, MIN_WIDTH, ROW_HEIGHT, columnTracks, pageBlocks, paintRow, renderHeader, rowPool } from "./grid";
import { columnsMenu, filterPopover } from "./popovers";
import { type ClickMode, clickMode, keyTarget, optimisticSelect } from "./selection";
import type { Block, Column, FilterSpec, Model } from "./traits";
import { BlockCache, type Geometry, blocksFor, bodyHeight, firstRowAt, nextFetch, scrollTopFor } from "./virtual";

type ViewPatch = { sort?: [string, boolean][]; filters?: Record<string, FilterSpec>; search_text?: string };

class TableView {
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
  private listeners: ModelListeners;

  constructor(
    private model: Model,
    private root: HTMLElement,
  ) {
    this.transport = new Transport(model);
    this.listeners = new ModelListeners(model);
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
    columnsButton.addEventListener("click", (e) => this.placePopover(columnsMenu(this.model, () => this.columns()), e.currentTarget as HTMLElement));
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
    this.applyWidths();
    this.renderHeader();
    // row pool: enough rows to fill the viewport; recycled while scrolling
    this.pool = rowPool(this.rowsBox, this.geometry().viewportRows + 1, this.visibleColumns());
    this.updateHeight();
    this.renderRows();
  }

  private applyWidths(): void {
    const { tracks, width } = columnTracks(this.visibleColumns(), this.widths);
    this.root.style.setProperty("--cw-cols", tracks);
    this.canvas.style.width = width;
  }

  /** Header cells only: a sort or filter change needs no new row pool. */
  private renderHeader(): void {
    renderHeader(this.header, this.visibleColumns(), this.model.get("sort") ?? [], this.model.get("filters") ?? {}, {
      sort: (name) => this.cycleSort(name),
      filter: (c, funnel) => this.openFilter(c, funnel),
      resize: (e, c) => this.startResize(e, c),
    });
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
    const allCols = this.columns();
    const index = this.visibleColumns().map((c) => allCols.findIndex((a) => a.name === c.name));
    for (let i = 0; i < this.pool.length; i++) {
      const row = this.pool[i];
      const pos = first + i;
      if (pos >= g.rows) {
        row.style.display = "none";
        continue;
      }
      row.style.display = "";
      row.dataset.pos = String(pos);
      paintRow(row, this.cache.get(Math.floor(pos / BLOCK)), pos % BLOCK, index, this.pendingOptimistic);
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
    this.receivePages(this.transport.request("page", { start, count, view_version: version }, "page", undefined, { skippable: true }));
  }

  /**
   * Change sort / filters / search in one round trip: the kernel applies the change (its traits
   * and observers update as usual) and replies with the first page of the new view.
   */
  private changeView(patch: ViewPatch): void {
    this.scroller.scrollTop = 0;
    this.anchor = this.cursor = null;
    const g = this.geometry();
    const count = Math.min(BLOCK * Math.ceil((g.viewportRows + 1) / BLOCK), 5000);
    this.receivePages(this.transport.request("view", { ...patch, start: 0, count }, "page"));
  }

  /** Cache a page reply that still matches the view, then draw (a stale reply is dropped). */
  private receivePages(reply: Promise<Reply<{ start: number; view_version: number }>>): void {
    reply
      .then(({ result, buffers }) => {
        if (this.disposed) return;
        if (result.view_version === this.version())
          for (const [b, block] of pageBlocks(buffers[0], this.columns(), result.start, result.view_version)) this.cache.set(b, block);
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
      this.sendClick(pos, clickMode(e, this.anchor !== null));
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
    this.listeners.on("change:view_version", onView);
    this.listeners.on("change:filtered_rows", onView);
    this.listeners.on("change:selected_count", () => this.updateStatus());
    this.listeners.on("change:error", () => this.updateStatus());
    this.listeners.on("change:search_text", () => {
      if (document.activeElement !== this.search) this.search.value = this.model.get("search_text") ?? "";
    });
    for (const name of ["columns", "hidden_columns"]) this.listeners.on(`change:${name}`, () => this.layout());
    for (const name of ["sort", "filters"]) this.listeners.on(`change:${name}`, () => this.renderHeader());
    this.listeners.on("change:height", () => {
      this.scroller.style.height = `${this.model.get("height")}px`;
      this.layout();
    });
    this.listeners.on("msg:custom", (content: { kind?: string; position?: number } | undefined) => {
      if (content?.kind === "cw:scroll_to") this.scrollTo(Number(content.position));
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
    const to = keyTarget(e.key, this.cursor ?? firstRowAt(this.scroller.scrollTop, g) - 1, g.rows, g.viewportRows);
    if (to === null) return;
    e.preventDefault();
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

  private outsideClick = (e: MouseEvent) => {
    if (this.popover && !this.popover.contains(e.target as Node)) this.closePopover();
  };

  scrollTo(position: number): void {
    this.scroller.scrollTop = scrollTopFor(position, this.geometry());
    this.scheduleRender();
  }

  private sendClick(pos: number, mode: ClickMode): void {
    // optimistic highlight for the clicked row; the kernel's answer replaces it
    const shown = optimisticSelect(this.pool, pos, mode);
    if (shown) this.pendingOptimistic.set(shown[0], shown[1]);
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
      this.applyWidths();
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
    const current: FilterSpec | undefined = this.model.get("filters")?.[c.name];
    this.placePopover(
      filterPopover(c, current, this.transport, (spec) => this.setFilter(c.name, spec)),
      anchor,
    );
  }

  dispose(): void {
    this.disposed = true;
    this.resizeObserver?.disconnect();
    this.listeners.dispose();
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
