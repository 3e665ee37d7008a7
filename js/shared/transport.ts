// One request/response transport for binary payloads, shared by every widget.
// Requests go out as anywidget custom messages; replies carry Arrow IPC or typed arrays as
// buffers. Data is only requested after render (Colab drops buffers sent with initial state).
// A request on a named channel supersedes the previous one on that channel: its reply is dropped.
// Read-only ("skippable") requests wait in the browser while their channel has one out, so the
// kernel never computes one that was superseded before it was sent; a superseded request that
// was sent gets a `cw:cancel`. Every request times out (RequestTimeout) if the kernel never replies.

/** Messages and replies as the kernel sends them: untyped JSON, checked where they are read. */
// biome-ignore lint/suspicious/noExplicitAny: the one name for untyped JSON (and anywidget's handler arguments)
export type Json = any;

export interface AnyModel {
  send(content: unknown, callbacks?: unknown, buffers?: ArrayBuffer[] | ArrayBufferView[]): void;
  on(event: string, cb: (...args: Json[]) => void): void;
  off(event?: string | null, cb?: ((...args: Json[]) => void) | null): void;
}

/** A widget's model with its synced traits typed (`T`: trait name → value as JSON). */
export interface WidgetModel<T extends object> extends AnyModel {
  get<K extends keyof T & string>(name: K): T[K];
  set<K extends keyof T & string>(name: K, value: T[K]): void;
  save_changes(): void;
}

export interface Reply<T = Json> {
  result: T;
  buffers: DataView[];
}

export class StaleReply extends Error {
  constructor(channel: string) {
    super(`superseded request on channel ${channel}`);
    this.name = "StaleReply";
  }
}

/** The kernel sent no reply in time (busy, stopped or restarted). */
export class RequestTimeout extends Error {
  constructor(method: string, ms: number) {
    super(`no reply from the kernel to '${method}' within ${Math.round(ms / 1000)} s: ` +
      "the kernel may be busy, stopped or restarted (re-run the cell to reconnect)");
    this.name = "RequestTimeout";
  }
}

export interface TransportOptions {
  /** Reject a request with `RequestTimeout` when no reply came within this many ms (default 120 s). */
  timeoutMs?: number;
}

export interface RequestOptions {
  /**
   * The request only reads (a page of rows, say): while another request on its channel is still
   * out, it waits in the browser, and a newer one replaces it there, so the kernel never computes
   * it once superseded. Requests that change kernel state must not set this.
   */
  skippable?: boolean;
  /** This request's timeout in ms (default: the transport's). */
  timeoutMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 120_000;

interface Pending {
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
  channel?: string;
  skippable: boolean;
  send?: () => void; // set while the request waits in the browser (not sent yet)
}

export class Transport {
  private model: AnyModel;
  private prefix = Math.random().toString(36).slice(2, 10);
  private counter = 0;
  private timeoutMs: number;
  private pending = new Map<string, Pending>();
  private latestOnChannel = new Map<string, string>();
  private inFlightOnChannel = new Map<string, string>(); // sent, reply not yet received
  private timers = new Map<string, ReturnType<typeof setTimeout>>(); // per sent request, until its reply
  private listener: (content: Json, buffers?: DataView[]) => void;

  constructor(model: AnyModel, options: TransportOptions = {}) {
    this.model = model;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.listener = (content: Json, buffers?: DataView[]) => this.onMessage(content, buffers ?? []);
    model.on("msg:custom", this.listener);
  }

  /**
   * Send `method(params)` to the kernel; resolves with its result and buffers. A request on a
   * named `channel` supersedes the previous one there (that one rejects with `StaleReply`).
   */
  request<T = Json>(method: string, params: Record<string, unknown> = {}, channel?: string, buffers?: ArrayBuffer[],
                   options: RequestOptions = {}): Promise<Reply<T>> {
    const id = `${this.prefix}-${++this.counter}`;
    const skippable = options.skippable === true && channel !== undefined;
    if (channel) {
      const previous = this.latestOnChannel.get(channel);
      if (previous) this.supersede(previous, channel);
      this.latestOnChannel.set(channel, id);
    }
    return new Promise<Reply<T>>((resolve, reject) => {
      const entry: Pending = { resolve, reject, channel, skippable };
      this.pending.set(id, entry);
      const send = () => {
        entry.send = undefined;
        if (channel) this.inFlightOnChannel.set(channel, id);
        const ms = options.timeoutMs ?? this.timeoutMs;
        this.timers.set(id, setTimeout(() => this.timeOut(id, method, ms, channel), ms));
        this.model.send({ kind: "cw:req", id, method, params }, undefined, buffers);
      };
      if (skippable && channel !== undefined && this.inFlightOnChannel.has(channel)) entry.send = send; // sent when the channel frees
      else send();
    });
  }

  /** Whether a request on `channel` is still waiting for its reply. */
  busy(channel: string): boolean {
    const id = this.latestOnChannel.get(channel);
    return id !== undefined && this.pending.has(id);
  }

  private supersede(id: string, channel: string): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    entry.reject(new StaleReply(channel));
    if (entry.send) {
      entry.send = undefined; // never sent: the kernel never sees it
    } else if (entry.skippable) {
      // already out: the kernel need not compute it if it has not started; its timer stays, so
      // a reply that never comes still frees the channel
      this.model.send({ kind: "cw:cancel", id });
    }
  }

  private timeOut(id: string, method: string, ms: number, channel?: string): void {
    this.timers.delete(id);
    const entry = this.pending.get(id);
    if (entry) {
      this.pending.delete(id);
      entry.reject(new RequestTimeout(method, ms));
      this.model.send({ kind: "cw:cancel", id });
    }
    this.release(id, channel);
  }

  /** The request `id` on `channel` is no longer out: send the one waiting there, if any. */
  private release(id: string, channel?: string): void {
    if (!channel || this.inFlightOnChannel.get(channel) !== id) return;
    this.inFlightOnChannel.delete(channel);
    const waiting = this.pending.get(this.latestOnChannel.get(channel) ?? "");
    if (waiting?.send) waiting.send();
  }

  private onMessage(content: Json, buffers: DataView[]): void {
    if (content?.kind !== "cw:res") return;
    const waiting = this.pending.get(content.id);
    if (waiting) this.pending.delete(content.id);
    const timer = this.timers.get(content.id);
    clearTimeout(timer);
    this.timers.delete(content.id);
    for (const [channel, id] of this.inFlightOnChannel) if (id === content.id) this.release(id, channel);
    if (!waiting) return; // another view's request, or a superseded one
    if (content.ok) waiting.resolve({ result: content.result, buffers });
    else waiting.reject(new Error(content.error ?? "request failed"));
  }

  dispose(): void {
    this.model.off("msg:custom", this.listener);
    for (const p of this.pending.values()) p.reject(new Error("widget closed"));
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.pending.clear();
    this.timers.clear();
    this.inFlightOnChannel.clear();
  }
}
