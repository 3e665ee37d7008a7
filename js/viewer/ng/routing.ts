// Which requests of neuroglancer go to the kernel instead of the network, and how.
//
// On Colab, JupyterHub, Binder and VS Code remote the browser reaches nothing but the notebook
// server: a data service the kernel runs on its loopback (the sample datastack) is out of reach.
// Every fetch neuroglancer makes (main thread and workers alike; esbuild injects `fetch` below in
// place of the global one) is checked here: a URL on a loopback host, or on an origin a viewer
// registered, is answered by that viewer's kernel over the widget channel. The rest (a real
// CAVE over https) goes to the network as neuroglancer normally does.
//
// One registry per page: the neuroglancer bundle is loaded once and shared by every viewer.

export interface KernelRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: ArrayBuffer;
}

export interface KernelResponse {
  status: number;
  statusText?: string;
  headers: Record<string, string>;
  body: ArrayBuffer;
}

/** Answers requests through one viewer's kernel. */
export type KernelFetcher = (req: KernelRequest, signal?: AbortSignal) => Promise<KernelResponse>;

interface Route {
  fetcher: KernelFetcher;
  origins: Set<string>; // routed for this kernel ("*" = every http(s) request)
  loopback: boolean; // also answer loopback hosts nobody registered
}

const routes: Route[] = [];
const listeners = new Set<() => void>();

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h);
}

/** Register a kernel's fetcher; returns the function that removes it. */
export function registerKernel(fetcher: KernelFetcher, origins: string[], loopback = true): () => void {
  const route: Route = { fetcher, origins: new Set(origins.map((o) => o.replace(/\/+$/, ""))), loopback };
  routes.push(route);
  notify();
  return () => {
    const i = routes.indexOf(route);
    if (i >= 0) routes.splice(i, 1);
    notify();
  };
}

function notify(): void {
  for (const l of listeners) l();
}

/** Called when the routes change (workers keep a copy of `routedOrigins()`). */
export function onRoutesChanged(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** What workers need to decide locally whether a URL goes to the kernel. */
export function routedOrigins(): { origins: string[]; loopback: boolean } {
  const origins = new Set<string>();
  let loopback = false;
  for (const r of routes) {
    for (const o of r.origins) origins.add(o);
    loopback ||= r.loopback;
  }
  return { origins: [...origins], loopback };
}

export function shouldRoute(url: string, table: { origins: string[] | Set<string>; loopback: boolean }): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return false;
  const origins = table.origins instanceof Set ? table.origins : new Set(table.origins);
  if (origins.has(parsed.origin) || origins.has("*")) return true;
  return table.loopback && isLoopbackHost(parsed.hostname);
}

function fetcherFor(url: string): KernelFetcher | null {
  const origin = new URL(url).origin;
  const loop = isLoopbackHost(new URL(url).hostname);
  // newest registration first: a re-run cell's viewer replaces the old one
  for (let i = routes.length - 1; i >= 0; i--) if (routes[i].origins.has(origin)) return routes[i].fetcher;
  for (let i = routes.length - 1; i >= 0; i--) if (routes[i].origins.has("*")) return routes[i].fetcher;
  if (loop) for (let i = routes.length - 1; i >= 0; i--) if (routes[i].loopback) return routes[i].fetcher;
  return null;
}

export function headersToRecord(h: HeadersInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  new Headers(h).forEach((v, k) => {
    out[k] = v;
  });
  return out;
}

async function bodyToBuffer(body: BodyInit | null | undefined): Promise<ArrayBuffer | undefined> {
  if (body == null) return undefined;
  return await new Response(body).arrayBuffer();
}

/** A fetch request as plain data (what crosses to the kernel). */
export async function describeRequest(input: RequestInfo | URL, init?: RequestInit): Promise<KernelRequest> {
  if (input instanceof Request) {
    const req = init ? new Request(input, init) : input;
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer();
    return { url: req.url, method: req.method, headers: headersToRecord(req.headers), body };
  }
  return {
    url: String(input),
    method: (init?.method ?? "GET").toUpperCase(),
    headers: headersToRecord(init?.headers),
    body: await bodyToBuffer(init?.body),
  };
}

export function toResponse(r: KernelResponse, url: string): Response {
  const nullBody = r.status === 204 || r.status === 304 || r.status < 200;
  const res = new Response(nullBody ? null : r.body, { status: r.status, statusText: r.statusText ?? "", headers: r.headers });
  // neuroglancer resolves relative paths against response.url, which a constructed Response lacks
  Object.defineProperty(res, "url", { value: url });
  return res;
}

function abortError(): DOMException {
  return new DOMException("The operation was aborted.", "AbortError");
}

/** A routed request's answer from its kernel, as plain data (main thread). */
export function kernelAnswer(req: KernelRequest, signal?: AbortSignal | null): Promise<KernelResponse> {
  const fetcher = fetcherFor(req.url);
  if (!fetcher) return Promise.reject(new TypeError(`Failed to fetch ${req.url}: no kernel answers for it (is its viewer closed?)`));
  if (signal?.aborted) return Promise.reject(abortError());
  return fetcher(req, signal ?? undefined);
}

/** Answer a routed request with its kernel (main thread). */
export async function kernelFetch(req: KernelRequest, signal?: AbortSignal | null): Promise<Response> {
  return toResponse(await kernelAnswer(req, signal), req.url);
}

/** The `fetch` neuroglancer's main-thread code calls (esbuild `inject`). */
export async function fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const url = input instanceof Request ? input.url : String(input);
  if (!shouldRoute(url, routedOrigins())) return globalThis.fetch(input, init);
  const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
  return kernelFetch(await describeRequest(input, init), signal);
}
