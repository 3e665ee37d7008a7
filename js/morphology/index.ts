// MorphologyPanel front-end: mesh, skeleton and synapses of one neuron with three.js.
// Geometry arrives as typed-array buffers through the shared transport once the view has
// rendered (and again whenever data_version changes). The view wires the model to the scene
// (scene.ts), the DOM around it (overlay.ts) and picking (picking.ts).
import { ModelListeners } from "../shared/listeners";
import { StaleReply, Transport } from "../shared/transport";
import { idToString } from "../shared/uint64";
import { guardWheel } from "../shared/wheel_guard";
import { type Decoded, type GeometryMeta, decodeGeometry } from "./decode";
import { MorphologyOverlay, um } from "./overlay";
import { describePick, hitAt } from "./picking";
import { MorphologyScene } from "./scene";
import type { Model } from "./traits";

class MorphologyView {
  private transport: Transport;
  private listeners: ModelListeners;
  private unguardWheel: () => void;
  private ui: MorphologyOverlay;
  private scene: MorphologyScene;
  private loading = false;
  private disposed = false;

  constructor(
    private model: Model,
    root: HTMLElement,
  ) {
    this.transport = new Transport(model);
    this.listeners = new ModelListeners(model);
    this.ui = new MorphologyOverlay(model, root, {
      toggled: () => this.scene.applyVisibility(),
      opacity: () => this.scene.applyMeshStyle(),
      colorBy: () => this.applySkeletonColors(),
      reset: () => this.scene.resetView(),
    });
    this.unguardWheel = guardWheel(this.ui.stage, model); // the page scrolls until the user clicks in
    this.scene = new MorphologyScene(model, this.ui.stage, this.ui.box, (x, y) => this.pick(x, y));
    if (this.scene.webglError) this.ui.showError(this.scene.webglError);
    this.bind();
    this.updateOverlay();
    (this.ui.box as HTMLDivElement & { cwMorphology?: unknown }).cwMorphology = this.testHook();
    if ((model.get("data_version") ?? 0) > 0) this.fetchGeometry();
  }

  private bind(): void {
    const { model, scene, ui } = this;
    this.listeners.on("change:data_version", () => this.fetchGeometry());
    this.listeners.on("change:status", () => this.updateOverlay());
    this.listeners.on("change:error", () => this.updateOverlay());
    this.listeners.on("change:empty_text", () => this.updateOverlay());
    this.listeners.on("change:title", () => ui.updateTitle(scene.data));
    this.listeners.on("change:height", () => {
      ui.box.style.height = `${model.get("height")}px`;
    });
    this.listeners.on("change:color", () => scene.applyMeshStyle());
    this.listeners.on("change:opacity", () => {
      ui.opacityInput.value = String(model.get("opacity"));
      scene.applyMeshStyle();
    });
    for (const name of ["input_color", "output_color"]) this.listeners.on(`change:${name}`, () => this.applySynapseStyle());
    for (const [name, box] of ui.toggles)
      this.listeners.on(`change:${name}`, () => {
        box.checked = !!model.get(name);
        scene.applyVisibility();
      });
    this.listeners.on("change:color_by", () => {
      ui.colorBy.value = model.get("color_by");
      this.applySkeletonColors();
    });
    this.listeners.on("change:highlight_index", () => this.applyHighlight(true));
  }
  private updateOverlay(): void {
    this.ui.update(this.loading, !!this.scene.data, !!this.scene.renderer);
  }

  // ---------- data ----------
  private fetchGeometry(): void {
    if (this.disposed) return;
    this.loading = true;
    this.updateOverlay();
    this.transport
      .request<GeometryMeta>("geometry", { data_version: this.model.get("data_version") }, "geometry")
      .then(({ result, buffers }) => {
        if (this.disposed) return;
        this.loading = false;
        this.setData(result.empty ? null : decodeGeometry(result, buffers));
        this.updateOverlay();
      })
      .catch((err) => {
        if (err instanceof StaleReply || this.disposed) return;
        this.loading = false;
        this.ui.showError(`Could not load the geometry: ${err.message ?? err}`);
        this.updateOverlay();
      });
  }

  private setData(data: Decoded | null): void {
    const { scene, ui } = this;
    scene.setData(data);
    ui.hideInfo();
    scene.applyMeshStyle(false);
    ui.setColorChoices(data);
    this.applySkeletonColors(false);
    this.applySynapseStyle(false);
    ui.updateTitle(data);
    ui.updateLegend(data);
    scene.applyVisibility(false);
    scene.resetView(false);
    this.applyHighlight(true, false);
    scene.requestRender();
  }

  // ---------- styles that the legend or the info line show ----------
  private applySkeletonColors(render = true): void {
    if (this.scene.applySkeletonColors(this.ui.colorColumn(), render)) this.ui.updateLegend(this.scene.data);
  }

  private applySynapseStyle(render = true): void {
    if (this.scene.applySynapseStyle(render)) this.ui.updateLegend(this.scene.data);
  }

  private applyHighlight(center: boolean, render = true): void {
    const p = this.scene.applyHighlight(center, render);
    const s = this.scene.data?.synapses;
    if (!p || !s) return;
    const i = Number(this.model.get("highlight_index"));
    this.ui.showInfo(`synapse ${idToString(s.ids[i])} · ${s.output[i] ? "output" : "input"} · (${um([p.x, p.y, p.z])}) µm`);
  }

  // ---------- picking ----------
  private pick(x: number, y: number): void {
    const { stage } = this.ui;
    const hit = hitAt(this.scene, x, y, Number(this.model.get("highlight_index")), stage.clientWidth, stage.clientHeight);
    if (!hit) return;
    this.ui.showInfo(`${hit.kind}…`);
    this.transport
      .request("pick", { ...hit, data_version: this.scene.renderedVersion }, "pick")
      .then(({ result }) => this.ui.showInfo(describePick(result)))
      .catch((err) => {
        if (!(err instanceof StaleReply)) this.ui.showInfo(`pick failed: ${err.message ?? err}`);
      });
  }

  // ---------- test hook (used by the browser tests and the benchmark) ----------
  private testHook() {
    const scene = this.scene;
    return {
      frames: () => scene.frames,
      camera: () => scene.camera.position.toArray(),
      renderedVersion: () => scene.renderedVersion,
      /** client (page) coordinates of a synapse or skeleton node, and whether it is in view */
      screenPosition: (kind: "synapse" | "skeleton", index: number) => {
        const src = kind === "synapse" ? scene.data?.synapses?.positions : scene.data?.skeleton?.positions;
        if (!src || !scene.renderer) return null;
        const s = scene.project(src.subarray(index * 3, index * 3 + 3));
        const rect = scene.renderer.domElement.getBoundingClientRect();
        return { x: rect.left + s[0], y: rect.top + s[1], depth: s[2] };
      },
      /** every synapse's canvas position (x, y, depth) and its exact id */
      synapsesOnScreen: () => {
        const s = scene.data?.synapses;
        if (!s || !scene.renderer) return [];
        const p = scene.project(s.positions);
        const rect = scene.renderer.domElement.getBoundingClientRect();
        return Array.from(s.ids, (id, i) => [idToString(id), rect.left + p[i * 3], rect.top + p[i * 3 + 1], p[i * 3 + 2]]);
      },
    };
  }

  dispose(): void {
    this.disposed = true;
    this.unguardWheel();
    this.listeners.dispose();
    this.transport.dispose();
    this.scene.dispose();
  }
}

export default {
  render({ model, el: root }: { model: Model; el: HTMLElement }) {
    const view = new MorphologyView(model, root);
    return () => view.dispose();
  },
};
