// events.k8s.io/v1 Event: a second view of core/v1 Events. Both APIs read and write the same
// stored objects (names, resourceVersions and watches are shared); this entry converts:
//
//   events.k8s.io/v1            core/v1
//   note                    ↔   message
//   regarding               ↔   involvedObject
//   related                 ↔   related
//   reportingController     ↔   reportingComponent
//   reportingInstance       ↔   reportingInstance
//   deprecatedSource        ↔   source
//   deprecatedFirstTimestamp ↔  firstTimestamp
//   deprecatedLastTimestamp ↔   lastTimestamp
//   deprecatedCount         ↔   count
//   series, eventTime, action, reason, type: same names
//
// Validation is Kubernetes' strict events.k8s.io/v1 validation (ValidateEventCreate/Update),
// reported with this API's field names.
import type { FieldCause, KubeObject, ObjectMeta, ResourceDef } from './types.ts';
import { asRecord, invalid, isRecord, qualifiedNameErrors, required, validateImmutable } from './validation.ts';
import { age } from './printing.ts';

/** [events.k8s.io/v1 field, core/v1 field] for every field outside metadata. */
export const EVENT_FIELD_MAP: ReadonlyArray<readonly [string, string]> = [
  ['eventTime', 'eventTime'],
  ['series', 'series'],
  ['reportingController', 'reportingComponent'],
  ['reportingInstance', 'reportingInstance'],
  ['action', 'action'],
  ['reason', 'reason'],
  ['regarding', 'involvedObject'],
  ['related', 'related'],
  ['note', 'message'],
  ['type', 'type'],
  ['deprecatedSource', 'source'],
  ['deprecatedFirstTimestamp', 'firstTimestamp'],
  ['deprecatedLastTimestamp', 'lastTimestamp'],
  ['deprecatedCount', 'count'],
];

function cloneJSON<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

function convert(obj: KubeObject, apiVersion: string, direction: 0 | 1): KubeObject {
  const out: KubeObject = { apiVersion, kind: 'Event', metadata: cloneJSON(obj.metadata) as ObjectMeta };
  for (const pair of EVENT_FIELD_MAP) {
    const from = pair[direction];
    const to = pair[1 - direction];
    if (obj[from] !== undefined) out[to] = cloneJSON(obj[from]);
  }
  return out;
}

/** events.k8s.io/v1 Event → the stored core/v1 Event. */
export function eventV1ToCore(obj: KubeObject): KubeObject {
  return convert(obj, 'v1', 0);
}

/** Stored core/v1 Event → events.k8s.io/v1 Event. */
export function coreEventToV1(obj: KubeObject): KubeObject {
  return convert(obj, 'events.k8s.io/v1', 1);
}

const LENGTH_LIMIT = 128;
const NOTE_LENGTH_LIMIT = 1024;

function isSet(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function validateSeries(obj: KubeObject): FieldCause[] {
  const series = obj.series;
  if (series === undefined || series === null) return [];
  const s = asRecord(series);
  const out: FieldCause[] = [];
  if (typeof s.count !== 'number' || s.count < 2) out.push(invalid('series.count', s.count ?? '', 'should be at least 2'));
  if (!isSet(s.lastObservedTime)) out.push(required('series.lastObservedTime'));
  return out;
}

function limited(obj: KubeObject, field: string, limit: number): FieldCause[] {
  return str(obj[field]).length > limit ? [invalid(field, '', `can have at most ${limit} characters`)] : [];
}

/**
 * Strict events.k8s.io/v1 validation. Kubernetes applies the "needs to be unset" checks of
 * the deprecated fields on create only; kennel's ResourceDef has one validate() for both, so
 * they apply to updates through this API as well (events written through core/v1 are not
 * affected).
 */
function validateEventV1(obj: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  const ns = obj.metadata.namespace ?? '';
  const regarding = asRecord(obj.regarding);
  if (!isSet(regarding.namespace) && ns !== 'default' && ns !== 'kube-system') {
    out.push(invalid('regarding.namespace', str(regarding.namespace), 'does not match event.namespace'));
  }
  const rc = str(obj.reportingController);
  if (rc === '') out.push(required('reportingController'));
  for (const m of qualifiedNameErrors(rc)) out.push(invalid('reportingController', rc, m));
  if (!isSet(obj.reportingInstance)) out.push(required('reportingInstance'));
  out.push(...limited(obj, 'reportingInstance', LENGTH_LIMIT));
  if (!isSet(obj.action)) out.push(required('action'));
  out.push(...limited(obj, 'action', LENGTH_LIMIT));
  if (!isSet(obj.reason)) out.push(required('reason'));
  out.push(...limited(obj, 'reason', LENGTH_LIMIT));
  out.push(...limited(obj, 'note', NOTE_LENGTH_LIMIT));

  out.push(...validateSeries(obj));
  if (!isSet(obj.eventTime)) out.push(required('eventTime'));
  if (obj.type !== 'Normal' && obj.type !== 'Warning') {
    out.push(invalid('type', '', `has invalid value: ${str(obj.type)}`));
  }
  if (isSet(obj.deprecatedFirstTimestamp)) out.push(invalid('deprecatedFirstTimestamp', '', 'needs to be unset'));
  if (isSet(obj.deprecatedLastTimestamp)) out.push(invalid('deprecatedLastTimestamp', '', 'needs to be unset'));
  if (isSet(obj.deprecatedCount) && obj.deprecatedCount !== 0) out.push(invalid('deprecatedCount', '', 'needs to be unset'));
  const src = asRecord(obj.deprecatedSource);
  if (isSet(src.component) || isSet(src.host)) out.push(invalid('deprecatedSource', '', 'needs to be unset'));
  return out;
}

/** Only series (and metadata) may change. */
function validateEventV1Update(obj: KubeObject, old: KubeObject): FieldCause[] {
  const fields = [
    'regarding',
    'reason',
    'note',
    'deprecatedSource',
    'deprecatedFirstTimestamp',
    'deprecatedLastTimestamp',
    'deprecatedCount',
    'type',
    'eventTime',
    'action',
    'related',
    'reportingController',
    'reportingInstance',
  ];
  return fields.flatMap((f) => validateImmutable(emptyAsUndefined(obj[f]), emptyAsUndefined(old[f]), f));
}

/** Zero values (``, 0, null, {}) compare equal to absent, as Go's zero values do. */
function emptyAsUndefined(v: unknown): unknown {
  if (v === null || v === '' || v === 0) return undefined;
  if (isRecord(v) && Object.values(v).every((x) => emptyAsUndefined(x) === undefined)) return undefined;
  return v;
}

// ---- printer (Kubernetes' printEvent) ----

function since(ts: unknown): string {
  return age(ts);
}

function lastSeenCell(o: KubeObject): string {
  const series = asRecord(o.series);
  if (isRecord(o.series)) return since(series.lastObservedTime);
  if (isSet(o.deprecatedLastTimestamp)) return since(o.deprecatedLastTimestamp);
  return firstSeenCell(o);
}

function firstSeenCell(o: KubeObject): string {
  return isSet(o.deprecatedFirstTimestamp) ? since(o.deprecatedFirstTimestamp) : since(o.eventTime);
}

function objectCell(o: KubeObject): string {
  const r = asRecord(o.regarding);
  const kind = str(r.kind).toLowerCase();
  return str(r.name) ? `${kind}/${str(r.name)}` : kind;
}

function sourceCell(o: KubeObject): string {
  const src = asRecord(o.deprecatedSource);
  const component = str(src.component) || str(o.reportingController);
  const instance = str(src.host) || str(o.reportingInstance);
  if (!component) return '<unknown>';
  return instance ? `${component}, ${instance}` : component;
}

function countCell(o: KubeObject): number {
  if (isRecord(o.series)) return typeof o.series.count === 'number' ? o.series.count : 0;
  return typeof o.deprecatedCount === 'number' && o.deprecatedCount !== 0 ? o.deprecatedCount : 1;
}

function fieldSel(get: (o: KubeObject) => unknown): (o: KubeObject) => string {
  return (o) => {
    const v = get(o);
    return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
  };
}

const regardingField = (k: string) => fieldSel((o) => asRecord(o.regarding)[k]);

export const eventsV1: ResourceDef = {
  group: 'events.k8s.io',
  version: 'v1',
  kind: 'Event',
  listKind: 'EventList',
  plural: 'events',
  singular: 'event',
  namespaced: true,
  shortNames: ['ev'],
  nameRule: 'dns1123Subdomain',
  modelName: 'EventsV1Event',
  validate: validateEventV1,
  validateUpdate: validateEventV1Update,
  generationFields: [],
  storedAs: { group: '', plural: 'events', toStored: eventV1ToCore, fromStored: coreEventToV1 },
  // Kubernetes' event table has no leading NAME column (NAME is the last, wide-only column);
  // see the report on `nameColumn`. The cells below are printEvent's.
  omitNameColumn: true,
  columns: [
    { name: 'Last Seen', type: 'string', priority: 0, description: 'The time at which the most recent occurrence of this event was recorded.', cell: lastSeenCell },
    { name: 'Type', type: 'string', priority: 0, description: 'Type of this event (Normal, Warning).', cell: (o) => str(o.type) },
    { name: 'Reason', type: 'string', priority: 0, description: 'This should be a short, machine understandable string that gives the reason for the transition into the object\'s current status.', cell: (o) => str(o.reason) },
    { name: 'Object', type: 'string', priority: 0, description: 'The object that this event is about.', cell: objectCell },
    { name: 'Subobject', type: 'string', priority: 1, description: 'The part of the object the event is about (regarding.fieldPath).', cell: (o) => str(asRecord(o.regarding).fieldPath) },
    { name: 'Source', type: 'string', priority: 1, description: 'The component reporting this event.', cell: sourceCell },
    { name: 'Message', type: 'string', priority: 0, description: 'A human-readable description of the status of this operation.', cell: (o) => str(o.note).trim() },
    { name: 'First Seen', type: 'string', priority: 1, description: 'The time at which the event was first recorded.', cell: firstSeenCell },
    { name: 'Count', type: 'string', priority: 1, description: 'The number of times this event has occurred.', cell: countCell },
  ],
  fieldSelectors: {
    reason: fieldSel((o) => o.reason),
    type: fieldSel((o) => o.type),
    reportingController: fieldSel((o) => o.reportingController),
    'regarding.kind': regardingField('kind'),
    'regarding.namespace': regardingField('namespace'),
    'regarding.name': regardingField('name'),
    'regarding.uid': regardingField('uid'),
    'regarding.apiVersion': regardingField('apiVersion'),
    'regarding.resourceVersion': regardingField('resourceVersion'),
    'regarding.fieldPath': regardingField('fieldPath'),
  },
};
