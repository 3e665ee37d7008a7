import { describe, expect, it } from "vitest";
import { StaleReply, Transport } from "../shared/transport";

// a stand-in for anywidget's model: records sent messages, lets the test deliver replies
function fakeModel() {
  const listeners: ((c: any, b?: DataView[]) => void)[] = [];
  const sent: any[] = [];
  return {
    sent,
    send: (content: any) => sent.push(content),
    on: (_e: string, cb: any) => listeners.push(cb),
    off: (_e?: string | null, cb?: any) => listeners.splice(listeners.indexOf(cb), 1),
    deliver: (c: any, b: DataView[] = []) => listeners.slice().forEach((l) => l(c, b)),
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
