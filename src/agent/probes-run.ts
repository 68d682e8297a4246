// One probe attempt, as the kubelet's probers (pkg/probe/{exec,http,tcp,grpc}) make it, with the
// kubelet's result classes and output texts: the output of a failed probe becomes the Unhealthy
// event's message (`Readiness probe failed: HTTP probe failed with statuscode: 500`,
// `Liveness probe failed: dial tcp 10.244.0.5:8080: connect: connection refused` …), so the texts
// follow Go's error strings.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type * as GrpcJs from '@grpc/grpc-js';
import type { Container, Probe } from './kube-types.ts';
import type { Runtime } from './runtime/types.ts';

/** success and warning count as success; unknown means the probe could not run (the result is dropped). */
export type ProbeResult = 'success' | 'warning' | 'failure' | 'unknown';

export interface ProbeOutcome {
  result: ProbeResult;
  output: string;
}

export interface ProbeTarget {
  container: Container;
  containerId: string;
  /** The pod's IP (default host of httpGet and tcpSocket); undefined while unknown. */
  podIP: string | undefined;
}

/** The kubelet reads at most 10 KiB of a probe's output (exec) or response body (http). */
export const MAX_PROBE_OUTPUT = 10 * 1024;
/** The version the kubelet puts in its probes' User-Agent (`kube-probe/1.32`). */
export const PROBE_USER_AGENT = 'kube-probe/1.32';
const MAX_REDIRECTS = 10;

/** The timeout of a probe in seconds (Kubernetes default 1). */
export function probeTimeoutSeconds(p: Probe): number {
  return p.timeoutSeconds && p.timeoutSeconds > 0 ? p.timeoutSeconds : 1;
}

/** Run one attempt of a probe against a container. Never throws. */
export async function runProbe(probe: Probe, target: ProbeTarget, runtime: Pick<Runtime, 'execSync'>): Promise<ProbeOutcome> {
  const timeout = probeTimeoutSeconds(probe);
  try {
    if (probe.exec) return await execProbe(runtime, target.containerId, probe.exec.command ?? [], timeout);
    if (probe.httpGet) {
      const h = probe.httpGet;
      const host = h.host || target.podIP;
      if (!host) return { result: 'unknown', output: 'the pod has no IP address yet' };
      const port = resolvePort(h.port, target.container);
      if (typeof port === 'string') return { result: 'unknown', output: port };
      const headers: Record<string, string> = {};
      for (const hh of h.httpHeaders ?? []) if (hh.name) headers[hh.name] = hh.value ?? '';
      const scheme = (h.scheme ?? 'HTTP').toUpperCase() === 'HTTPS' ? 'https' : 'http';
      return await httpProbe(formatProbeURL(scheme, host, port, h.path ?? ''), headers, timeout);
    }
    if (probe.tcpSocket) {
      const host = probe.tcpSocket.host || target.podIP;
      if (!host) return { result: 'unknown', output: 'the pod has no IP address yet' };
      const port = resolvePort(probe.tcpSocket.port, target.container);
      if (typeof port === 'string') return { result: 'unknown', output: port };
      return await tcpProbe(host, port, timeout);
    }
    if (probe.grpc) {
      if (!target.podIP) return { result: 'unknown', output: 'the pod has no IP address yet' };
      return await grpcProbe(target.podIP, probe.grpc.port, probe.grpc.service ?? '', timeout);
    }
    return { result: 'unknown', output: 'missing probe handler' };
  } catch (e) {
    return { result: 'unknown', output: e instanceof Error ? e.message : String(e) };
  }
}

/** A probe port: a number, or the name of one of the container's ports. A string is an error message. */
export function resolvePort(port: number | string | undefined, container: Container): number | string {
  let n: number;
  if (typeof port === 'string') {
    const found = (container.ports ?? []).find((p) => p.name === port);
    if (!found) return `port ${port} not found`;
    n = found.containerPort;
  } else {
    n = port ?? 0;
  }
  if (Number.isInteger(n) && n > 0 && n < 65536) return n;
  return `invalid port number: ${n}`;
}

function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** scheme://host:port + path as the kubelet builds it (the path may carry a query). */
export function formatProbeURL(scheme: 'http' | 'https', host: string, port: number, path: string): string {
  const p = path === '' || path.startsWith('/') ? path : `/${path}`;
  return `${scheme}://${joinHostPort(host, port)}${p}`;
}

// ---------------------------------------------------------------------------------------------
// exec
// ---------------------------------------------------------------------------------------------
async function execProbe(runtime: Pick<Runtime, 'execSync'>, containerId: string, cmd: string[], timeout: number): Promise<ProbeOutcome> {
  let r;
  try {
    r = await runtime.execSync(containerId, cmd, timeout);
  } catch (e) {
    // A command that cannot start fails the probe with the runtime's words, as containerd's
    // `OCI runtime exec failed: … executable file not found in $PATH` does.
    return { result: 'failure', output: e instanceof Error ? e.message : String(e) };
  }
  if (r.timedOut) return { result: 'failure', output: `command ${goQuote(cmd.join(' '))} timed out` };
  const output = Buffer.concat([r.stdout, r.stderr]).subarray(0, MAX_PROBE_OUTPUT).toString('utf8');
  return { result: r.exitCode === 0 ? 'success' : 'failure', output };
}

/** Go's %q for a plain string. */
function goQuote(s: string): string {
  return JSON.stringify(s);
}

// ---------------------------------------------------------------------------------------------
// Errors as Go prints them
// ---------------------------------------------------------------------------------------------
const SYSCALL_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connect: connection refused',
  EHOSTUNREACH: 'connect: no route to host',
  ENETUNREACH: 'connect: network is unreachable',
  EADDRNOTAVAIL: 'connect: cannot assign requested address',
  ECONNRESET: 'read: connection reset by peer',
  EPIPE: 'write: broken pipe',
  ETIMEDOUT: 'i/o timeout',
};

/** `dial tcp 10.0.0.5:8080: connect: connection refused` and its relatives. */
function dialError(hostPort: string, host: string, err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `dial tcp: lookup ${host}: no such host`;
  const text = SYSCALL_TEXT[code];
  if (text && (err.syscall === 'connect' || code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ETIMEDOUT')) {
    return `dial tcp ${hostPort}: ${text}`;
  }
  if (text) return `${text}`;
  return err.message;
}

// ---------------------------------------------------------------------------------------------
// tcpSocket
// ---------------------------------------------------------------------------------------------
export function tcpProbe(host: string, port: number, timeoutSeconds: number): Promise<ProbeOutcome> {
  const hostPort = joinHostPort(host, port);
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: ProbeOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(o);
    };
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => finish({ result: 'failure', output: `dial tcp ${hostPort}: i/o timeout` }), timeoutSeconds * 1000);
    sock.once('connect', () => finish({ result: 'success', output: '' }));
    sock.once('error', (err: NodeJS.ErrnoException) => finish({ result: 'failure', output: dialError(hostPort, host, err) }));
  });
}

// ---------------------------------------------------------------------------------------------
// httpGet
// ---------------------------------------------------------------------------------------------
interface HttpAnswer {
  status: number;
  location?: string;
  body: string;
}

/**
 * GET url with the kubelet's headers; 200–399 succeed. Redirects on the same host are followed
 * (at most 10); a redirect to another host ends the probe with a warning (which counts as
 * success), as the kubelet does without followNonLocalRedirects.
 */
export async function httpProbe(url: string, headers: Record<string, string>, timeoutSeconds: number): Promise<ProbeOutcome> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  const first = new URL(url);
  let current = first;
  let currentText = url;
  for (let hops = 0; ; hops++) {
    let ans: HttpAnswer;
    try {
      ans = await httpGetOnce(current, headers, deadline);
    } catch (e) {
      return { result: 'failure', output: `Get ${goQuote(currentText)}: ${(e as Error).message}` };
    }
    const redirect = [301, 302, 303, 307, 308].includes(ans.status) && ans.location !== undefined;
    if (redirect) {
      let next: URL;
      try {
        next = new URL(ans.location!, current);
      } catch {
        return { result: 'failure', output: `Get ${goQuote(currentText)}: failed to parse Location header ${goQuote(ans.location!)}` };
      }
      if (next.hostname === first.hostname) {
        if (hops + 1 >= MAX_REDIRECTS) return { result: 'failure', output: `Get ${goQuote(next.href)}: stopped after ${MAX_REDIRECTS} redirects` };
        current = next;
        currentText = next.href;
        continue;
      }
      // A redirect to another host: the last response stands.
    }
    if (ans.status >= 200 && ans.status < 400) {
      if (ans.status >= 300) return { result: 'warning', output: `Probe terminated redirects, Response body: ${ans.body}` };
      return { result: 'success', output: ans.body };
    }
    return { result: 'failure', output: `HTTP probe failed with statuscode: ${ans.status}` };
  }
}

function httpGetOnce(u: URL, headers: Record<string, string>, deadline: number): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const hdrs: Record<string, string> = {};
    let hasUA = false;
    let hasAccept = false;
    let hostHeader: string | undefined;
    for (const [k, v] of Object.entries(headers)) {
      const lk = k.toLowerCase();
      if (lk === 'host') {
        hostHeader = v;
        continue;
      }
      if (lk === 'user-agent') hasUA = true;
      if (lk === 'accept') hasAccept = true;
      hdrs[k] = v;
    }
    if (!hasUA) hdrs['User-Agent'] = PROBE_USER_AGENT;
    if (!hasAccept) hdrs['Accept'] = '*/*';
    if (hostHeader !== undefined) hdrs['Host'] = hostHeader;
    hdrs['Connection'] = 'close';
    const secure = u.protocol === 'https:';
    const mod = secure ? https : http;
    const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    let gotHeaders = false;
    let settled = false;
    const fail = (msg: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(new Error(msg));
    };
    const req = mod.request(
      {
        method: 'GET',
        hostname,
        port: u.port || (secure ? 443 : 80),
        path: `${u.pathname}${u.search}`,
        headers: hdrs,
        agent: false,
        ...(secure ? { rejectUnauthorized: false, servername: net.isIP(hostname) ? undefined : hostname } : {}),
      },
      (res) => {
        gotHeaders = true;
        const chunks: Buffer[] = [];
        let len = 0;
        const finish = () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          const loc = res.headers.location;
          resolve({ status: res.statusCode ?? 0, location: typeof loc === 'string' ? loc : undefined, body: Buffer.concat(chunks).toString('utf8') });
          res.destroy();
        };
        res.on('data', (c: Buffer) => {
          if (len < MAX_PROBE_OUTPUT) chunks.push(c.subarray(0, MAX_PROBE_OUTPUT - len));
          len += c.length;
          if (len >= MAX_PROBE_OUTPUT) finish();
        });
        res.on('end', finish);
        res.on('error', finish);
        res.on('aborted', finish);
      },
    );
    const timer = setTimeout(
      () =>
        fail(
          gotHeaders
            ? 'context deadline exceeded (Client.Timeout or context cancellation while reading body)'
            : 'context deadline exceeded (Client.Timeout exceeded while awaiting headers)',
        ),
      Math.max(0, deadline - Date.now()),
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      const hostPort = joinHostPort(hostname, Number(u.port || (secure ? 443 : 80)));
      if (err.code === 'ECONNRESET' && !gotHeaders) fail('EOF');
      else fail(dialError(hostPort, hostname, err));
    });
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------
// grpc (grpc.health.v1.Health/Check)
// ---------------------------------------------------------------------------------------------
const HEALTH_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** HealthCheckRequest { string service = 1; } */
function encodeHealthRequest(service: string): Buffer {
  if (!service) return Buffer.alloc(0);
  const s = Buffer.from(service, 'utf8');
  const len: number[] = [];
  let n = s.length;
  while (n >= 0x80) {
    len.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  len.push(n);
  return Buffer.concat([Buffer.from([0x0a, ...len]), s]);
}

/** HealthCheckResponse { ServingStatus status = 1; } → the status number. */
export function decodeHealthResponse(b: Buffer): number {
  let i = 0;
  let status = 0;
  while (i < b.length) {
    const tag = b[i++]!;
    const field = tag >>> 3;
    const wire = tag & 7;
    const readVarint = (): number => {
      let v = 0;
      let shift = 0;
      while (i < b.length) {
        const x = b[i++]!;
        v += (x & 0x7f) * 2 ** shift;
        if (!(x & 0x80)) break;
        shift += 7;
      }
      return v;
    };
    if (wire === 0) {
      const v = readVarint();
      if (field === 1) status = v;
    } else if (wire === 2) {
      const l = readVarint();
      i += l;
    } else if (wire === 5) i += 4;
    else if (wire === 1) i += 8;
    else break;
  }
  return status;
}

/** Go's name of a gRPC status code (`PermissionDenied`). */
function goCodeName(grpc: typeof GrpcJs, code: number): string {
  const name = grpc.status[code] as string | undefined;
  if (!name) return `Code(${code})`;
  return name
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

/** @grpc/grpc-js, loaded with the first gRPC probe: most agents never run one, and it is a large module to keep resident. */
let grpcModule: Promise<typeof GrpcJs> | undefined;

export async function grpcProbe(host: string, port: number, service: string, timeoutSeconds: number): Promise<ProbeOutcome> {
  const addr = joinHostPort(host, port);
  const grpc = await (grpcModule ??= import('@grpc/grpc-js'));
  return new Promise((resolve) => {
    const client = new grpc.Client(addr, grpc.credentials.createInsecure());
    const deadline = new Date(Date.now() + timeoutSeconds * 1000);
    client.makeUnaryRequest<Buffer, Buffer>(
      '/grpc.health.v1.Health/Check',
      (x) => x,
      (x) => x,
      encodeHealthRequest(service),
      new grpc.Metadata(),
      { deadline },
      (err, resp) => {
        client.close();
        if (err) {
          switch (err.code) {
            case grpc.status.UNIMPLEMENTED:
              resolve({ result: 'failure', output: `this server does not implement the grpc health protocol (grpc.health.v1.Health): ${err.details}` });
              return;
            case grpc.status.DEADLINE_EXCEEDED:
              resolve({ result: 'failure', output: `timeout: health rpc did not complete within ${timeoutSeconds}s` });
              return;
            case grpc.status.UNAVAILABLE:
              resolve({ result: 'failure', output: `timeout: failed to connect service ${goQuote(addr)} within ${timeoutSeconds}s: ${err.details}` });
              return;
            default:
              resolve({ result: 'failure', output: `error: health rpc probe failed: rpc error: code = ${goCodeName(grpc, err.code)} desc = ${err.details}` });
              return;
          }
        }
        const st = decodeHealthResponse(resp ?? Buffer.alloc(0));
        if (st !== 1) {
          resolve({ result: 'failure', output: `service unhealthy (responded with ${goQuote(HEALTH_STATUS[st] ?? String(st))})` });
          return;
        }
        resolve({ result: 'success', output: 'service is healthy' });
      },
    );
  });
}
