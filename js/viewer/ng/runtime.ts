// neuroglancer inside the widget: the viewer is created in the cell output and talks to its
// kernel only through the `Bridge` the widget gives it (anywidget custom messages).
//
// This is neuroglancer's Python integration (its main_python.ts) with the HTTP client swapped for
// the widget channel: the viewer state ("s") goes both ways with generations, exactly as with
// neuroglancer's server, so the kernel's merge of racing edits keeps working; the config state
// ("c": key bindings, actions, screenshot requests) comes from Python; actions and screenshots go
// back as action notifications; credentials are asked of the kernel on request.
import "neuroglancer/unstable/util/polyfills.js";
import "neuroglancer/unstable/layer/enabled_frontend_modules.js";
import "neuroglancer/unstable/datasource/enabled_frontend_modules.js";
import "neuroglancer/unstable/kvstore/enabled_frontend_modules.js";
import "neuroglancer/unstable/sliceview/chunk_format_handlers.js";
import {
  AnonymousFirstCredentialsProvider,
  CachingCredentialsManager,
  CredentialsProvider,
  makeCachedCredentialsGetter,
} from "neuroglancer/unstable/credentials_provider/index.js";
import { makeLayer } from "neuroglancer/unstable/layer/index.js";
import { TrackableBasedEventActionMap } from "neuroglancer/unstable/python_integration/event_action_map.js";
import { RemoteActionHandler } from "neuroglancer/unstable/python_integration/remote_actions.js";
import { TrackableBasedStatusMessages } from "neuroglancer/unstable/python_integration/remote_status_messages.js";
import { ScreenshotHandler } from "neuroglancer/unstable/python_integration/screenshots.js";
import { setDefaultInputEventBindings } from "neuroglancer/unstable/ui/default_input_event_bindings.js";
import { makeMinimalViewer } from "neuroglancer/unstable/ui/minimal_viewer.js";
import { bigintToStringJsonReplacer } from "neuroglancer/unstable/util/json.js";
import { CompoundTrackable, getCachedJson } from "neuroglancer/unstable/util/trackable.js";
import { VIEWER_UI_CONFIG_OPTIONS } from "neuroglancer/unstable/viewer.js";
import { ShaderProgram } from "neuroglancer/unstable/webgl/shader.js";
import { afterThisTask } from "../../shared/after_task";
import { applyState } from "./apply";
import { retainShaders } from "./shaders";
import { Thumbnailer } from "./thumbnail";
import { registerKernel, type KernelFetcher } from "./routing";

export { registerKernel } from "./routing";

/** What the widget provides: its kernel, reached over the widget channel. */
export interface Bridge {
  /** Send the viewer state; resolves with the kernel's new generation, or `conflict`. */
  sendState(stateJson: string, generation: number, previousGeneration: string, clientId: string): Promise<{ g?: string; conflict?: boolean }>;
  sendAction(action: string, stateJson: string): void;
  /** Send a picture for the saved notebook's snapshot (answer to `Mounted.thumbnail`). */
  sendThumbnail(id: string, png: Uint8Array): void;
  credentials(key: string, parameters: unknown, invalid: number | undefined): Promise<{ generation: number; credentials: unknown }>;
  fetcher: KernelFetcher;
  /** Origins whose requests the kernel answers ("*": all of them); loopback hosts always. */
  origins: string[];
}

export interface Mounted {
  readonly clientId: string;
  setServerState(key: "s" | "c", state: any, generation: string): void;
  /** The viewer state now, as neuroglancer writes it. */
  stateJson(): any;
  readonly viewer: any;
  /** What the last Python state changed, for tests: top-level keys and whole-layer rebuilds. */
  lastApply?: { keys: string[]; fullLayers: boolean };
  /** The kernel generation of the last viewer ("s") and config ("c") state applied here. */
  readonly applied: { s?: string; c?: string };
  /** Send the kernel a picture at most `width` px wide once the view is drawn; `null` withdraws. */
  thumbnail(id: string | null, width: number): void;
  dispose(): void;
}

function randomId(): string {
  const bytes = new Uint8Array(10);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

class KernelCredentialsProvider extends CredentialsProvider<unknown> {
  constructor(
    private bridge: Bridge,
    private key: string,
    private parameters: unknown,
  ) {
    super();
  }
  get = makeCachedCredentialsGetter(async (invalid) => this.bridge.credentials(this.key, this.parameters, invalid?.generation));
}

/** Every credentials request goes to the kernel (which holds the CAVEclient's token). */
class KernelCredentialsManager {
  private providers = new Map<string, CredentialsProvider<unknown>>();
  constructor(private bridge: Bridge) {}
  getCredentialsProvider(key: string, parameters?: unknown): any {
    const id = JSON.stringify([key, parameters ?? null]);
    let p = this.providers.get(id);
    if (!p) {
      p = new KernelCredentialsProvider(this.bridge, key, parameters ?? null);
      // public buckets first, as neuroglancer's own Python integration does
      if (key === "gcs") p = new AnonymousFirstCredentialsProvider(p, { accessToken: "", tokenType: "" });
      this.providers.set(id, p);
    }
    return p;
  }
}

/** Browser state → kernel, as soon as it changes; one request in flight, later changes coalesce. */
class StateSender {
  clientGeneration = -1;
  lastServerState = "";
  lastServerGeneration = "";
  private needUpdate = false;
  private inProgress = false;

  constructor(
    private state: any,
    private bridge: Bridge,
    private clientId: string,
  ) {}

  async changed(): Promise<void> {
    this.needUpdate = true;
    if (this.inProgress) return;
    this.inProgress = true;
    try {
      while (this.needUpdate) {
        this.needUpdate = false;
        const generation = this.state.changed.count;
        if (generation === this.clientGeneration) return;
        const json = getCachedJson(this.state).value;
        const encoded = JSON.stringify(json, bigintToStringJsonReplacer);
        if (encoded === this.lastServerState) {
          this.clientGeneration = generation;
          return;
        }
        try {
          const reply = await this.bridge.sendState(encoded, generation, this.lastServerGeneration, this.clientId);
          if (reply.g !== undefined) {
            this.lastServerState = encoded;
            this.lastServerGeneration = reply.g;
            this.clientGeneration = generation;
          } // a conflict: the kernel sends its state (merged or current) right after
        } catch (err) {
          console.warn("cavewidgets: could not send the viewer state to the kernel", err);
          return;
        }
      }
    } finally {
      this.inProgress = false;
    }
  }
}

/**
 * Create a neuroglancer viewer in `target`, driven by the kernel behind `bridge`.
 *
 * Example:
 *   const mounted = mountViewer(div, bridge);
 *   mounted.setServerState("s", {layers: [...]}, "gen-1");
 */
export function mountViewer(target: HTMLElement, bridge: Bridge): Mounted {
  const clientId = randomId();
  const unroute = registerKernel(bridge.fetcher, bridge.origins);
  const viewer: any = makeMinimalViewer({
    target,
    showLayerDialog: false,
    resetStateWhenEmpty: false,
    credentialsManager: new CachingCredentialsManager(new KernelCredentialsManager(bridge) as any),
  } as any);
  const releaseShaders = retainShaders(viewer.gl.memoize, (obj) => obj instanceof ShaderProgram);
  const configState = new CompoundTrackable();
  setDefaultInputEventBindings(viewer.inputEventBindings);
  const maps = new CompoundTrackable();
  const bindings = viewer.inputEventBindings;
  const addMap = (key: string, parents: any[], priority: number) => {
    const map = new TrackableBasedEventActionMap();
    maps.add(key, map);
    for (const p of parents) p.addParent(map.eventActionMap, priority);
  };
  addMap("viewer", [bindings.global], 1000);
  addMap("sliceView", [bindings.sliceView], 1000);
  addMap("perspectiveView", [bindings.perspectiveView], 1000);
  addMap("dataView", [bindings.perspectiveView, bindings.sliceView], 999);
  configState.add("inputEventBindings", maps);
  const actions = new RemoteActionHandler(viewer);
  configState.add("actions", actions.actionSet);
  configState.add("statusMessages", new TrackableBasedStatusMessages());
  const screenshots = new ScreenshotHandler(viewer);
  configState.add("screenshot", screenshots.requestState);
  for (const key of VIEWER_UI_CONFIG_OPTIONS) configState.add(key, viewer.uiConfiguration[key]);
  configState.add("scaleBarOptions", viewer.scaleBarOptions);

  const encode = (s: unknown) => JSON.stringify(s, bigintToStringJsonReplacer);
  actions.sendActionRequested.add((action: string, state: unknown) => bridge.sendAction(action, encode(state)));
  screenshots.sendScreenshotRequested.add((state: unknown) => bridge.sendAction("screenshot", encode(state)));
  screenshots.sendStatisticsRequested.add((state: unknown) => bridge.sendAction("screenshotStatistics", encode(state)));

  const thumbnails = new Thumbnailer(viewer, (id, png) => bridge.sendThumbnail(id, png));
  const sender = new StateSender(viewer.state, bridge, clientId);
  const onChange = afterThisTask(() => void sender.changed());
  viewer.state.changed.add(onChange);

  const mounted: Mounted = {
    clientId,
    viewer,
    applied: {},
    setServerState(key, state, generation) {
      if (generation.startsWith(`${clientId}/`)) return; // our own edit, echoed
      mounted.applied[key] = generation;
      if (key === "c") {
        configState.reset();
        configState.restoreState(state);
        return;
      }
      const current = getCachedJson(viewer.state).value;
      mounted.lastApply = applyState(viewer, current, state, makeLayer as any);
      sender.lastServerState = JSON.stringify(state);
      sender.clientGeneration = viewer.state.changed.count;
      sender.lastServerGeneration = generation;
    },
    stateJson: () => JSON.parse(encode(getCachedJson(viewer.state).value)),
    thumbnail: (id, width) => thumbnails.request(id, width),
    dispose() {
      thumbnails.dispose();
      onChange.cancel();
      viewer.state.changed.remove(onChange);
      unroute();
      actions.dispose();
      screenshots.dispose();
      releaseShaders();
      viewer.dispose();
    },
  };
  return mounted;
}
