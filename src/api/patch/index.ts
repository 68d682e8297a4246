// The patch and server-side-apply engine of the API server, as pure functions.
//
// Content types (PATCH request bodies) → function:
//   application/json-patch+json            → applyJsonPatch
//   application/merge-patch+json           → applyMergePatch
//   application/strategic-merge-patch+json → applyStrategicMergePatch (415 via
//                                            strategicMergeUnsupported() when
//                                            !strategicMergeSupported(modelName))
//   application/apply-patch+yaml           → parseApplyPatch, then serverSideApply
// Every other write (create, update, the three patch types) → trackUpdate on the final object.
export { PatchError, strategicMergeUnsupported } from './errors.ts';
export type { PatchCause, PatchErrorReason } from './errors.ts';
export { applyJsonPatch, applyMergePatch, MAX_JSON_PATCH_OPERATIONS } from './json-patch.ts';
export { applyStrategicMergePatch, strategicMergeSupported } from './strategic.ts';
export {
  serverSideApply,
  trackUpdate,
  LAST_APPLIED_ANNOTATION,
  BEFORE_FIRST_APPLY,
  MAX_UPDATE_MANAGERS,
} from './managed.ts';
export type { ServerSideApplyOptions, TrackUpdateOptions } from './managed.ts';
export { parseApplyPatch } from './apply-body.ts';
export { FIELD_STRATEGIES, ATOMIC_STRUCTS } from './strategies.ts';
export type { FieldStrategy, PatchStrategy } from './strategies.ts';
