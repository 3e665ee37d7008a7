import { describe, expect, it } from "vitest";
import { applyState } from "../viewer/ng/apply";
import { describeRequest, fetch as routedFetch, isLoopbackHost, registerKernel, routedOrigins, shouldRoute } from "../viewer/ng/routing";

describe("which requests the kernel answers", () => {
  it("routes loopback hosts and registered origins, nothing else", () => {
    const table = { origins: ["https://cave.example.org"], loopback: true };
    expect(shouldRoute("http://127.0.0.1:8123/precomputed/image/info", table)).toBe(true);
    expect(shouldRoute("http://localhost:9/x", table)).toBe(true);
    expect(shouldRoute("http://[::1]:9/x", table)).toBe(true);
    expect(shouldRoute("https://cave.example.org/segmentation/table/x/info", table)).toBe(true);
    expect(shouldRoute("https://minnie.microns-daf.com/segmentation/table/x/info", table)).toBe(false);
    expect(shouldRoute("data:application/wasm;base64,AGFzbQ==", table)).toBe(false);
    expect(shouldRoute("blob:http://127.0.0.1/abc", table)).toBe(false);
    expect(shouldRoute("https://anything.org/x", { origins: ["*"], loopback: true })).toBe(true);
    expect(shouldRoute("http://127.0.0.1:1/x", { origins: [], loopback: false })).toBe(false);
    expect(isLoopbackHost("127.10.0.3")).toBe(true);
    expect(isLoopbackHost("128.0.0.1")).toBe(false);
  });

  it("describes a POST with its body and answers it through the newest kernel", async () => {
    const req = await describeRequest("http://127.0.0.1:5/node/leaves_many", { method: "post", body: '{"node_ids": ["1"]}', headers: { "x-a": "b" } });
    expect(req.method).toBe("POST");
    expect(new TextDecoder().decode(req.body!)).toBe('{"node_ids": ["1"]}');
    expect(req.headers["x-a"]).toBe("b");
    const seen: string[] = [];
    const old = registerKernel(async () => ({ status: 500, headers: {}, body: new ArrayBuffer(0) }), []);
    const gone = registerKernel(async (r) => {
      seen.push(r.url);
      return { status: 200, headers: { "content-type": "application/json" }, body: new TextEncoder().encode('{"ok": 1}').buffer as ArrayBuffer };
    }, []);
    const res = await routedFetch("http://127.0.0.1:5/info");
    expect(res.status).toBe(200);
    expect(res.url).toBe("http://127.0.0.1:5/info"); // neuroglancer resolves relative paths against it
    expect(await res.json()).toEqual({ ok: 1 });
    expect(seen).toEqual(["http://127.0.0.1:5/info"]);
    gone();
    old();
    expect(shouldRoute("http://127.0.0.1:5/info", routedOrigins())).toBe(false); // no viewer left: the network
  });
});

// a stand-in for neuroglancer's viewer: records what was restored, rebuilt, patched
function fakeViewer(layers: any[]) {
  const log: string[] = [];
  const managed = layers.map((spec) => makeManaged(spec, log));
  const child = (key: string) => ({ restoreState: (v: any) => log.push(`restore ${key} ${JSON.stringify(v)}`), reset: () => log.push(`reset ${key}`) });
  const viewer: any = {
    log,
    mouseState: { active: true },
    layerSpecification: {},
    layerManager: {
      managedLayers: managed,
      removeManagedLayer: (m: any) => {
        log.push(`remove ${m.name}`);
        managed.splice(managed.indexOf(m), 1);
      },
      addManagedLayer: (m: any, i: number) => {
        log.push(`add ${m.name} at ${i}`);
        managed.splice(i, 0, m);
      },
    },
    state: { children: new Map(["layers", "position", "layout"].map((k) => [k, child(k)])) },
  };
  return viewer;
}

function makeManaged(spec: any, log: string[]) {
  const visible = new Set<bigint>();
  return {
    name: spec.name,
    setVisible: (v: boolean) => log.push(`visible ${spec.name} ${v}`),
    layer: spec.type === "segmentation"
      ? {
          displayState: {
            segmentationGroupState: {
              value: {
                selectedSegments: { delete: (id: bigint) => log.push(`delete ${id}`) },
                visibleSegments: { delete: (id: bigint) => visible.delete(id) },
                restoreState: (s: any) => log.push(`add segments ${s.segments.join(",")}`),
              },
            },
            segmentationColorGroupState: { value: { segmentStatedColors: { clear: () => {} }, restoreState: (s: any) => log.push(`colors ${JSON.stringify(s.segmentColors)}`) } },
          },
        }
      : {},
  };
}

describe("applying Python's state to the viewer", () => {
  const img = { name: "img", type: "image", source: "precomputed://http://127.0.0.1:1/img" };
  const seg = { name: "seg", type: "segmentation", source: "graphene://x", segments: ["1"] };
  const made = (log: string[]) => (_l: any, name: string, spec: any) => {
    log.push(`make ${name}`);
    return makeManaged(spec, log);
  };

  it("patches segments in place and leaves other layers and values alone", () => {
    const v = fakeViewer([img, seg]);
    const big = "864691135808684573";
    const did = applyState(v, { layers: [img, seg], layout: "xy" }, { layers: [img, { ...seg, segments: ["!1", big], segmentColors: { [big]: "#ff00ff" } }], layout: "xy" }, made(v.log));
    expect(did).toEqual({ keys: ["layers"], fullLayers: false });
    expect(v.log).toEqual(["delete 1", `add segments !1,${big}`, `colors {"${big}":"#ff00ff"}`]);
  });

  it("adds a new layer alone, rebuilds a changed one alone, restores other values", () => {
    const v = fakeViewer([img, seg]);
    const points = { name: "points", type: "annotation", annotations: [] };
    applyState(v, { layers: [img, seg], position: [1, 2, 3] }, { layers: [{ ...img, shader: "x" }, seg, points], position: [4, 5, 6] }, made(v.log));
    expect(v.log).toEqual(["make img", "remove img", "add img at 0", "make points", "add points at 2", "restore position [4,5,6]"]);
    expect(v.layerManager.managedLayers.map((m: any) => m.name)).toEqual(["img", "seg", "points"]);
  });

  it("restores the whole list when layers change order, with the mouse state off", () => {
    const v = fakeViewer([img, seg]);
    const did = applyState(v, { layers: [img, seg] }, { layers: [seg, img] }, made(v.log));
    expect(did.fullLayers).toBe(true);
    expect(v.mouseState.active).toBe(false);
    expect(v.log).toEqual([`restore layers ${JSON.stringify([seg, img])}`]);
  });
});
