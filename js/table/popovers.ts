// The TableBrowser's popovers: a column's filter (pick list with counts, min/max range, or
// "contains" text, whichever the kernel's summary offers) and the columns menu.
import { el } from "../shared/dom";
import type { Transport } from "../shared/transport";
import type { Column, FilterSpec, Model } from "./traits";

/** The filter popover of column `c`; `apply(spec)` sets (or, with null, clears) its filter. */
export function filterPopover(c: Column, current: FilterSpec | undefined, transport: Transport, apply: (spec: FilterSpec | null) => void): HTMLDivElement {
  const pop = el("div", "cw-popover cw-filter");
  pop.dataset.column = c.name;
  pop.append(el("div", "cw-pop-title", `Filter ${c.name}`));
  const body = el("div", "cw-pop-body", "Loading…");
  const actions = el("div", "cw-pop-actions");
  const applyButton = el("button", "cw-button cw-apply", "Apply");
  const clear = el("button", "cw-button cw-clear", "Clear");
  clear.addEventListener("click", () => apply(null));
  actions.append(clear, applyButton);
  pop.append(body, actions);
  transport
    .request("summary", { column: c.name })
    .then(({ result }) => {
      body.replaceChildren();
      if (result.values) pickList(body, applyButton, result, current, apply);
      else if (result.min !== undefined) rangeInputs(body, applyButton, result, current, apply);
      else containsInput(body, applyButton, current, apply);
    })
    .catch((err) => {
      body.textContent = String(err.message ?? err);
    });
  return pop;
}

type Summary = { values?: [string | number | boolean | null, number][]; truncated?: boolean; min?: string | null; max?: string | null };

function pickList(body: HTMLElement, applyButton: HTMLButtonElement, result: Summary, current: FilterSpec | undefined, apply: (spec: FilterSpec | null) => void): void {
  const values = result.values ?? [];
  const chosen = new Set<string>(current?.kind === "in" ? current.values.map((v) => JSON.stringify(v)) : []);
  const list = el("div", "cw-picklist");
  for (const [value, count] of values) {
    const label = el("label", "cw-pick");
    const box = el("input");
    box.type = "checkbox";
    box.checked = chosen.has(JSON.stringify(value));
    box.dataset.value = JSON.stringify(value);
    label.append(box, el("span", "cw-pick-value", value === null ? "(missing)" : String(value)), el("span", "cw-pick-count", count.toLocaleString("en-US")));
    list.append(label);
  }
  if (result.truncated) list.append(el("div", "cw-note", `showing the ${values.length} most frequent values`));
  body.append(list);
  applyButton.onclick = () => {
    const picked = Array.from(list.querySelectorAll<HTMLInputElement>("input:checked")).map((b) => JSON.parse(b.dataset.value ?? "null"));
    apply(picked.length ? { kind: "in", values: picked } : null);
  };
}

function rangeInputs(body: HTMLElement, applyButton: HTMLButtonElement, result: Summary, current: FilterSpec | undefined, apply: (spec: FilterSpec | null) => void): void {
  const min = el("input", "cw-min");
  const max = el("input", "cw-max");
  min.placeholder = `min ${result.min ?? ""}`;
  max.placeholder = `max ${result.max ?? ""}`;
  if (current?.kind === "range") {
    min.value = current.min === null ? "" : String(current.min);
    max.value = current.max === null ? "" : String(current.max);
  }
  body.append(min, el("span", "cw-dash", "–"), max);
  applyButton.onclick = () => {
    const lo = min.value.trim() || null;
    const hi = max.value.trim() || null;
    apply(lo === null && hi === null ? null : { kind: "range", min: lo, max: hi });
  };
}

function containsInput(body: HTMLElement, applyButton: HTMLButtonElement, current: FilterSpec | undefined, apply: (spec: FilterSpec | null) => void): void {
  const text = el("input", "cw-contains");
  text.placeholder = "contains…";
  if (current?.kind === "contains") text.value = current.text;
  body.append(text);
  text.focus();
  applyButton.onclick = () => apply(text.value ? { kind: "contains", text: text.value } : null);
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter") applyButton.click();
  });
}

/** Checkboxes that show and hide columns (the `hidden_columns` trait, in column order). */
export function columnsMenu(model: Model, columns: () => Column[]): HTMLDivElement {
  const pop = el("div", "cw-popover cw-columns");
  const hidden = new Set<string>(model.get("hidden_columns") ?? []);
  for (const c of columns()) {
    const label = el("label", "cw-pick");
    const box = el("input");
    box.type = "checkbox";
    box.checked = !hidden.has(c.name);
    box.addEventListener("change", () => {
      const now = new Set<string>(model.get("hidden_columns") ?? []);
      if (box.checked) now.delete(c.name);
      else now.add(c.name);
      model.set(
        "hidden_columns",
        columns()
          .map((k) => k.name)
          .filter((n) => now.has(n)),
      );
      model.save_changes();
    });
    label.append(box, el("span", "cw-pick-value", c.name));
    pop.append(label);
  }
  return pop;
}
