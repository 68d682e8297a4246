// RFC 6902 JSON patch (application/json-patch+json) and RFC 7386 JSON merge patch
// (application/merge-patch+json), with the status codes the Kubernetes apiserver answers:
// a patch body that is not a JSON patch at all is 400 BadRequest; a JSON patch whose operations
// cannot be applied (unknown op, missing field, failing `test`, path not found, index out of
// range) is 422 with the fixed message "the server rejected our request due to an error in our
// request" and the detail as its cause; more than 10,000 operations is 413.
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { PatchError, badRequest, guardDepth, unprocessable } from './errors.ts';
import { clone, getOwn, isObject, setKey, type JsonObject } from './json.ts';

const { applyPatch, JsonPatchError } = fastJsonPatch;

/** Kubernetes' cap on the operations of one JSON patch. */
export const MAX_JSON_PATCH_OPERATIONS = 10000;

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

function checkOperation(op: JsonObject, i: number): void {
  const kind = op.op;
  if (typeof kind !== 'string' || !OPS.has(kind)) {
    throw unprocessable(`Unexpected kind: ${typeof kind === 'string' ? kind : 'unknown'}`);
  }
  if (typeof op.path !== 'string') throw unprocessable(`${kind} operation, missing path field`);
  if (op.path !== '' && !op.path.startsWith('/')) {
    throw unprocessable(`${kind} operation, path ${JSON.stringify(op.path)} is not a JSON pointer (operation ${i})`);
  }
  if ((kind === 'add' || kind === 'replace' || kind === 'test') && !Object.hasOwn(op, 'value')) {
    throw unprocessable(`${kind} operation, missing value field`);
  }
  if (kind === 'move' || kind === 'copy') {
    if (typeof op.from !== 'string') throw unprocessable(`${kind} operation, missing from field`);
    if (op.from !== '' && !op.from.startsWith('/')) {
      throw unprocessable(`${kind} operation, from ${JSON.stringify(op.from)} is not a JSON pointer`);
    }
  }
}

function describeFailure(e: InstanceType<typeof JsonPatchError>): string {
  const op = (e.operation ?? {}) as Partial<Record<'op' | 'path' | 'from', string>>;
  const kind = op.op ?? 'unknown';
  switch (e.name) {
    case 'TEST_OPERATION_FAILED':
      return `testing value ${op.path} failed: test failed`;
    case 'OPERATION_FROM_UNRESOLVABLE':
      return `${kind} operation does not apply: doc is missing from path: ${op.from}: missing value`;
    case 'OPERATION_VALUE_OUT_OF_BOUNDS':
    case 'OPERATION_PATH_ILLEGAL_ARRAY_INDEX':
      return `${kind} operation does not apply: doc is missing path: ${JSON.stringify(op.path)}: invalid index referenced`;
    case 'OPERATION_PATH_UNRESOLVABLE':
    case 'OPERATION_PATH_CANNOT_ADD':
      return `${kind} operation does not apply: doc is missing path: ${JSON.stringify(op.path)}: missing value`;
    default:
      return `${kind} operation does not apply: ${e.message.split('\n')[0]}`;
  }
}

/**
 * Applies an RFC 6902 JSON patch to a copy of `doc`. Throws PatchError (400 for a body that is
 * not a list of operation objects, 413 beyond 10,000 operations, 422 for operations that do not
 * apply).
 */
export function applyJsonPatch(doc: unknown, patch: unknown): unknown {
  return guardDepth(() => applyJsonPatchImpl(doc, patch));
}

function applyJsonPatchImpl(doc: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) {
    const what = patch === null ? 'null' : isObject(patch) ? 'object' : typeof patch;
    throw badRequest(`json: cannot unmarshal ${what} into Go value of type jsonpatch.Patch`);
  }
  for (const op of patch) {
    if (!isObject(op)) {
      throw badRequest('json: cannot unmarshal non-object into Go value of type jsonpatch.Operation');
    }
  }
  if (patch.length > MAX_JSON_PATCH_OPERATIONS) {
    throw new PatchError(
      413,
      'RequestEntityTooLarge',
      `The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${patch.length}`,
    );
  }
  (patch as JsonObject[]).forEach(checkOperation);
  const ops = clone(patch) as Operation[];
  try {
    return applyPatch(clone(doc), ops, true, true, true).newDocument;
  } catch (e) {
    if (e instanceof JsonPatchError) throw unprocessable(describeFailure(e));
    throw unprocessable(e instanceof Error ? e.message : String(e));
  }
}

function mergeInto(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else setKey(out, k, mergeInto(getOwn(out, k), v));
  }
  return out;
}

/**
 * Applies an RFC 7386 JSON merge patch: objects merge recursively, `null` deletes a key, any
 * other value (arrays included) replaces. The patch must be a JSON object (Kubernetes answers
 * 400 "Invalid JSON Patch" otherwise). `doc` is not modified; with `shareDoc` the result shares
 * the parts the patch leaves alone with it (no copy of `doc` is made), never with `patch`.
 */
export function applyMergePatch(doc: unknown, patch: unknown, opts: { shareDoc?: boolean } = {}): unknown {
  return guardDepth(() => applyMergePatchImpl(doc, patch, opts.shareDoc === true));
}

function applyMergePatchImpl(doc: unknown, patch: unknown, shareDoc: boolean): unknown {
  if (!isObject(patch)) throw badRequest('Invalid JSON Patch');
  // mergeInto copies the objects along the patched paths and never writes into `doc`: without
  // the clone the result shares the parts the patch leaves alone with `doc`.
  return mergeInto(shareDoc ? doc : clone(doc), patch);
}
