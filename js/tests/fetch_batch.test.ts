import { describe, expect, it, vi } from "vitest";
import { BATCH_WINDOW_MS, FetchBatcher, viewBytes } from "../viewer/fetch_batch";

// a stand-in for anywidget's model: records sent messages, lets the test deliver answers
function fakeModel() {
  const listeners: ((c: any, b?: DataView[]) => void)[] = [];
  const sent: { content: any; buffers?: ArrayBuffer[] }[] = [];
  return {
    sent,
    send: (content: any, _cb?: unknown, buffers?: any) => sent.push({ content, buffers }),
    on: (_e: string, cb: any) => listeners.push(cb),
    off: (_e?: string | null, cb?: any) => listeners.splice(listeners.indexOf(cb), 1),
    deliver: (c: any, b: DataView[] = []) => {
      for (const l of listeners.slice()) l(c, b);
    },
  };
}

const tick = () => new Promise((r) => setTimeout(r, 0));
const window = () => new Promise((r) => setTimeout(r, BATCH_WINDOW_MS + 5)); // a batch window has passed
const get = (url: string) => ({ url, method: "GET", headers: {} });

describe("kernel data requests", () => {
  it("leave at once after a quiet spell, and together when they follow a batch closely", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "performance"] });
    try {
      const m = fakeModel();
      const b = new FetchBatcher(m);
      void b.fetch(get("http://127.0.0.1:1/first")).catch(() => undefined); // rejected by dispose() below
      await Promise.resolve(); // a microtask: a lone request does not wait
      expect(m.sent).toHaveLength(1);
      // three more tasks' requests within the window after it: one message when it ends
      for (const name of ["a", "b", "c"]) {
        vi.advanceTimersByTime(2);
        void b.fetch(get(`http://127.0.0.1:1/${name}`)).catch(() => undefined);
        await Promise.resolve();
      }
      expect(m.sent).toHaveLength(1);
      vi.advanceTimersByTime(BATCH_WINDOW_MS);
      expect(m.sent).toHaveLength(2);
      expect(m.sent[1].content.params.reqs.map((r: any) => r.url)).toEqual(["http://127.0.0.1:1/a", "http://127.0.0.1:1/b", "http://127.0.0.1:1/c"]);
      b.dispose();
      void b.fetch(get("http://127.0.0.1:1/after")).catch(() => undefined);
      vi.advanceTimersByTime(BATCH_WINDOW_MS * 2);
      await Promise.resolve();
      expect(m.sent).toHaveLength(2); // nothing leaves a closed viewer
    } finally {
      vi.useRealTimers();
    }
  });

  it("leave in one message per task and resolve from coalesced answers", async () => {
    const m = fakeModel();
    const b = new FetchBatcher(m);
    const post = { url: "http://127.0.0.1:1/c", method: "POST", headers: {}, body: new Uint8Array([7, 8]).buffer };
    const answers = [b.fetch(get("http://127.0.0.1:1/a")), b.fetch(get("http://127.0.0.1:1/b")), b.fetch(post)];
    await tick();
    expect(m.sent).toHaveLength(1);
    const { reqs, cancel } = m.sent[0].content.params;
    expect(m.sent[0].content).toMatchObject({ kind: "cw:req", method: "ng_fetch" });
    expect(reqs.map((r: any) => [r.url, r.body])).toEqual([["http://127.0.0.1:1/a", -1], ["http://127.0.0.1:1/b", -1], ["http://127.0.0.1:1/c", 0]]);
    expect(new Uint8Array(m.sent[0].buffers![0])).toEqual(new Uint8Array([7, 8]));
    expect(cancel).toEqual([]);
    const body = new DataView(new Uint8Array([1, 2, 3]).buffer);
    m.deliver(
      {
        kind: "cw:fetched",
        answers: [
          { id: reqs[1].id, status: 404, statusText: "NOT FOUND", headers: {}, buf: 1 },
          { id: reqs[0].id, status: 200, statusText: "OK", headers: { "content-type": "x" }, buf: 0 },
          { id: reqs[2].id, error: "PermissionError: no" },
        ],
      },
      [body, new DataView(new ArrayBuffer(0))],
    );
    const a = await answers[0];
    expect(a.status).toBe(200);
    expect(a.headers).toEqual({ "content-type": "x" });
    expect(a.body).toBe(body.buffer); // the message's own buffer, not a copy
    expect((await answers[1]).status).toBe(404);
    await expect(answers[2]).rejects.toThrow("PermissionError: no");
    expect(b.stats).toMatchObject({ batches: 1, requests: 3, answerMessages: 1 });
  });

  it("drops an aborted request before it leaves, and cancels one already sent", async () => {
    const m = fakeModel();
    const b = new FetchBatcher(m);
    const early = new AbortController();
    const late = new AbortController();
    const p1 = b.fetch(get("http://127.0.0.1:1/early"), early.signal);
    const p2 = b.fetch(get("http://127.0.0.1:1/late"), late.signal);
    early.abort();
    await expect(p1).rejects.toMatchObject({ name: "AbortError" });
    await tick();
    expect(m.sent[0].content.params.reqs.map((r: any) => r.url)).toEqual(["http://127.0.0.1:1/late"]);
    const lateId = m.sent[0].content.params.reqs[0].id;
    late.abort();
    await expect(p2).rejects.toMatchObject({ name: "AbortError" });
    await window();
    expect(m.sent[1].content.params).toEqual({ reqs: [], cancel: [lateId] });
    m.deliver({ kind: "cw:fetched", answers: [{ id: lateId, status: 200, headers: {}, buf: 0 }] }, [new DataView(new ArrayBuffer(1))]); // ignored
    expect(b.stats.answerMessages).toBe(0);
  });

  it("ignores answers for another view and rejects what is pending when closed", async () => {
    const m = fakeModel();
    const a = new FetchBatcher(m);
    const other = new FetchBatcher(m);
    const p = a.fetch(get("http://127.0.0.1:1/x"));
    await tick();
    m.deliver({ kind: "cw:fetched", answers: [{ id: "someone-else-1", status: 200, headers: {}, buf: 0 }] }, [new DataView(new ArrayBuffer(1))]);
    expect(other.stats.answerMessages).toBe(0);
    a.dispose();
    await expect(p).rejects.toThrow("closed");
  });

  it("copies a buffer only when the view is part of a larger one", () => {
    const whole = new ArrayBuffer(8);
    expect(viewBytes(new DataView(whole))).toBe(whole);
    const part = viewBytes(new DataView(whole, 2, 4));
    expect(part).not.toBe(whole);
    expect(part.byteLength).toBe(4);
    expect(viewBytes(undefined).byteLength).toBe(0);
  });
});
