import { describe, expect, it } from "vitest";
import { ModelListeners } from "../shared/listeners";

function fakeModel() {
  const handlers = new Map<string, Set<(...args: any[]) => void>>();
  return {
    handlers,
    send() {},
    on(event: string, cb: (...args: any[]) => void) {
      if (!handlers.has(event)) handlers.set(event, new Set());
      handlers.get(event)!.add(cb);
    },
    off(event?: string | null, cb?: ((...args: any[]) => void) | null) {
      if (event && cb) handlers.get(event)?.delete(cb);
    },
    emit(event: string, ...args: unknown[]) {
      for (const cb of handlers.get(event) ?? []) cb(...args);
    },
  };
}

describe("ModelListeners", () => {
  it("removes every handler it added, and only those", () => {
    const model = fakeModel();
    const other = () => {};
    model.on("change:height", other);
    const seen: unknown[] = [];
    const listeners = new ModelListeners(model);
    listeners.on("change:height", (v) => seen.push(v));
    listeners.on("msg:custom", (v) => seen.push(v));
    model.emit("change:height", 1);
    model.emit("msg:custom", "m");
    expect(seen).toEqual([1, "m"]);
    listeners.dispose();
    model.emit("change:height", 2);
    model.emit("msg:custom", "n");
    expect(seen).toEqual([1, "m"]);
    expect([...(model.handlers.get("change:height") ?? [])]).toEqual([other]);
    listeners.dispose(); // a second dispose is harmless
  });
});
