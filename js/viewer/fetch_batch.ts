// The viewer's data requests to its kernel, in batches (why: src/cavewidgets/viewer/fetching.py).
//
// Requests made in one task (neuroglancer asks for many chunks at once) leave as one `ng_fetch`
// message, and batches leave at most every BATCH_WINDOW_MS; answers arrive in `cw:fetched`
// messages, several at a time when the kernel has them ready together. An aborted request is
// dropped here at once and cancelled in the kernel.
import type { AnyModel } from "../shared/transport";
import type { KernelRequest, KernelResponse } from "./ng/routing";

interface Waiting {
  resolve: (r: KernelResponse) => void;
  reject: (e: Error) => void;
}

interface Answer {
  id: string;
  status?: number;
  statusText?: string;
  headers?: Record<string, string>;
  buf?: number;
  error?: string;
}

function abortError(): DOMException {
  return new DOMException("The operation was aborted.", "AbortError");
}

/** The bytes of a message buffer, without a copy when the view spans its whole buffer. */
export function viewBytes(view: DataView | undefined): ArrayBuffer {
  if (!view) return new ArrayBuffer(0);
  const whole = view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
  return (whole ? view.buffer : view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength)) as ArrayBuffer;
}

/**
 * A batch leaves at most this often. While data loads, neuroglancer asks for chunks over many
 * small tasks (each finished chunk frees a slot for the next); sent one message per task, every
 * message also costs a busy and an idle kernel status message, which JupyterLab handles on the
 * page's main thread, where they delay everything else (a state from Python included). A
 * request after a quiet spell still leaves at once.
 */
export const BATCH_WINDOW_MS = 8;

export class FetchBatcher {
  private prefix = Math.random().toString(36).slice(2, 10);
  private counter = 0;
  private queued: { id: string; req: KernelRequest }[] = [];
  private cancels: string[] = [];
  private waiting = new Map<string, Waiting>();
  private scheduled = false;
  private disposed = false;
  private lastSent = -Infinity;
  private listener = (content: unknown, buffers?: DataView[]) => this.onMessage(content, buffers ?? []);
  /** What crossed the channel, for tests and diagnostics. */
  readonly stats = { batches: 0, requests: 0, cancelled: 0, answerMessages: 0 };

  constructor(private model: AnyModel) {
    model.on("msg:custom", this.listener);
  }

  /** A `KernelFetcher`: one request, answered by the kernel. */
  fetch = (req: KernelRequest, signal?: AbortSignal): Promise<KernelResponse> => {
    if (signal?.aborted) return Promise.reject(abortError());
    const id = `${this.prefix}-${++this.counter}`;
    return new Promise<KernelResponse>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.queued.push({ id, req });
      signal?.addEventListener("abort", () => this.abort(id, reject), { once: true });
      this.schedule();
    });
  };

  private abort(id: string, reject: (e: Error) => void): void {
    if (!this.waiting.delete(id)) return; // already answered
    const i = this.queued.findIndex((q) => q.id === id);
    if (i >= 0) this.queued.splice(i, 1); // never sent
    else {
      this.cancels.push(id);
      this.stats.cancelled++;
      this.schedule();
    }
    reject(abortError());
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = this.lastSent + BATCH_WINDOW_MS - performance.now();
    if (wait > 0) setTimeout(() => this.flush(), wait);
    else queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.disposed || (!this.queued.length && !this.cancels.length)) return;
    this.lastSent = performance.now();
    const buffers: ArrayBuffer[] = [];
    const reqs = this.queued.map(({ id, req }) => {
      const body = req.body ? buffers.push(req.body) - 1 : -1;
      return { id, url: req.url, method: req.method, headers: req.headers, body };
    });
    const params = { reqs, cancel: this.cancels };
    this.stats.batches++;
    this.stats.requests += reqs.length;
    this.queued = [];
    this.cancels = [];
    this.model.send({ kind: "cw:req", id: `${this.prefix}-b${++this.counter}`, method: "ng_fetch", params }, undefined, buffers);
  }

  private onMessage(content: unknown, buffers: DataView[]): void {
    const message = content as { kind?: string; answers?: Answer[] } | null;
    if (message?.kind !== "cw:fetched") return;
    let mine = false;
    for (const a of message.answers ?? []) {
      const w = this.waiting.get(a.id);
      if (!w) continue; // another view's, or aborted
      mine = true;
      this.waiting.delete(a.id);
      if (a.error !== undefined) w.reject(new TypeError(a.error));
      else w.resolve({ status: a.status ?? 0, statusText: a.statusText, headers: a.headers ?? {}, body: viewBytes(a.buf === undefined ? undefined : buffers[a.buf]) });
    }
    if (mine) this.stats.answerMessages++;
  }

  dispose(): void {
    this.disposed = true;
    this.model.off("msg:custom", this.listener);
    for (const w of this.waiting.values()) w.reject(new TypeError("the viewer was closed"));
    this.waiting.clear();
    this.queued = [];
  }
}
