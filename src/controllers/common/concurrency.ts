// Bounded-concurrency execution for the controllers' acting layers: a wave of writes runs with
// at most `limit` requests in flight.

/** Run fn over items with at most `limit` in flight; results in item order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, () => worker()));
  return out;
}

/** Run tasks with at most `limit` in flight. */
export async function runLimited(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  await mapLimit(tasks, limit, (task) => task());
}
