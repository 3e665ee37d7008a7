// Viewer front-end: hosts the kernel's neuroglancer page in an iframe.
// The neuroglancer server runs in the kernel (127.0.0.1:<port>); which URL reaches it depends
// on where the notebook runs: directly (JupyterLab/Notebook 7/VS Code with a local kernel),
// Colab's port proxy, or jupyter-server-proxy (remote Jupyter). Each candidate is probed first;
// when none answers the cell shows why instead of a blank box.
import { el } from "../shared/dom";

interface Model {
  get(name: string): any;
  set(name: string, value: unknown): void;
  save_changes(): void;
  on(event: string, cb: (...args: any[]) => void): void;
  off(event?: string | null, cb?: ((...args: any[]) => void) | null): void;
}

const PROBE_TIMEOUT_MS = 8000;
const MIN_HEIGHT = 150;

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "127.0.0.1" || host === "[::1]" || host === "::1";
}

function jupyterBaseUrl(): string | null {
  const node = document.getElementById("jupyter-config-data");
  if (!node?.textContent) return null;
  try {
    const base = JSON.parse(node.textContent).baseUrl;
    return typeof base === "string" ? base : null;
  } catch {
    return null;
  }
}

/** Candidate URL prefixes for the kernel's neuroglancer server, best first. */
export async function candidateBases(port: number, serverUrl: string): Promise<string[]> {
  const colab = (window as any).google?.colab?.kernel;
  if (colab?.proxyPort) {
    const proxied: string = await colab.proxyPort(port, { cache: false });
    return [proxied.replace(/\/+$/, "")];
  }
  const out: string[] = [];
  let host = "127.0.0.1";
  try {
    if (serverUrl) host = new URL(serverUrl).hostname; // the bind address; the port is `port`
  } catch {
    /* keep loopback */
  }
  out.push(`http://${host}:${port}`);
  const base = jupyterBaseUrl();
  if (base !== null && !isLoopback(window.location.hostname)) {
    // remote Jupyter (JupyterHub, a server on another host): jupyter-server-proxy's route
    out.push(`${window.location.origin}${base.replace(/\/?$/, "/")}proxy/${port}`);
  }
  return out;
}

// The kernel also displays a static snapshot of each viewer (last screenshot, layers, link) for
// when the notebook is reopened without its kernel. While a live view of that viewer exists,
// a style rule hides the snapshot (and the output area row holding it). Counted per key: the
// same viewer may be displayed twice.
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

async function reachable(url: string, timeoutMs: number): Promise<boolean> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  try {
    // no-cors: an opaque answer still proves the server is there; a network error means not
    await fetch(url, { mode: "no-cors", cache: "no-store", signal: ctrl.signal });
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

class ViewerView {
  private model: Model;
  private root: HTMLElement;
  private frameBox: HTMLDivElement;
  private iframe: HTMLIFrameElement | null = null;
  private message: HTMLDivElement;
  private handle: HTMLDivElement;
  private attempt = 0;
  private disposed = false;
  private onHeight = () => this.applyHeight(this.model.get("height"));
  private onTarget = () => void this.connect();
  private showSnapshot: () => void;

  constructor(model: Model, root: HTMLElement) {
    this.model = model;
    this.root = root;
    root.classList.add("cw-viewer");
    const key = String(model.get("_fallback_key") ?? "");
    root.dataset.cwViewer = key;
    this.showSnapshot = hideSnapshot(key);
    this.frameBox = el("div", "cw-viewer-frame");
    this.message = el("div", "cw-viewer-message");
    this.handle = el("div", "cw-viewer-resize");
    this.handle.title = "Drag to resize";
    this.frameBox.append(this.message);
    root.append(this.frameBox, this.handle);
    this.applyHeight(model.get("height"));
    this.bindResize();
    model.on("change:height", this.onHeight);
    model.on("change:viewer_path", this.onTarget);
    model.on("change:server_port", this.onTarget);
    void this.connect();
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
      this.root.classList.add("cw-resizing"); // the iframe would swallow pointer events
      const move = (e: PointerEvent) => this.applyHeight(Math.round(startH + e.clientY - startY));
      const up = (e: PointerEvent) => {
        this.handle.releasePointerCapture(e.pointerId);
        this.handle.removeEventListener("pointermove", move);
        this.handle.removeEventListener("pointerup", up);
        this.root.classList.remove("cw-resizing");
        const h = Math.max(MIN_HEIGHT, Math.round(this.frameBox.getBoundingClientRect().height));
        this.model.set("height", h);
        this.model.save_changes();
      };
      this.handle.addEventListener("pointermove", move);
      this.handle.addEventListener("pointerup", up);
    });
  }

  private showMessage(text: string, detail?: string, url?: string): void {
    this.message.replaceChildren();
    this.message.append(el("div", "cw-viewer-message-title", text));
    if (detail) this.message.append(el("div", "cw-viewer-message-detail", detail));
    if (url) {
      const row = el("div", "cw-viewer-message-actions");
      const retry = el("button", "cw-viewer-retry", "Retry");
      retry.addEventListener("click", () => void this.connect());
      const link = el("a", "cw-viewer-open", "Open in a new tab");
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener";
      row.append(retry, link);
      this.message.append(row);
    }
    this.message.style.display = "";
    this.root.dataset.status = "error";
  }

  async connect(): Promise<void> {
    const attempt = ++this.attempt;
    const port = Number(this.model.get("server_port"));
    const path: string = this.model.get("viewer_path");
    this.root.dataset.status = "connecting";
    if (!port || !path) {
      this.showMessage("The neuroglancer viewer is not running.", "Re-run the cell that created it.");
      return;
    }
    this.message.replaceChildren(el("div", "cw-viewer-message-title", "Connecting to neuroglancer…"));
    this.message.style.display = "";
    let bases: string[];
    try {
      bases = await candidateBases(port, this.model.get("server_url"));
    } catch (err) {
      this.showMessage("Could not get a URL for the neuroglancer server.", String(err));
      return;
    }
    for (const base of bases) {
      if (await reachable(base + path, PROBE_TIMEOUT_MS)) {
        if (attempt !== this.attempt || this.disposed) return;
        this.show(base + path);
        return;
      }
      if (attempt !== this.attempt || this.disposed) return;
    }
    this.showMessage(
      "Can't reach the neuroglancer viewer.",
      `Its server runs in the kernel at ${bases[0]}. If the kernel was restarted or this notebook was reopened, ` +
        "re-run the cell. On a remote Jupyter server (JupyterHub) the kernel's port is only reachable " +
        "through jupyter-server-proxy (pip install jupyter-server-proxy).",
      bases[0] + path,
    );
  }

  private show(url: string): void {
    if (!this.iframe) {
      this.iframe = el("iframe", "cw-viewer-iframe");
      this.iframe.setAttribute("allow", "fullscreen; clipboard-read; clipboard-write");
      this.iframe.setAttribute("title", "neuroglancer");
      this.frameBox.append(this.iframe);
    }
    this.iframe.addEventListener(
      "load",
      () => {
        if (this.disposed) return;
        this.message.style.display = "none";
        this.root.dataset.status = "ready";
      },
      { once: true },
    );
    this.iframe.src = url;
    this.root.dataset.url = url;
  }

  dispose(): void {
    this.disposed = true;
    this.showSnapshot();
    this.model.off("change:height", this.onHeight);
    this.model.off("change:viewer_path", this.onTarget);
    this.model.off("change:server_port", this.onTarget);
    if (this.iframe) this.iframe.src = "about:blank"; // closes neuroglancer's event stream
    this.root.replaceChildren();
  }
}

export default {
  render({ model, el: root }: { model: Model; el: HTMLElement }) {
    const view = new ViewerView(model, root);
    return () => view.dispose();
  },
};
