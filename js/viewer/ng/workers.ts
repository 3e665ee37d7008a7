// neuroglancer's web workers, started from inlined sources (anywidget imports our module from a
// blob URL, so `new URL("./x.js", import.meta.url)` cannot resolve). build.mjs substitutes
// `makeChunkWorker()` and `cwAsyncWorkerUrl()` for neuroglancer's own worker construction.
import { CHUNK_WORKER_SOURCE, ASYNC_WORKER_SOURCE } from "cw:worker-sources";
import { kernelFetch, onRoutesChanged, routedOrigins } from "./routing";

let chunkUrl: string | undefined;
let asyncUrl: string | undefined;

function blobUrl(source: string): string {
  return URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
}

export function cwAsyncWorkerUrl(): string {
  return (asyncUrl ??= blobUrl(ASYNC_WORKER_SOURCE));
}

/** A chunk worker linked to the page: its routed fetches are answered by the kernels here. */
export function makeChunkWorker(): Worker {
  const worker = new Worker((chunkUrl ??= blobUrl(CHUNK_WORKER_SOURCE)), { type: "module" });
  const { port1, port2 } = new MessageChannel();
  const inflight = new Map<number, AbortController>();
  port1.onmessage = async (event: MessageEvent) => {
    const { id, req, cancel } = event.data;
    if (cancel !== undefined) {
      inflight.get(cancel)?.abort();
      inflight.delete(cancel);
      return;
    }
    const ctrl = new AbortController();
    inflight.set(id, ctrl);
    try {
      const res = await kernelFetch(req, ctrl.signal);
      const body = await res.arrayBuffer();
      const headers: Record<string, string> = {};
      res.headers.forEach((v, k) => (headers[k] = v));
      port1.postMessage({ id, ok: true, res: { status: res.status, statusText: res.statusText, headers, body } }, [body]);
    } catch (err: any) {
      port1.postMessage({ id, ok: false, error: String(err?.message ?? err), abort: err?.name === "AbortError" });
    } finally {
      inflight.delete(id);
    }
  };
  const stop = onRoutesChanged(() => port1.postMessage({ table: routedOrigins() }));
  const terminate = worker.terminate.bind(worker);
  worker.terminate = () => {
    stop();
    port1.close();
    terminate();
  };
  worker.postMessage({ cwLink: true, port: port2, table: routedOrigins(), asyncWorkerUrl: cwAsyncWorkerUrl() }, [port2]);
  return worker;
}
