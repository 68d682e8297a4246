import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  computeQOSClass,
  defaultPodOnlySpec,
  defaultPodSpec,
  defaultPullPolicy,
  POD_UPDATE_FORBIDDEN_MSG,
  validatePodSpec,
  validatePodSpecUpdate,
} from '../../src/registry/podspec.ts';
import type { FieldCause } from '../../src/registry/types.ts';

type Obj = Record<string, any>;

function baseSpec(): Obj {
  return {
    containers: [
      {
        name: 'web',
        image: 'nginx:1.25',
        ports: [{ name: 'http', containerPort: 80 }],
        volumeMounts: [{ name: 'data', mountPath: '/data' }],
        readinessProbe: { httpGet: { port: 'http' } },
        env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
      },
    ],
    initContainers: [{ name: 'init', image: 'busybox', command: ['true'] }],
    volumes: [{ name: 'data', emptyDir: {} }, { name: 'cfg', configMap: { name: 'cfg' } }],
  };
}

function defaulted(mutate?: (s: Obj) => void, pod = true): Obj {
  const s = baseSpec();
  mutate?.(s);
  defaultPodSpec(s);
  if (pod) defaultPodOnlySpec(s);
  return s;
}

/** A defaulted pod spec, then changed (so defaults do not mask the bad value). */
function changed(mutate: (s: Obj) => void): Obj {
  const s = defaulted();
  mutate(s);
  return s;
}

const fields = (c: FieldCause[]): string[] => c.map((x) => x.field);

test('defaultPodSpec fills the Kubernetes pod-spec defaults', () => {
  const s = defaulted(undefined, false);
  assert.equal(s.restartPolicy, 'Always');
  assert.equal(s.terminationGracePeriodSeconds, 30);
  assert.equal(s.dnsPolicy, 'ClusterFirst');
  assert.equal(s.schedulerName, 'default-scheduler');
  assert.equal(s.enableServiceLinks, true);
  assert.deepEqual(s.securityContext, {});
  const c = s.containers[0];
  assert.equal(c.terminationMessagePath, '/dev/termination-log');
  assert.equal(c.terminationMessagePolicy, 'File');
  assert.equal(c.imagePullPolicy, 'IfNotPresent');
  assert.deepEqual(c.resources, {});
  assert.equal(c.ports[0].protocol, 'TCP');
  assert.deepEqual(c.readinessProbe, {
    httpGet: { port: 'http', path: '/', scheme: 'HTTP' },
    timeoutSeconds: 1,
    periodSeconds: 10,
    successThreshold: 1,
    failureThreshold: 3,
  });
  assert.equal(c.env[0].valueFrom.fieldRef.apiVersion, 'v1');
  assert.equal(s.initContainers[0].imagePullPolicy, 'Always');
  assert.equal(s.volumes[1].configMap.defaultMode, 0o644);
  // Templates get no admission-plugin fields.
  assert.equal(s.serviceAccountName, undefined);
  assert.equal(s.tolerations, undefined);
  assert.equal(s.priority, undefined);
});

test('a volume without a source becomes an emptyDir', () => {
  const s = defaulted((x) => (x.volumes = [{ name: 'scratch' }]));
  assert.deepEqual(s.volumes[0], { name: 'scratch', emptyDir: {} });
});

test('imagePullPolicy follows the image tag', () => {
  const cases: Array<[string, string]> = [
    ['nginx', 'Always'],
    ['nginx:latest', 'Always'],
    ['nginx:1.25', 'IfNotPresent'],
    ['localhost:5000/app', 'Always'],
    ['localhost:5000/app:v2', 'IfNotPresent'],
    ['busybox@sha256:abcdef', 'IfNotPresent'],
    ['', 'IfNotPresent'],
  ];
  for (const [image, policy] of cases) assert.equal(defaultPullPolicy(image), policy, image);
  const s = defaulted((x) => (x.containers[0].imagePullPolicy = 'Never'));
  assert.equal(s.containers[0].imagePullPolicy, 'Never');
});

test('pods also get requests from limits, the default service account, tolerations and priority', () => {
  const s = defaulted((x) => (x.containers[0].resources = { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '500m' } }));
  assert.deepEqual(s.containers[0].resources.requests, { cpu: '500m', memory: '1Gi' });
  assert.equal(s.serviceAccountName, 'default');
  assert.equal(s.serviceAccount, 'default');
  assert.deepEqual(s.tolerations, [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
  ]);
  assert.equal(s.priority, 0);
  assert.equal(s.preemptionPolicy, 'PreemptLowerPriority');
});

test('default tolerations are not added when the pod already tolerates the taint', () => {
  const s = defaulted((x) => (x.tolerations = [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 6000 }]));
  assert.deepEqual(
    s.tolerations.map((t: Obj) => [t.key, t.tolerationSeconds]),
    [
      ['node.kubernetes.io/unreachable', 6000],
      ['node.kubernetes.io/not-ready', 300],
    ],
  );
  const all = defaulted((x) => (x.tolerations = [{ operator: 'Exists' }]));
  assert.deepEqual(all.tolerations, [{ operator: 'Exists' }]);
});

test('defaulting canonicalizes quantities and is idempotent', () => {
  const s = defaulted((x) => (x.containers[0].resources = { limits: { cpu: 0.5, memory: '1024Mi' } }));
  assert.deepEqual(s.containers[0].resources.limits, { cpu: '500m', memory: '1Gi' });
  const again = JSON.parse(JSON.stringify(s));
  defaultPodSpec(again);
  defaultPodOnlySpec(again);
  assert.deepEqual(again, s);
});

test('a well-formed spec validates cleanly', () => {
  assert.deepEqual(validatePodSpec(defaulted(), 'spec', { isPod: true }), []);
  assert.deepEqual(validatePodSpec(defaulted(undefined, false), 'spec.template.spec'), []);
});

test('each invalid field is reported at its Kubernetes path', () => {
  const cases: Array<[string, (s: Obj) => void, string, string?]> = [
    ['no containers', (s) => (s.containers = []), 'spec.containers', 'FieldValueRequired'],
    ['bad container name', (s) => (s.containers[0].name = 'Web_1'), 'spec.containers[0].name', 'FieldValueInvalid'],
    ['missing image', (s) => delete s.containers[0].image, 'spec.containers[0].image', 'FieldValueRequired'],
    ['name shared with init', (s) => (s.initContainers[0].name = 'web'), 'spec.initContainers[0].name', 'FieldValueDuplicate'],
    ['duplicate container', (s) => s.containers.push({ ...s.containers[0], ports: [], volumeMounts: [] }), 'spec.containers[1].name', 'FieldValueDuplicate'],
    ['port out of range', (s) => (s.containers[0].ports[0].containerPort = 70000), 'spec.containers[0].ports[0].containerPort', 'FieldValueInvalid'],
    ['port zero', (s) => (s.containers[0].ports[0].containerPort = 0), 'spec.containers[0].ports[0].containerPort', 'FieldValueRequired'],
    ['bad protocol', (s) => (s.containers[0].ports[0].protocol = 'HTTP'), 'spec.containers[0].ports[0].protocol', 'FieldValueNotSupported'],
    ['duplicate port name', (s) => s.containers[0].ports.push({ name: 'http', containerPort: 81, protocol: 'TCP' }), 'spec.containers[0].ports[1].name', 'FieldValueDuplicate'],
    ['env name with =', (s) => (s.containers[0].env[0].name = 'A=B'), 'spec.containers[0].env[0].name', 'FieldValueInvalid'],
    ['env fieldPath unsupported', (s) => (s.containers[0].env[0].valueFrom.fieldRef.fieldPath = 'status.phase'), 'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath', 'FieldValueNotSupported'],
    ['env value and valueFrom', (s) => (s.containers[0].env[0].value = 'x'), 'spec.containers[0].env[0].valueFrom', 'FieldValueInvalid'],
    ['mount of unknown volume', (s) => (s.containers[0].volumeMounts[0].name = 'nope'), 'spec.containers[0].volumeMounts[0].name', 'FieldValueNotFound'],
    ['duplicate volume', (s) => s.volumes.push({ name: 'data', emptyDir: {} }), 'spec.volumes[2].name', 'FieldValueDuplicate'],
    ['two volume sources', (s) => (s.volumes[0].hostPath = { path: '/tmp' }), 'spec.volumes[0].hostPath', 'FieldValueForbidden'],
    ['configMap volume without name', (s) => delete s.volumes[1].configMap.name, 'spec.volumes[1].configMap.name', 'FieldValueRequired'],
    ['bad restartPolicy', (s) => (s.restartPolicy = 'Sometimes'), 'spec.restartPolicy', 'FieldValueNotSupported'],
    ['bad dnsPolicy', (s) => (s.dnsPolicy = 'Cluster'), 'spec.dnsPolicy', 'FieldValueNotSupported'],
    ['probe with two handlers', (s) => (s.containers[0].readinessProbe.exec = { command: ['true'] }), 'spec.containers[0].readinessProbe.httpGet', 'FieldValueForbidden'],
    ['probe without handler', (s) => (s.containers[0].livenessProbe = { periodSeconds: 5, successThreshold: 1 }), 'spec.containers[0].livenessProbe', 'FieldValueRequired'],
    ['liveness successThreshold', (s) => (s.containers[0].livenessProbe = { tcpSocket: { port: 80 }, successThreshold: 2 }), 'spec.containers[0].livenessProbe.successThreshold', 'FieldValueInvalid'],
    ['negative probe period', (s) => (s.containers[0].readinessProbe.periodSeconds = -1), 'spec.containers[0].readinessProbe.periodSeconds', 'FieldValueInvalid'],
    ['probe on init container', (s) => (s.initContainers[0].readinessProbe = { exec: { command: ['true'] } }), 'spec.initContainers[0].readinessProbe', 'FieldValueForbidden'],
    ['request above limit', (s) => (s.containers[0].resources = { limits: { cpu: '1' }, requests: { cpu: '2' } }), 'spec.containers[0].resources.requests', 'FieldValueInvalid'],
    ['bad quantity', (s) => (s.containers[0].resources = { limits: { memory: '1GB' } }), 'spec.containers[0].resources.limits[memory]', 'FieldValueInvalid'],
    ['negative quantity', (s) => (s.containers[0].resources = { requests: { cpu: '-1' } }), 'spec.containers[0].resources.requests[cpu]', 'FieldValueInvalid'],
    ['unknown resource', (s) => (s.containers[0].resources = { limits: { gpu: '1' } }), 'spec.containers[0].resources.limits[gpu]', 'FieldValueInvalid'],
    ['bad toleration effect', (s) => (s.tolerations = [{ key: 'k', operator: 'Exists', effect: 'NoRun' }]), 'spec.tolerations[0].effect', 'FieldValueNotSupported'],
    ['bad toleration operator', (s) => (s.tolerations = [{ key: 'k', operator: 'Is' }]), 'spec.tolerations[0].operator', 'FieldValueNotSupported'],
    ['tolerationSeconds without NoExecute', (s) => (s.tolerations = [{ key: 'k', operator: 'Exists', effect: 'NoSchedule', tolerationSeconds: 5 }]), 'spec.tolerations[0].effect', 'FieldValueInvalid'],
    ['bad nodeSelector', (s) => (s.nodeSelector = { 'bad key!': 'x' }), 'spec.nodeSelector', 'FieldValueInvalid'],
    ['bad hostname', (s) => (s.hostname = 'Web_0'), 'spec.hostname', 'FieldValueInvalid'],
    ['bad subdomain', (s) => (s.subdomain = 'a.b'), 'spec.subdomain', 'FieldValueInvalid'],
    ['activeDeadlineSeconds zero', (s) => (s.activeDeadlineSeconds = 0), 'spec.activeDeadlineSeconds', 'FieldValueInvalid'],
    ['missing grace period', (s) => (s.terminationGracePeriodSeconds = null), 'spec.terminationGracePeriodSeconds', 'FieldValueRequired'],
    ['init restartPolicy', (s) => (s.initContainers[0].restartPolicy = 'OnFailure'), 'spec.initContainers[0].restartPolicy', 'FieldValueNotSupported'],
    ['app container restartPolicy', (s) => (s.containers[0].restartPolicy = 'Always'), 'spec.containers[0].restartPolicy', 'FieldValueForbidden'],
    ['dnsPolicy None without config', (s) => (s.dnsPolicy = 'None'), 'spec.dnsConfig', 'FieldValueRequired'],
    ['bad preemptionPolicy', (s) => (s.preemptionPolicy = 'Always'), 'spec.preemptionPolicy', 'FieldValueNotSupported'],
    ['bad serviceAccountName', (s) => (s.serviceAccountName = 'Not_Valid'), 'spec.serviceAccountName', 'FieldValueInvalid'],
    [
      'duplicate hostPort',
      (s) => {
        s.containers.push({ ...s.containers[0], name: 'b', ports: [{ containerPort: 81, hostPort: 8080, protocol: 'TCP' }] });
        s.containers[0].ports[0].hostPort = 8080;
      },
      'spec.containers[1].ports[0].hostPort',
      'FieldValueDuplicate',
    ],
    ['node affinity without terms', (s) => (s.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } }), 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms', 'FieldValueRequired'],
    ['pod affinity without topologyKey', (s) => (s.affinity = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { a: 'b' } } }] } }), 'spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey', 'FieldValueRequired'],
  ];
  for (const [label, mutate, field, reason] of cases) {
    const s = changed(mutate);
    const causes = validatePodSpec(s, 'spec', { isPod: true });
    const hit = causes.find((c) => c.field === field);
    assert.ok(hit, `${label}: expected a cause at ${field}, got ${JSON.stringify(causes)}`);
    // Kubernetes reports some problems twice (a resource name failing two rules, an empty
    // topologyKey) or with a consequence (a mount of a volume that is itself invalid).
    const multi = ['two volume sources', 'unknown resource', 'pod affinity without topologyKey'];
    if (!multi.includes(label)) assert.equal(causes.length, 1, `${label}: ${JSON.stringify(causes)}`);
    if (reason) assert.equal(hit.reason, reason, `${label}: reason`);
  }
});

test('messages follow Kubernetes wording', () => {
  const eff = validatePodSpec(defaulted((s) => (s.tolerations = [{ key: 'k', operator: 'Exists', effect: 'NoRun' }])), 'spec');
  assert.equal(eff.find((c) => c.field === 'spec.tolerations[0].effect')?.message, 'Unsupported value: "NoRun": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"');
  const req = validatePodSpec(defaulted((s) => (s.containers[0].resources = { limits: { cpu: '1' }, requests: { cpu: '1500m' } })), 'spec');
  assert.deepEqual(req, [
    { reason: 'FieldValueInvalid', field: 'spec.containers[0].resources.requests', message: 'Invalid value: "1500m": must be less than or equal to cpu limit of 1' },
  ]);
  const port = validatePodSpec(defaulted((s) => (s.containers[0].ports[0].containerPort = 70000)), 'spec');
  assert.equal(port[0].message, 'Invalid value: 70000: must be between 1 and 65535, inclusive');
});

test('templates allow an unset hostPort with hostNetwork, pods require it to match', () => {
  const spec = defaulted((s) => (s.hostNetwork = true), false);
  assert.equal(spec.containers[0].ports[0].hostPort, 80, 'defaulted to the container port');
  spec.containers[0].ports[0].hostPort = 81;
  assert.deepEqual(fields(validatePodSpec(spec, 'spec')), ['spec.containers[0].ports[0].hostPort']);
});

test('pod updates may change only images, activeDeadlineSeconds and add tolerations', () => {
  const old = defaulted();
  const clone = (): Obj => JSON.parse(JSON.stringify(old));

  const image = clone();
  image.containers[0].image = 'nginx:1.26';
  image.initContainers[0].image = 'busybox:1.36';
  assert.deepEqual(validatePodSpecUpdate(image, old, 'spec'), []);

  const tol = clone();
  tol.tolerations.push({ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' });
  tol.tolerations[0].tolerationSeconds = 60;
  assert.deepEqual(validatePodSpecUpdate(tol, old, 'spec'), []);

  const removed = clone();
  removed.tolerations.pop();
  assert.deepEqual(fields(validatePodSpecUpdate(removed, old, 'spec')), ['spec.tolerations']);

  const deadline = clone();
  deadline.activeDeadlineSeconds = 60;
  assert.deepEqual(validatePodSpecUpdate(deadline, old, 'spec'), []);
  const raised = JSON.parse(JSON.stringify(deadline));
  raised.activeDeadlineSeconds = 120;
  assert.deepEqual(validatePodSpecUpdate(raised, deadline, 'spec').map((c) => c.message), [
    'Invalid value: 120: must be less than or equal to previous value',
  ]);

  const other = clone();
  other.restartPolicy = 'Never';
  const causes = validatePodSpecUpdate(other, old, 'spec');
  assert.equal(causes.length, 1);
  assert.equal(causes[0].field, 'spec');
  assert.equal(causes[0].reason, 'FieldValueForbidden');
  assert.ok(causes[0].message.startsWith(`Forbidden: ${POD_UPDATE_FORBIDDEN_MSG}\n`), causes[0].message);
  assert.ok(causes[0].message.includes('spec.restartPolicy'));

  const added = clone();
  added.containers.push({ name: 'side', image: 'x' });
  assert.deepEqual(validatePodSpecUpdate(added, old, 'spec').map((c) => c.message), ['Forbidden: pod updates may not add or remove containers']);

  const negative = clone();
  negative.terminationGracePeriodSeconds = -1;
  const one = clone();
  one.terminationGracePeriodSeconds = 1;
  assert.deepEqual(validatePodSpecUpdate(one, negative, 'spec'), []);
});

test('QoS class from requests and limits', () => {
  const spec = (...res: Obj[]): Obj => ({ containers: res.map((r, i) => ({ name: `c${i}`, image: 'x', resources: r })) });
  assert.equal(computeQOSClass(spec({})), 'BestEffort');
  assert.equal(computeQOSClass(spec({ limits: { 'example.com/gpu': '1' } })), 'BestEffort');
  assert.equal(computeQOSClass(spec({ requests: { cpu: '100m' } })), 'Burstable');
  assert.equal(computeQOSClass(spec({ limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '1', memory: '1Gi' } })), 'Guaranteed');
  assert.equal(computeQOSClass(spec({ limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '1000m', memory: '1024Mi' } })), 'Guaranteed');
  assert.equal(computeQOSClass(spec({ limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '500m', memory: '1Gi' } })), 'Burstable');
  assert.equal(computeQOSClass(spec({ limits: { cpu: '1' }, requests: { cpu: '1' } })), 'Burstable');
  assert.equal(
    computeQOSClass(spec({ limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '1', memory: '1Gi' } }, {})),
    'Burstable',
    'every container needs cpu and memory limits',
  );
});
