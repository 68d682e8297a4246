// Time for the controller framework, injected so work-queue backoff, resyncs and leader
// election can be tested deterministically. `realClock` is the system clock; `FakeClock` only
// moves when a test calls advance().

export interface TimerHandle {
  /** Opaque. */
  readonly id: number;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Run fn once after ms milliseconds. Real timers are unref'd: they never keep a process alive. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

class RealClock implements Clock {
  private next = 1;
  private readonly timers = new Map<number, NodeJS.Timeout>();
  now(): number {
    return Date.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.next++;
    const t = setTimeout(() => {
      this.timers.delete(id);
      fn();
    }, Math.max(0, ms));
    t.unref();
    this.timers.set(id, t);
    return { id };
  }
  clearTimeout(handle: TimerHandle): void {
    const t = this.timers.get(handle.id);
    if (t) {
      clearTimeout(t);
      this.timers.delete(handle.id);
    }
  }
}

export const realClock: Clock = new RealClock();

interface FakeTimer {
  id: number;
  at: number;
  seq: number;
  fn: () => void;
}

/** A clock that moves only when told to. Timers fire in due order during advance()/set(). */
export class FakeClock implements Clock {
  private t: number;
  private next = 1;
  private seq = 0;
  private timers: FakeTimer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.next++;
    this.timers.push({ id, at: this.t + Math.max(0, ms), seq: this.seq++, fn });
    return { id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((x) => x.id !== handle.id);
  }

  /** Timers not yet fired. */
  pending(): number {
    return this.timers.length;
  }

  /** When the earliest pending timer is due, or undefined. */
  nextDue(): number | undefined {
    let min: number | undefined;
    for (const x of this.timers) if (min === undefined || x.at < min) min = x.at;
    return min;
  }

  /** Move time forward by ms, firing every timer that falls due (in order, each at its time). */
  advance(ms: number): void {
    this.set(this.t + ms);
  }

  /** Move time to an absolute instant (never backwards), firing due timers in order. */
  set(to: number): void {
    for (;;) {
      let due: FakeTimer | undefined;
      for (const x of this.timers) {
        if (x.at <= to && (!due || x.at < due.at || (x.at === due.at && x.seq < due.seq))) due = x;
      }
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      if (due.at > this.t) this.t = due.at;
      due.fn();
    }
    if (to > this.t) this.t = to;
  }
}

/** Resolve after ms on the given clock, or reject with the signal's reason when aborted. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(h);
      reject(abortReason(signal!));
    };
    const h = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new Error('aborted');
}
