// Viewer front-end: neuroglancer itself, inside the cell output, talking to the kernel only
// over the widget channel.
//
// The browser may reach nothing but the notebook server (Colab, JupyterHub, Binder, VS Code
// remote), so nothing here opens a connection of its own: the neuroglancer bundle (3.5 MB,
// workers and WebAssembly inlined) comes from the kernel as a message buffer once per page and
// is shared by every viewer; the state goes both ways as custom messages; requests for data the
// kernel hosts (the sample datastack on its loopback) are answered by the kernel.
import { el } from "../shared/dom";
import { Transport, type WidgetModel } from "../shared/transport";
import { guardWheel, type WheelMode } from "../shared/wheel_guard";
import { FetchBatcher, viewBytes } from "./fetch_batch";
import type { Bridge, Mounted } from "./ng/runtime";

/** The traits of `cavewidgets.Viewer` (src/cavewidgets/viewer/widget.py). */
interface ViewerTraits {
  height: number;
  wheel: WheelMode;
  kernel_origins: string[];
  _ng_bundle_hash: string;
  _fallback_key: string;
}
type Model = WidgetModel<ViewerTraits>;

type Runtime = typeof import("./ng/runtime");

const MIN_HEIGHT = 150;

// ---------- the neuroglancer bundle: once per page ----------
const PAGE_KEY = "__cavewidgetsNeuroglancer";

function pageCache(): Map<string, Promise<Runtime>> {
  const g = globalThis as unknown as Record<string, Map<string, Promise<Runtime>> | undefined>;
  let cache = g[PAGE_KEY];
  if (!cache) {
    cache = new Map<string, Promise<Runtime>>();
    g[PAGE_KEY] = cache;
  }
  return cache;
}

/** The neuroglancer runtime, fetched from the kernel unless this page already has that build. */
export function loadRuntime(transport: Transport, hash: string): Promise<Runtime> {
  const cache = pageCache();
  let found = cache.get(hash);
  if (!found) {
    found = (async () => {
      const { buffers } = await transport.request("ng_bundle", { hash });
      if (!buffers.length) throw new Error("the kernel sent no neuroglancer bundle");
      const url = URL.createObjectURL(new Blob([viewBytes(buffers[0])], { type: "text/javascript" }));
      // the module's workers are started from blob URLs of their own: this one may go once loaded
      try {
        return (await import(/* @vite-ignore */ url)) as Runtime;
      } finally {
        URL.revokeObjectURL(url);
      }
    })();
    found.catch(() => cache.delete(hash)); // a failed load is retried by the next view
    cache.set(hash, found);
  }
  return found;
}

// ---------- saved-notebook snapshot: hidden while a live view exists ----------
const snapshotStyles = new Map<string, { style: HTMLStyleElement; views: number }>();

export function snapshotRule(key: string): string {
  const k = key.replace(/[^0-9a-zA-Z_-]/g, "");
  return (
    `[data-cw-fallback="${k}"]{display:none!important}` +
    `.jp-OutputArea-child:has([data-cw-fallback="${k}"]){display:none!important}`
  );
}

function hideSnapshot(key: string): () => void {
  if (!key) return () => {};
  let entry = snapshotStyles.get(key);
  if (!entry) {
    const style = document.createElement("style");
    style.dataset.cwSnapshot = key;
    style.textContent = snapshotRule(key);
    document.head.append(style);
    entry = { style, views: 0 };
    snapshotStyles.set(key, entry);
  }
  entry.views++;
  const held = entry;
  return () => {
    held.views--;
    if (held.views <= 0) {
      held.style.remove();
      snapshotStyles.delete(key);
    }
  };
}

// ---------- the bridge: everything the viewer needs from its kernel ----------
export function makeBridge(transport: Transport, model: Model, data: FetchBatcher): Bridge {
  return {
    async sendState(stateJson, generation, previousGeneration, clientId) {
      const { result } = await transport.request("ng_state", { s: stateJson, g: generation, pg: previousGeneration, c: clientId });
      return result;
    },
    sendAction(action, stateJson) {
      transport.request("ng_action", { action, state: stateJson }).catch((err) => console.warn("cavewidgets: action failed", err));
    },
    sendThumbnail(id, png) {
      const body = png.buffer.slice(png.byteOffset, png.byteOffset + png.byteLength) as ArrayBuffer;
      transport.request("ng_thumbnail", { id }, undefined, [body]).catch((err) => console.warn("cavewidgets: snapshot picture not sent", err));
    },
    async credentials(key, parameters, invalid) {
      const { result } = await transport.request("ng_credentials", { key, parameters, invalid: invalid ?? null });
      return result;
    },
    fetcher: data.fetch,
    origins: (model.get("kernel_origins") as string[] | undefined) ?? [],
  };
}

// ---------- the view ----------
class ViewerView {
  private transport: Transport;
  private data: FetchBatcher;
  private frameBox: HTMLDivElement;
  private host: HTMLDivElement;
  private message: HTMLDivElement;
  private handle: HTMLDivElement;
  private mounted: Mounted | null = null;
  private disposed = false;
  private showSnapshot: () => void;
  private onHeight = () => this.applyHeight(this.model.get("height"));
  // biome-ignore lint/suspicious/noExplicitAny: the kernel's messages, checked field by field
  private onMessage = (content: any) => {
    if (content?.kind === "cw:thumbnail") {
      this.mounted?.thumbnail(typeof content.id === "string" ? content.id : null, Number(content.width) || 800);
      return;
    }
    if (content?.kind !== "cw:ng") return;
    const state = typeof content.s === "string" ? JSON.parse(content.s) : content.s;
    if (!this.mounted) return; // the hello answer brings the state
    try {
      this.mounted.setServerState(content.k, state, String(content.g));
    } catch (err) {
      console.error("cavewidgets: could not apply the state from Python", err);
    }
  };

  constructor(
    private model: Model,
    private root: HTMLElement,
  ) {
    root.classList.add("cw-viewer");
    // keys typed in the viewer are neuroglancer's, not the notebook's (JupyterLab/Notebook 7).
    // On the root alone, Notebook 7's command-mode shortcuts still fired for a focused panel
    // inside it ('a' inserted a cell): the focused element carries the attribute too.
    root.setAttribute("data-lm-suppress-shortcuts", "true");
    root.addEventListener("focusin", (event) => {
      const target = event.target as Element | null;
      target?.setAttribute?.("data-lm-suppress-shortcuts", "true");
    });
    const key = String(model.get("_fallback_key") ?? "");
    root.dataset.cwViewer = key;
    this.showSnapshot = hideSnapshot(key);
    this.transport = new Transport(model);
    this.data = new FetchBatcher(model);
    this.frameBox = el("div", "cw-viewer-frame");
    this.host = el("div", "cw-viewer-ng");
    this.message = el("div", "cw-viewer-message");
    this.handle = el("div", "cw-viewer-resize");
    this.handle.title = "Drag to resize";
    this.frameBox.append(this.host, this.message);
    root.append(this.frameBox, this.handle);
    this.applyHeight(model.get("height"));
    this.bindResize();
    model.on("change:height", this.onHeight);
    model.on("msg:custom", this.onMessage);
    void this.start();
  }

  private applyHeight(h: number): void {
    this.frameBox.style.height = `${Math.max(MIN_HEIGHT, Number(h) || 600)}px`;
  }

  private bindResize(): void {
    this.handle.addEventListener("pointerdown", (ev: PointerEvent) => {
      ev.preventDefault();
      const startY = ev.clientY;
      const startH = this.frameBox.getBoundingClientRect().height;
      this.handle.setPointerCapture(ev.pointerId);
      this.root.classList.add("cw-resizing");
      const move = (e: PointerEvent) => this.applyHeight(Math.round(startH + e.clientY - startY));
      const up = (e: PointerEvent) => {
        this.handle.releasePointerCapture(e.pointerId);
        this.handle.removeEventListener("pointermove", move);
        this.handle.removeEventListener("pointerup", up);
        this.root.classList.remove("cw-resizing");
        this.model.set("height", Math.max(MIN_HEIGHT, Math.round(this.frameBox.getBoundingClientRect().height)));
        this.model.save_changes();
      };
      this.handle.addEventListener("pointermove", move);
      this.handle.addEventListener("pointerup", up);
    });
  }

  private showMessage(title: string, detail?: string): void {
    this.message.replaceChildren(el("div", "cw-viewer-message-title", title));
    if (detail) this.message.append(el("div", "cw-viewer-message-detail", detail));
    this.message.style.display = "";
  }

  private async start(): Promise<void> {
    this.root.dataset.status = "loading";
    this.showMessage("Loading neuroglancer…");
    try {
      const runtime = await loadRuntime(this.transport, String(this.model.get("_ng_bundle_hash")));
      if (this.disposed) return;
      const target = el("div", "cw-viewer-ng-target");
      this.host.append(target);
      this.mounted = runtime.mountViewer(target, makeBridge(this.transport, this.model, this.data));
      // for tests and debugging in the page
      // cwPing: one round trip over the widget channel; the kernel answers with when its handler
      // ran, so a test can split a trip into page → kernel and kernel → page
      const ping = async () => {
        const sent = Date.now();
        const { result } = await this.transport.request("ng_ping", {});
        return { sent, kernel: (result as { t: number }).t * 1000, back: Date.now() };
      };
      Object.assign(this.root, { cwViewer: this.mounted, cwFetchStats: this.data.stats, cwPing: ping });
      const { result } = await this.transport.request("ng_hello", { client: this.mounted.clientId });
      if (this.disposed) return;
      // the hello answer is newer than anything pushed before it; later pushes follow it in order
      this.mounted.setServerState("c", JSON.parse(result.c), String(result.gc));
      this.mounted.setServerState("s", JSON.parse(result.s), String(result.gs));
      this.message.style.display = "none";
      this.root.dataset.status = "ready";
    } catch (err) {
      if (this.disposed) return;
      this.root.dataset.status = "error";
      this.showMessage(
        "The neuroglancer viewer could not start.",
        `${err instanceof Error ? err.message : String(err)}. If the kernel was restarted or this notebook was reopened, re-run the cell.`,
      );
    }
  }

  dispose(): void {
    this.disposed = true;
    this.showSnapshot();
    this.model.off("change:height", this.onHeight);
    this.model.off("msg:custom", this.onMessage);
    this.mounted?.dispose();
    this.mounted = null;
    this.transport.dispose();
    this.data.dispose();
    this.root.replaceChildren();
  }
}

export default {
  render({ model, el: root }: { model: Model; el: HTMLElement }) {
    const view = new ViewerView(model, root);
    const unguardWheel = guardWheel(root, model); // the page scrolls until the user clicks in
    return () => {
      unguardWheel();
      view.dispose();
    };
  },
};
