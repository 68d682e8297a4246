// The EndpointSlice computation (pure): endpoints with conditions, and the creates, updates and
// deletes that bring a service's slices there with little churn.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/registry/types.ts';
import {
  MANAGED_BY_CONTROLLER,
  MANAGED_BY_LABEL,
  SERVICE_NAME_LABEL,
  desiredEndpointGroups,
  planEndpointSlices,
  type SlicePlan,
} from '../../src/controllers/endpoints/slices.ts';
import { HEADLESS_LABEL } from '../../src/controllers/endpoints/compute.ts';
import { pod, svc } from './endpoints-fixtures.ts';

type Obj = Record<string, unknown>;

/** Apply a plan to a list of slices the way the API server would (names, resourceVersions). */
function apply(slices: KubeObject[], plan: SlicePlan, counter = { n: 0 }): KubeObject[] {
  const gone = new Set(plan.delete.map((s) => s.metadata.name));
  const updated = new Map(plan.update.map((s) => [s.metadata.name, s]));
  const out = slices.filter((s) => !gone.has(s.metadata.name)).map((s) => updated.get(s.metadata.name) ?? s);
  for (const c of plan.create) {
    counter.n++;
    out.push({ ...c, metadata: { ...c.metadata, name: `${c.metadata.generateName}${String(counter.n).padStart(5, 'x')}`, resourceVersion: String(counter.n) } });
  }
  return out;
}

const eps = (s: KubeObject): Obj[] => (s.endpoints as Obj[] | undefined) ?? [];
const ipsOf = (slices: KubeObject[]): string[] => slices.flatMap((s) => eps(s).map((e) => (e.addresses as string[])[0])).sort();
const writes = (p: SlicePlan): number => p.create.length + p.update.length + p.delete.length;

function pods(n: number, o: { ready?: (i: number) => boolean } = {}): KubeObject[] {
  return Array.from({ length: n }, (_, i) => pod(`web-${i}`, { ip: `10.244.${Math.floor(i / 250)}.${(i % 250) + 1}`, ready: o.ready ? o.ready(i) : true }));
}

describe('EndpointSlice computation', () => {
  it('endpoint conditions: ready, serving, terminating (and publishNotReadyAddresses)', () => {
    const ps = [
      pod('ready', { ip: '10.244.0.1', hostname: 'ready', subdomain: 'nginx' }),
      pod('notready', { ip: '10.244.0.2', ready: false }),
      pod('terminating', { ip: '10.244.0.3', deleting: true }),
      pod('terminal', { ip: '10.244.0.4', phase: 'Failed' }),
      pod('noip', { ip: null }),
    ];
    const [g] = desiredEndpointGroups(svc('nginx', { selector: { app: 'web' }, headless: true }), ps);
    assert.equal(g.addressType, 'IPv4');
    assert.deepEqual(g.ports, [{ name: 'web', port: 8080, protocol: 'TCP' }]);
    assert.deepEqual(g.endpoints, [
      { addresses: ['10.244.0.1'], conditions: { ready: true, serving: true, terminating: false }, hostname: 'ready', nodeName: 'node-1', targetRef: { kind: 'Pod', namespace: 'default', name: 'ready', uid: 'uid-ready' } },
      { addresses: ['10.244.0.2'], conditions: { ready: false, serving: false, terminating: false }, nodeName: 'node-1', targetRef: { kind: 'Pod', namespace: 'default', name: 'notready', uid: 'uid-notready' } },
      { addresses: ['10.244.0.3'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'node-1', targetRef: { kind: 'Pod', namespace: 'default', name: 'terminating', uid: 'uid-terminating' } },
    ]);
    const [p] = desiredEndpointGroups(svc('nginx', { selector: { app: 'web' }, headless: true, publishNotReady: true }), ps);
    assert.deepEqual(
      p.endpoints.map((e) => e.conditions),
      [
        { ready: true, serving: true, terminating: false },
        { ready: true, serving: false, terminating: false },
        { ready: true, serving: true, terminating: true },
      ],
    );
  });

  it('a new service: one slice named by generateName, with labels, owner, ports and endpoints', () => {
    const s = svc('nginx', { selector: { app: 'web' }, headless: true, labels: { tier: 'db' } });
    const plan = planEndpointSlices(s, pods(3), []);
    assert.equal(plan.update.length + plan.delete.length, 0);
    assert.equal(plan.create.length, 1);
    const c = plan.create[0];
    assert.equal(c.metadata.generateName, 'nginx-');
    assert.equal(c.metadata.name, undefined);
    assert.deepEqual(c.metadata.labels, { tier: 'db', [SERVICE_NAME_LABEL]: 'nginx', [MANAGED_BY_LABEL]: MANAGED_BY_CONTROLLER, [HEADLESS_LABEL]: '' });
    assert.deepEqual(c.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Service', name: 'nginx', uid: 'uid-svc-nginx', controller: true, blockOwnerDeletion: true }]);
    assert.equal(c.addressType, 'IPv4');
    assert.deepEqual(c.ports, [{ name: 'web', port: 8080, protocol: 'TCP' }]);
    assert.deepEqual(ipsOf([c]), ['10.244.0.1', '10.244.0.2', '10.244.0.3']);
  });

  it('at most 100 endpoints a slice; an up-to-date set of slices needs no write', () => {
    const s = svc('big', { selector: { app: 'web' } });
    const ps = pods(250);
    const plan = planEndpointSlices(s, ps, []);
    assert.deepEqual(
      plan.create.map((c) => eps(c).length),
      [100, 100, 50],
    );
    const slices = apply([], plan);
    assert.equal(writes(planEndpointSlices(s, ps, slices)), 0);
    // A smaller limit spreads them further.
    assert.deepEqual(
      planEndpointSlices(s, pods(5), [], { maxEndpointsPerSlice: 2 }).create.map((c) => eps(c).length),
      [2, 2, 1],
    );
  });

  it('a Ready flip rewrites only the slice that holds the pod', () => {
    const s = svc('big', { selector: { app: 'web' } });
    const slices = apply([], planEndpointSlices(s, pods(250), []));
    const flipped = pods(250, { ready: (i) => i !== 120 });
    const plan = planEndpointSlices(s, flipped, slices);
    assert.equal(plan.create.length + plan.delete.length, 0);
    assert.equal(plan.update.length, 1);
    const u = plan.update[0];
    const ep = eps(u).find((e) => (e.addresses as string[])[0] === '10.244.0.121');
    assert.deepEqual(ep?.conditions, { ready: false, serving: false, terminating: false });
    assert.equal(u.metadata.resourceVersion, slices.find((x) => x.metadata.name === u.metadata.name)?.metadata.resourceVersion, 'updates carry the resourceVersion read');
    const after = apply(slices, plan);
    assert.equal(writes(planEndpointSlices(s, flipped, after)), 0);
  });

  it('a pod going away and a new one arriving: one update, the newcomer fills the freed room', () => {
    const s = svc('web', { selector: { app: 'web' } });
    const before = pods(150);
    const slices = apply([], planEndpointSlices(s, before, []));
    const next = [...before.filter((p) => p.metadata.name !== 'web-3'), pod('web-new', { ip: '10.244.9.9' })];
    const plan = planEndpointSlices(s, next, slices);
    assert.equal(plan.create.length, 0);
    assert.equal(plan.delete.length, 0);
    assert.equal(plan.update.length, 1, 'the slice that lost web-3 takes web-new');
    const after = apply(slices, plan);
    assert.deepEqual(ipsOf(after), ipsOf([{ metadata: {}, endpoints: next.map((p) => ({ addresses: [(p.status as Obj).podIP] })) }]));
  });

  it('no endpoints: one empty placeholder slice; endpoints appearing replace it', () => {
    const s = svc('lonely', { selector: { app: 'none' } });
    const plan = planEndpointSlices(s, pods(2), []);
    assert.equal(plan.create.length, 1);
    assert.deepEqual(plan.create[0].endpoints, []);
    assert.deepEqual(plan.create[0].ports, []);
    const slices = apply([], plan);
    assert.equal(writes(planEndpointSlices(s, pods(2), slices)), 0, 'the placeholder stays');
    const s2 = svc('lonely', { selector: { app: 'web' } });
    const plan2 = planEndpointSlices(s2, pods(2), slices);
    assert.equal(plan2.create.length, 1);
    assert.deepEqual(
      plan2.delete.map((d) => d.metadata.name),
      [slices[0].metadata.name],
    );
  });

  it('named ports resolving differently: one slice per port set', () => {
    const s = svc('api', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }] });
    const ps = [pod('a', { ip: '10.244.0.1', ports: [{ name: 'http', containerPort: 8080 }] }), pod('b', { ip: '10.244.0.2', ports: [{ name: 'http', containerPort: 9090 }] })];
    const plan = planEndpointSlices(s, ps, []);
    assert.deepEqual(
      plan.create.map((c) => [(c.ports as Obj[])[0].port, ipsOf([c])]),
      [
        [8080, ['10.244.0.1']],
        [9090, ['10.244.0.2']],
      ],
    );
  });

  it('selector removed or service recreated: the managed slices go; others are never touched', () => {
    const s = svc('web', { selector: { app: 'web' } });
    const mine = apply([], planEndpointSlices(s, pods(2), []));
    const foreign: KubeObject = { metadata: { name: 'web-manual', namespace: 'default', labels: { [SERVICE_NAME_LABEL]: 'web' } }, addressType: 'IPv4', endpoints: [] };
    const all = [...mine, foreign];
    const removed = planEndpointSlices(svc('web', { selector: null }), pods(2), all);
    assert.deepEqual(
      removed.delete.map((d) => d.metadata.name),
      mine.map((m) => m.metadata.name),
    );
    assert.equal(removed.create.length + removed.update.length, 0);
    const recreated = planEndpointSlices(svc('web', { selector: { app: 'web' }, uid: 'new-uid' }), pods(2), all);
    assert.deepEqual(
      recreated.delete.map((d) => d.metadata.name),
      mine.map((m) => m.metadata.name),
    );
    assert.equal(recreated.create.length, 1);
    assert.equal(recreated.create[0].metadata.ownerReferences?.[0].uid, 'new-uid');
  });

  it('service labels changing: every slice is relabelled', () => {
    const slices = apply([], planEndpointSlices(svc('web', { selector: { app: 'web' } }), pods(150), []));
    const plan = planEndpointSlices(svc('web', { selector: { app: 'web' }, labels: { team: 'a' } }), pods(150), slices);
    assert.equal(plan.update.length, 2);
    assert.ok(plan.update.every((u) => u.metadata.labels?.team === 'a' && u.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_CONTROLLER));
  });

  it('duplicate endpoints across slices are collapsed', () => {
    const s = svc('web', { selector: { app: 'web' } });
    const [one] = apply([], planEndpointSlices(s, pods(2), []));
    const dup = { ...one, metadata: { ...one.metadata, name: 'web-dup', resourceVersion: '99' } };
    const plan = planEndpointSlices(s, pods(2), [one, dup]);
    assert.equal(plan.create.length, 0);
    assert.deepEqual(
      plan.delete.map((d) => d.metadata.name),
      ['web-dup'],
    );
  });
});
