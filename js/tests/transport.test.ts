import { describe, expect, it, vi } from "vitest";
import { RequestTimeout, StaleReply, Transport } from "../shared/transport";

// a stand-in for anywidget's model: records sent messages, lets the test deliver replies
function fakeModel() {
  const listeners: ((c: any, b?: DataView[]) => void)[] = [];
  const sent: any[] = [];
  return {
    sent,
    send: (content: any) => sent.push(content),
    on: (_e: string, cb: any) => listeners.push(cb),
    off: (_e?: string | null, cb?: any) => listeners.splice(listeners.indexOf(cb), 1),
    deliver: (c: any, b: DataView[] = []) => {
      for (const l of listeners.slice()) l(c, b);
    },
    listeners,
  };
}

describe("transport", () => {
  it("matches replies to requests and passes buffers", async () => {
    const m = fakeModel();
    const t = new Transport(m);
    const p = t.request("page", { start: 0 });
    expect(m.sent[0]).toMatchObject({ kind: "cw:req", method: "page", params: { start: 0 } });
    const buf = new DataView(new ArrayBuffer(4));
    m.deliver({ kind: "cw:res", id: m.sent[0].id, ok: true, result: { n: 1 } }, [buf]);
    const reply = await p;
    expect(reply.result).toEqual({ n: 1 });
    expect(reply.buffers[0]).toBe(buf);
  });

  it("drops a superseded request on the same channel", async () => {
    const m = fakeModel();
    const t = new Transport(m);
    const first = t.request("page", { start: 0 }, "page");
    const second = t.request("page", { start: 100 }, "page");
    await expect(first).rejects.toBeInstanceOf(StaleReply);
    m.deliver({ kind: "cw:res", id: m.sent[0].id, ok: true, result: "old" }); // ignored
    expect(t.busy("page")).toBe(true);
    m.deliver({ kind: "cw:res", id: m.sent[1].id, ok: true, result: "new" });
    expect((await second).result).toBe("new");
    expect(t.busy("page")).toBe(false);
  });

  it("turns kernel errors into rejections and cleans up on dispose", async () => {
    const m = fakeModel();
    const t = new Transport(m);
    const p = t.request("summary", { column: "nope" });
    m.deliver({ kind: "cw:res", id: m.sent[0].id, ok: false, error: "ValueError: no column 'nope'" });
    await expect(p).rejects.toThrow("no column 'nope'");
    const pending = t.request("page");
    t.dispose();
    await expect(pending).rejects.toThrow("widget closed");
    expect(m.listeners.length).toBe(0);
  });
});

describe("transport: cancel and timeout", () => {
  it("keeps a superseded read-only request in the browser: the kernel never computes it", async () => {
    const m = fakeModel();
    const t = new Transport(m);
    const first = t.request("page", { start: 0 }, "page", undefined, { skippable: true });
    const second = t.request("page", { start: 100 }, "page", undefined, { skippable: true });
    const third = t.request("page", { start: 200 }, "page", undefined, { skippable: true });
    await expect(first).rejects.toBeInstanceOf(StaleReply);
    await expect(second).rejects.toBeInstanceOf(StaleReply);
    // only the first went out; it was superseded after it was sent, so the kernel is told
    expect(m.sent.map((s) => s.kind)).toEqual(["cw:req", "cw:cancel"]);
    expect(m.sent[1].id).toBe(m.sent[0].id);
    expect(t.busy("page")).toBe(true);
    m.deliver({ kind: "cw:res", id: m.sent[0].id, ok: true, result: "old" }); // frees the channel
    expect(m.sent[2]).toMatchObject({ kind: "cw:req", params: { start: 200 } }); // the latest, never the second
    m.deliver({ kind: "cw:res", id: m.sent[2].id, ok: true, result: "new" });
    expect((await third).result).toBe("new");
    expect(m.sent.length).toBe(3);
    expect(t.busy("page")).toBe(false);
  });

  it("sends a state-changing request at once even while a read is out", async () => {
    const m = fakeModel();
    const t = new Transport(m);
    const page = t.request("page", { start: 0 }, "page", undefined, { skippable: true });
    const view = t.request("view", { sort: [["a", true]] }, "page");
    await expect(page).rejects.toBeInstanceOf(StaleReply);
    expect(m.sent.map((s) => `${s.kind}:${s.method ?? ""}`)).toEqual(["cw:req:page", "cw:cancel:", "cw:req:view"]);
    m.deliver({ kind: "cw:res", id: m.sent[2].id, ok: true, result: "sorted" });
    expect((await view).result).toBe("sorted");
  });

  it("rejects with a clear error when the kernel never replies, and tells the kernel", async () => {
    vi.useFakeTimers();
    try {
      const m = fakeModel();
      const t = new Transport(m, { timeoutMs: 5_000 });
      const slow = t.request("page", { start: 0 }, "page", undefined, { skippable: true });
      const next = t.request("page", { start: 100 }, "page", undefined, { skippable: true });
      const check = expect(slow).rejects.toBeInstanceOf(StaleReply);
      vi.advanceTimersByTime(4_999);
      expect(m.sent.length).toBe(2); // the request and the first one's cancel
      vi.advanceTimersByTime(1);
      expect(m.sent[2]).toMatchObject({ kind: "cw:req", params: { start: 100 } }); // timeout freed the channel
      vi.advanceTimersByTime(5_000);
      await check;
      await expect(next).rejects.toBeInstanceOf(RequestTimeout);
      await expect(next).rejects.toThrow("no reply from the kernel to 'page' within 5 s");
      expect(m.sent[3]).toEqual({ kind: "cw:cancel", id: m.sent[2].id });
      const quick = t.request("summary", { column: "a" }, undefined, undefined, { timeoutMs: 10 });
      m.deliver({ kind: "cw:res", id: m.sent[4].id, ok: true, result: 1 });
      vi.advanceTimersByTime(100);
      expect((await quick).result).toBe(1); // a reply in time clears its timer
    } finally {
      vi.useRealTimers();
    }
  });
});
