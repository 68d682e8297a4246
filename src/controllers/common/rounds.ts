// A round of a workload controller (StatefulSet, DaemonSet): the actions the pure algorithm
// computed are carried out batch by batch (each batch with bounded concurrency); after a batch
// in which anything failed the rest is skipped and the key is retried with rate-limited backoff;
// then the status is written when it changed, and the round fails with what went wrong.
import { isNotFound } from '../../client/rest.ts';
import { mapLimit } from './concurrency.ts';
import type { ActionError } from './errors.ts';

export interface ActionFailure {
  /** The action, described for logs. */
  action: string;
  error: ActionError;
}

export interface BatchOptions<A, R> {
  concurrency: number;
  signal: AbortSignal;
  /** Carry out one action; never rejects (its outcome says how it went). */
  execute(action: A): Promise<R>;
  /** Record an outcome (events); a failure the round must be retried for, or undefined. */
  settle(action: A, outcome: R): ActionFailure | undefined;
}

/** Carry out batches in order; returns the failures of the batch that stopped the round. */
export async function carryOutBatches<A, R>(batches: Iterable<A[]>, o: BatchOptions<A, R>): Promise<ActionFailure[]> {
  const failures: ActionFailure[] = [];
  for (const batch of batches) {
    const outcomes = await mapLimit(batch, o.concurrency, (a) => o.execute(a));
    if (o.signal.aborted) break; // stopping: the failures are ours, not the cluster's
    batch.forEach((a, i) => {
      const f = o.settle(a, outcomes[i]);
      if (f) failures.push(f);
    });
    if (failures.length > 0) break;
  }
  return failures;
}

export interface FinishOptions {
  statusChanged: boolean;
  signal: AbortSignal;
  writeStatus(): Promise<void>;
  /** Called once the round is over, before it fails. */
  counted(): void;
  failures: ActionFailure[];
  roundError(failures: ActionFailure[]): Error;
}

/** Write the status when it changed (a set deleted meanwhile is no error), count the round, then
 *  fail it with its action failures, else with a failed status write. */
export async function finishRound(o: FinishOptions): Promise<void> {
  let statusError: unknown;
  if (o.statusChanged && !o.signal.aborted) {
    try {
      await o.writeStatus();
    } catch (e) {
      if (!isNotFound(e)) statusError = e;
    }
  }
  o.counted();
  if (o.failures.length > 0) throw o.roundError(o.failures);
  if (statusError) throw statusError;
}
