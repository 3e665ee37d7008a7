// The three.js side of the MorphologyPanel: renderer, camera, controls and the neuron's objects
// (mesh, skeleton lines, soma sphere, synapse points, the highlighted synapse's ring). Frames are
// drawn on demand only (camera moves, resizes, trait changes): no animation loop, which keeps
// SwiftShader cheap. Styles come from the model's traits; the view decides when to apply them.
import {
  AmbientLight,
  Box3,
  BufferAttribute,
  BufferGeometry,
  Color,
  DirectionalLight,
  DoubleSide,
  Group,
  type Material,
  Mesh,
  MeshLambertMaterial,
  PerspectiveCamera,
  Points,
  SRGBColorSpace,
  Scene,
  ShaderMaterial,
  Sphere,
  SphereGeometry,
  Vector2,
  Vector3,
  WebGLRenderer,
} from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { LineMaterial } from "three/examples/jsm/lines/LineMaterial.js";
import { LineSegments2 } from "three/examples/jsm/lines/LineSegments2.js";
import { LineSegmentsGeometry } from "three/examples/jsm/lines/LineSegmentsGeometry.js";
import { COMPARTMENT_COLORS, colorsForColumn, colorsForCompartments, hexToRgb, synapsePointSize } from "./colors";
import { type Decoded, type GeometryMeta, type MeshData, type SkeletonData, type SynapseData, skeletonSegments } from "./decode";
import type { Model, Toggle } from "./traits";

type SkeletonMeta = NonNullable<GeometryMeta["skeleton"]>;
type SynapseMeta = NonNullable<GeometryMeta["synapses"]>;

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
/** A round point sprite: fragments where `discard` holds are dropped, the rest get `color`. */
function discFragment(discard: string, color: string): string {
  return `
varying vec3 vColor;
void main() {
  vec2 c = gl_PointCoord * 2.0 - 1.0;
  float r = dot(c, c);
  if (${discard}) discard;
  gl_FragColor = vec4(${color}, 1.0);
}`;
}
const POINT_FRAGMENT = discFragment("r > 1.0", "r > 0.6 ? vColor * 0.7 : vColor"); // a disc with a darker rim
const RING_FRAGMENT = discFragment("r > 1.0 || r < 0.45", "vColor"); // the highlighted synapse's ring

export class MorphologyScene {
  renderer: WebGLRenderer | null = null;
  /** why there is no renderer (WebGL unavailable), or "" */
  webglError = "";
  readonly camera = new PerspectiveCamera(35, 1, 10, 1e7);
  controls: OrbitControls | null = null;
  meshObj: Mesh | null = null;
  skeletonObj: LineSegments2 | null = null;
  synapseObj: Points | null = null;
  /** skeleton line segments as pairs of node indices */
  segments: Uint32Array = new Uint32Array(0);
  data: Decoded | null = null;
  renderedVersion = -1;
  frames = 0;
  private scene = new Scene();
  private content = new Group();
  private somaObj: Mesh | null = null;
  private highlightObj: Points | null = null;
  private renderQueued = false;
  private disposed = false;
  private resizeObserver: ResizeObserver | null = null;
  private down: { x: number; y: number } | null = null;

  /** `onClick(x, y)`: a left click without a drag, in canvas pixels. */
  constructor(
    private model: Model,
    private stage: HTMLDivElement,
    private box: HTMLDivElement,
    onClick: (x: number, y: number) => void,
  ) {
    try {
      this.renderer = new WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
    } catch (err) {
      this.renderer = null;
      this.webglError = `WebGL is not available in this browser: ${(err as Error).message ?? err}`;
      return;
    }
    const r = this.renderer;
    r.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    r.setClearColor(0xffffff, 1);
    r.domElement.classList.add("cw-morph-canvas");
    stage.prepend(r.domElement);
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
    r.domElement.addEventListener("pointerdown", (e) => {
      this.down = { x: e.clientX, y: e.clientY };
    });
    r.domElement.addEventListener("pointerup", (e) => {
      const d = this.down;
      this.down = null;
      if (!d || e.button !== 0 || Math.hypot(e.clientX - d.x, e.clientY - d.y) > 4) return;
      const rect = r.domElement.getBoundingClientRect();
      onClick(e.clientX - rect.left, e.clientY - rect.top);
    });
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(stage);
    this.resize();
  }

  // ---------- objects ----------
  private clear(): void {
    for (const obj of [this.meshObj, this.skeletonObj, this.somaObj, this.synapseObj, this.highlightObj]) {
      if (!obj) continue;
      this.content.remove(obj);
      obj.geometry.dispose();
      (obj.material as Material).dispose();
    }
    this.meshObj = this.skeletonObj = this.somaObj = this.synapseObj = this.highlightObj = null;
  }

  /** Replace the neuron's objects (styles are applied by the caller, then one frame is drawn). */
  setData(data: Decoded | null): void {
    this.clear();
    this.data = data;
    if (data?.mesh) this.addMesh(data.mesh);
    if (data?.skeleton && data.meta.skeleton) this.addSkeleton(data.skeleton, data.meta.skeleton);
    else this.segments = new Uint32Array(0);
    if (data?.synapses && data.meta.synapses) this.addSynapses(data.synapses, data.meta.synapses);
    this.renderedVersion = data ? data.meta.data_version : -1;
  }

  private addMesh(mesh: MeshData): void {
    const g = new BufferGeometry();
    g.setAttribute("position", new BufferAttribute(mesh.positions, 3));
    g.setIndex(new BufferAttribute(mesh.index, 1));
    g.computeVertexNormals();
    g.computeBoundingSphere();
    const m = new MeshLambertMaterial({ side: DoubleSide });
    this.meshObj = new Mesh(g, m);
    this.meshObj.renderOrder = 2; // transparent surface after the lines and points inside it
    this.content.add(this.meshObj);
  }

  private addSkeleton(sk: SkeletonData, meta: SkeletonMeta): void {
    this.segments = skeletonSegments(sk.parents);
    const pos = new Float32Array(this.segments.length * 3);
    for (let k = 0; k < this.segments.length; k++) pos.set(sk.positions.subarray(this.segments[k] * 3, this.segments[k] * 3 + 3), k * 3);
    const g = new LineSegmentsGeometry();
    g.setPositions(pos);
    const mat = new LineMaterial({ linewidth: 2.5, vertexColors: true, worldUnits: false });
    this.skeletonObj = new LineSegments2(g, mat);
    this.skeletonObj.renderOrder = 1;
    this.content.add(this.skeletonObj);
    if (meta.soma_node >= 0) {
      const radius = Math.max(meta.soma_radius, 1500);
      const sm = new Mesh(new SphereGeometry(radius, 24, 16), new MeshLambertMaterial({ color: COMPARTMENT_COLORS.soma }));
      sm.position.fromArray(sk.positions, meta.soma_node * 3);
      this.somaObj = sm;
      this.content.add(sm);
    }
  }

  private addSynapses(s: SynapseData, meta: SynapseMeta): void {
    const g = new BufferGeometry();
    g.setAttribute("position", new BufferAttribute(s.positions, 3));
    g.setAttribute("pcolor", new BufferAttribute(new Float32Array(s.positions.length), 3));
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
  }

  // ---------- styles ----------
  applyMeshStyle(render = true): void {
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

  /** Colour the skeleton by a node column, or by compartment when `by` is not one; false if there is none. */
  applySkeletonColors(by: string, render = true): boolean {
    const sk = this.data?.skeleton;
    const meta = this.data?.meta.skeleton;
    if (!sk || !meta || !this.skeletonObj) return false;
    const column = meta.columns.find((c) => c.name === by);
    const values = column && sk.columns.get(column.name);
    const node = column && values ? colorsForColumn(values, column.min, column.max) : colorsForCompartments(sk.compartment, meta.compartments);
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
    if (render) this.requestRender();
    return true;
  }

  /** Input and output colours on the synapse points; false if there are none. */
  applySynapseStyle(render = true): boolean {
    const s = this.data?.synapses;
    if (!s || !this.synapseObj) return false;
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
    if (render) this.requestRender();
    return true;
  }

  applyVisibility(render = true): void {
    const on = (name: Toggle) => !!this.model.get(name);
    if (this.meshObj) this.meshObj.visible = on("show_mesh");
    if (this.skeletonObj) this.skeletonObj.visible = on("show_skeleton");
    if (this.somaObj) this.somaObj.visible = on("show_skeleton") || on("show_mesh");
    if (this.synapseObj) this.synapseObj.visible = on("show_synapses");
    if (this.highlightObj) this.highlightObj.visible = on("show_synapses");
    if (render) this.requestRender();
  }

  /** Ring the `highlight_index` synapse (and centre on it); its position, or null when there is none. */
  applyHighlight(center: boolean, render = true): Vector3 | null {
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
      return null;
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
    if (render) this.requestRender();
    return p;
  }

  // ---------- camera and frames ----------
  private bounds(): Sphere | null {
    const box = new Box3();
    for (const obj of [this.meshObj, this.synapseObj]) {
      if (!obj) continue;
      obj.geometry.computeBoundingBox();
      if (obj.geometry.boundingBox) box.union(obj.geometry.boundingBox);
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

  requestRender(): void {
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

  /** x, y (canvas pixels), NDC depth per point. */
  project(positions: Float32Array): Float32Array {
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

  dispose(): void {
    this.disposed = true;
    this.resizeObserver?.disconnect();
    this.clear();
    this.controls?.dispose();
    if (this.renderer) {
      this.renderer.dispose();
      this.renderer.forceContextLoss(); // browsers cap live WebGL contexts per page
    }
  }
}
