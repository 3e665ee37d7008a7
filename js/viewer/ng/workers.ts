// neuroglancer's web workers, started from inlined sources (anywidget imports our module from a
// blob URL, so `new URL("./x.js", import.meta.url)` cannot resolve). build.mjs substitutes
// `makeChunkWorker()` and `cwAsyncWorkerUrl()` for neuroglancer's own worker construction.
import { CHUNK_WORKER_SOURCE, ASYNC_WORKER_SOURCE } from "cw:worker-sources";
import { kernelAnswer, onRoutesChanged, routedOrigins, type KernelRequest } from "./routing";

let chunkUrl: string | undefined;
let asyncUrl: string | undefined;

function blobUrl(source: string): string {
  return URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
}

export function cwAsyncWorkerUrl(): string {
  asyncUrl ??= blobUrl(ASYNC_WORKER_SOURCE);
  return asyncUrl;
}

/** A chunk worker linked to the page: its routed fetches are answered by the kernels here.
 *  Requests come in batches and answers go back in batches (one message per task each way). */
export function makeChunkWorker(): Worker {
  chunkUrl ??= blobUrl(CHUNK_WORKER_SOURCE);
  const worker = new Worker(chunkUrl, { type: "module" });
  const { port1, port2 } = new MessageChannel();
  const inflight = new Map<number, AbortController>();
  let outbox: any[] = [];
  let transfers: ArrayBuffer[] = [];
  const reply = (answer: any, body?: ArrayBuffer) => {
    if (!outbox.length) queueMicrotask(() => {
      port1.postMessage({ answers: outbox }, transfers);
      outbox = [];
      transfers = [];
    });
    outbox.push(answer);
    if (body?.byteLength) transfers.push(body);
  };
  const start = async (id: number, req: KernelRequest) => {
    const ctrl = new AbortController();
    inflight.set(id, ctrl);
    try {
      const res = await kernelAnswer(req, ctrl.signal);
      reply({ id, ok: true, res }, res.body);
    } catch (err: any) {
      reply({ id, ok: false, error: String(err?.message ?? err), abort: err?.name === "AbortError" });
    } finally {
      inflight.delete(id);
    }
  };
  port1.onmessage = (event: MessageEvent) => {
    const { requests, cancel } = event.data as { requests?: { id: number; req: KernelRequest }[]; cancel?: number[] };
    for (const id of cancel ?? []) {
      inflight.get(id)?.abort();
      inflight.delete(id);
    }
    for (const { id, req } of requests ?? []) void start(id, req);
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
