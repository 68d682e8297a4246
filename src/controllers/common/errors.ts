// Errors of the controllers' acting layers: the text of anything thrown, the error of one
// action as the algorithm sees it, and the failure of a round of actions (retried with backoff).
import { ApiStatusError } from '../../client/rest.ts';

export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Why an action failed. */
export interface ActionError {
  message: string;
  /** e.g. AlreadyExists, NotFound, Conflict */
  reason?: string;
}

export function toActionError(e: unknown): ActionError {
  if (e instanceof ApiStatusError) return { message: e.message, reason: e.reason };
  return { message: errText(e) };
}

/** A round failed after some actions: the key is retried with backoff. */
export class RoundFailure extends Error {
  constructor(
    /** e.g. StatefulSet */
    kind: string,
    readonly setKey: string,
    readonly failures: { action: string; error: ActionError }[],
  ) {
    super(`sync of ${kind} ${setKey} failed: ${failures.map((f) => `${f.action}: ${f.error.message}`).join('; ')}`);
    this.name = 'RoundFailure';
  }
  /** Every failure is a create that found the object already there (a stale cache). */
  get onlyStaleCache(): boolean {
    return this.failures.every((f) => f.error.reason === 'AlreadyExists');
  }
}
