// MorphologyPanel front-end: mesh, skeleton and synapses of one neuron with three.js.
// Geometry arrives as typed-array buffers through the shared transport once the view has
// rendered (and again whenever data_version changes). Frames are drawn on demand only (camera
// moves, resizes, trait changes): no animation loop, which keeps SwiftShader cheap.
import {
  AmbientLight,
  Box3,
  BufferAttribute,
  BufferGeometry,
  Color,
  DirectionalLight,
  DoubleSide,
  Group,
  Mesh,
  MeshLambertMaterial,
  PerspectiveCamera,
  Points,
  Raycaster,
  SRGBColorSpace,
  Scene,
  ShaderMaterial,
  Sphere,
  SphereGeometry,
  Vector2,
  Vector3,
  WebGLRenderer,
  type Material,
} from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { LineSegments2 } from "three/examples/jsm/lines/LineSegments2.js";
import { LineSegmentsGeometry } from "three/examples/jsm/lines/LineSegmentsGeometry.js";
import { LineMaterial } from "three/examples/jsm/lines/LineMaterial.js";
import { StaleReply, Transport, type WidgetModel } from "../shared/transport";
import { el } from "../shared/dom";
import { idToString } from "../shared/uint64";
import { guardWheel, type WheelMode } from "../shared/wheel_guard";
import { decodeGeometry, skeletonSegments, type Decoded, type GeometryMeta } from "./decode";
import { COMPARTMENT_COLORS, colorsForColumn, colorsForCompartments, hexToRgb, synapsePointSize } from "./colors";
import { nearestPoint, nearestSegmentNode } from "./pick";

/** The traits of `cavewidgets.MorphologyPanel` (src/cavewidgets/morphology/panel.py). */
interface PanelTraits {
  height: number;
  color: string;
  input_color: string;
  output_color: string;
  opacity: number;
  show_mesh: boolean;
  show_skeleton: boolean;
  show_synapses: boolean;
  color_by: string;
  status: string;
  error: string;
  title: string;
  data_version: number;
  highlight_index: number;
  wheel: WheelMode;
}
type Model = WidgetModel<PanelTraits>;
type Toggle = "show_mesh" | "show_skeleton" | "show_synapses";

const POINT_VERTEX = `
attribute float psize;
attribute vec3 pcolor;
uniform float pixelRatio;
varying vec3 vColor;
void main() {
  vColor = pcolor;
  gl_Position = projectionMatrix * modelViewMatrix * vec4(position, 1.0);
  gl_PointSize = psize * pixelRatio;
}`;
const POINT_FRAGMENT = `
varying vec3 vColor;
void main() {
  vec2 c = gl_PointCoord * 2.0 - 1.0;
  float r = dot(c, c);
  if (r > 1.0) discard;
  gl_FragColor = vec4(r > 0.6 ? vColor * 0.7 : vColor, 1.0);
}`;
const RING_FRAGMENT = `
varying vec3 vColor;
void main() {
  vec2 c = gl_PointCoord * 2.0 - 1.0;
  float r = dot(c, c);
  if (r > 1.0 || r < 0.45) discard;
  gl_FragColor = vec4(vColor, 1.0);
}`;

function fmt(n: number): string {
  return n.toLocaleString("en-US");
}

function um(p: number[]): string {
  return p.map((v) => (v / 1000).toFixed(2)).join(", ");
}

class MorphologyView {
  private model: Model;
  private root: HTMLElement;
  private box!: HTMLDivElement;
  private transport: Transport;
  private listeners: [string, (...args: any[]) => void][] = [];
  private stage!: HTMLDivElement;
  private unguardWheel: () => void = () => {};
  private overlay!: HTMLDivElement;
  private errorBox!: HTMLDivElement;
  private info!: HTMLDivElement;
  private legend!: HTMLDivElement;
  private titleEl!: HTMLSpanElement;
  private colorBy!: HTMLSelectElement;
  private toggles = new Map<string, HTMLInputElement>();
  private opacityInput!: HTMLInputElement;

  private renderer: WebGLRenderer | null = null;
  private scene = new Scene();
  private camera = new PerspectiveCamera(35, 1, 10, 1e7);
  private controls: OrbitControls | null = null;
  private content = new Group();
  private meshObj: Mesh | null = null;
  private skeletonObj: LineSegments2 | null = null;
  private somaObj: Mesh | null = null;
  private synapseObj: Points | null = null;
  private highlightObj: Points | null = null;
  private segments: Uint32Array = new Uint32Array(0);
  private data: Decoded | null = null;
  private renderedVersion = -1;
  private frames = 0;
  private renderQueued = false;
  private loading = false;
  private disposed = false;
  private resizeObserver: ResizeObserver | null = null;
  private down: { x: number; y: number } | null = null;

  constructor(model: Model, root: HTMLElement) {
    this.model = model;
    this.root = root;
    this.transport = new Transport(model);
    this.build();
    this.unguardWheel = guardWheel(this.stage, this.model); // the page scrolls until the user clicks in
    this.initThree();
    this.bind();
    this.updateOverlay();
    (this.box as any).cwMorphology = this.testHook();
    if ((model.get("data_version") ?? 0) > 0) this.fetchGeometry();
  }

  // ---------- DOM ----------
  private build(): void {
    // the anywidget element's own style belongs to ipywidgets' layout (it resets height): use a box
    const r = el("div", "cw-morph");
    this.box = r;
    r.style.height = `${this.model.get("height")}px`;
    const bar = el("div", "cw-morph-toolbar");
    this.titleEl = el("span", "cw-morph-title", "");
    bar.append(this.titleEl);
    for (const [name, label] of [["show_mesh", "mesh"], ["show_skeleton", "skeleton"], ["show_synapses", "synapses"]] as const) {
      const lab = el("label", "cw-morph-toggle");
      const box = el("input");
      box.type = "checkbox";
      box.dataset.trait = name;
      box.checked = !!this.model.get(name);
      box.addEventListener("change", () => {
        this.model.set(name, box.checked);
        this.model.save_changes();
        this.applyVisibility();
      });
      lab.append(box, el("span", undefined, label));
      this.toggles.set(name, box);
      bar.append(lab);
    }
    const op = el("label", "cw-morph-opacity");
    this.opacityInput = el("input");
    this.opacityInput.type = "range";
    this.opacityInput.min = "0.05";
    this.opacityInput.max = "1";
    this.opacityInput.step = "0.05";
    this.opacityInput.value = String(this.model.get("opacity"));
    this.opacityInput.title = "mesh opacity";
    this.opacityInput.addEventListener("input", () => {
      this.model.set("opacity", Number(this.opacityInput.value));
      this.model.save_changes();
      this.applyMeshStyle();
    });
    op.append(el("span", undefined, "opacity"), this.opacityInput);
    bar.append(op);
    const cb = el("label", "cw-morph-colorby");
    this.colorBy = el("select");
    this.colorBy.title = "colour the skeleton by";
    this.colorBy.addEventListener("change", () => {
      this.model.set("color_by", this.colorBy.value);
      this.model.save_changes();
      this.applySkeletonColors();
    });
    cb.append(el("span", undefined, "colour by"), this.colorBy);
    bar.append(cb);
    const reset = el("button", "cw-morph-button cw-morph-reset", "reset view");
    reset.addEventListener("click", () => this.resetView());
    bar.append(reset);

    this.stage = el("div", "cw-morph-stage");
    this.overlay = el("div", "cw-morph-overlay");
    this.errorBox = el("div", "cw-morph-error");
    this.info = el("div", "cw-morph-info");
    this.legend = el("div", "cw-morph-legend");
    this.stage.append(this.overlay, this.errorBox, this.info, this.legend);
    r.replaceChildren(bar, this.stage);
    this.root.replaceChildren(r);
  }

  private initThree(): void {
    try {
      this.renderer = new WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
    } catch (err) {
      this.renderer = null;
      this.errorBox.textContent = `WebGL is not available in this browser: ${(err as Error).message ?? err}`;
      this.errorBox.style.display = "block";
      return;
    }
    const r = this.renderer;
    r.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    r.setClearColor(0xffffff, 1);
    r.domElement.classList.add("cw-morph-canvas");
    this.stage.prepend(r.domElement);
    this.camera.up.set(0, -1, 0); // image y points down: pia at the top, as in neuroglancer
    this.scene.add(this.camera);
    this.scene.add(new AmbientLight(0xffffff, 1.1));
    const key = new DirectionalLight(0xffffff, 1.6);
    key.position.set(0.4, -0.6, -1); // follows the camera
    this.camera.add(key);
    this.scene.add(this.content);
    this.controls = new OrbitControls(this.camera, r.domElement);
    this.controls.enableDamping = false; // damping would need a frame loop
    this.controls.addEventListener("change", () => this.requestRender());
    r.domElement.addEventListener("pointerdown", (e) => (this.down = { x: e.clientX, y: e.clientY }));
    r.domElement.addEventListener("pointerup", (e) => {
      const d = this.down;
      this.down = null;
      if (!d || e.button !== 0 || Math.hypot(e.clientX - d.x, e.clientY - d.y) > 4) return;
      const rect = r.domElement.getBoundingClientRect();
      this.pick(e.clientX - rect.left, e.clientY - rect.top);
    });
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(this.stage);
    this.resize();
  }

  private bind(): void {
    this.listen("change:data_version", () => this.fetchGeometry());
    this.listen("change:status", () => this.updateOverlay());
    this.listen("change:error", () => this.updateOverlay());
    this.listen("change:title", () => this.updateTitle());
    this.listen("change:height", () => {
      this.box.style.height = `${this.model.get("height")}px`;
    });
    this.listen("change:color", () => this.applyMeshStyle());
    this.listen("change:opacity", () => {
      this.opacityInput.value = String(this.model.get("opacity"));
      this.applyMeshStyle();
    });
    for (const name of ["input_color", "output_color"]) this.listen(`change:${name}`, () => this.applySynapseStyle());
    for (const name of ["show_mesh", "show_skeleton", "show_synapses"] as const)
      this.listen(`change:${name}`, () => {
        this.toggles.get(name)!.checked = !!this.model.get(name);
        this.applyVisibility();
      });
    this.listen("change:color_by", () => {
      this.colorBy.value = this.model.get("color_by");
      this.applySkeletonColors();
    });
    this.listen("change:highlight_index", () => this.applyHighlight(true));
  }

  private listen(event: string, handler: (...args: any[]) => void): void {
    this.model.on(event, handler);
    this.listeners.push([event, handler]);
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
        this.errorBox.textContent = `Could not load the geometry: ${err.message ?? err}`;
        this.errorBox.style.display = "block";
        this.updateOverlay();
      });
  }

  private clearScene(): void {
    for (const obj of [this.meshObj, this.skeletonObj, this.somaObj, this.synapseObj, this.highlightObj]) {
      if (!obj) continue;
      this.content.remove(obj);
      (obj as any).geometry?.dispose();
      (obj as any).material?.dispose();
    }
    this.meshObj = this.skeletonObj = this.somaObj = this.synapseObj = this.highlightObj = null;
  }

  private setData(data: Decoded | null): void {
    this.clearScene();
    this.data = data;
    this.info.style.display = "none";
    if (data?.mesh) {
      const g = new BufferGeometry();
      g.setAttribute("position", new BufferAttribute(data.mesh.positions, 3));
      g.setIndex(new BufferAttribute(data.mesh.index, 1));
      g.computeVertexNormals();
      g.computeBoundingSphere();
      const m = new MeshLambertMaterial({ side: DoubleSide });
      this.meshObj = new Mesh(g, m);
      this.meshObj.renderOrder = 2; // transparent surface after the lines and points inside it
      this.content.add(this.meshObj);
      this.applyMeshStyle(false);
    }
    if (data?.skeleton) {
      const sk = data.skeleton;
      this.segments = skeletonSegments(sk.parents);
      const pos = new Float32Array(this.segments.length * 3);
      for (let k = 0; k < this.segments.length; k++) pos.set(sk.positions.subarray(this.segments[k] * 3, this.segments[k] * 3 + 3), k * 3);
      const g = new LineSegmentsGeometry();
      g.setPositions(pos);
      const mat = new LineMaterial({ linewidth: 2.5, vertexColors: true, worldUnits: false });
      this.skeletonObj = new LineSegments2(g, mat);
      this.skeletonObj.renderOrder = 1;
      this.content.add(this.skeletonObj);
      const meta = data.meta.skeleton!;
      if (meta.soma_node >= 0) {
        const radius = Math.max(meta.soma_radius, 1500);
        const sm = new Mesh(new SphereGeometry(radius, 24, 16), new MeshLambertMaterial({ color: COMPARTMENT_COLORS.soma }));
        sm.position.fromArray(sk.positions, meta.soma_node * 3);
        this.somaObj = sm;
        this.content.add(sm);
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
      this.applySkeletonColors(false);
    } else {
      this.segments = new Uint32Array(0);
      this.colorBy.replaceChildren();
    }
    if (data?.synapses) {
      const g = new BufferGeometry();
      const s = data.synapses;
      g.setAttribute("position", new BufferAttribute(s.positions, 3));
      g.setAttribute("pcolor", new BufferAttribute(new Float32Array(s.positions.length), 3));
      const meta = data.meta.synapses!;
      const sizes = new Float32Array(s.size.length);
      for (let i = 0; i < sizes.length; i++) sizes[i] = synapsePointSize(s.size[i], meta.size_min, meta.size_max);
      g.setAttribute("psize", new BufferAttribute(sizes, 1));
      const mat = new ShaderMaterial({
        uniforms: { pixelRatio: { value: this.renderer?.getPixelRatio() ?? 1 } },
        vertexShader: POINT_VERTEX,
        fragmentShader: POINT_FRAGMENT,
      });
      this.synapseObj = new Points(g, mat);
      this.synapseObj.renderOrder = 1;
      this.content.add(this.synapseObj);
      this.applySynapseStyle(false);
    }
    this.updateTitle();
    this.updateLegend();
    this.applyVisibility(false);
    this.resetView(false);
    this.applyHighlight(true, false);
    this.renderedVersion = data ? data.meta.data_version : -1;
    this.requestRender();
  }

  // ---------- styles ----------
  private applyMeshStyle(render = true): void {
    if (this.meshObj) {
      const m = this.meshObj.material as MeshLambertMaterial;
      const opacity = Number(this.model.get("opacity"));
      m.color.setRGB(...hexToRgb(this.model.get("color")), SRGBColorSpace);
      m.opacity = opacity;
      m.transparent = opacity < 0.999;
      m.depthWrite = !m.transparent; // lines and points stay visible through a see-through surface
      m.needsUpdate = true;
    }
    if (render) this.requestRender();
  }

  private applySkeletonColors(render = true): void {
    const sk = this.data?.skeleton;
    const meta = this.data?.meta.skeleton;
    if (!sk || !meta || !this.skeletonObj) return;
    const by = this.colorBy.value || "compartment";
    const column = meta.columns.find((c) => c.name === by);
    const node = column ? colorsForColumn(sk.columns.get(column.name)!, column.min, column.max) : colorsForCompartments(sk.compartment, meta.compartments);
    const lin = new Color();
    const cols = new Float32Array(this.segments.length * 3);
    for (let k = 0; k < this.segments.length; k++) {
      const i = this.segments[k] * 3;
      lin.setRGB(node[i], node[i + 1], node[i + 2], SRGBColorSpace);
      cols[k * 3] = lin.r;
      cols[k * 3 + 1] = lin.g;
      cols[k * 3 + 2] = lin.b;
    }
    (this.skeletonObj.geometry as LineSegmentsGeometry).setColors(cols);
    this.updateLegend();
    if (render) this.requestRender();
  }

  private applySynapseStyle(render = true): void {
    const s = this.data?.synapses;
    if (!s || !this.synapseObj) return;
    const attr = this.synapseObj.geometry.getAttribute("pcolor") as BufferAttribute;
    const arr = attr.array as Float32Array;
    const cin = new Color().setRGB(...hexToRgb(this.model.get("input_color")), SRGBColorSpace);
    const cout = new Color().setRGB(...hexToRgb(this.model.get("output_color")), SRGBColorSpace);
    for (let i = 0; i < s.output.length; i++) {
      const c = s.output[i] ? cout : cin;
      arr[i * 3] = c.r;
      arr[i * 3 + 1] = c.g;
      arr[i * 3 + 2] = c.b;
    }
    attr.needsUpdate = true;
    this.updateLegend();
    if (render) this.requestRender();
  }

  private applyVisibility(render = true): void {
    const on = (name: Toggle) => !!this.model.get(name);
    if (this.meshObj) this.meshObj.visible = on("show_mesh");
    if (this.skeletonObj) this.skeletonObj.visible = on("show_skeleton");
    if (this.somaObj) this.somaObj.visible = on("show_skeleton") || on("show_mesh");
    if (this.synapseObj) this.synapseObj.visible = on("show_synapses");
    if (this.highlightObj) this.highlightObj.visible = on("show_synapses");
    if (render) this.requestRender();
  }

  private applyHighlight(center: boolean, render = true): void {
    if (this.highlightObj) {
      this.content.remove(this.highlightObj);
      this.highlightObj.geometry.dispose();
      (this.highlightObj.material as Material).dispose();
      this.highlightObj = null;
    }
    const i = Number(this.model.get("highlight_index"));
    const s = this.data?.synapses;
    if (!s || !(i >= 0) || i >= s.ids.length) {
      if (render) this.requestRender();
      return;
    }
    const p = new Vector3().fromArray(s.positions, i * 3);
    const g = new BufferGeometry();
    g.setAttribute("position", new BufferAttribute(new Float32Array([p.x, p.y, p.z]), 3));
    g.setAttribute("pcolor", new BufferAttribute(new Float32Array([0.05, 0.05, 0.05]), 3));
    g.setAttribute("psize", new BufferAttribute(new Float32Array([22]), 1));
    const mat = new ShaderMaterial({
      uniforms: { pixelRatio: { value: this.renderer?.getPixelRatio() ?? 1 } },
      vertexShader: POINT_VERTEX,
      fragmentShader: RING_FRAGMENT,
      depthTest: false,
    });
    this.highlightObj = new Points(g, mat);
    this.highlightObj.renderOrder = 3;
    this.highlightObj.visible = !!this.model.get("show_synapses");
    this.content.add(this.highlightObj);
    if (center && this.controls) {
      const shift = p.clone().sub(this.controls.target);
      this.controls.target.copy(p);
      this.camera.position.add(shift);
      this.controls.update();
    }
    this.showInfo(`synapse ${idToString(s.ids[i])} · ${s.output[i] ? "output" : "input"} · (${um([p.x, p.y, p.z])}) µm`);
    if (render) this.requestRender();
  }

  // ---------- view ----------
  private bounds(): Sphere | null {
    const box = new Box3();
    for (const obj of [this.meshObj, this.synapseObj]) {
      if (!obj) continue;
      obj.geometry.computeBoundingBox();
      box.union(obj.geometry.boundingBox!);
    }
    const sk = this.data?.skeleton;
    if (sk) for (let i = 0; i < sk.positions.length; i += 3) box.expandByPoint(new Vector3(sk.positions[i], sk.positions[i + 1], sk.positions[i + 2]));
    if (box.isEmpty()) return null;
    return box.getBoundingSphere(new Sphere());
  }

  resetView(render = true): void {
    const sphere = this.bounds();
    if (!sphere || !this.controls) {
      if (render) this.requestRender();
      return;
    }
    const r = Math.max(sphere.radius, 1000);
    const fov = (this.camera.fov * Math.PI) / 180;
    const dist = r / Math.sin(Math.min(fov, fov * this.camera.aspect) / 2);
    this.camera.near = Math.max(1, dist / 1000);
    this.camera.far = dist + r * 4;
    this.camera.position.set(sphere.center.x, sphere.center.y, sphere.center.z - dist);
    this.camera.updateProjectionMatrix();
    this.controls.target.copy(sphere.center);
    this.controls.maxDistance = dist * 4;
    this.controls.update();
    if (render) this.requestRender();
  }

  private resize(): void {
    if (!this.renderer) return;
    const w = Math.max(1, this.stage.clientWidth);
    const h = Math.max(1, this.stage.clientHeight);
    this.renderer.setSize(w, h, true);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
    if (this.skeletonObj) (this.skeletonObj.material as LineMaterial).resolution.set(w, h);
    this.requestRender();
  }

  private requestRender(): void {
    if (this.renderQueued || this.disposed || !this.renderer) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      if (this.disposed || !this.renderer) return;
      if (this.skeletonObj) {
        const size = this.renderer.getSize(new Vector2());
        (this.skeletonObj.material as LineMaterial).resolution.set(size.x, size.y);
      }
      this.renderer.render(this.scene, this.camera);
      this.frames += 1;
      this.box.dataset.frames = String(this.frames);
      this.box.dataset.renderedVersion = String(this.renderedVersion);
    });
  }

  // ---------- overlays ----------
  private updateOverlay(): void {
    const status = this.model.get("status") as string;
    const text = status || (this.loading ? "Loading geometry…" : "");
    this.overlay.textContent = text;
    this.overlay.style.display = text ? "block" : "none";
    const error = this.model.get("error") as string;
    if (error) {
      this.errorBox.textContent = error;
      this.errorBox.style.display = "block";
    } else if (this.renderer) {
      this.errorBox.style.display = "none";
    }
    if (!this.data && !text && !error) {
      this.overlay.textContent = "No neuron shown: call panel.show(root_id).";
      this.overlay.style.display = "block";
    }
  }

  private updateTitle(): void {
    const meta = this.data?.meta;
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

  private updateLegend(): void {
    const meta = this.data?.meta;
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
      const by = this.colorBy.value || "compartment";
      const column = meta.skeleton.columns.find((c) => c.name === by);
      if (column) {
        const row = el("div", "cw-morph-legend-row");
        const bar = el("span", "cw-morph-ramp");
        row.append(el("span", undefined, `${by}: ${column.min.toPrecision(3)}`), bar, el("span", undefined, column.max.toPrecision(3)));
        this.legend.append(row);
      } else {
        const present = new Set(Array.from(this.data!.skeleton!.compartment));
        meta.skeleton.compartments.forEach((name, code) => present.has(code) && swatch(COMPARTMENT_COLORS[name] ?? "#888", name));
      }
    }
    this.legend.style.display = this.legend.childElementCount ? "block" : "none";
  }

  private showInfo(text: string): void {
    this.info.textContent = text;
    this.info.style.display = "block";
  }

  // ---------- picking ----------
  /** x, y (canvas pixels), NDC depth per point. */
  private project(positions: Float32Array): Float32Array {
    const out = new Float32Array(positions.length);
    const v = new Vector3();
    const w = this.stage.clientWidth;
    const h = this.stage.clientHeight;
    this.camera.updateMatrixWorld();
    for (let i = 0; i < positions.length; i += 3) {
      v.set(positions[i], positions[i + 1], positions[i + 2]).project(this.camera);
      out[i] = ((v.x + 1) / 2) * w;
      out[i + 1] = ((1 - v.y) / 2) * h;
      out[i + 2] = v.z;
    }
    return out;
  }

  private pick(x: number, y: number): void {
    const d = this.data;
    if (!d || !this.renderer) return;
    let hit: { kind: string; index: number; point?: number[] } | null = null;
    if (d.synapses && this.synapseObj?.visible) {
      const sizes = (this.synapseObj.geometry.getAttribute("psize") as BufferAttribute).array as Float32Array;
      const radius = sizes.map((s) => s / 2 + 3);
      const screen = this.project(d.synapses.positions);
      // the marked synapse is drawn on top of everything: a click on its ring picks it
      const marked = Number(this.model.get("highlight_index"));
      const i = marked >= 0 && marked < sizes.length && nearestPoint(screen.subarray(marked * 3, marked * 3 + 3), x, y, 11) === 0
        ? marked
        : nearestPoint(screen, x, y, radius);
      if (i >= 0) hit = { kind: "synapse", index: i };
    }
    if (!hit && d.skeleton && this.skeletonObj?.visible) {
      const i = nearestSegmentNode(this.project(d.skeleton.positions), this.segments, x, y, 5);
      if (i >= 0) hit = { kind: "skeleton", index: i };
    }
    if (!hit && this.meshObj?.visible) {
      const ray = new Raycaster();
      ray.setFromCamera(new Vector2((x / this.stage.clientWidth) * 2 - 1, 1 - (y / this.stage.clientHeight) * 2), this.camera);
      const found = ray.intersectObject(this.meshObj, false)[0];
      if (found) hit = { kind: "mesh", index: found.face ? found.face.a : -1, point: found.point.toArray() };
    }
    if (!hit) return;
    this.showInfo(`${hit.kind}…`);
    this.transport
      .request("pick", { ...hit, data_version: this.renderedVersion }, "pick")
      .then(({ result }) => this.showInfo(this.describe(result)))
      .catch((err) => {
        if (!(err instanceof StaleReply)) this.showInfo(`pick failed: ${err.message ?? err}`);
      });
  }

  private describe(p: any): string {
    const at = `(${um(p.position_nm)}) µm`;
    if (p.kind === "synapse") return `synapse ${p.synapse_id} · ${p.direction}${p.size !== undefined ? ` · size ${fmt(p.size)}` : ""} · ${at}`;
    if (p.kind === "skeleton") return `node ${p.node_id} · ${p.compartment} · ${p.l2_ids.length} L2 id${p.l2_ids.length === 1 ? "" : "s"} · ${at}`;
    return `mesh vertex ${fmt(p.vertex)} · ${at}`;
  }

  // ---------- test hook (used by the browser tests and the benchmark) ----------
  private testHook() {
    return {
      frames: () => this.frames,
      camera: () => this.camera.position.toArray(),
      renderedVersion: () => this.renderedVersion,
      /** client (page) coordinates of a synapse or skeleton node, and whether it is in view */
      screenPosition: (kind: "synapse" | "skeleton", index: number) => {
        const src = kind === "synapse" ? this.data?.synapses?.positions : this.data?.skeleton?.positions;
        if (!src || !this.renderer) return null;
        const s = this.project(src.subarray(index * 3, index * 3 + 3));
        const rect = this.renderer.domElement.getBoundingClientRect();
        return { x: rect.left + s[0], y: rect.top + s[1], depth: s[2] };
      },
      /** every synapse's canvas position (x, y, depth) and its exact id */
      synapsesOnScreen: () => {
        const s = this.data?.synapses;
        if (!s) return [];
        const p = this.project(s.positions);
        const rect = this.renderer!.domElement.getBoundingClientRect();
        return Array.from(s.ids, (id, i) => [idToString(id), rect.left + p[i * 3], rect.top + p[i * 3 + 1], p[i * 3 + 2]]);
      },
    };
  }

  dispose(): void {
    this.disposed = true;
    this.unguardWheel();
    this.resizeObserver?.disconnect();
    for (const [event, handler] of this.listeners) this.model.off(event, handler);
    this.listeners = [];
    this.transport.dispose();
    this.clearScene();
    this.controls?.dispose();
    if (this.renderer) {
      this.renderer.dispose();
      this.renderer.forceContextLoss(); // browsers cap live WebGL contexts per page
    }
  }
}

export default {
  render({ model, el: root }: { model: Model; el: HTMLElement }) {
    const view = new MorphologyView(model, root);
    return () => view.dispose();
  },
};
