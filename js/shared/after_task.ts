// Coalesce calls made in one task into one call at its end (a microtask).

/**
 * Call `send` once at the end of the current task, however often the returned function is called in
 * it: the changes of one user action coalesce, and the state leaves before the page renders a
 * frame or runs the next task (a timer would wait behind the frame neuroglancer draws for the
 * change: up to 80 ms on a loaded machine), and before the data requests the change causes.
 *
 * Example:
 *   const onChange = afterThisTask(() => sender.changed());
 *   state.changed.add(onChange); // later: onChange.cancel()
 */
export function afterThisTask(send: () => void): (() => void) & { cancel(): void } {
  let queued = false;
  let cancelled = false;
  const schedule = () => {
    if (queued || cancelled) return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      if (!cancelled) send();
    });
  };
  return Object.assign(schedule, { cancel: () => { cancelled = true; } });
}
