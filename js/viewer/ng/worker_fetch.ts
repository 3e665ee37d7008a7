// The `fetch` of neuroglancer's chunk worker (esbuild `inject`), and the worker's half of the
// link to the page: routed requests go to the main thread over a MessagePort, which hands them to
// the kernel (see routing.ts). The port, the routing table and the async-computation worker's
// URL arrive in the first message the page posts to this worker, before any of neuroglancer's.
import { LeavesOracle } from "./leaves";
import { describeRequest, shouldRoute, toResponse, type KernelRequest, type KernelResponse } from "./routing";

interface Table {
  origins: string[];
  loopback: boolean;
}

let table: Table = { origins: [], loopback: false };
let asyncWorkerUrl: string | undefined;
let port: MessagePort | undefined;
let nextId = 0;
const pending = new Map<number, { resolve: (r: KernelResponse) => void; reject: (e: Error) => void }>();

self.addEventListener("message", (event: MessageEvent) => {
  const data = event.data;
  if (data?.cwLink !== true) return;
  event.stopImmediatePropagation(); // neuroglancer's RPC never sees it
  port = data.port as MessagePort;
  table = data.table;
  asyncWorkerUrl = data.asyncWorkerUrl;
  port.onmessage = (e: MessageEvent) => {
    const m = e.data;
    if (m.table) {
      table = m.table;
      return;
    }
    for (const a of m.answers ?? []) {
      const waiting = pending.get(a.id);
      if (!waiting) continue;
      pending.delete(a.id);
      if (a.ok) waiting.resolve(a.res);
      else waiting.reject(a.abort ? new DOMException(a.error, "AbortError") : new TypeError(a.error));
    }
  };
});

// requests (and cancellations) made while neuroglancer's chunk queue runs go to the page together
let outbox: { id: number; req: KernelRequest }[] = [];
let cancels: number[] = [];
let flushing = false;
function post(request?: { id: number; req: KernelRequest }, cancel?: number): void {
  if (request) outbox.push(request);
  if (cancel !== undefined) cancels.push(cancel);
  if (flushing) return;
  flushing = true;
  setTimeout(() => {
    flushing = false;
    const bodies = outbox.flatMap((r) => (r.req.body ? [r.req.body] : []));
    port?.postMessage({ requests: outbox, cancel: cancels }, bodies);
    outbox = [];
    cancels = [];
  }, 0);
}

/** The async-computation worker's script URL, made by the page (one blob for all workers). */
export function cwAsyncWorkerUrl(): string {
  if (!asyncWorkerUrl) throw new Error("cavewidgets: the worker was started without its page link");
  return asyncWorkerUrl;
}

const leaves = new LeavesOracle();

export async function fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const url = input instanceof Request ? input.url : String(input);
  // per-chunk leaves requests are answered here once the root's chunks are known (see leaves.ts)
  const headers = init?.headers ?? (input instanceof Request ? input.headers : undefined);
  const local = await leaves.answer(url, (u) => routedOrDirect(u, { headers }).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`${r.status}`)))));
  if (local) return local;
  return routedOrDirect(input, init);
}

async function routedOrDirect(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const url = input instanceof Request ? input.url : String(input);
  if (!shouldRoute(url, table)) return globalThis.fetch(input, init);
  if (!port) throw new TypeError(`Failed to fetch ${url}: the worker has no link to the page yet`);
  const req = await describeRequest(input, init);
  const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
  if (signal?.aborted) throw new DOMException("The operation was aborted.", "AbortError");
  const id = ++nextId;
  const res = await new Promise<KernelResponse>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    signal?.addEventListener(
      "abort",
      () => {
        if (pending.delete(id)) {
          const i = outbox.findIndex((r) => r.id === id);
          if (i >= 0) outbox.splice(i, 1); // not sent yet
          else post(undefined, id);
          reject(new DOMException("The operation was aborted.", "AbortError"));
        }
      },
      { once: true },
    );
    post({ id, req });
  });
  return toResponse(res, req.url);
}
