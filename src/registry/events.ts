// core/v1 Event: Kubernetes' legacy (v1) event validation, the event table (LAST SEEN TYPE
// REASON OBJECT MESSAGE; wide adds SUBOBJECT SOURCE FIRST SEEN COUNT NAME) and field selectors.
import type { FieldCause, KubeObject, ResourceDef } from './types.ts';
import { humanDuration } from './printing.ts';
import { asRecord, dns1123SubdomainErrors, invalid, isRecord, qualifiedNameErrors, required } from './validation.ts';

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export const REPORTING_INSTANCE_LENGTH_LIMIT = 128;
export const ACTION_LENGTH_LIMIT = 128;
export const REASON_LENGTH_LIMIT = 128;
export const NOTE_LENGTH_LIMIT = 1024;

/** legacyValidateEvent as it applies to core/v1 (no further strict checks for this version). */
export function validateCoreEvent(obj: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  const ns = str(obj.metadata.namespace);
  const involved = asRecord(obj.involvedObject);
  const involvedNs = str(involved.namespace);
  const mismatch = (): FieldCause => invalid('involvedObject.namespace', involvedNs, 'does not match event.namespace');
  if (!str(obj.eventTime)) {
    if (!involvedNs) {
      if (ns !== '' && ns !== 'default') out.push(mismatch());
    } else if (ns !== involvedNs) out.push(mismatch());
  } else {
    if (!involvedNs && ns !== 'default' && ns !== 'kube-system') out.push(mismatch());
    const rc = str(obj.reportingComponent);
    if (!rc) out.push(required('reportingComponent'));
    for (const m of qualifiedNameErrors(rc)) out.push(invalid('reportingComponent', rc, m));
    const ri = str(obj.reportingInstance);
    if (!ri) out.push(required('reportingInstance'));
    if (ri.length > REPORTING_INSTANCE_LENGTH_LIMIT) out.push(invalid('reportingInstance', '', `can have at most ${REPORTING_INSTANCE_LENGTH_LIMIT} characters`));
    const action = str(obj.action);
    if (!action) out.push(required('action'));
    if (action.length > ACTION_LENGTH_LIMIT) out.push(invalid('action', '', `can have at most ${ACTION_LENGTH_LIMIT} characters`));
    const reason = str(obj.reason);
    if (!reason) out.push(required('reason'));
    if (reason.length > REASON_LENGTH_LIMIT) out.push(invalid('reason', '', `can have at most ${REASON_LENGTH_LIMIT} characters`));
    if (str(obj.message).length > NOTE_LENGTH_LIMIT) out.push(invalid('message', '', `can have at most ${NOTE_LENGTH_LIMIT} characters`));
  }
  for (const m of dns1123SubdomainErrors(ns)) out.push(invalid('namespace', ns, m));
  return out;
}

function since(ts: unknown, now: number): string {
  if (typeof ts !== 'string' || !ts) return '<unknown>';
  const t = Date.parse(ts);
  if (Number.isNaN(t) || t <= 0) return '<unknown>';
  return humanDuration(now - t);
}

/** The cells printEvent computes. */
export function eventTableCells(ev: KubeObject, now: number = Date.now()): {
  lastSeen: string;
  firstSeen: string;
  count: number;
  object: string;
  source: string;
} {
  let firstSeen = since(ev.firstTimestamp, now);
  if (!str(ev.firstTimestamp)) firstSeen = since(ev.eventTime, now);
  let lastSeen = since(ev.lastTimestamp, now);
  if (!str(ev.lastTimestamp)) lastSeen = firstSeen;
  let count = typeof ev.count === 'number' ? ev.count : 0;
  if (isRecord(ev.series)) {
    lastSeen = since(ev.series.lastObservedTime, now);
    count = typeof ev.series.count === 'number' ? ev.series.count : 0;
  } else if (count === 0) count = 1;
  const involved = asRecord(ev.involvedObject);
  const kind = str(involved.kind).toLowerCase();
  const object = str(involved.name) ? `${kind}/${str(involved.name)}` : kind;
  const source = asRecord(ev.source);
  const component = str(source.component) || str(ev.reportingComponent);
  const instance = str(source.host) || str(ev.reportingInstance);
  return { lastSeen, firstSeen, count, object, source: instance ? `${component}, ${instance}` : component };
}

export const events: ResourceDef = {
  group: '',
  version: 'v1',
  kind: 'Event',
  listKind: 'EventList',
  plural: 'events',
  singular: 'event',
  namespaced: true,
  shortNames: ['ev'],
  // core/v1 Events only get the generic path-segment name check.
  nameRule: 'pathSegment',
  modelName: 'CoreV1Event',
  allowCreateOnUpdate: true,
  generationFields: [],
  validate: validateCoreEvent,
  omitNameColumn: true,
  columns: [
    { name: 'Last Seen', type: 'string', priority: 0, description: 'The time at which the most recent occurrence of this event was recorded.', cell: (o) => eventTableCells(o).lastSeen },
    { name: 'Type', type: 'string', priority: 0, description: 'Type of this event (Normal, Warning), new types could be added in the future', cell: (o) => str(o.type) },
    { name: 'Reason', type: 'string', priority: 0, description: "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.", cell: (o) => str(o.reason) },
    { name: 'Object', type: 'string', priority: 0, description: 'The object that this event is about.', cell: (o) => eventTableCells(o).object },
    { name: 'Subobject', type: 'string', priority: 1, description: 'If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.', cell: (o) => str(asRecord(o.involvedObject).fieldPath) },
    { name: 'Source', type: 'string', priority: 1, description: 'The component reporting this event. Should be a short machine understandable string.', cell: (o) => eventTableCells(o).source },
    { name: 'Message', type: 'string', priority: 0, description: 'A human-readable description of the status of this operation.', cell: (o) => str(o.message).trim() },
    { name: 'First Seen', type: 'string', priority: 1, description: 'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)', cell: (o) => eventTableCells(o).firstSeen },
    { name: 'Count', type: 'string', priority: 1, description: 'The number of times this event has occurred.', cell: (o) => eventTableCells(o).count },
    { name: 'Name', type: 'string', format: 'name', priority: 1, description: 'Name must be unique within a namespace.', cell: (o) => str(o.metadata.name) },
  ],
  fieldSelectors: {
    'involvedObject.kind': (o) => str(asRecord(o.involvedObject).kind),
    'involvedObject.namespace': (o) => str(asRecord(o.involvedObject).namespace),
    'involvedObject.name': (o) => str(asRecord(o.involvedObject).name),
    'involvedObject.uid': (o) => str(asRecord(o.involvedObject).uid),
    'involvedObject.apiVersion': (o) => str(asRecord(o.involvedObject).apiVersion),
    'involvedObject.resourceVersion': (o) => str(asRecord(o.involvedObject).resourceVersion),
    'involvedObject.fieldPath': (o) => str(asRecord(o.involvedObject).fieldPath),
    reason: (o) => str(o.reason),
    reportingComponent: (o) => str(o.reportingComponent),
    source: (o) => str(asRecord(o.source).component) || str(o.reportingComponent),
    type: (o) => str(o.type),
  },
};
