// Apply a state from Python to a live neuroglancer viewer, touching only what changed.
//
// neuroglancer's own client resets the whole viewer and restores every layer on each state the
// Python server sends: every layer's sources and panels are rebuilt and the keyboard focus drops
// for a moment. Here the new state is compared with what the viewer holds: unchanged top-level
// values are left alone; when the layer list keeps its names and order, a segmentation layer
// whose segments or colours changed is updated in place, any other changed layer is rebuilt alone,
// and layers are added or removed one by one. Anything else falls back to neuroglancer's own
// restoreState of that value.

export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function changedKeys(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => !sameJson(a[k], b[k]));
}

const IN_PLACE_SEGMENT_KEYS = new Set(["segments", "segmentColors"]);

function segmentSet(list: unknown): Set<string> {
  return new Set(Array.isArray(list) ? list.map(String) : []);
}

/** Update a segmentation layer's segments and colours without rebuilding it; false if it can't. */
function patchSegmentation(managed: any, before: any, after: any): boolean {
  const display = managed?.layer?.displayState;
  const group = display?.segmentationGroupState?.value;
  const colors = display?.segmentationColorGroupState?.value;
  if (!group || !colors) return false;
  if (!sameJson(before.segments, after.segments)) {
    const was = segmentSet(before.segments);
    const now = segmentSet(after.segments);
    const removed = [...was].filter((s) => !now.has(s));
    const added = [...now].filter((s) => !was.has(s));
    for (const s of removed) {
      const id = BigInt(s.replace(/^!/, ""));
      group.selectedSegments.delete(id);
      group.visibleSegments.delete(id);
    }
    if (added.length) group.restoreState({ segments: added });
  }
  if (!sameJson(before.segmentColors, after.segmentColors)) {
    colors.segmentStatedColors.clear();
    colors.restoreState({ segmentColors: after.segmentColors ?? {} });
  }
  return true;
}

function rebuildLayer(viewer: any, managed: any, spec: any, makeLayer: MakeLayer): void {
  const manager = viewer.layerManager;
  const index = manager.managedLayers.indexOf(managed);
  const replacement = makeLayer(viewer.layerSpecification, spec.name, spec);
  manager.removeManagedLayer(managed);
  manager.addManagedLayer(replacement, index);
}

export type MakeLayer = (list: any, name: string, spec: any) => any;

/**
 * Per-layer application: layers gone are removed, new ones added where they belong, changed ones
 * patched or rebuilt alone; the others are not touched. False when the kept layers changed order
 * (or names repeat): the caller restores the whole list.
 */
function applyLayers(viewer: any, before: any[], after: any[], makeLayer: MakeLayer): boolean {
  if (!Array.isArray(after) || after.some((l) => !l || typeof l !== "object" || typeof l.name !== "string")) return false;
  const names = after.map((l) => l.name as string);
  if (new Set(names).size !== names.length) return false;
  const manager = viewer.layerManager;
  const kept = (manager.managedLayers as any[]).map((m) => m.name as string).filter((n) => names.includes(n));
  if (kept.join("\0") !== names.filter((n) => kept.includes(n)).join("\0")) return false;
  const previous = new Map<string, any>((Array.isArray(before) ? before : []).map((l) => [l?.name, l]));
  for (const managed of [...manager.managedLayers]) if (!names.includes(managed.name)) manager.removeManagedLayer(managed);
  after.forEach((spec, index) => {
    const managed = (manager.managedLayers as any[]).find((m) => m.name === spec.name);
    if (!managed) {
      manager.addManagedLayer(makeLayer(viewer.layerSpecification, spec.name, spec), index);
      return;
    }
    const was = previous.get(spec.name) ?? {};
    if (sameJson(was, spec)) return;
    const keys = changedKeys(was, spec);
    if (keys.every((k) => IN_PLACE_SEGMENT_KEYS.has(k)) && patchSegmentation(managed, was, spec)) return;
    if (keys.length === 1 && keys[0] === "visible") {
      managed.setVisible(spec.visible !== false);
      return;
    }
    rebuildLayer(viewer, managed, spec, makeLayer);
  });
  return true;
}

/**
 * Make `viewer.state` equal `next`, given `current` (its JSON now). Returns what it did, for
 * tests and diagnostics: the top-level keys restored and whether the layers were rebuilt whole.
 */
export function applyState(viewer: any, current: any, next: any, makeLayer: MakeLayer): { keys: string[]; fullLayers: boolean } {
  const state = viewer.state;
  const keys = changedKeys(current ?? {}, next ?? {});
  let fullLayers = false;
  for (const key of keys) {
    const child = state.children.get(key);
    if (!child) continue; // not a viewer value (neuroglancer ignores it too)
    if (key === "layers" && applyLayers(viewer, current.layers ?? [], next.layers ?? [], makeLayer)) continue;
    if (key === "layers") {
      fullLayers = true;
      // neuroglancer reads every layer's selection under the mouse while it restores the list,
      // before each layer is initialised: with the mouse over the view that throws mid-way
      if (viewer.mouseState) viewer.mouseState.active = false;
    }
    if (next[key] === undefined) child.reset();
    else child.restoreState(next[key]);
  }
  return { keys, fullLayers };
}
