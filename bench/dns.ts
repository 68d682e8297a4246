// bench/dns: dnsperf against kennel's cluster DNS and against dnsmasq serving the same records,
// in one run: queries per second at saturation, latency percentiles at a fixed rate, and the
// ratio kennel/dnsmasq (targets: ratio ≥ 0.6, p99 < 2 ms). Prints one JSON line.
//
// The kennel server runs alone in a child process (this file with `serve`), fed a fixed state —
// no API server, no informers — so the figure is the server's: the same code path answers as in
// a cluster (answer builder, dns-packet encoding, the response cache that every state change
// empties). dnsmasq (--no-resolv, host-record/srv-host entries for the same names, authoritative
// for cluster.local via `local=`) runs in the foreground on another 127.0.0.x address. Each
// server gets the same query file: pod A records of a headless service, the service's A and SRV
// (bare and per named port), a ClusterIP service, and one NXDOMAIN.
//
// Two dnsperf passes per server: a throughput pass (-q 100 outstanding, BENCH_SECONDS long) and
// a latency pass at a fixed BENCH_LATENCY_QPS with per-query latencies (-v) for p50/p99/max.
//
// Needs the Debian packages dnsperf and dnsmasq. Environment: BENCH_SECONDS (default 5),
// BENCH_LATENCY_QPS (default 10000), BENCH_CLIENTS (dnsperf -c, default 1).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { summarize, round } from './lib/stats.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LATENCY_QPS = Number(process.env.BENCH_LATENCY_QPS ?? 10000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 1);
const KENNEL_HOST = '127.0.0.1';
const DNSMASQ_HOST = '127.0.0.2';

const PODS = [0, 1, 2, 3, 4].map((i) => ({ name: `web-${i}`, ip: `10.244.0.${10 + i}` }));
const SVC_DOMAIN = 'nginx.default.svc.cluster.local';
const API = { name: 'api.default.svc.cluster.local', ip: '10.43.0.20', port: 8080 };

const QUERIES: [string, string][] = [
  ...PODS.map((p): [string, string] => [`${p.name}.${SVC_DOMAIN}`, 'A']),
  [SVC_DOMAIN, 'A'],
  [`_web._tcp.${SVC_DOMAIN}`, 'SRV'],
  [SVC_DOMAIN, 'SRV'],
  [API.name, 'A'],
  ['missing.default.svc.cluster.local', 'A'],
];

function log(msg: string): void {
  process.stderr.write(`dns: ${msg}\n`);
}

// ---------------------------------------------------------------------------------------------
// The kennel server child

async function serve(host: string, port: number, responseCache: boolean): Promise<void> {
  const { startDnsServer } = await import('../src/dns/server.ts');
  const { DnsState } = await import('../src/dns/state.ts');
  const { createLogger } = await import('../src/util/log.ts');
  const web = [{ name: 'web', protocol: 'TCP', port: 80 }];
  const state = new DnsState();
  state.setNamespace('default');
  state.setService({ namespace: 'default', name: 'nginx', type: 'ClusterIP', headless: true, clusterIPs: [], ports: web });
  state.setServiceEndpoints(
    'default',
    'nginx',
    PODS.map((p) => ({ ip: p.ip, hostname: p.name, ports: web })),
  );
  state.setService({ namespace: 'default', name: 'api', type: 'ClusterIP', headless: false, clusterIPs: [API.ip], ports: [{ name: 'http', protocol: 'TCP', port: API.port }] });
  const server = await startDnsServer({ state, listen: [{ host, port }], upstream: [], responseCache, logger: createLogger('dns', { level: 'warn' }) });
  process.stdout.write(`ready ${server.addresses[0].port}\n`);
  const stop = (): void => {
    process.stdout.write(`stats ${JSON.stringify(server.stats)}\n`);
    void server.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// ---------------------------------------------------------------------------------------------
// The benchmark

interface Started {
  proc: ChildProcess;
  port: number;
  lines: string[];
}

function startKennel(responseCache = true): Promise<Started> {
  return new Promise((resolve, reject) => {
    const args = ['--import', 'tsx', 'bench/dns.ts', 'serve', KENNEL_HOST, '0', responseCache ? 'cache' : 'nocache'];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: string[] = [];
    const rl = createInterface({ input: proc.stdout! });
    const timer = setTimeout(() => reject(new Error('the kennel DNS child did not start within 30 s')), 30_000);
    rl.on('line', (l) => {
      lines.push(l);
      const m = /^ready (\d+)$/.exec(l);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, port: Number(m[1]), lines });
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the kennel DNS child exited (${code})`));
    });
  });
}

function dnsmasqConfig(): string {
  const out = ['no-resolv', 'no-hosts', 'local=/cluster.local/', 'bind-interfaces', `listen-address=${DNSMASQ_HOST}`, 'local-ttl=5', 'auth-ttl=5'];
  for (const p of PODS) out.push(`host-record=${p.name}.${SVC_DOMAIN},${p.ip}`);
  for (const p of PODS) out.push(`host-record=${SVC_DOMAIN},${p.ip}`);
  out.push(`host-record=${API.name},${API.ip}`);
  for (const p of PODS) {
    out.push(`srv-host=_web._tcp.${SVC_DOMAIN},${p.name}.${SVC_DOMAIN},80,0,20`);
    out.push(`srv-host=${SVC_DOMAIN},${p.name}.${SVC_DOMAIN},80,0,20`);
  }
  return out.join('\n') + '\n';
}

async function freeUdpPort(host: string): Promise<number> {
  const dgram = await import('node:dgram');
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

async function startDnsmasq(dir: string): Promise<Started> {
  const conf = join(dir, 'dnsmasq.conf');
  await writeFile(conf, dnsmasqConfig());
  const port = await freeUdpPort(DNSMASQ_HOST);
  const proc = spawn('dnsmasq', ['--keep-in-foreground', `--conf-file=${conf}`, `--port=${port}`, '--user=root', '--pid-file='], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  // Wait until it answers.
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`dnsmasq exited: ${err}`);
    const r = spawnSync('dig', [`@${DNSMASQ_HOST}`, '-p', String(port), '+short', '+tries=1', '+time=1', API.name], { encoding: 'utf8' });
    if (r.stdout.trim() === API.ip) return { proc, port, lines: [] };
    await new Promise((r2) => setTimeout(r2, 50));
  }
  throw new Error(`dnsmasq did not answer: ${err}`);
}

function stop(s: Started): Promise<void> {
  return new Promise((resolve) => {
    if (s.proc.exitCode !== null) {
      resolve();
      return;
    }
    s.proc.once('exit', () => resolve());
    s.proc.kill('SIGTERM');
  });
}

/** dig each query against a server: rcode and answer count (to check both serve the same). */
function answersOf(host: string, port: number): string[] {
  return QUERIES.map(([name, type]) => {
    const r = spawnSync('dig', [`@${host}`, '-p', String(port), '+tries=1', '+time=2', '+noall', '+comments', '+answer', name, type], { encoding: 'utf8' });
    const status = /status: ([A-Z]+)/.exec(r.stdout)?.[1] ?? 'none';
    const answers = r.stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith(';')).length;
    return `${name} ${type} ${status} ${answers}`;
  });
}

interface Perf {
  qps: number;
  avgMs: number;
  lost: number;
  sent: number;
}

function dnsperf(host: string, port: number, file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('dnsperf', ['-s', host, '-p', String(port), '-d', file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => chunks.push(d));
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`dnsperf exited ${code}: ${err}`))));
  });
}

async function throughput(host: string, port: number, file: string): Promise<Perf> {
  const out = await dnsperf(host, port, file, ['-l', String(SECONDS), '-c', String(CLIENTS), '-q', '100']);
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? NaN);
  return {
    qps: round(num(/Queries per second:\s+([\d.]+)/), 0),
    avgMs: round(num(/Average Latency \(s\):\s+([\d.]+)/) * 1000, 3),
    lost: num(/Queries lost:\s+(\d+)/),
    sent: num(/Queries sent:\s+(\d+)/),
  };
}

async function latency(host: string, port: number, file: string): Promise<{ p50Ms: number; p99Ms: number; maxMs: number; count: number; rcodes: Record<string, number> }> {
  const out = await dnsperf(host, port, file, ['-l', '2', '-Q', String(LATENCY_QPS), '-v']);
  const lat: number[] = [];
  const rcodes: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const m = /^> (\S+) \S+ \S+ ([\d.]+)$/.exec(line);
    if (!m) continue;
    rcodes[m[1]] = (rcodes[m[1]] ?? 0) + 1;
    lat.push(Number(m[2]) * 1000);
  }
  const s = summarize(lat);
  return { p50Ms: round(s.p50Ms, 3), p99Ms: round(s.p99Ms, 3), maxMs: s.maxMs, count: s.count, rcodes };
}

function need(cmd: string, pkg: string): void {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0) throw new Error(`${cmd} is not installed: apt-get install -y ${pkg}`);
}

async function main(): Promise<void> {
  need('dnsperf', 'dnsperf');
  need('dnsmasq', 'dnsmasq');
  need('dig', 'dnsutils');
  const dir = await mkdtemp(join(tmpdir(), 'kennel-bench-dns-'));
  const started: Started[] = [];
  try {
    const file = join(dir, 'queries.txt');
    await writeFile(file, QUERIES.map(([n, t]) => `${n} ${t}`).join('\n') + '\n');
    const kennel = await startKennel();
    started.push(kennel);
    const dnsmasq = await startDnsmasq(dir);
    started.push(dnsmasq);
    const kAnswers = answersOf(KENNEL_HOST, kennel.port);
    const dAnswers = answersOf(DNSMASQ_HOST, dnsmasq.port);
    const mismatches = kAnswers.flatMap((a, i) => (a === dAnswers[i] ? [] : [`kennel: ${a} / dnsmasq: ${dAnswers[i]}`]));
    if (mismatches.length > 0) log(`answers differ: ${mismatches.join('; ')}`);
    log(`kennel on ${KENNEL_HOST}:${kennel.port}, dnsmasq on ${DNSMASQ_HOST}:${dnsmasq.port}; ${QUERIES.length} names; ${SECONDS}s a pass`);
    // Throughput kennel then dnsmasq, latency the other way round.
    const kT = await throughput(KENNEL_HOST, kennel.port, file);
    log(`kennel: ${kT.qps} qps`);
    const dT = await throughput(DNSMASQ_HOST, dnsmasq.port, file);
    log(`dnsmasq: ${dT.qps} qps`);
    const dL = await latency(DNSMASQ_HOST, dnsmasq.port, file);
    const kL = await latency(KENNEL_HOST, kennel.port, file);
    await stop(kennel);
    const statsLine = kennel.lines.find((l) => l.startsWith('stats '));
    const kStats = statsLine ? (JSON.parse(statsLine.slice(6)) as Record<string, number>) : undefined;
    // The same server without its response cache: every query parsed, answered and encoded
    // (what a cluster whose state changes all the time would see).
    const uncached = await startKennel(false);
    started.push(uncached);
    const uT = await throughput(KENNEL_HOST, uncached.port, file);
    log(`kennel without response cache: ${uT.qps} qps`);
    await stop(uncached);
    const ratio = dT.qps > 0 ? round(kT.qps / dT.qps, 2) : 0;
    const result = {
      bench: 'dns',
      setup: 'kennel DNS alone in a child process fed a fixed state (no API server); dnsmasq with host-record/srv-host for the same names; dnsperf on the same host (2 cores shared)',
      names: QUERIES.length,
      seconds: SECONDS,
      latencyQps: LATENCY_QPS,
      kennel: { ...kT, ...kL, cacheHitRate: kStats && kStats.queries ? round(kStats.cacheHits / kStats.queries, 4) : undefined },
      kennelWithoutResponseCache: { qps: uT.qps, avgMs: uT.avgMs, lost: uT.lost, ratio: dT.qps > 0 ? round(uT.qps / dT.qps, 2) : 0 },
      dnsmasq: { ...dT, ...dL },
      ratio,
      sameAnswers: mismatches.length === 0,
      targets: { ratio: 0.6, p99Ms: 2 },
      ok: ratio >= 0.6 && kL.p99Ms < 2,
    };
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    for (const s of started) await stop(s);
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'serve') {
  void serve(process.argv[3] ?? KENNEL_HOST, Number(process.argv[4] ?? 0), process.argv[5] !== 'nocache');
} else {
  main().catch((e: unknown) => {
    log(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
