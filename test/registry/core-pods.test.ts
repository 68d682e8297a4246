import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pods, podTableCells, validatePodStatus } from '../../src/registry/pods.ts';
import type { KubeObject } from '../../src/registry/types.ts';

type Obj = Record<string, any>;
const NOW = Date.parse('2025-01-01T12:00:00Z');
const ago = (s: number): string => new Date(NOW - s * 1000).toISOString();

function pod(spec: Obj, status: Obj, meta: Obj = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', ...meta }, spec, status };
}

const two = { containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'x' }] };
const withInits = { initContainers: [{ name: 'i1', image: 'x' }, { name: 'i2', image: 'x' }], containers: [{ name: 'a', image: 'x' }] };
const running = (name: string, ready = true, extra: Obj = {}): Obj => ({ name, ready, restartCount: 0, state: { running: { startedAt: ago(60) } }, ...extra });
const waiting = (name: string, reason: string, extra: Obj = {}): Obj => ({ name, ready: false, restartCount: 0, state: { waiting: { reason } }, ...extra });
const done = (name: string, exitCode = 0, reason = exitCode === 0 ? 'Completed' : 'Error'): Obj => ({
  name,
  ready: false,
  restartCount: 0,
  state: { terminated: { exitCode, reason, finishedAt: ago(30) } },
});

test('STATUS, READY and RESTARTS cells follow kubectl', () => {
  const cases: Array<[string, KubeObject, string, string, string]> = [
    ['pending', pod(two, { phase: 'Pending' }), 'Pending', '0/2', '0'],
    ['running', pod(two, { phase: 'Running', containerStatuses: [running('a'), running('b')] }), 'Running', '2/2', '0'],
    ['one not ready', pod(two, { phase: 'Running', containerStatuses: [running('a'), running('b', false)] }), 'Running', '1/2', '0'],
    ['container creating', pod(two, { phase: 'Pending', containerStatuses: [waiting('a', 'ContainerCreating'), waiting('b', 'ContainerCreating')] }), 'ContainerCreating', '0/2', '0'],
    ['image pull backoff', pod(two, { phase: 'Pending', containerStatuses: [running('a'), waiting('b', 'ImagePullBackOff')] }), 'ImagePullBackOff', '1/2', '0'],
    ['init 1/2', pod(withInits, { phase: 'Pending', initContainerStatuses: [done('i1'), running('i2', false)], containerStatuses: [waiting('a', 'PodInitializing')] }), 'Init:1/2', '0/1', '0'],
    ['init 0/2', pod(withInits, { phase: 'Pending', initContainerStatuses: [running('i1', false), waiting('i2', 'PodInitializing')] }), 'Init:0/2', '0/1', '0'],
    ['init error', pod(withInits, { phase: 'Pending', initContainerStatuses: [done('i1'), done('i2', 1)] }), 'Init:Error', '0/1', '0'],
    ['init exit code', pod(withInits, { phase: 'Pending', initContainerStatuses: [done('i1', 2, '')] }), 'Init:ExitCode:2', '0/1', '0'],
    [
      'init crash loop',
      pod(withInits, {
        phase: 'Pending',
        initContainerStatuses: [
          done('i1'),
          waiting('i2', 'CrashLoopBackOff', { restartCount: 4, lastState: { terminated: { exitCode: 1, finishedAt: ago(90) } } }),
        ],
      }),
      'Init:CrashLoopBackOff',
      '0/1',
      '4 (90s ago)',
    ],
    ['pod initializing', pod(withInits, { phase: 'Pending', initContainerStatuses: [done('i1'), done('i2')], containerStatuses: [waiting('a', 'PodInitializing')] }), 'PodInitializing', '0/1', '0'],
    [
      'crash loop with last restart',
      pod(two, {
        phase: 'Running',
        containerStatuses: [running('a'), waiting('b', 'CrashLoopBackOff', { restartCount: 3, lastState: { terminated: { exitCode: 1, finishedAt: ago(300) } } })],
      }),
      'CrashLoopBackOff',
      '1/2',
      '3 (5m ago)',
    ],
    ['completed', pod(two, { phase: 'Succeeded', containerStatuses: [done('a'), done('b')] }), 'Completed', '0/2', '0'],
    ['error', pod(two, { phase: 'Failed', containerStatuses: [done('a'), done('b', 137, '')] }), 'Completed', '0/2', '0'],
    ['signal', pod(two, { phase: 'Failed', containerStatuses: [{ name: 'b', state: { terminated: { exitCode: 0, signal: 9 } } }] }), 'Signal:9', '0/2', '0'],
    [
      'completed sidecar-less but one still running, not ready',
      pod(two, { phase: 'Running', containerStatuses: [done('a'), running('b')] }),
      'NotReady',
      '1/2',
      '0',
    ],
    [
      'completed but one running and pod Ready',
      pod(two, { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [done('a'), running('b')] }),
      'Running',
      '1/2',
      '0',
    ],
    ['terminating', pod(two, { phase: 'Running', containerStatuses: [running('a'), running('b')] }, { deletionTimestamp: ago(5) }), 'Terminating', '2/2', '0'],
    ['terminal pod being deleted', pod(two, { phase: 'Succeeded', containerStatuses: [done('a'), done('b')] }, { deletionTimestamp: ago(5) }), 'Completed', '0/2', '0'],
    ['node lost', pod(two, { phase: 'Running', reason: 'NodeLost' }, { deletionTimestamp: ago(5) }), 'Unknown', '0/2', '0'],
    ['evicted', pod(two, { phase: 'Failed', reason: 'Evicted' }), 'Evicted', '0/2', '0'],
    ['scheduling gated', pod(two, { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }] }), 'SchedulingGated', '0/2', '0'],
    [
      'sidecar counts toward READY',
      pod(
        { initContainers: [{ name: 's', image: 'x', restartPolicy: 'Always' }], containers: [{ name: 'a', image: 'x' }] },
        {
          phase: 'Running',
          conditions: [{ type: 'Initialized', status: 'True' }],
          initContainerStatuses: [running('s', true, { started: true, restartCount: 2, lastState: { terminated: { exitCode: 1, finishedAt: ago(7200) } } })],
          containerStatuses: [running('a')],
        },
      ),
      'Running',
      '2/2',
      '2 (120m ago)',
    ],
  ];
  for (const [label, p, status, ready, restarts] of cases) {
    assert.deepEqual(podTableCells(p, NOW), { status, ready, restarts }, label);
  }
});

test('columns: names, priorities and wide cells', () => {
  assert.deepEqual(
    pods.columns.map((c) => [c.name, c.type, c.priority]),
    [
      ['Ready', 'string', 0],
      ['Status', 'string', 0],
      ['Restarts', 'string', 0],
      ['Age', 'string', 0],
      ['IP', 'string', 1],
      ['Node', 'string', 1],
      ['Nominated Node', 'string', 1],
      ['Readiness Gates', 'string', 1],
    ],
  );
  const p = pod(
    { ...two, nodeName: 'n1', readinessGates: [{ conditionType: 'example.com/lb' }, { conditionType: 'example.com/x' }] },
    { phase: 'Running', podIPs: [{ ip: '10.0.0.5' }], conditions: [{ type: 'example.com/lb', status: 'True' }] },
  );
  const cell = (name: string): unknown => pods.columns.find((c) => c.name === name)?.cell(p);
  assert.equal(cell('IP'), '10.0.0.5');
  assert.equal(cell('Node'), 'n1');
  assert.equal(cell('Nominated Node'), '<none>');
  assert.equal(cell('Readiness Gates'), '1/2');
  const bare = pod(two, { phase: 'Pending' });
  assert.equal(pods.columns.find((c) => c.name === 'IP')?.cell(bare), '<none>');
  assert.equal(pods.columns.find((c) => c.name === 'Readiness Gates')?.cell(bare), '<none>');
});

function created(spec: Obj): KubeObject {
  const p: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec };
  pods.defaults?.(p);
  pods.prepareForCreate?.(p);
  return p;
}

test('create sets Pending with the QoS class, and the gated condition', () => {
  const p = created({ containers: [{ name: 'a', image: 'x', resources: { limits: { cpu: '1', memory: '1Gi' } } }] });
  assert.deepEqual(p.status, { phase: 'Pending', qosClass: 'Guaranteed' });
  assert.deepEqual(pods.validate?.(p), []);
  assert.deepEqual(pods.validateCreate?.(p), []);
  const gated = created({ containers: [{ name: 'a', image: 'x' }], schedulingGates: [{ name: 'example.com/wait' }] });
  assert.deepEqual(gated.status, {
    phase: 'Pending',
    qosClass: 'BestEffort',
    conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated', message: 'Scheduling is blocked due to non-empty scheduling gates' }],
  });
  gated.spec = { ...(gated.spec as Obj), nodeName: 'n1' };
  assert.deepEqual(pods.validateCreate?.(gated).map((c) => c.field), ['spec.nodeName']);
});

test('identity, field selectors and status-write checks', () => {
  assert.equal(pods.kind, 'Pod');
  assert.deepEqual(pods.shortNames, ['po']);
  assert.deepEqual(pods.categories, ['all']);
  assert.equal(pods.subresources?.status, true);
  assert.ok(pods.subresources?.others?.includes('binding') && pods.subresources.others.includes('eviction'));
  const p = created({ containers: [{ name: 'a', image: 'x' }], nodeName: 'n1' });
  p.status = { ...(p.status as Obj), podIPs: [{ ip: '10.1.2.3' }] };
  const sel = pods.fieldSelectors ?? {};
  assert.equal(sel['spec.nodeName'](p), 'n1');
  assert.equal(sel['status.phase'](p), 'Pending');
  assert.equal(sel['status.podIP'](p), '10.1.2.3');
  assert.equal(sel['spec.restartPolicy'](p), 'Always');
  assert.equal(sel['spec.serviceAccountName'](p), 'default');
  assert.equal(sel['spec.schedulerName'](p), 'default-scheduler');

  const old = JSON.parse(JSON.stringify(p)) as KubeObject;
  const qos = JSON.parse(JSON.stringify(p)) as KubeObject;
  (qos.status as Obj).qosClass = 'Guaranteed';
  assert.deepEqual(validatePodStatus(qos, old).map((c) => c.field), ['status.qosClass']);
  const badIP = JSON.parse(JSON.stringify(p)) as KubeObject;
  (badIP.status as Obj).podIPs = [{ ip: '10.1.2' }];
  assert.deepEqual(validatePodStatus(badIP, old).map((c) => c.field), ['status.podIPs[0]']);

  const never = created({ containers: [{ name: 'a', image: 'x' }], restartPolicy: 'Never' });
  (never.status as Obj).containerStatuses = [{ name: 'a', state: { terminated: { exitCode: 0 } } }];
  const revived = JSON.parse(JSON.stringify(never)) as KubeObject;
  (revived.status as Obj).containerStatuses = [{ name: 'a', state: { running: {} } }];
  assert.deepEqual(validatePodStatus(revived, never).map((c) => c.message), ['Forbidden: may not be transitioned to non-terminated state']);
});
