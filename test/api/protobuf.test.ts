import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeKubernetesProtobuf,
  encodeKubernetesProtobuf,
  isKubernetesProtobuf,
  supportedProtobufKinds,
  KubernetesProtobufError,
} from '../../src/api/protobuf.ts';

// Bodies recorded from the real kubectl 1.32 (a recording HTTPS server in front of it). The
// expected JSON of the `create` ones is what `kubectl … --dry-run=client -o json` prints for the
// same command (without its `creationTimestamp: null`).
const KUBECTL = {
  // kubectl create namespace foo
  namespace:
    '6b3873000a0f0a02763112094e616d657370616365121b0a130a03666f6f12001a0022002a0032003800420012001a020a001a002200',
  // kubectl create configmap cm1 --from-literal=a=b --from-literal=empty= --from-file=f.txt --from-file=bin.dat -n kube-system
  configmap:
    '6b3873000a0f0a0276311209436f6e6669674d61701297010a1e0a03636d3112001a0b6b7562652d73797374656d22002a0032003800420012060a016112016212090a05656d707479120012150a05662e747874120c6c696e65310a6c696e65320a1a4b0a0762696e2e6461741240e7894cdc7b74bc0affc97accfe2768daeae7a191102987dae6e01db6c6c3cdf52eaf640f6b3417763e42005d9586747818410100f11f9d0945063408e554dbe81a002200',
  // kubectl create secret generic s1 --from-literal=a=b --from-literal=pw=s3cr3t --type=Opaque
  secret:
    '6b3873000a0c0a027631120653656372657412320a120a02733112001a0022002a0032003800420012060a0161120162120c0a02707712067333637233741a064f70617175651a002200',
  // kubectl create serviceaccount sa1
  serviceaccount:
    '6b3873000a140a027631120e536572766963654163636f756e7412150a130a0373613112001a0022002a003200380042001a002200',
  // kubectl create service clusterip svc1 --tcp=80:8080 --tcp=443:https
  service:
    '6b3873000a0d0a0276311207536572766963651290010a210a047376633112001a0022002a003200380042005a0b0a0361707012047376633112670a1b0a0738302d38303830120354435018502207080010903f1a0028000a220a093434332d6874747073120354435018bb03220b080110001a0568747470732800120b0a036170701204737663311a002209436c757374657249503a00420052005a00600068001a020a001a002200',
  // kubectl create token sa1 --duration=1h --audience=a --audience=b
  tokenRequest:
    '6b3873000a280a1861757468656e7469636174696f6e2e6b38732e696f2f7631120c546f6b656e5265717565737412230a100a0012001a0022002a0032003800420012090a01610a016220901c1a040a0012001a002200',
  // kubectl auth can-i get pods
  ssar: '6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a656374416363657373526576696577123c0a100a0012001a0022002a00320038004200121e0a1c0a0764656661756c7412036765741a0022002a04706f647332003a001a08080012001a0020001a002200',
  // kubectl auth can-i get /healthz
  ssarNonResource:
    '6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a656374416363657373526576696577122f0a100a0012001a0022002a003200380042001211120f0a082f6865616c74687a12036765741a08080012001a0020001a002200',
  // kubectl auth can-i --list -n x
  ssrr: '6b3873000a310a17617574686f72697a6174696f6e2e6b38732e696f2f7631121653656c665375626a65637452756c6573526576696577121d0a100a0012001a0022002a0032003800420012030a01781a04180022001a002200',
  // kubectl auth whoami
  whoami:
    '6b3873000a2d0a1861757468656e7469636174696f6e2e6b38732e696f2f7631121153656c665375626a656374526576696577121a0a100a0012001a0022002a0032003800420012060a040a0012001a002200',
  // kubectl debug node/n1 --image=busybox
  debugPod:
    '6b3873000a090a0276311203506f6412cc010a260a166e6f64652d64656275676765722d6e312d6c7238726612001a0022002a00320038004200128f010a120a09686f73742d726f6f7412050a030a012f12450a086465627567676572120762757379626f782a0042004a180a09686f73742d726f6f7410001a052f686f7374220032006a007200800100880100900100a2010446696c651a054e65766572320042004a0052026e315801600168018201008a01009a0100b2010e0a0012064578697374731a002200c201001a100a001a0022002a0032004a005a0072001a002200',
  // kubectl create deployment d --image=busybox --replicas=2
  deployment:
    '6b3873000a150a07617070732f7631120a4465706c6f796d656e7412a7010a1b0a016412001a0022002a003200380042005a080a03617070120164127a0802120a0a080a036170701201641a620a1a0a0012001a0022002a003200380042005a080a03617070120164124412260a0762757379626f78120762757379626f782a0042006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018002000280038001a002200',
  // kubectl create deployment d0 --image=nginx --replicas=0 --port=80
  deploymentZero:
    '6b3873000a150a07617070732f7631120a4465706c6f796d656e7412b4010a1d0a02643012001a0022002a003200380042005a090a03617070120264301284010800120b0a090a03617070120264301a6b0a1b0a0012001a0022002a003200380042005a090a0361707012026430124c122e0a056e67696e7812056e67696e782a00320a0a001000185022002a0042006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018002000280038001a002200',
  // kubectl create job j --image=busybox -- echo hi
  job:
    '6b3873000a0f0a0862617463682f763112034a6f621282010a110a016a12001a0022002a00320038004200126332610a100a0012001a0022002a00320038004200124d122a0a016a120762757379626f781a046563686f1a0268692a0042006a007200800100880100900100a201001a054e65766572320042004a0052005800600068008201008a01009a0100c201001a082000280030003a001a002200',
  // kubectl create cronjob c --image=busybox --schedule='*/5 * * * *' -- echo hi
  cronjob:
    '6b3873000a130a0862617463682f7631120743726f6e4a6f6212a5010a110a016312001a0022002a00320038004200128d010a0b2a2f35202a202a202a202a1a002a7c0a110a016312001a0022002a00320038004200126732650a100a0012001a0022002a003200380042001251122a0a0163120762757379626f781a046563686f1a0268692a0042006a007200800100880100900100a201001a094f6e4661696c757265320042004a0052005800600068008201008a01009a0100c201001a001a002200',
  // kubectl create job j2 --from=cronjob/c (its CronJob served as JSON by a stub server)
  jobFromCronjob:
    '6b3873000a0f0a0862617463682f763112034a6f6212e1020a7f0a026a3212001a0022002a00320038004200622b0a2163726f6e6a6f622e6b756265726e657465732e696f2f696e7374616e746961746512066d616e75616c6a3e0a0743726f6e4a6f621a0163222437663163376130652d303030302d343030302d383030302d3030303030303030303030312a0862617463682f7631300112d30108011001280032a5010a100a0012001a0022002a0032003800420012900112480a0163120762757379626f781a046563686f1a0268692a0042006a142f6465762f7465726d696e6174696f6e2d6c6f677206416c77617973800100880100900100a2010446696c651a094f6e4661696c757265201e320c436c7573746572466972737442004a00520058006000680072008201008a01009a011164656661756c742d7363686564756c6572c2010038064a0a4e6f6e496e6465786564500072135465726d696e6174696e674f724661696c65641a082000280030003a001a002200',
  // kubectl create pdb p --selector=app=x --min-available=1
  pdb:
    '6b3873000a200a09706f6c6963792f76311213506f6444697372757074696f6e42756467657412350a110a017012001a0022002a0032003800420012140a06080010011a00120a0a080a036170701201781a0a080018002000280030001a002200',
  // kubectl create pdb p2 --selector=app=x --max-unavailable=50%
  pdbPercent:
    '6b3873000a200a09706f6c6963792f76311213506f6444697372757074696f6e42756467657412390a120a02703212001a0022002a003200380042001217120a0a080a036170701201781a09080110001a033530251a0a080018002000280030001a002200',
} as const;

function decodeHex(hex: string): Record<string, unknown> {
  return decodeKubernetesProtobuf(Buffer.from(hex, 'hex'));
}

function expectError(fn: () => unknown, reason: 'UnsupportedKind' | 'Malformed', message?: RegExp): KubernetesProtobufError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof KubernetesProtobufError, `expected a KubernetesProtobufError, got ${String(caught)}`);
  assert.equal(caught.reason, reason);
  assert.equal(caught.code, reason === 'UnsupportedKind' ? 415 : 400);
  if (message) assert.match(caught.message, message);
  return caught;
}

describe('decoding what kubectl sends', () => {
  it('create namespace', () => {
    assert.deepEqual(decodeHex(KUBECTL.namespace), { kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'foo' }, spec: {}, status: {} });
  });

  it('create configmap: data, empty values, binaryData as base64', () => {
    assert.deepEqual(decodeHex(KUBECTL.configmap), {
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: { name: 'cm1', namespace: 'kube-system' },
      data: { a: 'b', empty: '', 'f.txt': 'line1\nline2\n' },
      binaryData: { 'bin.dat': '54lM3Ht0vAr/yXrM/ido2urnoZEQKYfa5uAdtsbDzfUur2QPazQXdj5CAF2VhnR4GEEBAPEfnQlFBjQI5VTb6A==' },
    });
  });

  it('create secret: bytes data as base64 and the type', () => {
    assert.deepEqual(decodeHex(KUBECTL.secret), {
      kind: 'Secret',
      apiVersion: 'v1',
      metadata: { name: 's1' },
      data: { a: 'Yg==', pw: 'czNjcjN0' },
      type: 'Opaque',
    });
  });

  it('create serviceaccount', () => {
    assert.deepEqual(decodeHex(KUBECTL.serviceaccount), { kind: 'ServiceAccount', apiVersion: 'v1', metadata: { name: 'sa1' } });
  });

  it('create service: ports with int and named targetPorts, selector, labels', () => {
    assert.deepEqual(decodeHex(KUBECTL.service), {
      kind: 'Service',
      apiVersion: 'v1',
      metadata: { name: 'svc1', labels: { app: 'svc1' } },
      spec: {
        ports: [
          { name: '80-8080', protocol: 'TCP', port: 80, targetPort: 8080 },
          { name: '443-https', protocol: 'TCP', port: 443, targetPort: 'https' },
        ],
        selector: { app: 'svc1' },
        type: 'ClusterIP',
      },
      status: { loadBalancer: {} },
    });
  });

  it('auth can-i: SelfSubjectAccessReview with resource and non-resource attributes', () => {
    assert.deepEqual(decodeHex(KUBECTL.ssar), {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      metadata: {},
      spec: { resourceAttributes: { namespace: 'default', verb: 'get', resource: 'pods' } },
      status: { allowed: false },
    });
    assert.deepEqual((decodeHex(KUBECTL.ssarNonResource).spec as Record<string, unknown>).nonResourceAttributes, { path: '/healthz', verb: 'get' });
  });

  it('auth can-i --list and auth whoami', () => {
    assert.deepEqual(decodeHex(KUBECTL.ssrr), {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectRulesReview',
      metadata: {},
      spec: { namespace: 'x' },
      status: { incomplete: false },
    });
    assert.deepEqual(decodeHex(KUBECTL.whoami), {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'SelfSubjectReview',
      metadata: {},
      status: { userInfo: {} },
    });
  });

  it('create token: TokenRequest with audiences and a 64-bit expiration', () => {
    assert.deepEqual(decodeHex(KUBECTL.tokenRequest), {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      metadata: {},
      spec: { audiences: ['a', 'b'], expirationSeconds: 3600 },
      status: {},
    });
  });

  it('debug node: a Pod with an inline hostPath volume; Go zero values are left out', () => {
    assert.deepEqual(decodeHex(KUBECTL.debugPod), {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'node-debugger-n1-lr8rf' },
      spec: {
        volumes: [{ name: 'host-root', hostPath: { path: '/' } }],
        containers: [
          {
            name: 'debugger',
            image: 'busybox',
            resources: {},
            volumeMounts: [{ name: 'host-root', mountPath: '/host' }],
            terminationMessagePolicy: 'File',
          },
        ],
        restartPolicy: 'Never',
        nodeName: 'n1',
        hostNetwork: true,
        hostPID: true,
        hostIPC: true,
        tolerations: [{ operator: 'Exists' }],
      },
      status: {},
    });
  });

  it('create deployment: replicas, selector, template; an explicit replicas: 0 survives', () => {
    const template = (app: string, container: Record<string, unknown>) => ({
      metadata: { labels: { app } },
      spec: { containers: [{ ...container, resources: {} }] },
    });
    assert.deepEqual(decodeHex(KUBECTL.deployment), {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd', labels: { app: 'd' } },
      spec: { replicas: 2, selector: { matchLabels: { app: 'd' } }, template: template('d', { name: 'busybox', image: 'busybox' }), strategy: {} },
      status: {},
    });
    assert.deepEqual(decodeHex(KUBECTL.deploymentZero), {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd0', labels: { app: 'd0' } },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: 'd0' } },
        template: template('d0', { name: 'nginx', image: 'nginx', ports: [{ containerPort: 80 }] }),
        strategy: {},
      },
      status: {},
    });
  });

  it('create job and create cronjob: the pod template with its command and restart policy', () => {
    const podSpec = (name: string, restartPolicy: string) => ({
      containers: [{ name, image: 'busybox', command: ['echo', 'hi'], resources: {} }],
      restartPolicy,
    });
    assert.deepEqual(decodeHex(KUBECTL.job), {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'j' },
      spec: { template: { metadata: {}, spec: podSpec('j', 'Never') } },
      status: {},
    });
    assert.deepEqual(decodeHex(KUBECTL.cronjob), {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'c' },
      spec: {
        schedule: '*/5 * * * *',
        jobTemplate: { metadata: { name: 'c' }, spec: { template: { metadata: {}, spec: podSpec('c', 'OnFailure') } } },
      },
      status: {},
    });
  });

  it('create job --from=cronjob: the owner reference, the annotation and the defaulted pointer fields', () => {
    assert.deepEqual(decodeHex(KUBECTL.jobFromCronjob), {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: 'j2',
        annotations: { 'cronjob.kubernetes.io/instantiate': 'manual' },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'c', uid: '7f1c7a0e-0000-4000-8000-000000000001', controller: true }],
      },
      spec: {
        parallelism: 1,
        completions: 1,
        backoffLimit: 6,
        manualSelector: false,
        template: {
          metadata: {},
          spec: {
            containers: [
              {
                name: 'c',
                image: 'busybox',
                command: ['echo', 'hi'],
                resources: {},
                terminationMessagePath: '/dev/termination-log',
                terminationMessagePolicy: 'File',
                imagePullPolicy: 'Always',
              },
            ],
            restartPolicy: 'OnFailure',
            terminationGracePeriodSeconds: 30,
            dnsPolicy: 'ClusterFirst',
            securityContext: {},
            schedulerName: 'default-scheduler',
          },
        },
        completionMode: 'NonIndexed',
        suspend: false,
        podReplacementPolicy: 'TerminatingOrFailed',
      },
      status: {},
    });
  });

  it('create pdb: int and percent IntOrStrings; the always-printed status counters stay', () => {
    const status = { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0 };
    assert.deepEqual(decodeHex(KUBECTL.pdb), {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'p' },
      spec: { minAvailable: 1, selector: { matchLabels: { app: 'x' } } },
      status,
    });
    assert.deepEqual(decodeHex(KUBECTL.pdbPercent), {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'p2' },
      spec: { selector: { matchLabels: { app: 'x' } }, maxUnavailable: '50%' },
      status,
    });
  });
});

describe('encoding and decoding round trips', () => {
  it('a Pod using every special mapping survives a round trip', () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'web-0',
        namespace: 'default',
        uid: '0b0e5c6a-1111-2222-3333-444455556666',
        resourceVersion: '42',
        generation: 3,
        creationTimestamp: '2024-05-01T12:34:56Z',
        deletionGracePeriodSeconds: 0,
        labels: { app: 'web' },
        annotations: { note: '' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: 'u-1', controller: true, blockOwnerDeletion: false }],
        finalizers: ['kennel.dev/protect'],
        managedFields: [
          { manager: 'kubectl', operation: 'Apply', apiVersion: 'v1', time: '2024-05-01T12:34:56Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': {} } } },
        ],
      },
      spec: {
        volumes: [
          { name: 'scratch', emptyDir: {} },
          { name: 'cfg', configMap: { name: 'web-config', items: [{ key: 'a', path: 'a.conf', mode: 0o644 }], defaultMode: 0o420, optional: false } },
          { name: 'data', persistentVolumeClaim: { claimName: 'data-web-0' } },
          { name: 'proj', projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3600, path: 'token' } }, { secret: { name: 's', optional: true } }] } },
        ],
        initContainers: [{ name: 'init', image: 'busybox', command: ['sh', '-c', 'true'], resources: {} }],
        containers: [
          {
            name: 'web',
            image: 'nginx:1.27',
            ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
            env: [
              { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
              { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password', optional: false } } },
              { name: 'PLAIN', value: 'x' },
            ],
            envFrom: [{ configMapRef: { name: 'common' } }],
            resources: { limits: { cpu: '500m', memory: '128Mi' }, requests: { cpu: '100m' } },
            volumeMounts: [{ name: 'data', mountPath: '/data', readOnly: true }],
            livenessProbe: { httpGet: { path: '/healthz', port: 'http', scheme: 'HTTP' }, periodSeconds: 10, failureThreshold: 3 },
            readinessProbe: { tcpSocket: { port: 80 }, initialDelaySeconds: 1 },
            startupProbe: { exec: { command: ['cat', '/ready'] }, terminationGracePeriodSeconds: 0 },
            lifecycle: { preStop: { sleep: { seconds: 5 } } },
            securityContext: { runAsUser: 0, runAsNonRoot: false, privileged: false, capabilities: { add: ['NET_ADMIN'] } },
            stdin: true,
            tty: true,
          },
        ],
        restartPolicy: 'Always',
        terminationGracePeriodSeconds: 0,
        nodeSelector: { disk: 'ssd' },
        enableServiceLinks: false,
        securityContext: { fsGroup: 2000, supplementalGroups: [1, 2, 0] },
        affinity: {
          podAntiAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              { weight: 100, podAffinityTerm: { labelSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] }, topologyKey: 'kubernetes.io/hostname' } },
            ],
          },
        },
        tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 0 }],
        hostname: 'web-0',
        subdomain: 'web',
        priority: 0,
        overhead: { cpu: '10m' },
      },
      status: {
        phase: 'Running',
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2024-05-01T12:35:00Z' }],
        podIP: '10.244.0.5',
        podIPs: [{ ip: '10.244.0.5' }],
        startTime: '2024-05-01T12:34:57Z',
        containerStatuses: [
          {
            name: 'web',
            state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: '2024-05-01T12:34:58Z', finishedAt: '2024-05-01T12:40:00Z' } },
            lastState: {},
            ready: false,
            restartCount: 0,
            image: 'nginx:1.27',
            imageID: '',
            started: false,
          },
        ],
      },
    };
    // Empty strings the Go encoder would not send as "set" (imageID) are dropped on decode.
    const { imageID: _dropped, ...cs } = pod.status.containerStatuses[0]!;
    const expected = { ...pod, status: { ...pod.status, containerStatuses: [cs] } };
    const bytes = encodeKubernetesProtobuf(pod);
    assert.deepEqual(bytes.subarray(0, 4), Buffer.from('k8s\0', 'latin1'));
    assert.deepEqual(decodeKubernetesProtobuf(bytes), expected);
  });

  it('keeps explicit false and 0 of pointer fields, drops zero values of plain ones', () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', generation: 0 }, immutable: false, data: { k: '' } };
    assert.deepEqual(decodeKubernetesProtobuf(encodeKubernetesProtobuf(cm)), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, immutable: false, data: { k: '' } });
    const sa = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'x' }, automountServiceAccountToken: false };
    assert.deepEqual(decodeKubernetesProtobuf(encodeKubernetesProtobuf(sa)), sa);
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { plain: 'text' }, data: { empty: '' }, immutable: true };
    assert.deepEqual(decodeKubernetesProtobuf(encodeKubernetesProtobuf(secret)), secret);
  });

  it('a namespace with finalizers, a SubjectAccessReview with extra, an Eviction with DeleteOptions', () => {
    for (const obj of [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n', generateName: 'n-' }, spec: { finalizers: ['kubernetes'] } },
      {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        metadata: {},
        spec: { user: 'u', groups: ['g'], extra: { scopes: ['a', 'b'] }, resourceAttributes: { verb: 'list', resource: 'pods', labelSelector: { rawSelector: 'app=x' } } },
      },
      { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'p', namespace: 'd' }, deleteOptions: { gracePeriodSeconds: 0, preconditions: { uid: 'u' }, dryRun: ['All'] } },
      { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'p' }, target: { kind: 'Node', name: 'n1' } },
    ]) {
      assert.deepEqual(decodeKubernetesProtobuf(encodeKubernetesProtobuf(obj)), obj);
    }
  });

  it('the encoder refuses fields it does not know rather than dropping them', () => {
    expectError(() => encodeKubernetesProtobuf({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, dta: { a: 'b' } }), 'Malformed', /dta/);
    expectError(() => encodeKubernetesProtobuf({ apiVersion: 'v1', kind: 'Secret', metadata: {}, data: { a: 'not base64!' } }), 'Malformed', /base64/);
  });
});

describe('workload kinds: encoding and decoding round trips', () => {
  const meta = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    namespace: 'default',
    uid: `0b0e5c6a-0000-4000-8000-${name.padStart(12, '0').slice(-12)}`,
    resourceVersion: '17',
    generation: 2,
    creationTimestamp: '2024-05-01T12:00:00Z',
    labels: { app: 'web' },
    ...extra,
  });
  const podTemplate = (restartPolicy: string) => ({
    metadata: { labels: { app: 'web' }, annotations: { 'kubectl.kubernetes.io/restartedAt': '2024-05-01T11:00:00Z' } },
    spec: {
      containers: [
        {
          name: 'main',
          image: 'nginx:1.27',
          command: ['sh', '-c', 'exec nginx -g "daemon off;"'],
          ports: [{ containerPort: 80, protocol: 'TCP' }],
          resources: { requests: { cpu: '100m', memory: '64Mi' } },
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          imagePullPolicy: 'IfNotPresent',
        },
      ],
      restartPolicy,
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      securityContext: {},
      schedulerName: 'default-scheduler',
    },
  });
  const t1 = '2024-05-01T12:00:05Z';
  const t2 = '2024-05-01T12:03:00Z';
  const roundTrip = (obj: Record<string, unknown>) => decodeKubernetesProtobuf(encodeKubernetesProtobuf(obj));

  it('Deployment: pointer zeros (replicas, maxUnavailable, revisionHistoryLimit, collisionCount) survive', () => {
    const deploy = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta('web', { annotations: { 'deployment.kubernetes.io/revision': '3' } }),
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: 'web' } },
        template: podTemplate('Always'),
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: '25%' } },
        minReadySeconds: 5,
        revisionHistoryLimit: 0,
        paused: true,
        progressDeadlineSeconds: 600,
      },
      status: {
        observedGeneration: 2,
        replicas: 3,
        updatedReplicas: 3,
        readyReplicas: 2,
        availableReplicas: 2,
        unavailableReplicas: 1,
        conditions: [
          { type: 'Available', status: 'True', lastUpdateTime: t1, lastTransitionTime: t1, reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' },
          { type: 'Progressing', status: 'True', lastUpdateTime: t2, lastTransitionTime: t1, reason: 'NewReplicaSetAvailable', message: 'ReplicaSet "web-5d9f" has successfully progressed.' },
        ],
        collisionCount: 0,
      },
    };
    assert.deepEqual(roundTrip(deploy), deploy);
    // Plain (non-pointer) zero values are what the Go encoder always sends: they are left out.
    const plain = { ...deploy, spec: { ...deploy.spec, minReadySeconds: 0, paused: false }, status: { replicas: 0, readyReplicas: 0 } };
    const { minReadySeconds: _m, paused: _p, ...specWithoutZeros } = plain.spec;
    assert.deepEqual(roundTrip(plain), { ...deploy, spec: specWithoutZeros, status: {} });
  });

  it('ReplicaSet and ReplicationController: status.replicas 0 is always printed', () => {
    const rs = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: meta('web-5d9f', {
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd-1', controller: true, blockOwnerDeletion: true }],
      }),
      spec: { replicas: 3, minReadySeconds: 10, selector: { matchLabels: { app: 'web', 'pod-template-hash': '5d9f' } }, template: podTemplate('Always') },
      status: {
        replicas: 0,
        fullyLabeledReplicas: 2,
        readyReplicas: 1,
        availableReplicas: 1,
        observedGeneration: 2,
        conditions: [{ type: 'ReplicaFailure', status: 'True', lastTransitionTime: t1, reason: 'FailedCreate', message: 'pods "web-5d9f-x" is forbidden: exceeded quota' }],
      },
    };
    assert.deepEqual(roundTrip(rs), rs);
    const rc = {
      apiVersion: 'v1',
      kind: 'ReplicationController',
      metadata: meta('legacy'),
      spec: { replicas: 0, minReadySeconds: 3, selector: { app: 'web', tier: 'front' }, template: podTemplate('Always') },
      status: {
        replicas: 0,
        fullyLabeledReplicas: 1,
        readyReplicas: 1,
        availableReplicas: 1,
        observedGeneration: 2,
        conditions: [{ type: 'ReplicaFailure', status: 'False', lastTransitionTime: t2, reason: 'Recovered', message: 'ok' }],
      },
    };
    assert.deepEqual(roundTrip(rc), rc);
  });

  it('StatefulSet with volumeClaimTemplates (PersistentVolumeClaim), ordinals and retention policy', () => {
    const sts = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: meta('db'),
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: podTemplate('Always'),
        volumeClaimTemplates: [
          {
            metadata: { name: 'data', labels: { app: 'web' } },
            spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'standard', volumeMode: 'Filesystem' },
            status: { phase: 'Pending' },
          },
        ],
        serviceName: 'db',
        podManagementPolicy: 'Parallel',
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0, maxUnavailable: 1 } },
        revisionHistoryLimit: 10,
        persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Delete' },
        ordinals: { start: 0 },
      },
      status: {
        observedGeneration: 2,
        replicas: 2,
        readyReplicas: 2,
        currentReplicas: 2,
        updatedReplicas: 2,
        currentRevision: 'db-7b9c',
        updateRevision: 'db-7b9c',
        collisionCount: 0,
        conditions: [{ type: 'Healthy', status: 'True', lastTransitionTime: t1, reason: 'AllReady', message: 'all pods ready' }],
        availableReplicas: 0,
      },
    };
    assert.deepEqual(roundTrip(sts), sts);
  });

  it('DaemonSet: the four always-printed status counters keep their zeros', () => {
    const ds = {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: meta('agent'),
      spec: {
        selector: { matchLabels: { app: 'web' } },
        template: podTemplate('Always'),
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
        minReadySeconds: 2,
        revisionHistoryLimit: 10,
      },
      status: {
        currentNumberScheduled: 0,
        numberMisscheduled: 0,
        desiredNumberScheduled: 0,
        numberReady: 0,
        observedGeneration: 2,
        updatedNumberScheduled: 1,
        numberAvailable: 1,
        numberUnavailable: 1,
        collisionCount: 0,
        conditions: [{ type: 'Stalled', status: 'False', lastTransitionTime: t1, reason: 'Fine', message: 'rolling' }],
      },
    };
    assert.deepEqual(roundTrip(ds), ds);
  });

  it('Job: podFailurePolicy, successPolicy, per-index backoff, managedBy and a finished status', () => {
    const job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: meta('batch', { annotations: { 'batch.kubernetes.io/job-tracking': '' } }),
      spec: {
        parallelism: 0,
        completions: 3,
        activeDeadlineSeconds: 600,
        podFailurePolicy: {
          rules: [
            { action: 'FailJob', onExitCodes: { containerName: 'main', operator: 'In', values: [1, 42] } },
            { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
          ],
        },
        successPolicy: { rules: [{ succeededIndexes: '0-2', succeededCount: 2 }] },
        backoffLimit: 0,
        backoffLimitPerIndex: 1,
        maxFailedIndexes: 0,
        selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'c-1' } },
        manualSelector: false,
        template: podTemplate('Never'),
        ttlSecondsAfterFinished: 0,
        completionMode: 'Indexed',
        suspend: false,
        podReplacementPolicy: 'Failed',
        managedBy: 'kubernetes.io/job-controller',
      },
      status: {
        conditions: [
          { type: 'SuccessCriteriaMet', status: 'True', lastProbeTime: t2, lastTransitionTime: t2, reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' },
          { type: 'Complete', status: 'True', lastProbeTime: t2, lastTransitionTime: t2, reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' },
        ],
        startTime: t1,
        completionTime: t2,
        succeeded: 3,
        failed: 1,
        terminating: 0,
        completedIndexes: '0-2',
        failedIndexes: '',
        uncountedTerminatedPods: {},
        ready: 0,
      },
    };
    assert.deepEqual(roundTrip(job), job);
    const running = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: meta('running'),
      spec: { backoffLimit: 6, template: podTemplate('OnFailure') },
      status: { startTime: t1, active: 2, uncountedTerminatedPods: { succeeded: ['pod-uid-a', 'pod-uid-b'], failed: ['pod-uid-c'] }, ready: 1 },
    };
    assert.deepEqual(roundTrip(running), running);
  });

  it('CronJob: jobTemplate, the pointer fields and the active job references', () => {
    const cj = {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: meta('report'),
      spec: {
        schedule: '0 * * * *',
        timeZone: 'Etc/UTC',
        startingDeadlineSeconds: 0,
        concurrencyPolicy: 'Forbid',
        suspend: false,
        jobTemplate: { metadata: { labels: { app: 'report' } }, spec: { backoffLimit: 2, ttlSecondsAfterFinished: 3600, template: podTemplate('OnFailure') } },
        successfulJobsHistoryLimit: 0,
        failedJobsHistoryLimit: 1,
      },
      status: {
        active: [{ kind: 'Job', namespace: 'default', name: 'report-28577160', uid: 'j-1', apiVersion: 'batch/v1', resourceVersion: '77' }],
        lastScheduleTime: t1,
        lastSuccessfulTime: t2,
      },
    };
    assert.deepEqual(roundTrip(cj), cj);
  });

  it('PodDisruptionBudget: minAvailable 0, matchExpressions, disruptedPods times, metav1 conditions', () => {
    const pdb = {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: meta('web-pdb'),
      spec: {
        minAvailable: 0,
        selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'api'] }] },
        unhealthyPodEvictionPolicy: 'AlwaysAllow',
      },
      status: {
        observedGeneration: 2,
        disruptedPods: { 'web-0': t1, 'web-1': t2 },
        disruptionsAllowed: 1,
        currentHealthy: 3,
        desiredHealthy: 2,
        expectedPods: 3,
        conditions: [{ type: 'DisruptionAllowed', status: 'True', observedGeneration: 2, lastTransitionTime: t1, reason: 'SufficientPods', message: 'ok' }],
      },
    };
    assert.deepEqual(roundTrip(pdb), pdb);
    const maxUnavailable = { ...pdb, spec: { maxUnavailable: 0, selector: { matchLabels: { app: 'web' } } }, status: { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0 } };
    assert.deepEqual(roundTrip(maxUnavailable), maxUnavailable);
  });

  it('PersistentVolumeClaim with a resize in progress', () => {
    const pvc = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: meta('data-db-0', { finalizers: ['kubernetes.io/pvc-protection'] }),
      spec: {
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: '2Gi' } },
        volumeName: 'pvc-0b0e5c6a',
        storageClassName: 'standard',
        volumeMode: 'Filesystem',
      },
      status: {
        phase: 'Bound',
        accessModes: ['ReadWriteOnce'],
        capacity: { storage: '1Gi' },
        conditions: [{ type: 'Resizing', status: 'True', lastProbeTime: t1, lastTransitionTime: t1 }],
        allocatedResources: { storage: '2Gi' },
        allocatedResourceStatuses: { storage: 'ControllerResizeInProgress' },
        currentVolumeAttributesClassName: '',
        modifyVolumeStatus: { targetVolumeAttributesClassName: 'gold', status: 'InProgress' },
      },
    };
    assert.deepEqual(roundTrip(pvc), pvc);
  });

  it('a field a workload message does not have is refused when encoding and decoding', () => {
    expectError(
      () => encodeKubernetesProtobuf({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { replica: 1 } }),
      'Malformed',
      /spec\.replica: unknown field for DeploymentSpec/,
    );
    // Deployment raw: spec (field 2) holding field 8 (varint 1), a number DeploymentSpec has never used.
    const body = Buffer.from('6b387300' + '0a150a07' + Buffer.from('apps/v1').toString('hex') + '120a' + Buffer.from('Deployment').toString('hex') + '1204' + '12024001', 'hex');
    expectError(() => decodeKubernetesProtobuf(body), 'Malformed', /field number 8 is not a field of DeploymentSpec/);
  });
});

describe('bodies kennel refuses', () => {
  it('no magic number → Malformed (400)', () => {
    expectError(() => decodeKubernetesProtobuf(Buffer.from('{"kind":"Namespace","apiVersion":"v1"}')), 'Malformed', /magic/);
    expectError(() => decodeKubernetesProtobuf(Buffer.alloc(0)), 'Malformed', /magic/);
    expectError(() => decodeKubernetesProtobuf(Buffer.from('k8s')), 'Malformed', /magic/);
  });

  it('a kind kennel does not decode → UnsupportedKind (415) naming it', () => {
    // magic, Unknown{typeMeta{apiVersion "example.com/v1", kind "Widget"}, raw ""}
    const body = Buffer.from('6b387300' + '0a18' + '0a0e' + Buffer.from('example.com/v1').toString('hex') + '1206' + Buffer.from('Widget').toString('hex') + '1200', 'hex');
    const err = expectError(() => decodeKubernetesProtobuf(body), 'UnsupportedKind', /Widget \(example\.com\/v1\)/);
    assert.equal(err.kind, 'Widget');
    assert.equal(err.apiVersion, 'example.com/v1');
  });

  it('an unknown field is an error, not silently lost data', () => {
    // Namespace raw: metadata {} then field 15 (varint 1), which Namespace does not have
    const body = Buffer.from('6b387300' + '0a0f0a027631' + '12094e616d657370616365' + '1204' + '0a007801', 'hex');
    expectError(() => decodeKubernetesProtobuf(body), 'Malformed', /field number 15/);
  });

  it('a field with the wrong wire type is malformed', () => {
    // Namespace raw: metadata (field 1) encoded as a varint
    const body = Buffer.from('6b387300' + '0a0f0a027631' + '12094e616d657370616365' + '1202' + '0801', 'hex');
    expectError(() => decodeKubernetesProtobuf(body), 'Malformed', /wire type/);
  });

  it('truncated bodies and missing type information are malformed', () => {
    const full = Buffer.from(KUBECTL.service, 'hex');
    for (const cut of [5, 10, 30, full.length - 7]) expectError(() => decodeKubernetesProtobuf(full.subarray(0, cut)), 'Malformed');
    expectError(() => decodeKubernetesProtobuf(Buffer.from('6b387300' + '1200', 'hex')), 'Malformed', /apiVersion and kind/);
  });

  it('random corruption of real bodies only ever yields an object or a KubernetesProtobufError', () => {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const samples = Object.values(KUBECTL).map((h) => Buffer.from(h, 'hex'));
    let decoded = 0;
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.from(samples[rand(samples.length)]!);
      const flips = 1 + rand(4);
      for (let j = 0; j < flips; j++) b[4 + rand(b.length - 4)] = rand(256);
      try {
        const obj = decodeKubernetesProtobuf(b);
        assert.equal(typeof obj, 'object');
        decoded++;
      } catch (err) {
        assert.ok(err instanceof KubernetesProtobufError, `unexpected ${String(err)}`);
        refused++;
      }
    }
    assert.ok(decoded > 0 && refused > 0, `decoded ${decoded}, refused ${refused}`);
  });
});

describe('media type helpers', () => {
  it('recognises the protobuf content type', () => {
    assert.ok(isKubernetesProtobuf('application/vnd.kubernetes.protobuf'));
    assert.ok(isKubernetesProtobuf('application/vnd.kubernetes.protobuf; charset=binary'));
    assert.ok(!isKubernetesProtobuf('application/json'));
    assert.ok(!isKubernetesProtobuf(undefined));
  });

  it('lists the kinds kubectl sends as protobuf that kennel serves', () => {
    const kinds = supportedProtobufKinds();
    for (const k of [
      'v1/Namespace',
      'v1/ConfigMap',
      'v1/Secret',
      'v1/ServiceAccount',
      'v1/Service',
      'v1/Pod',
      'authorization.k8s.io/v1/SelfSubjectAccessReview',
      'authorization.k8s.io/v1/SelfSubjectRulesReview',
      'apps/v1/Deployment',
      'apps/v1/ReplicaSet',
      'apps/v1/StatefulSet',
      'apps/v1/DaemonSet',
      'batch/v1/Job',
      'batch/v1/CronJob',
      'policy/v1/PodDisruptionBudget',
      'v1/ReplicationController',
      'v1/PersistentVolumeClaim',
    ]) {
      assert.ok(kinds.includes(k), k);
    }
  });
});
