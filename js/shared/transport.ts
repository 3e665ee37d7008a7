// One request/response transport for binary payloads, shared by every widget.
// Requests go out as anywidget custom messages; replies carry Arrow IPC or typed arrays as
// buffers. Data is only requested after render (Colab drops buffers sent with initial state).
// A request on a named channel supersedes the previous one on that channel: its reply is dropped.

export interface AnyModel {
  send(content: unknown, callbacks?: unknown, buffers?: ArrayBuffer[] | ArrayBufferView[]): void;
  on(event: string, cb: (...args: any[]) => void): void;
  off(event?: string | null, cb?: ((...args: any[]) => void) | null): void;
}

/** A widget's model with its synced traits typed (`T`: trait name → value as JSON). */
export interface WidgetModel<T extends object> extends AnyModel {
  get<K extends keyof T & string>(name: K): T[K];
  set<K extends keyof T & string>(name: K, value: T[K]): void;
  save_changes(): void;
}

export interface Reply<T = any> {
  result: T;
  buffers: DataView[];
}

export class StaleReply extends Error {
  constructor(channel: string) {
    super(`superseded request on channel ${channel}`);
    this.name = "StaleReply";
  }
}

interface Pending {
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
  channel?: string;
}

export class Transport {
  private model: AnyModel;
  private prefix = Math.random().toString(36).slice(2, 10);
  private counter = 0;
  private pending = new Map<string, Pending>();
  private latestOnChannel = new Map<string, string>();
  private listener: (content: any, buffers?: DataView[]) => void;

  constructor(model: AnyModel) {
    this.model = model;
    this.listener = (content: any, buffers?: DataView[]) => this.onMessage(content, buffers ?? []);
    model.on("msg:custom", this.listener);
  }

  /** Send `method(params)` to the kernel; resolves with its result and buffers. */
  request<T = any>(method: string, params: Record<string, unknown> = {}, channel?: string, buffers?: ArrayBuffer[]): Promise<Reply<T>> {
    const id = `${this.prefix}-${++this.counter}`;
    if (channel) {
      const previous = this.latestOnChannel.get(channel);
      if (previous && this.pending.has(previous)) {
        this.pending.get(previous)!.reject(new StaleReply(channel));
        this.pending.delete(previous);
      }
      this.latestOnChannel.set(channel, id);
    }
    return new Promise<Reply<T>>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, channel });
      this.model.send({ kind: "cw:req", id, method, params }, undefined, buffers);
    });
  }

  /** Whether a request on `channel` is still waiting for its reply. */
  busy(channel: string): boolean {
    const id = this.latestOnChannel.get(channel);
    return id !== undefined && this.pending.has(id);
  }

  private onMessage(content: any, buffers: DataView[]): void {
    if (!content || content.kind !== "cw:res") return;
    const waiting = this.pending.get(content.id);
    if (!waiting) return; // another view's request, or a superseded one
    this.pending.delete(content.id);
    if (content.ok) waiting.resolve({ result: content.result, buffers });
    else waiting.reject(new Error(content.error ?? "request failed"));
  }

  dispose(): void {
    this.model.off("msg:custom", this.listener);
    for (const p of this.pending.values()) p.reject(new Error("widget closed"));
    this.pending.clear();
  }
}
