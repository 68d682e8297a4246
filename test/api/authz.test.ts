import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Authorizer, admitNodeCreate, decide, forbiddenError, nodeNameOf, type NodeGraph } from '../../src/api/authz.ts';
import type { ResourceRequest } from '../../src/api/requestinfo.ts';
import type { KubeObject, ResourceDef } from '../../src/registry/types.ts';
import type { UserInfo } from '../../src/api/auth.ts';
import { ApiError } from '../../src/api/errors.ts';

const pod = (ns: string, name: string, nodeName?: string, sa?: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { namespace: ns, name },
  spec: { ...(nodeName ? { nodeName } : {}), ...(sa ? { serviceAccountName: sa } : {}), containers: [] },
});
const pv = (name: string, host: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'PersistentVolume',
  metadata: { name },
  spec: { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [host] }] }] } } },
});

const PODS = [pod('web', 'mine', 'n1', 'builder'), pod('web', 'theirs', 'n2'), pod('db', 'other', 'n2'), pod('web', 'pending')];
const PVS = [pv('pv-mine', 'n1'), pv('pv-theirs', 'n2')];
const graph: NodeGraph = {
  getPod: async (ns, name) => PODS.find((p) => p.metadata.namespace === ns && p.metadata.name === name),
  podsOnNode: async (node, ns) => PODS.filter((p) => p.metadata.namespace === ns && (p.spec as { nodeName?: string }).nodeName === node),
  getPersistentVolume: async (name) => PVS.find((p) => p.metadata.name === name),
};

type Verb = ResourceRequest['verb'];
function req(verb: Verb, resource: string, o: { group?: string; ns?: string; name?: string; sub?: string } = {}): ResourceRequest {
  return { kind: 'resource', verb, group: o.group ?? '', version: 'v1', resource, namespace: o.ns, name: o.name, subresource: o.sub };
}

describe('node authorizer: what node n1 may do', () => {
  const table: [string, ResourceRequest, boolean][] = [
    // reads of the kubelet's world
    ['list nodes', req('list', 'nodes'), true],
    ['get another node', req('get', 'nodes', { name: 'n2' }), true],
    ['watch all pods', req('watch', 'pods'), true],
    ['list services', req('list', 'services'), true],
    ['list endpoints', req('list', 'endpoints', { ns: 'web' }), true],
    ['list endpointslices', req('list', 'endpointslices', { group: 'discovery.k8s.io' }), true],
    ['list namespaces', req('list', 'namespaces'), true],
    ['get a persistentvolume', req('get', 'persistentvolumes', { name: 'pv-theirs' }), true],
    ['list storageclasses', req('list', 'storageclasses', { group: 'storage.k8s.io' }), true],
    // pod-scoped reads
    ['list secrets where its pods run', req('list', 'secrets', { ns: 'web' }), true],
    ['watch configmaps where its pods run', req('watch', 'configmaps', { ns: 'web' }), true],
    ['get a claim where its pods run', req('get', 'persistentvolumeclaims', { ns: 'web', name: 'data' }), true],
    ['list secrets where none of its pods run', req('list', 'secrets', { ns: 'db' }), false],
    ['list secrets of all namespaces', req('list', 'secrets'), false],
    ['get a configmap elsewhere', req('get', 'configmaps', { ns: 'kube-system', name: 'x' }), false],
    ['create a secret', req('create', 'secrets', { ns: 'web' }), false],
    // its own Node
    ['create a node (name checked at admission)', req('create', 'nodes'), true],
    ['patch its node', req('patch', 'nodes', { name: 'n1' }), true],
    ['update its node status', req('update', 'nodes', { name: 'n1', sub: 'status' }), true],
    ['patch its node status', req('patch', 'nodes', { name: 'n1', sub: 'status' }), true],
    ['delete its node', req('delete', 'nodes', { name: 'n1' }), true],
    ['patch another node', req('patch', 'nodes', { name: 'n2' }), false],
    ['patch another node status', req('patch', 'nodes', { name: 'n2', sub: 'status' }), false],
    ['delete another node', req('delete', 'nodes', { name: 'n2' }), false],
    ['delete all nodes', req('deletecollection', 'nodes'), false],
    // its own Lease
    ['get its lease', req('get', 'leases', { group: 'coordination.k8s.io', ns: 'kube-node-lease', name: 'n1' }), true],
    ['create a lease in kube-node-lease', req('create', 'leases', { group: 'coordination.k8s.io', ns: 'kube-node-lease' }), true],
    ['update its lease', req('update', 'leases', { group: 'coordination.k8s.io', ns: 'kube-node-lease', name: 'n1' }), true],
    ['update another lease', req('update', 'leases', { group: 'coordination.k8s.io', ns: 'kube-node-lease', name: 'n2' }), false],
    ['list leases', req('list', 'leases', { group: 'coordination.k8s.io', ns: 'kube-node-lease' }), false],
    ['create a lease elsewhere', req('create', 'leases', { group: 'coordination.k8s.io', ns: 'kube-system' }), false],
    // pods bound to it
    ['patch status of its pod', req('patch', 'pods', { ns: 'web', name: 'mine', sub: 'status' }), true],
    ['update status of its pod', req('update', 'pods', { ns: 'web', name: 'mine', sub: 'status' }), true],
    ['patch status of a pod on n2', req('patch', 'pods', { ns: 'web', name: 'theirs', sub: 'status' }), false],
    ['patch status of an unscheduled pod', req('patch', 'pods', { ns: 'web', name: 'pending', sub: 'status' }), false],
    ['patch status of a pod that is gone (404 from the handler)', req('patch', 'pods', { ns: 'web', name: 'gone', sub: 'status' }), true],
    ['delete its pod', req('delete', 'pods', { ns: 'web', name: 'mine' }), true],
    ['delete a pod on n2', req('delete', 'pods', { ns: 'web', name: 'theirs' }), false],
    ['evict its pod', req('create', 'pods', { ns: 'web', name: 'mine', sub: 'eviction' }), true],
    ['evict a pod on n2', req('create', 'pods', { ns: 'web', name: 'theirs', sub: 'eviction' }), false],
    ['create a pod (no mirror pods)', req('create', 'pods', { ns: 'web' }), false],
    ['patch its pod spec', req('patch', 'pods', { ns: 'web', name: 'mine' }), false],
    ['exec into its pod', req('create', 'pods', { ns: 'web', name: 'mine', sub: 'exec' }), false],
    ['read logs of its pod', req('get', 'pods', { ns: 'web', name: 'mine', sub: 'log' }), false],
    ['bind a pod', req('create', 'pods', { ns: 'web', name: 'pending', sub: 'binding' }), false],
    // events
    ['create an event', req('create', 'events', { ns: 'web' }), true],
    ['patch an event', req('patch', 'events', { ns: 'default', name: 'e' }), true],
    ['create an events.k8s.io event', req('create', 'events', { group: 'events.k8s.io', ns: 'web' }), true],
    ['delete an event', req('delete', 'events', { ns: 'web', name: 'e' }), false],
    // tokens for its pods' service accounts
    ['token for a service account its pod uses', req('create', 'serviceaccounts', { ns: 'web', name: 'builder', sub: 'token' }), true],
    ['token for an account no pod of it uses', req('create', 'serviceaccounts', { ns: 'web', name: 'default', sub: 'token' }), false],
    ['token in a namespace without its pods', req('create', 'serviceaccounts', { ns: 'db', name: 'default', sub: 'token' }), false],
    // local volumes pinned to it
    ['patch a local volume of its own', req('patch', 'persistentvolumes', { name: 'pv-mine' }), true],
    ['patch a local volume of n2', req('patch', 'persistentvolumes', { name: 'pv-theirs' }), false],
    ['delete a volume', req('delete', 'persistentvolumes', { name: 'pv-mine' }), false],
    // everything else
    ['create a namespace', req('create', 'namespaces'), false],
    ['list statefulsets', req('list', 'statefulsets', { group: 'apps' }), false],
    ['create a deployment', req('create', 'deployments', { group: 'apps', ns: 'web' }), false],
    ['delete a service', req('delete', 'services', { ns: 'web', name: 's' }), false],
  ];
  for (const [what, ri, allowed] of table) {
    it(`${allowed ? 'may' : 'may not'} ${what}`, async () => {
      const d = await decide('n1', ri, graph);
      assert.equal(d.allowed, allowed, JSON.stringify(d));
    });
  }
});

describe('who is a restricted node', () => {
  it('system:node:<name> in system:nodes, unless also in system:masters', () => {
    assert.equal(nodeNameOf({ username: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] }), 'n1');
    assert.equal(nodeNameOf({ username: 'system:node:n1', groups: ['system:nodes', 'system:masters'] }), undefined);
    assert.equal(nodeNameOf({ username: 'system:node:n1', groups: ['system:authenticated'] }), undefined);
    assert.equal(nodeNameOf({ username: 'system:admin', groups: ['system:masters'] }), undefined);
    assert.equal(nodeNameOf({ username: 'system:node:', groups: ['system:nodes'] }), undefined);
    assert.equal(nodeNameOf(null), undefined);
  });
});

describe('the Forbidden status', () => {
  const user: UserInfo = { username: 'system:node:y', groups: ['system:nodes'] };
  it('is worded as Kubernetes words it, with the reason', () => {
    const e = forbiddenError(user, req('patch', 'nodes', { name: 'x' }), 'node "y" is not allowed to modify node "x"');
    assert.equal(e.code, 403);
    assert.equal(e.reason, 'Forbidden');
    assert.equal(e.message, 'nodes "x" is forbidden: User "system:node:y" cannot patch resource "nodes" in API group "" at the cluster scope: node "y" is not allowed to modify node "x"');
    assert.deepEqual(e.toStatus().details, { name: 'x', kind: 'nodes' });
  });
  it('names subresources, groups and namespaces, and omits a missing name', () => {
    assert.equal(
      forbiddenError(user, req('patch', 'pods', { ns: 'web', name: 'p', sub: 'status' }), '').message,
      'pods "p" is forbidden: User "system:node:y" cannot patch resource "pods/status" in API group "" in the namespace "web"',
    );
    assert.equal(
      forbiddenError(user, req('list', 'statefulsets', { group: 'apps', ns: 'web' }), '').message,
      'statefulsets.apps is forbidden: User "system:node:y" cannot list resource "statefulsets" in API group "apps" in the namespace "web"',
    );
  });
});

describe('admission of creates by a node', () => {
  const def = (group: string, kind: string, plural: string): ResourceDef => ({ group, kind, plural }) as unknown as ResourceDef;
  const NODE = def('', 'Node', 'nodes');
  const LEASE = def('coordination.k8s.io', 'Lease', 'leases');
  const POD = def('', 'Pod', 'pods');
  const EVENT = def('', 'Event', 'events');
  it('lets a node create only its own Node and Lease, and no pods', () => {
    assert.equal(admitNodeCreate('n1', NODE, { metadata: { name: 'n1' } }), undefined);
    assert.equal(admitNodeCreate('n1', NODE, { metadata: { name: 'n2' } })?.message, 'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"');
    assert.equal(admitNodeCreate('n1', LEASE, { metadata: { name: 'n1', namespace: 'kube-node-lease' } }), undefined);
    assert.equal(admitNodeCreate('n1', LEASE, { metadata: { name: 'n2', namespace: 'kube-node-lease' } })?.code, 403);
    assert.equal(admitNodeCreate('n1', POD, { metadata: { name: 'p', namespace: 'web' } })?.code, 403);
    assert.equal(admitNodeCreate('n1', EVENT, { metadata: { name: 'e', namespace: 'web' } }), undefined);
  });

  it('applies only inside a node request (Authorizer.within), and not to other users', async () => {
    const authz = new Authorizer(graph);
    const node: UserInfo = { username: 'system:node:n1', groups: ['system:nodes'] };
    const admin: UserInfo = { username: 'system:admin', groups: ['system:masters'] };
    const other = { metadata: { name: 'n2' } };
    assert.doesNotThrow(() => authz.admit(NODE, other)); // outside any request
    await authz.within(admin, async () => assert.doesNotThrow(() => authz.admit(NODE, other)));
    await authz.within(node, async () => {
      await new Promise((r) => setTimeout(r, 1)); // survives awaits
      assert.throws(() => authz.admit(NODE, other), (e: unknown) => e instanceof ApiError && e.code === 403);
      assert.doesNotThrow(() => authz.admit(NODE, { metadata: { name: 'n1' } }));
    });
  });

  it('checks only node users; others are not restricted', async () => {
    const authz = new Authorizer(graph);
    assert.equal(authz.check({ username: 'system:admin', groups: ['system:masters'] }, req('delete', 'nodes', { name: 'n2' })), undefined);
    assert.equal(authz.check(null, req('delete', 'nodes', { name: 'n2' })), undefined);
    await assert.rejects(authz.check({ username: 'system:node:n1', groups: ['system:nodes'] }, req('delete', 'nodes', { name: 'n2' }))!, (e: unknown) => e instanceof ApiError && e.code === 403);
    await authz.check({ username: 'system:node:n1', groups: ['system:nodes'] }, req('delete', 'nodes', { name: 'n1' }));
  });
});
