// Kubernetes Status objects and the ApiError that carries one through the handlers.
import type { FieldCause } from '../registry/types.ts';
import { isStoreError } from '../store/types.ts';

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: { reason?: string; message?: string; field?: string }[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details?: StatusDetails;
  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
  toStatus(): Status {
    const s: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, code: this.code };
    if (this.details) s.details = this.details;
    return s;
  }
}

/** The `pods` / `statefulsets.apps` form Kubernetes uses in messages. */
export function qualifiedResource(group: string, plural: string): string {
  return group ? `${plural}.${group}` : plural;
}

export const errors = {
  notFound(group: string, plural: string, name: string): ApiError {
    return new ApiError(404, 'NotFound', `${qualifiedResource(group, plural)} "${name}" not found`, { name, group: group || undefined, kind: plural });
  },
  alreadyExists(group: string, plural: string, name: string): ApiError {
    return new ApiError(409, 'AlreadyExists', `${qualifiedResource(group, plural)} "${name}" already exists`, { name, group: group || undefined, kind: plural });
  },
  conflict(group: string, plural: string, name: string, detail: string): ApiError {
    return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(group, plural)} "${name}": ${detail}`, {
      name,
      group: group || undefined,
      kind: plural,
    });
  },
  invalid(group: string, kind: string, name: string, causes: FieldCause[]): ApiError {
    const msgs = causes.map((c) => `${c.field}: ${c.message}`);
    const summary = msgs.length === 1 ? msgs[0] : `[${msgs.join(', ')}]`;
    return new ApiError(422, 'Invalid', `${kind}${group ? '.' + group : ''} "${name}" is invalid: ${summary}`, {
      name,
      group: group || undefined,
      kind,
      causes: causes.map((c) => ({ reason: c.reason, message: c.message, field: c.field })),
    });
  },
  badRequest(message: string): ApiError {
    return new ApiError(400, 'BadRequest', message);
  },
  methodNotAllowed(message = 'the server does not allow this method on the requested resource'): ApiError {
    return new ApiError(405, 'MethodNotAllowed', message);
  },
  unsupportedMediaType(contentType: string): ApiError {
    return new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got ${JSON.stringify(contentType)})`);
  },
  notAcceptable(): ApiError {
    return new ApiError(406, 'NotAcceptable', 'the server was unable to respond with a content type that the client supports');
  },
  tooLarge(limit: number): ApiError {
    return new ApiError(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limit}`);
  },
  unauthorized(): ApiError {
    return new ApiError(401, 'Unauthorized', 'Unauthorized');
  },
  forbidden(message: string, details?: StatusDetails): ApiError {
    return new ApiError(403, 'Forbidden', message, details);
  },
  gone(message: string): ApiError {
    return new ApiError(410, 'Expired', message);
  },
  internal(message: string): ApiError {
    return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`);
  },
  unavailable(message: string): ApiError {
    return new ApiError(503, 'ServiceUnavailable', message);
  },
  timeout(message: string): ApiError {
    return new ApiError(504, 'Timeout', message);
  },
};

/** Map any thrown value to an ApiError (store errors to their Kubernetes equivalents). */
export function toApiError(err: unknown, ctx: { group?: string; plural?: string; name?: string } = {}): ApiError {
  if (err instanceof ApiError) return err;
  const g = ctx.group ?? '';
  const p = ctx.plural ?? '';
  const n = ctx.name ?? '';
  if (isStoreError(err)) {
    switch (err.code) {
      case 'NotFound':
        return errors.notFound(g, p, n);
      case 'AlreadyExists':
        return errors.alreadyExists(g, p, n);
      case 'Conflict':
        return errors.conflict(g, p, n, 'the object has been modified; please apply your changes to the latest version and try again');
      case 'Compacted':
        return errors.gone(`The resourceVersion for the provided list is too old.`);
      case 'FutureRevision':
        return errors.timeout(`Too large resource version: ${err.message}`);
      case 'InvalidContinue':
        return errors.badRequest(`The provided continue parameter is invalid: ${err.message}`);
      case 'ValueTooLarge':
        return new ApiError(413, 'RequestEntityTooLarge', `Request entity too large: ${err.message}`);
      case 'InvalidKey':
      case 'InvalidValue':
        return errors.badRequest(err.message);
      case 'Unavailable':
        return errors.unavailable(`storage is unavailable: ${err.message}`);
    }
  }
  // A body that blows the stack (absurd nesting that slipped past the depth check) is the
  // client's mistake, not the server's.
  if (err instanceof RangeError && /call stack/.test(err.message)) return errors.badRequest('the request body is nested too deeply');
  return errors.internal(err instanceof Error ? err.message : String(err));
}

export function successStatus(details?: StatusDetails): Status {
  const s: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200 };
  if (details) s.details = details;
  return s;
}
