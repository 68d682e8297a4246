// Polling until something holds, for tests against real servers and controllers.

export interface WaitOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Poll interval (default 20 ms). */
  everyMs?: number;
  /** Done on any truthy value (default: on anything but undefined and false). */
  truthy?: boolean;
}

/**
 * Call fn every `everyMs` until it returns a value that counts as done, and return that value.
 * A call that throws counts as not done (the last error is named when the wait times out).
 */
export async function waitUntil<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, o: WaitOptions = {}): Promise<T> {
  const deadline = Date.now() + (o.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (o.truthy ? v : v !== undefined && v !== false) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, o.everyMs ?? 20));
  }
}

/** waitUntil with positional timeout and interval, done on anything but undefined and false. */
export function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 20): Promise<T> {
  return waitUntil(what, fn, { timeoutMs, everyMs });
}
