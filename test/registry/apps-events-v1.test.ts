import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EVENT_FIELD_MAP, coreEventToV1, eventV1ToCore, eventsV1 } from '../../src/registry/events-v1.ts';
import type { KubeObject } from '../../src/registry/types.ts';

type Obj = Record<string, unknown>;

function v1Event(extra: Obj = {}): KubeObject {
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name: 'web-0.17a1b2c3d4e5f6a7', namespace: 'default', resourceVersion: '42', uid: 'e-1' },
    eventTime: '2024-05-01T10:00:00.123456Z',
    reportingController: 'kennel.dev/statefulset-controller',
    reportingInstance: 'kennel-server-1',
    action: 'Create',
    reason: 'SuccessfulCreate',
    regarding: { apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: 'default', name: 'web', uid: 'u-web' },
    related: { apiVersion: 'v1', kind: 'Pod', namespace: 'default', name: 'web-0', uid: 'u-pod' },
    note: 'create Pod web-0 in StatefulSet web successful',
    type: 'Normal',
    ...extra,
  };
}

const coreEvent: KubeObject = {
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name: 'web-0.1', namespace: 'default', resourceVersion: '7' },
  involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: 'default', name: 'web-0', fieldPath: 'spec.containers{nginx}' },
  reason: 'Pulled',
  message: 'Successfully pulled image "nginx:1.25"',
  source: { component: 'kubelet', host: 'node-1' },
  firstTimestamp: '2024-05-01T10:00:00Z',
  lastTimestamp: '2024-05-01T10:05:00Z',
  count: 3,
  type: 'Normal',
  eventTime: null,
  reportingComponent: 'kubelet',
  reportingInstance: 'node-1',
  series: { count: 3, lastObservedTime: '2024-05-01T10:05:00.000000Z' },
  action: 'Pull',
  related: { kind: 'Node', name: 'node-1' },
};

const brief = (o: KubeObject) => eventsV1.validate!(o).map((c) => `${c.field} ${c.reason}`);

describe('events.k8s.io/v1 events: the view of core/v1 events', () => {
  it('is stored as core events', () => {
    assert.equal(eventsV1.group, 'events.k8s.io');
    assert.equal(eventsV1.kind, 'Event');
    assert.equal(eventsV1.modelName, 'EventsV1Event');
    assert.deepEqual(eventsV1.storedAs && { group: eventsV1.storedAs.group, plural: eventsV1.storedAs.plural }, { group: '', plural: 'events' });
    assert.equal(eventsV1.storedAs?.toStored, eventV1ToCore);
    assert.equal(eventsV1.storedAs?.fromStored, coreEventToV1);
  });

  it('maps every field to its core/v1 name', () => {
    const v1 = v1Event({
      deprecatedSource: { component: 'c', host: 'h' },
      deprecatedFirstTimestamp: '2024-01-01T00:00:00Z',
      deprecatedLastTimestamp: '2024-01-02T00:00:00Z',
      deprecatedCount: 4,
      series: { count: 2, lastObservedTime: '2024-01-02T00:00:00.000000Z' },
    });
    const core = eventV1ToCore(v1);
    assert.equal(core.apiVersion, 'v1');
    assert.equal(core.message, v1.note);
    assert.deepEqual(core.involvedObject, v1.regarding);
    assert.deepEqual(core.related, v1.related);
    assert.equal(core.reportingComponent, v1.reportingController);
    assert.equal(core.reportingInstance, v1.reportingInstance);
    assert.deepEqual(core.source, { component: 'c', host: 'h' });
    assert.equal(core.firstTimestamp, '2024-01-01T00:00:00Z');
    assert.equal(core.lastTimestamp, '2024-01-02T00:00:00Z');
    assert.equal(core.count, 4);
    assert.deepEqual(core.series, v1.series);
    for (const k of ['note', 'regarding', 'reportingController', 'deprecatedSource', 'deprecatedCount']) assert.ok(!(k in core), k);
    assert.equal(EVENT_FIELD_MAP.length, 14);
  });

  it('round-trips both ways without loss', () => {
    const v1 = v1Event({ series: { count: 2, lastObservedTime: '2024-01-02T00:00:00.000000Z' } });
    assert.deepEqual(coreEventToV1(eventV1ToCore(v1)), v1);
    assert.deepEqual(eventV1ToCore(coreEventToV1(coreEvent)), coreEvent);
    const view = coreEventToV1(coreEvent);
    assert.equal(view.apiVersion, 'events.k8s.io/v1');
    assert.equal(view.note, coreEvent.message);
    assert.deepEqual(view.deprecatedSource, coreEvent.source);
    assert.equal(view.deprecatedCount, 3);
    assert.equal(view.eventTime, null);
  });

  it('does not share nested objects with its input', () => {
    const v1 = v1Event();
    const core = eventV1ToCore(v1);
    (core.involvedObject as Obj).name = 'changed';
    core.metadata.name = 'changed';
    assert.equal((v1.regarding as Obj).name, 'web');
    assert.equal(v1.metadata.name, 'web-0.17a1b2c3d4e5f6a7');
  });
});

describe('events.k8s.io/v1 events: validation', () => {
  it('accepts a well-formed event', () => {
    assert.deepEqual(eventsV1.validate!(v1Event()), []);
    assert.deepEqual(eventsV1.validate!(v1Event({ series: { count: 2, lastObservedTime: '2024-05-01T10:01:00.000000Z' } })), []);
  });

  const cases: Array<[string, Obj, string[]]> = [
    ['a missing eventTime', { eventTime: undefined }, ['eventTime FieldValueRequired']],
    ['a missing reportingController', { reportingController: undefined }, ['reportingController FieldValueRequired', 'reportingController FieldValueInvalid']],
    ['a missing reportingInstance', { reportingInstance: '' }, ['reportingInstance FieldValueRequired']],
    ['a missing action', { action: undefined }, ['action FieldValueRequired']],
    ['a missing reason', { reason: undefined }, ['reason FieldValueRequired']],
    ['an overlong reason', { reason: 'x'.repeat(129) }, ['reason FieldValueInvalid']],
    ['an overlong note', { note: 'x'.repeat(1025) }, ['note FieldValueInvalid']],
    ['an unknown type', { type: 'Info' }, ['type FieldValueInvalid']],
    ['a series of one', { series: { count: 1, lastObservedTime: '2024-05-01T10:01:00Z' } }, ['series.count FieldValueInvalid']],
    ['a series without lastObservedTime', { series: { count: 2 } }, ['series.lastObservedTime FieldValueRequired']],
    ['deprecatedCount', { deprecatedCount: 2 }, ['deprecatedCount FieldValueInvalid']],
    ['deprecatedSource', { deprecatedSource: { component: 'kubelet' } }, ['deprecatedSource FieldValueInvalid']],
    ['deprecatedFirstTimestamp', { deprecatedFirstTimestamp: '2024-01-01T00:00:00Z' }, ['deprecatedFirstTimestamp FieldValueInvalid']],
    ['a cluster object event outside default', { regarding: { kind: 'Node', name: 'node-1' }, metadata: { name: 'n', namespace: 'web' } }, ['regarding.namespace FieldValueInvalid']],
  ];
  for (const [name, extra, want] of cases) {
    it(`rejects ${name}`, () => assert.deepEqual(brief(v1Event(extra)), want));
  }

  it('accepts a node event in default', () => {
    assert.deepEqual(eventsV1.validate!(v1Event({ regarding: { kind: 'Node', name: 'node-1' }, metadata: { name: 'n', namespace: 'default' } })), []);
  });

  it('lets only series and metadata change on update', () => {
    const old = v1Event();
    const next = v1Event({ series: { count: 2, lastObservedTime: '2024-05-01T10:01:00.000000Z' } });
    next.metadata.labels = { a: 'b' };
    assert.deepEqual(eventsV1.validateUpdate!(next, old), []);
    const changed = v1Event({ note: 'other', reason: 'Other' });
    assert.deepEqual(eventsV1.validateUpdate!(changed, old).map((c) => `${c.field} ${c.reason}`), ['reason FieldValueInvalid', 'note FieldValueInvalid']);
  });
});

describe('events.k8s.io/v1 events: printer', () => {
  const cells = (o: KubeObject) => Object.fromEntries(eventsV1.columns.map((c) => [c.name, c.cell(o)]));

  it('has the Kubernetes event columns', () => {
    assert.deepEqual(
      eventsV1.columns.map((c) => [c.name.toUpperCase(), c.priority]),
      [['LAST SEEN', 0], ['TYPE', 0], ['REASON', 0], ['OBJECT', 0], ['SUBOBJECT', 1], ['SOURCE', 1], ['MESSAGE', 0], ['FIRST SEEN', 1], ['COUNT', 1]],
    );
  });

  it('prints a new-style event from eventTime, with count 1', () => {
    const now = Date.now();
    const o = v1Event({ eventTime: new Date(now - 90_000).toISOString(), note: '  padded  ' });
    assert.deepEqual(cells(o), {
      'Last Seen': '90s',
      Type: 'Normal',
      Reason: 'SuccessfulCreate',
      Object: 'statefulset/web',
      Subobject: '',
      Source: 'kennel.dev/statefulset-controller, kennel-server-1',
      Message: 'padded',
      'First Seen': '90s',
      Count: 1,
    });
  });

  it('prints a series and a legacy event', () => {
    const now = Date.now();
    const series = v1Event({ eventTime: new Date(now - 600_000).toISOString(), series: { count: 5, lastObservedTime: new Date(now - 20_000).toISOString() } });
    const s = cells(series);
    assert.equal(s['Last Seen'], '20s');
    assert.equal(s['First Seen'], '10m');
    assert.equal(s.Count, 5);
    const legacy = coreEventToV1({
      ...coreEvent,
      series: undefined,
      firstTimestamp: new Date(now - 3600_000).toISOString(),
      lastTimestamp: new Date(now - 60_000).toISOString(),
    });
    const l = cells(legacy);
    assert.equal(l['Last Seen'], '60s');
    assert.equal(l['First Seen'], '60m');
    assert.equal(l.Count, 3);
    assert.equal(l.Source, 'kubelet, node-1');
    assert.equal(l.Object, 'pod/web-0');
    assert.equal(l.Subobject, 'spec.containers{nginx}');
  });

  it('selects by regarding fields, reason, type and reportingController', () => {
    const sel = eventsV1.fieldSelectors!;
    const o = v1Event();
    assert.equal(sel['regarding.name'](o), 'web');
    assert.equal(sel['regarding.kind'](o), 'StatefulSet');
    assert.equal(sel.reason(o), 'SuccessfulCreate');
    assert.equal(sel.type(o), 'Normal');
    assert.equal(sel.reportingController(o), 'kennel.dev/statefulset-controller');
    assert.equal(sel['regarding.fieldPath'](o), '');
  });
});
