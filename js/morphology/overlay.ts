// The MorphologyPanel's DOM around the canvas: the toolbar (toggles, opacity, colour-by, reset)
// and the overlays on the stage (status, error, pick info, legend, title).
import { el } from "../shared/dom";
import { COMPARTMENT_COLORS } from "./colors";
import type { Decoded } from "./decode";
import type { Model, Toggle } from "./traits";

export function fmt(n: number): string {
  return n.toLocaleString("en-US");
}

/** nm → "x, y, z" in µm */
export function um(p: number[]): string {
  return p.map((v) => (v / 1000).toFixed(2)).join(", ");
}

/** What the toolbar's controls do besides setting their trait. */
export interface ToolbarActions {
  toggled(): void;
  opacity(): void;
  colorBy(): void;
  reset(): void;
}

export class MorphologyOverlay {
  /** the widget's box (the anywidget element's own style belongs to ipywidgets' layout) */
  readonly box: HTMLDivElement;
  readonly stage: HTMLDivElement;
  readonly colorBy: HTMLSelectElement;
  readonly toggles = new Map<Toggle, HTMLInputElement>();
  readonly opacityInput: HTMLInputElement;
  private overlay: HTMLDivElement;
  private errorBox: HTMLDivElement;
  private info: HTMLDivElement;
  private legend: HTMLDivElement;
  private titleEl: HTMLSpanElement;

  constructor(
    private model: Model,
    root: HTMLElement,
    actions: ToolbarActions,
  ) {
    const r = el("div", "cw-morph");
    this.box = r;
    r.style.height = `${model.get("height")}px`;
    const bar = el("div", "cw-morph-toolbar");
    this.titleEl = el("span", "cw-morph-title", "");
    bar.append(this.titleEl);
    for (const [name, label] of [
      ["show_mesh", "mesh"],
      ["show_skeleton", "skeleton"],
      ["show_synapses", "synapses"],
    ] as const) {
      const lab = el("label", "cw-morph-toggle");
      const box = el("input");
      box.type = "checkbox";
      box.dataset.trait = name;
      box.checked = !!model.get(name);
      box.addEventListener("change", () => {
        model.set(name, box.checked);
        model.save_changes();
        actions.toggled();
      });
      lab.append(box, el("span", undefined, label));
      this.toggles.set(name, box);
      bar.append(lab);
    }
    const op = el("label", "cw-morph-opacity");
    const opacity = el("input");
    this.opacityInput = opacity;
    opacity.type = "range";
    opacity.min = "0.05";
    opacity.max = "1";
    opacity.step = "0.05";
    opacity.value = String(model.get("opacity"));
    opacity.title = "mesh opacity";
    opacity.addEventListener("input", () => {
      model.set("opacity", Number(opacity.value));
      model.save_changes();
      actions.opacity();
    });
    op.append(el("span", undefined, "opacity"), opacity);
    bar.append(op);
    const cb = el("label", "cw-morph-colorby");
    const colorBy = el("select");
    this.colorBy = colorBy;
    colorBy.title = "colour the skeleton by";
    colorBy.addEventListener("change", () => {
      model.set("color_by", colorBy.value);
      model.save_changes();
      actions.colorBy();
    });
    cb.append(el("span", undefined, "colour by"), colorBy);
    cb.style.display = "none"; // shown once a skeleton gives it choices
    bar.append(cb);
    const reset = el("button", "cw-morph-button cw-morph-reset", "reset view");
    reset.addEventListener("click", () => actions.reset());
    bar.append(reset);

    this.stage = el("div", "cw-morph-stage");
    this.overlay = el("div", "cw-morph-overlay");
    this.errorBox = el("div", "cw-morph-error");
    this.info = el("div", "cw-morph-info");
    this.legend = el("div", "cw-morph-legend");
    this.stage.append(this.overlay, this.errorBox, this.info, this.legend);
    r.replaceChildren(bar, this.stage);
    root.replaceChildren(r);
  }

  /** The colour-by choices of a new neuron: compartment and its node columns (none without a skeleton). */
  setColorChoices(data: Decoded | null): void {
    const meta = data?.skeleton ? data.meta.skeleton : undefined;
    (this.colorBy.parentElement as HTMLElement).style.display = meta ? "" : "none";
    if (!meta) {
      this.colorBy.replaceChildren();
      return;
    }
    const current = this.model.get("color_by");
    this.colorBy.replaceChildren(el("option", undefined, "compartment"));
    (this.colorBy.lastChild as HTMLOptionElement).value = "compartment";
    for (const c of meta.columns) {
      const o = el("option", undefined, c.name);
      o.value = c.name;
      this.colorBy.append(o);
    }
    this.colorBy.value = meta.columns.some((c) => c.name === current) ? current : "compartment";
  }

  /** The column (or "compartment") the skeleton is coloured by. */
  colorColumn(): string {
    return this.colorBy.value || "compartment";
  }

  showError(text: string): void {
    this.errorBox.textContent = text;
    this.errorBox.style.display = "block";
  }

  /** Status, loading, error and "nothing shown" overlays; `webgl`: whether there is a canvas. */
  update(loading: boolean, hasData: boolean, webgl: boolean): void {
    const status = this.model.get("status") as string;
    const text = status || (loading ? "Loading geometry…" : "");
    this.overlay.textContent = text;
    this.overlay.style.display = text ? "block" : "none";
    const error = this.model.get("error") as string;
    if (error) this.showError(error);
    else if (webgl) this.errorBox.style.display = "none";
    if (!hasData && !text && !error) {
      this.overlay.textContent = this.model.get("empty_text") || "No neuron shown: call panel.show(root_id).";
      this.overlay.style.display = "block";
    }
  }

  updateTitle(data: Decoded | null): void {
    const meta = data?.meta;
    const parts: string[] = [];
    const title = this.model.get("title");
    if (title) parts.push(`root ${title}`);
    if (meta?.mesh) {
      const shown = meta.mesh.triangles === meta.mesh.full_triangles ? "" : ` (${fmt(meta.mesh.triangles)} shown)`;
      parts.push(`${fmt(meta.mesh.full_triangles)} triangles${shown}`);
    }
    if (meta?.skeleton) parts.push(`${fmt(meta.skeleton.nodes)} nodes`);
    this.titleEl.textContent = parts.join(" · ");
  }

  updateLegend(data: Decoded | null): void {
    const meta = data?.meta;
    // a neuron shown without synapses (the review queue's) has no synapses to toggle
    const synapses = this.toggles.get("show_synapses")?.parentElement;
    if (synapses) synapses.style.display = data && !meta?.synapses ? "none" : "";
    this.legend.replaceChildren();
    const swatch = (color: string, text: string) => {
      const row = el("div", "cw-morph-legend-row");
      const dot = el("span", "cw-morph-swatch");
      dot.style.background = color;
      row.append(dot, el("span", undefined, text));
      this.legend.append(row);
    };
    if (meta?.synapses) {
      swatch(this.model.get("input_color"), `${fmt(meta.synapses.inputs)} inputs`);
      swatch(this.model.get("output_color"), `${fmt(meta.synapses.outputs)} outputs`);
    }
    if (meta?.skeleton) {
      const by = this.colorColumn();
      const column = meta.skeleton.columns.find((c) => c.name === by);
      if (column) {
        const row = el("div", "cw-morph-legend-row");
        const bar = el("span", "cw-morph-ramp");
        row.append(el("span", undefined, `${by}: ${column.min.toPrecision(3)}`), bar, el("span", undefined, column.max.toPrecision(3)));
        this.legend.append(row);
      } else {
        const present = new Set(Array.from(data?.skeleton?.compartment ?? []));
        meta.skeleton.compartments.forEach((name, code) => {
          if (present.has(code)) swatch(COMPARTMENT_COLORS[name] ?? "#888", name);
        });
      }
    }
    this.legend.style.display = this.legend.childElementCount ? "block" : "none";
  }

  showInfo(text: string): void {
    this.info.textContent = text;
    this.info.style.display = "block";
  }

  hideInfo(): void {
    this.info.style.display = "none";
  }
}
