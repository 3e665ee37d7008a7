// The mouse wheel belongs to the page until the user means the view: a notebook is scrolled
// constantly, and a 3D panel or a neuroglancer view that takes every wheel event zooms (or
// changes the slice) whenever the page scrolls past it. As map widgets do, the view takes the
// wheel after a click into it (until the pointer leaves it) or while Ctrl/⌘ is held (also a
// trackpad pinch); otherwise the event goes on to the page, and a one-line hint says how to zoom.
//
// Python switches it with the widget's `wheel` trait: "click" (this guard) or "always".

import type { WidgetModel } from "./transport";

export type WheelMode = "click" | "always";

type ModelLike = Pick<WidgetModel<{ wheel: WheelMode }>, "get" | "on" | "off">;

const HINT_MS = 1500;

/** The hint for this platform (⌘ on Apple keyboards). */
export function wheelHint(platform: string = typeof navigator === "undefined" ? "" : navigator.platform): string {
  const key = /Mac|iPhone|iPad/.test(platform) ? "⌘" : "Ctrl";
  return `Click to zoom with the wheel, or use ${key} + scroll`;
}

/** Whether a wheel event should reach the view. */
export function wheelReachesView(mode: WheelMode, armed: boolean, e: Pick<WheelEvent, "ctrlKey" | "metaKey">): boolean {
  return mode === "always" || armed || e.ctrlKey || e.metaKey;
}

/**
 * Guard `target` (the element that holds the view): unarmed wheel events stop at it, before the
 * view's own listeners, without `preventDefault`, so the browser scrolls the page. `mode` comes
 * from the model's `wheel` trait and follows its changes. Returns a function that removes the guard.
 *
 * Example: `const unguard = guardWheel(stage, model); ... unguard();`
 */
export function guardWheel(target: HTMLElement, model?: ModelLike | null): () => void {
  let armed = false;
  let hideTimer: ReturnType<typeof setTimeout> | undefined;
  const mode = (): WheelMode => (model?.get("wheel") === "always" ? "always" : "click");
  const hint = document.createElement("div");
  hint.className = "cw-wheel-hint";
  hint.textContent = wheelHint();
  Object.assign(hint.style, {
    position: "absolute", left: "50%", top: "50%", transform: "translate(-50%, -50%)", zIndex: "20",
    padding: "6px 12px", borderRadius: "4px", background: "rgba(0, 0, 0, 0.7)", color: "#fff",
    font: "13px/1.3 var(--jp-ui-font-family, system-ui, sans-serif)", whiteSpace: "nowrap",
    pointerEvents: "none", opacity: "0", transition: "opacity 0.2s",
  });
  if (!target.style.position) target.style.position = "relative"; // the hint sits over the view
  target.append(hint);

  const showHint = (on: boolean) => {
    clearTimeout(hideTimer);
    hint.style.opacity = on ? "1" : "0";
    if (on) hideTimer = setTimeout(() => (hint.style.opacity = "0"), HINT_MS);
  };
  const setArmed = (on: boolean) => {
    armed = on;
    target.dataset.wheel = mode() === "always" ? "always" : on ? "armed" : "page";
    if (on) showHint(false);
  };
  const onWheel = (e: WheelEvent) => {
    if (wheelReachesView(mode(), armed, e)) return;
    e.stopPropagation(); // the view never sees it; no preventDefault: the page scrolls
    showHint(true);
  };
  const onDown = () => setArmed(true);
  const onLeave = () => setArmed(false);
  const onDocDown = (e: Event) => {
    if (!target.contains(e.target as Node)) setArmed(false);
  };
  const onMode = () => setArmed(armed);

  target.addEventListener("wheel", onWheel, { capture: true, passive: true });
  target.addEventListener("pointerdown", onDown, true);
  target.addEventListener("pointerleave", onLeave);
  document.addEventListener("pointerdown", onDocDown, true);
  model?.on("change:wheel", onMode);
  setArmed(false);

  return () => {
    clearTimeout(hideTimer);
    target.removeEventListener("wheel", onWheel, { capture: true });
    target.removeEventListener("pointerdown", onDown, true);
    target.removeEventListener("pointerleave", onLeave);
    document.removeEventListener("pointerdown", onDocDown, true);
    model?.off("change:wheel", onMode);
    hint.remove();
  };
}
