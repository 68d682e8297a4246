// The error every patch function throws for a client's mistake. The API layer turns it into a
// Kubernetes Status with this code, reason, message and (as details.causes) these causes.

export type PatchErrorReason =
  | 'BadRequest'
  | 'Invalid'
  | 'UnsupportedMediaType'
  | 'Conflict'
  | 'RequestEntityTooLarge';

export interface PatchCause {
  /** Kubernetes cause type: `FieldManagerConflict`, `UnexpectedServerResponse`, … */
  reason: string;
  /** Field path, e.g. `.spec.replicas` (empty when the cause names no field). */
  field: string;
  message: string;
}

export class PatchError extends Error {
  code: 400 | 409 | 413 | 415 | 422;
  reason: PatchErrorReason;
  causes?: PatchCause[];

  constructor(
    code: 400 | 409 | 413 | 415 | 422,
    reason: PatchErrorReason,
    message: string,
    causes?: PatchCause[],
  ) {
    super(message);
    this.name = 'PatchError';
    this.code = code;
    this.reason = reason;
    if (causes) this.causes = causes;
  }
}

/** 400 BadRequest: the patch document itself is malformed. */
export function badRequest(message: string): PatchError {
  return new PatchError(400, 'BadRequest', message);
}

/**
 * 422 as the apiserver answers a patch that is well-formed but cannot be applied (a failing JSON
 * patch `test`, a path that does not exist, …): Kubernetes' generic 422 Status, whose message is
 * fixed and whose single cause (type UnexpectedServerResponse) carries the underlying error.
 */
export function unprocessable(detail: string): PatchError {
  return new PatchError(
    422,
    'Invalid',
    'the server rejected our request due to an error in our request',
    [{ reason: 'UnexpectedServerResponse', field: '', message: detail }],
  );
}

/** The 415 Kubernetes answers a strategic merge patch to a kind it has no Go type for. */
export function strategicMergeUnsupported(): PatchError {
  return new PatchError(
    415,
    'UnsupportedMediaType',
    'the body of the request was in an unknown format - accepted media types include: ' +
      'application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
  );
}

/**
 * Runs `fn`, turning a stack overflow (a document nested deeper than the engines can walk)
 * into 400 BadRequest instead of an internal error.
 */
export function guardDepth<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof RangeError) throw badRequest('the object is nested too deeply');
    throw e;
  }
}
