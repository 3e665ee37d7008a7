// The saved notebook's picture of a view, taken without stalling the page.
//
// neuroglancer's screenshot (its ScreenshotHandler) reads the whole canvas back with toDataURL and
// PNG-encodes it on the main thread: with a software GPU (SwiftShader, as in CI and on many
// remote desktops) that froze JupyterLab for 0.3–2 s per refresh, the largest main-thread cost
// of a viewer session in the benchmark's profile. The wait is the read-back (the GPU must finish
// the frame), not the encoding: doing it with an OffscreenCanvas on the page still blocked the
// main thread as long. So the picture is copied with createImageBitmap right after a draw (taken
// in that task, while the drawing buffer still holds the frame; the copy stays on the GPU),
// shrunk, and handed to a worker, which reads it back and encodes it. The snapshot only needs a
// small picture; `viewer.screenshot()` keeps neuroglancer's full-size path.

/** What the thumbnailer needs of a neuroglancer viewer. */
export interface ThumbnailSource {
  isReady(): boolean;
  display: {
    canvas: HTMLCanvasElement;
    draw(): void;
    updateFinished: { add(fn: () => void): () => void };
  };
}

/** Answers thumbnail requests from the kernel, newest only. */
export class Thumbnailer {
  private wanted: { id: string; width: number } | null = null;
  private readyOnce = false;
  private scheduled = false;
  private readonly unlisten: () => void;

  constructor(
    private readonly viewer: ThumbnailSource,
    private readonly send: (id: string, png: Uint8Array) => void,
  ) {
    this.unlisten = viewer.display.updateFinished.add(this.schedule);
  }

  /** Take a picture at most `width` px wide once the view is drawn; `null` withdraws the request. */
  request(id: string | null, width: number): void {
    this.wanted = id === null ? null : { id, width };
    this.readyOnce = false;
    this.schedule();
  }

  dispose(): void {
    this.wanted = null;
    this.unlisten();
  }

  private schedule = (): void => {
    if (this.scheduled || this.wanted === null) return;
    this.scheduled = true;
    setTimeout(this.check, 0);
  };

  private check = (): void => {
    this.scheduled = false;
    const wanted = this.wanted;
    if (wanted === null) return;
    // ready, and still ready once the pending events ran (as neuroglancer's ScreenshotHandler
    // asks: deferred code may still be adding layers when the viewer first says it is ready)
    if (!this.viewer.isReady()) {
      this.readyOnce = false;
      return; // the next finished frame asks again
    }
    if (!this.readyOnce) {
      this.readyOnce = true;
      this.schedule();
      return;
    }
    this.wanted = null;
    this.capture(wanted).catch((err) => console.warn("cavewidgets: snapshot picture failed", err));
  };

  private async capture({ id, width }: { id: string; width: number }): Promise<void> {
    const { canvas } = this.viewer.display;
    this.viewer.display.draw();
    const scale = Math.min(1, width / Math.max(1, canvas.width));
    const w = Math.max(1, Math.round(canvas.width * scale));
    const h = Math.max(1, Math.round(canvas.height * scale));
    const bitmap = await createImageBitmap(canvas, { resizeWidth: w, resizeHeight: h, resizeQuality: "medium" });
    this.send(id, await encodeOffThread(bitmap));
  }
}

// ---------- PNG encoding in a worker (one per page) ----------
const ENCODER_SOURCE = `
onmessage = async (event) => {
  const { id, bitmap } = event.data;
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    canvas.getContext("bitmaprenderer").transferFromImageBitmap(bitmap);
    const buf = await (await canvas.convertToBlob({ type: "image/png" })).arrayBuffer();
    postMessage({ id, buf }, [buf]);
  } catch (err) {
    postMessage({ id, error: String(err) });
  }
};`;

let encoder: { worker: Worker; waiting: Map<number, (reply: { buf?: ArrayBuffer; error?: string }) => void>; next: number } | null = null;

/** PNG bytes of `bitmap` (which is transferred, so closed here), encoded by a worker. */
export function encodeOffThread(bitmap: ImageBitmap): Promise<Uint8Array> {
  if (encoder === null) {
    const url = URL.createObjectURL(new Blob([ENCODER_SOURCE], { type: "text/javascript" }));
    const worker = new Worker(url);
    URL.revokeObjectURL(url);
    const waiting = new Map<number, (reply: { buf?: ArrayBuffer; error?: string }) => void>();
    worker.onmessage = (event: MessageEvent) => {
      const done = waiting.get(event.data.id);
      waiting.delete(event.data.id);
      done?.(event.data);
    };
    encoder = { worker, waiting, next: 0 };
  }
  const { worker, waiting } = encoder;
  const id = ++encoder.next;
  return new Promise((resolve, reject) => {
    waiting.set(id, ({ buf, error }) => (buf ? resolve(new Uint8Array(buf)) : reject(new Error(error ?? "no picture"))));
    worker.postMessage({ id, bitmap }, [bitmap]);
  });
}
