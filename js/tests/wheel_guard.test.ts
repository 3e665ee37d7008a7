import { describe, expect, it } from "vitest";
import { wheelHint, wheelReachesView } from "../shared/wheel_guard";

const plain = { ctrlKey: false, metaKey: false };

describe("wheel guard", () => {
  it("lets the wheel reach the view only when meant", () => {
    expect(wheelReachesView("click", false, plain)).toBe(false); // the page scrolls
    expect(wheelReachesView("click", true, plain)).toBe(true); // after a click into the view
    expect(wheelReachesView("click", false, { ctrlKey: true, metaKey: false })).toBe(true); // Ctrl, or a pinch
    expect(wheelReachesView("click", false, { ctrlKey: false, metaKey: true })).toBe(true); // ⌘
    expect(wheelReachesView("always", false, plain)).toBe(true); // switched off from Python
  });

  it("names the platform's key in one line", () => {
    expect(wheelHint("MacIntel")).toBe("Click to zoom with the wheel, or use ⌘ + scroll");
    expect(wheelHint("Linux x86_64")).toBe("Click to zoom with the wheel, or use Ctrl + scroll");
    expect(wheelHint("Win32")).not.toContain("\n");
  });
});
