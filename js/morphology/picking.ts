// Picking in the MorphologyPanel: what a click hits (a synapse, a skeleton node, the mesh) and
// the text of the kernel's answer. Synapses and nodes are hit-tested on screen (pick.ts), the
// mesh by a ray.
import { type BufferAttribute, Raycaster, Vector2 } from "three";
import type { Json } from "../shared/transport";
import { fmt, um } from "./overlay";
import { nearestPoint, nearestSegmentNode } from "./pick";
import type { MorphologyScene } from "./scene";

export interface Hit {
  kind: "synapse" | "skeleton" | "mesh";
  index: number;
  point?: number[];
}

/** The visible object under canvas pixel (x, y): synapses first, then skeleton nodes, then the mesh. */
export function hitAt(scene: MorphologyScene, x: number, y: number, marked: number, width: number, height: number): Hit | null {
  const d = scene.data;
  if (!d || !scene.renderer) return null;
  if (d.synapses && scene.synapseObj?.visible) {
    const sizes = (scene.synapseObj.geometry.getAttribute("psize") as BufferAttribute).array as Float32Array;
    const radius = sizes.map((s) => s / 2 + 3);
    const screen = scene.project(d.synapses.positions);
    // the marked synapse is drawn on top of everything: a click on its ring picks it
    const i =
      marked >= 0 && marked < sizes.length && nearestPoint(screen.subarray(marked * 3, marked * 3 + 3), x, y, 11) === 0
        ? marked
        : nearestPoint(screen, x, y, radius);
    if (i >= 0) return { kind: "synapse", index: i };
  }
  if (d.skeleton && scene.skeletonObj?.visible) {
    const i = nearestSegmentNode(scene.project(d.skeleton.positions), scene.segments, x, y, 5);
    if (i >= 0) return { kind: "skeleton", index: i };
  }
  if (scene.meshObj?.visible) {
    const ray = new Raycaster();
    ray.setFromCamera(new Vector2((x / width) * 2 - 1, 1 - (y / height) * 2), scene.camera);
    const found = ray.intersectObject(scene.meshObj, false)[0];
    if (found) return { kind: "mesh", index: found.face ? found.face.a : -1, point: found.point.toArray() };
  }
  return null;
}

/** The kernel's pick reply (panel.py's `_resolve_pick`) as one line of text. */
export function describePick(p: Json): string {
  const at = `(${um(p.position_nm)}) µm`;
  if (p.kind === "synapse") return `synapse ${p.synapse_id} · ${p.direction}${p.size !== undefined ? ` · size ${fmt(p.size)}` : ""} · ${at}`;
  if (p.kind === "skeleton") return `node ${p.node_id} · ${p.compartment} · ${p.l2_ids.length} L2 id${p.l2_ids.length === 1 ? "" : "s"} · ${at}`;
  return `mesh vertex ${fmt(p.vertex)} · ${at}`;
}
