// A view's model listeners, remembered so that dispose() removes them all: a re-rendered cell
// (or a closed output) leaves no handler behind on the shared model.
import type { AnyModel, Json } from "./transport";

export class ModelListeners {
  private list: [string, (...args: Json[]) => void][] = [];

  constructor(private model: AnyModel) {}

  /** `model.on(event, handler)`, undone by {@link dispose}. */
  on(event: string, handler: (...args: Json[]) => void): void {
    this.model.on(event, handler);
    this.list.push([event, handler]);
  }

  dispose(): void {
    for (const [event, handler] of this.list) this.model.off(event, handler);
    this.list = [];
  }
}
