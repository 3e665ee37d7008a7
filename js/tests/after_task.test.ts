import { describe, expect, it } from "vitest";
import { afterThisTask } from "../shared/after_task";

const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("afterThisTask", () => {
  it("calls once at the end of the task, however often it was asked, before any timer", async () => {
    const order: string[] = [];
    const send = afterThisTask(() => order.push("send"));
    setTimeout(() => order.push("timer"), 0);
    send();
    send();
    send();
    order.push("task ends");
    await nextTask();
    expect(order).toEqual(["task ends", "send", "timer"]);
  });

  it("calls again for a change in a later task", async () => {
    let calls = 0;
    const send = afterThisTask(() => calls++);
    send();
    await nextTask();
    send();
    await nextTask();
    expect(calls).toBe(2);
  });

  it("never calls once cancelled, even when asked in the same task", async () => {
    let calls = 0;
    const send = afterThisTask(() => calls++);
    send();
    send.cancel();
    send();
    await nextTask();
    expect(calls).toBe(0);
  });
});
