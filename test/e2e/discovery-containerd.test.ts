// Service discovery from inside real containers (`kennel up --runtime containerd`): a StatefulSet
// `web` behind the headless Service `nginx`, whose pods
//   - get peer-finder from kennel's tools image (kennel.local/tools:1, built and imported into
//     kennel's containerd by `kennel up`) through an init container that installs it into a
//     shared emptyDir, and run it from there with -on-start (which exits after its script, as
//     the classic tool does), and
//   - run peer-finder from the tools image as a container's main process with -on-change, which
//     keeps a Nacos-style cluster.conf current while the set scales 2 → 3 → 2, through a watch
//     of the EndpointSlices with the pod's service-account token (the API server reached at the
//     `kubernetes` Service's ClusterIP, through the agent's nftables service proxy);
// cluster DNS answers from inside a pod (pod A records under the headless service, SRV for the
// service and its named port); wait-for in a pod; and a ClusterIP Service (named targetPort)
// reached from another pod, load-balanced over both backends. Everything is torn down and
// checked gone.
//
// busybox's nslookup (1.35, the image's userland) applies the search list only to names without
// a dot, so `nslookup web-0.nginx` asks for `web-0.nginx.` and gets NXDOMAIN, exactly as it
// does against CoreDNS in Kubernetes (the StatefulSet tutorial pins busybox:1.28 for that
// reason). Short names with a dot are checked through the C library's resolver (ping, wget),
// which applies ndots:5 and the search list; nslookup gets dotless or full names.
//
// Network namespaces of the pods are mounts under kennel's data dir (containerd's
// netns_mounts_under_state_dir): the clean-up check of mounts covers them.
//
// Needs root and the container stack (containerd, runc, CNI plugins, skopeo, docker-registry,
// busybox-static, tini): it fails, loudly, where they are missing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import YAML from 'yaml';
import { startKennel, type Kennel, type KubectlResult } from '../support/kennel.ts';
import { containerStackMissing, startBusyboxRegistry, type BusyboxRegistry } from '../support/images.ts';
import { containerStatus, deleteAllPods, getPod, podReady, processesOf, waitForPod } from '../support/pod-helpers.ts';
import { waitUntil } from '../support/wait.ts';
import { mountsUnder, purgeContainerd } from '../../src/agent/runtime/containerd.ts';

const BRIDGE = 'kennel0';
const GATEWAY = '10.244.0.1';
const TOOLS_IMAGE = 'kennel.local/tools:1';
const MARKER = `kennel-e2e-disc-${randomBytes(4).toString('hex')}`;
const DOMAIN = 'nginx.default.svc.cluster.local';
const fqdn = (i: number): string => `web-${i}.${DOMAIN}`;

type Obj = Record<string, unknown>;

function bridgeVeths(): string[] {
  const dir = `/sys/class/net/${BRIDGE}/brif`;
  return existsSync(dir) ? readdirSync(dir) : [];
}

function manifests(image: string): string {
  const loop = `trap 'exit 0' TERM; while true; do sleep 0.2; done; : ${MARKER}`;
  const objs: Obj[] = [
    // The headless service governing the set; its port is named (SRV _web._tcp).
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'nginx' }, spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ name: 'web', port: 80 }] } },
    // A ClusterIP service in front of the same pods, its targetPort given by name.
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-svc' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 8080, targetPort: 'web' }] } },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'peer-scripts' },
      data: {
        // on-start (run by the init-installed peer-finder): the peers it saw, as given.
        'on-start.sh': '#!/bin/sh\ncat > /shared/start-peers\n',
        // on-change (the main-process peer-finder): a Nacos-style cluster.conf, replaced
        // atomically, and one log line per run.
        'on-change.sh': [
          '#!/bin/sh',
          "sed 's/$/:8848/' > /shared/cluster.conf.new",
          'mv /shared/cluster.conf.new /shared/cluster.conf',
          'echo "cluster.conf: $(tr \'\\n\' \' \' < /shared/cluster.conf)"',
          '',
        ].join('\n'),
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'web' },
      spec: {
        serviceName: 'nginx',
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            terminationGracePeriodSeconds: 2,
            initContainers: [
              {
                name: 'install',
                image: TOOLS_IMAGE,
                imagePullPolicy: 'Never',
                command: ['install-tools', '/tools'],
                volumeMounts: [{ name: 'tools', mountPath: '/tools' }],
              },
            ],
            containers: [
              {
                name: 'httpd',
                image,
                command: [
                  'sh',
                  '-c',
                  'echo "hello from $(hostname)" > /shared/index.html; httpd -p 80 -h /shared; ' +
                    '/tools/peer-finder -on-start=/scripts/on-start.sh -service=nginx; echo "peer-finder exited $?"; ' +
                    loop,
                ],
                ports: [{ name: 'web', containerPort: 80 }],
                readinessProbe: { tcpSocket: { port: 'web' }, periodSeconds: 1 },
                volumeMounts: [
                  { name: 'tools', mountPath: '/tools' },
                  { name: 'scripts', mountPath: '/scripts' },
                  { name: 'shared', mountPath: '/shared' },
                ],
              },
              {
                name: 'peer-finder',
                image: TOOLS_IMAGE,
                imagePullPolicy: 'Never',
                command: ['peer-finder', '-on-change=/scripts/on-change.sh', '-service=nginx'],
                volumeMounts: [
                  { name: 'scripts', mountPath: '/scripts' },
                  { name: 'shared', mountPath: '/shared' },
                ],
              },
            ],
            volumes: [
              { name: 'tools', emptyDir: {} },
              { name: 'shared', emptyDir: {} },
              { name: 'scripts', configMap: { name: 'peer-scripts', defaultMode: 0o755 } },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'client' },
      spec: { terminationGracePeriodSeconds: 2, containers: [{ name: 'client', image, command: ['sh', '-c', loop] }] },
    },
  ];
  return objs.map((o) => YAML.stringify(o)).join('---\n');
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('service discovery inside containerd pods: cluster DNS, peer-finder, wait-for, ClusterIP', () => {
  let reg: BusyboxRegistry | undefined;
  let kn: Kennel | undefined;
  let root = '';
  let dataDir = '';
  const seenVeths = new Set<string>();
  const ips: string[] = [];

  /**
   * `kubectl exec` of a command that always prints something, its stdout and stderr together.
   * kubectl's WebSocket executor (client-go) now and then drops the first output frames: its
   * reader can get them before it has registered its streams ("Unknown stream id 1, discarding
   * message"; about 1 exec in 30 under load here). So the command's output is collected in the
   * container and printed in one write (lost whole or not at all), and a run that printed
   * nothing is repeated: these commands only read.
   */
  const exec = async (pod: string, container: string | undefined, ...cmd: string[]): Promise<KubectlResult> => {
    const once = 'f=/tmp/.exec-out.$$; "$@" > "$f" 2>&1; rc=$?; cat "$f"; rm -f "$f"; exit $rc';
    const args = ['exec', pod, ...(container ? ['-c', container] : []), '--', 'sh', '-c', once, 'sh', ...cmd];
    let r = await kn!.kubectl(args);
    for (let i = 0; i < 4 && r.stdout === '' && r.code !== null; i++) r = await kn!.kubectl(args);
    return r;
  };
  /** exec that must exit 0; its stdout. */
  const execOk = async (pod: string, container: string | undefined, ...cmd: string[]): Promise<string> => {
    const r = await exec(pod, container, ...cmd);
    if (r.code !== 0) throw new Error(`kubectl exec ${pod} -- ${cmd.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  };

  /** The lines of web-0's cluster.conf (written by its peer-finder container's on-change script). */
  const clusterConf = async (pod = 'web-0'): Promise<string[]> => {
    const r = await exec(pod, 'httpd', 'cat', '/shared/cluster.conf');
    return r.code === 0 ? r.stdout.split('\n').filter(Boolean) : [];
  };
  const srvTargets = async (): Promise<string[]> => {
    const r = await exec('web-0', 'httpd', 'nslookup', '-type=srv', DOMAIN);
    return [...r.stdout.matchAll(/service = 0 \d+ 80 (\S+)$/gm)].map((m) => m[1]!).sort();
  };

  before(async () => {
    const missing = containerStackMissing();
    if (missing) throw new Error(`the containerd e2e test cannot run: ${missing}`);
    if (existsSync(`/sys/class/net/${BRIDGE}`)) {
      throw new Error(`the bridge ${BRIDGE} exists already: another kennel with the containerd runtime runs on this machine; stop it first`);
    }
    reg = await startBusyboxRegistry();
    root = mkdtempSync('/tmp/kennel-e2e-disc-');
    dataDir = join(root, 'data');
    mkdirSync(join(dataDir, 'agent'), { recursive: true });
    writeFileSync(join(dataDir, 'agent', 'registries.yaml'), `mirrors:\n  "${reg.host}":\n    endpoint: ["http://${reg.host}"]\n`);
    kn = await startKennel(['--runtime', 'containerd'], { dataDir });
    // `kennel up` builds the tools image and imports it into its containerd in the background,
    // and logs when it is there (or why not): pods that use it with imagePullPolicy Never wait.
    const importDeadline = Date.now() + 90_000;
    while (!/"msg":"tools image imported"/.test(kn.logs())) {
      const failed = /"msg":"could not build the tools image[^\n]*/.exec(kn.logs());
      if (failed) throw new Error(`kennel up: ${failed[0]}`);
      if (Date.now() > importDeadline) throw new Error('kennel up did not import the tools image within 90 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    await kn.k(['apply', '-f', '-'], { input: manifests(reg.image) });
  });

  after(async () => {
    const problems: string[] = [];
    try {
      if (kn) {
        // The set first (it would put its pods back), then every pod.
        await kn.kubectl(['delete', 'statefulset', 'web', '--wait=true']);
        await deleteAllPods(kn, 60_000);
      }
    } catch (e) {
      problems.push(`deleting pods: ${(e as Error).message}`);
    }
    await kn?.stop();
    if (dataDir) {
      await purgeContainerd(join(dataDir, 'agent'), { bridgeName: BRIDGE });
      const mounts = mountsUnder(root);
      if (mounts.length) problems.push(`mounts left: ${mounts.join(', ')}`);
      const procs = processesOf(root, MARKER);
      if (procs.length) {
        problems.push(`processes left: ${procs.map((p) => `${p.pid} (${p.why}) ${p.cmdline}`).join('; ')}`);
        for (const p of procs) {
          try {
            process.kill(p.pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
      if (existsSync(`/sys/class/net/${BRIDGE}`)) problems.push(`bridge ${BRIDGE} left`);
      const tables = spawnSync('nft', ['list', 'tables'], { encoding: 'utf8' });
      if (tables.status === 0 && /kennel-proxy/.test(tables.stdout)) problems.push(`nftables table left: ${tables.stdout.trim()}`);
      const links = readdirSync('/sys/class/net');
      const vethsLeft = [...seenVeths].filter((v) => links.includes(v));
      if (vethsLeft.length) problems.push(`veths left: ${vethsLeft.join(', ')}`);
      rmSync(root, { recursive: true, force: true });
    }
    await reg?.stop();
    assert.deepEqual(problems, [], 'clean-up');
  });

  it('runs the set with peer-finder installed from the tools image by an init container', async () => {
    for (const i of [0, 1]) {
      const pod = await waitForPod(kn!, `web-${i}`, podReady, 'Ready', 60_000);
      ips.push(pod!.status!.podIP!);
      const install = containerStatus(pod, 'install')!;
      assert.equal(install.state?.terminated?.reason, 'Completed');
      assert.equal(install.image, TOOLS_IMAGE);
      assert.equal(containerStatus(pod, 'peer-finder')!.image, TOOLS_IMAGE);
    }
    assert.notEqual(ips[0], ips[1]);
    for (const ip of ips) assert.match(ip, /^10\.244\.0\.\d+$/);
    assert.equal(await kn!.k(['logs', 'web-0', '-c', 'install']), 'installed peer-finder and wait-for into /tools\n');
    for (const v of bridgeVeths()) seenVeths.add(v);
  });

  it('cluster DNS inside a pod: pod A records under the headless service, SRV for the service and its named port', async () => {
    const ns = async (...args: string[]): Promise<string> => (await exec('web-0', 'httpd', 'nslookup', ...args)).stdout;
    // busybox nslookup sends full names as they are; its server is the cluster DNS on the bridge.
    const a0 = await ns(fqdn(0));
    assert.match(a0, new RegExp(`^Server:\\s+${esc(GATEWAY)}$`, 'm'));
    assert.match(a0, new RegExp(`Name:\\s+${esc(fqdn(0))}\\nAddress: ${esc(ips[0]!)}\\n`));
    assert.match(await ns(fqdn(1)), new RegExp(`Name:\\s+${esc(fqdn(1))}\\nAddress: ${esc(ips[1]!)}\\n`));
    // The headless name answers with every ready member.
    const all = await ns(DOMAIN);
    assert.deepEqual([...all.matchAll(/^Address: (\S+)$/gm)].map((m) => m[1]).sort(), [...ips].sort());
    // The C library's resolver (ndots:5, search default.svc.cluster.local …) resolves the short
    // names `web-0.nginx` and `web-1.nginx` as in Kubernetes.
    for (const i of [0, 1]) {
      const ping = await exec('web-0', 'httpd', 'ping', '-c', '1', '-W', '2', `web-${i}.nginx`);
      assert.match(ping.stdout, new RegExp(`^PING web-${i}\\.nginx \\(${esc(ips[i]!)}\\)`, 'm'));
    }
    assert.equal(await execOk('client', undefined, 'wget', '-q', '-O', '-', 'http://web-1.nginx/'), 'hello from web-1\n');
    // SRV on the bare service name (dotless: nslookup applies the search list; the first
    // domain, default.svc.cluster.local, answers) lists both members, weight 100/2, port 80.
    const srv = await ns('-type=srv', 'nginx');
    const lines = [...srv.matchAll(/^(\S+)\s+service = (\d+) (\d+) (\d+) (\S+)$/gm)].map((m) => m.slice(1).join(' '));
    assert.deepEqual(lines.sort(), [0, 1].map((i) => `${DOMAIN} 0 50 80 ${fqdn(i)}`));
    assert.deepEqual(await srvTargets(), [fqdn(0), fqdn(1)]);
    // SRV for the named port.
    const named = await ns('-type=srv', `_web._tcp.${DOMAIN}`);
    assert.deepEqual([...named.matchAll(/service = 0 50 80 (\S+)$/gm)].map((m) => m[1]).sort(), [fqdn(0), fqdn(1)]);
    // From the host, with resolvers that apply a search list to dotted names as a pod's libc
    // does (ndots:5): ISC nslookup and dig against the cluster DNS on the bridge.
    const host = (cmd: string, args: string[]): string => {
      const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
      return r.stdout ?? '';
    };
    assert.match(host('nslookup', ['-ndots=5', '-domain=default.svc.cluster.local', 'web-0.nginx', GATEWAY]), new RegExp(`Name:\\s+${esc(fqdn(0))}\\nAddress: ${esc(ips[0]!)}\\n`));
    const hostSrv = host('nslookup', ['-ndots=5', '-domain=svc.cluster.local', '-type=srv', 'nginx.default', GATEWAY]);
    assert.deepEqual([...hostSrv.matchAll(/service = 0 50 80 (\S+)\.$/gm)].map((m) => m[1]).sort(), [fqdn(0), fqdn(1)], hostSrv);
    assert.equal(host('dig', [`@${GATEWAY}`, '+search', '+ndots=5', '+domain=default.svc.cluster.local', '+short', 'web-1.nginx']), `${ips[1]}\n`);
    // A member that does not exist: NXDOMAIN (nslookup exits 1).
    const none = await exec('web-0', 'httpd', 'nslookup', fqdn(7));
    assert.equal(none.code, 1);
    assert.match(none.stdout, /NXDOMAIN/);
  });

  it('peer-finder installed by the init container: -on-start gets the peers it saw, then exits as the classic tool does', async () => {
    // web-0 started alone (OrderedReady: web-1 is created once web-0 is Ready); web-1 saw both.
    const peers0 = await execOk('web-0', 'httpd', 'cat', '/shared/start-peers');
    assert.equal(peers0, `${fqdn(0)}\n`);
    const peers1 = await execOk('web-1', 'httpd', 'cat', '/shared/start-peers');
    assert.equal(peers1, `${fqdn(0)}\n${fqdn(1)}\n`);
    for (const i of [0, 1]) {
      const logs = await kn!.k(['logs', `web-${i}`, '-c', 'httpd']);
      // The watch path, with the pod's service-account token (there is no other credential in
      // the pod), not the DNS fallback.
      assert.match(logs, /^peer-finder: watching EndpointSlices of default\/nginx$/m);
      assert.doesNotMatch(logs, /not reachable|polling DNS/);
      assert.match(logs, /^peer-finder: \/scripts\/on-start\.sh exited with code 0$/m);
      assert.match(logs, /^peer-finder exited 0$/m);
    }
  });

  it('the API server is reachable from a pod through the kubernetes ClusterIP with the service-account token (wait-for)', async () => {
    const svc = JSON.parse(await kn!.k(['get', 'service', 'kubernetes', '-o', 'json'])) as { spec: { clusterIP: string } };
    const env = await execOk('web-0', 'peer-finder', 'sh', '-c', 'echo "$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT $(ls /var/run/secrets/kubernetes.io/serviceaccount | tr "\\n" " ")"');
    assert.equal(env, `${svc.spec.clusterIP}:443 ca.crt namespace token \n`);
    // The API server listens on the host's 127.0.0.1 (kennel up --port 0): a pod reaches it only
    // through the proxy's DNAT of the ClusterIP.
    assert.match(kn!.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const rules = spawnSync('nft', ['list', 'map', 'ip', 'kennel-proxy', 'service-ips'], { encoding: 'utf8' });
    assert.match(rules.stdout, new RegExp(`${esc(svc.spec.clusterIP)} \\. tcp \\. 443 : goto`), rules.stderr);
    const ok = await exec('web-0', 'peer-finder', 'wait-for', 'service', 'nginx', '--ready', '2', '--timeout', '20s');
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, /^service default\/nginx: 2\/2 ready$/m);
    const short = await exec('web-0', 'peer-finder', 'wait-for', 'service', 'nginx', '--ready', '3', '--timeout', '1s');
    assert.equal(short.code, 1);
    assert.match(short.stdout, /^wait-for: timed out after 1s: service default\/nginx has 2\/3 ready endpoints$/m);
  });

  it('a ClusterIP service (named targetPort) reaches both backends from another pod', async () => {
    const svc = JSON.parse(await kn!.k(['get', 'service', 'web-svc', '-o', 'json'])) as { spec: { clusterIP: string } };
    assert.match(svc.spec.clusterIP, /^10\.43\.\d+\.\d+$/);
    // By name (the search list), by FQDN and by address; busybox wget's -T crashes, so no timeout flag.
    const body = await execOk('client', undefined, 'sh', '-c', 'for i in $(seq 1 24); do wget -q -O - http://web-svc:8080/; done');
    const answers = body.split('\n').filter(Boolean);
    assert.equal(answers.length, 24, body);
    assert.deepEqual([...new Set(answers)].sort(), ['hello from web-0', 'hello from web-1'], 'both backends answer (random choice: 2^-23 odds of one only)');
    assert.match(await execOk('client', undefined, 'wget', '-q', '-O', '-', 'http://web-svc.default.svc.cluster.local:8080/'), /^hello from web-[01]\n$/);
    assert.match(await execOk('client', undefined, 'wget', '-q', '-O', '-', `http://${svc.spec.clusterIP}:8080/`), /^hello from web-[01]\n$/);
  });

  it('peer-finder as the main process keeps a Nacos-style cluster.conf current while the set scales 2 → 3 → 2', async () => {
    const conf = (...members: number[]): string[] => members.map((i) => `${fqdn(i)}:8848`);
    assert.deepEqual(await waitUntil('cluster.conf of 2', async () => ((await clusterConf()).length === 2 ? clusterConf() : undefined), { timeoutMs: 10_000, everyMs: 200 }), conf(0, 1));

    await kn!.k(['scale', 'statefulset', 'web', '--replicas=3']);
    const web2 = await waitForPod(kn!, 'web-2', podReady, 'Ready', 60_000);
    for (const v of bridgeVeths()) seenVeths.add(v);
    // The watch delivers the new member within moments of its Ready flip.
    const t0 = Date.now();
    await waitUntil('cluster.conf of 3 in web-0', async () => (await clusterConf()).length === 3, { timeoutMs: 10_000, everyMs: 100 });
    const lag = Date.now() - t0;
    assert.deepEqual(await clusterConf(), conf(0, 1, 2));
    assert.deepEqual(await clusterConf('web-1'), conf(0, 1, 2));
    assert.deepEqual(await srvTargets(), [fqdn(0), fqdn(1), fqdn(2)], 'SRV lists the third member');
    assert.equal(await execOk('web-2', 'httpd', 'cat', '/shared/start-peers'), [0, 1, 2].map((i) => `${fqdn(i)}\n`).join(''));
    assert.ok(web2!.status!.podIP);

    await kn!.k(['scale', 'statefulset', 'web', '--replicas=2']);
    await waitUntil('cluster.conf of 2 again', async () => (await clusterConf()).length === 2, { timeoutMs: 30_000, everyMs: 100 });
    assert.deepEqual(await clusterConf(), conf(0, 1));
    await waitUntil('web-2 gone', async () => ((await getPod(kn!, 'web-2')) === undefined ? true : undefined), { timeoutMs: 30_000, everyMs: 250 });
    assert.deepEqual(await srvTargets(), [fqdn(0), fqdn(1)]);

    // The script's runs, in order: one per change of the set (web-0 saw itself alone first).
    const logs = await kn!.k(['logs', 'web-0', '-c', 'peer-finder']);
    assert.match(logs, /^peer-finder: watching EndpointSlices of default\/nginx$/m);
    assert.doesNotMatch(logs, /not reachable|polling DNS/);
    const runs = [...logs.matchAll(/^cluster\.conf: (.*?) ?$/gm)].map((m) => m[1]!.split(' '));
    assert.deepEqual(runs, [conf(0), conf(0, 1), conf(0, 1, 2), conf(0, 1)], logs);
    for (const r of runs) assert.deepEqual(r, [...r].sort(), 'peers sorted');
    // Only a loose bound here (kubectl exec polling); bench/peer-latency measures the latency.
    assert.ok(lag < 5_000, `cluster.conf updated ${lag} ms after web-2 was seen Ready`);
  });

  it('every pod goes with the set and the client; no veth or container process is left', async () => {
    for (const v of bridgeVeths()) seenVeths.add(v);
    await kn!.k(['delete', 'statefulset', 'web', '--wait=true']);
    await deleteAllPods(kn!, 60_000);
    const pods = await kn!.k(['get', 'pods', '-o', 'name']);
    assert.equal(pods.trim(), '');
    await waitUntil('no veth on the bridge', () => bridgeVeths().length === 0, { timeoutMs: 15_000, everyMs: 200 });
    const containers = processesOf(root, MARKER, { ignore: /kennel\.mjs up |^containerd --config / });
    assert.deepEqual(containers, []);
  });
});
