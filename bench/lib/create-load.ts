// The load of bench/api-writes: N clients, each on its own keep-alive TLS connection, creating
// small realistic ConfigMaps one after another until a deadline. Runs in the main thread or in
// a worker (bench/lib/create-load-worker.ts).
import { HttpsConnection } from './https-client.ts';
import { nowMs } from './stats.ts';

export interface CreateLoadOptions {
  url: string;
  ca: string;
  token: string;
  namespace: string;
  clients: number;
  /** Prefix of the object names (unique per load generator). */
  namePrefix: string;
}

export interface CreateLoadResult {
  creates: number;
  /** Answers other than 201, and connection errors. */
  errors: number;
  firstError?: string;
  /** Per-create latency, ms. */
  latencies: Float64Array;
  /** Wall time of the run, ms. */
  elapsedMs: number;
}

/** A ConfigMap as applications keep them: a few labels and a few data keys (~400 bytes). */
export function configMapBody(name: string, client: number, seq: number): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      labels: { app: 'bench', 'app.kubernetes.io/component': 'backend', tier: client % 2 ? 'web' : 'worker', client: String(client) },
    },
    data: {
      'log.level': 'info',
      mode: 'production',
      'app.properties': `server.port=8080\nfeature.flags=a,b,c\ncache.size=${seq % 1000}\nreplica.id=${client}\n`,
      endpoint: `https://svc-${client}.bench.svc.cluster.local:8443/api`,
    },
  });
}

export class CreateLoad {
  private conns: HttpsConnection[] = [];
  /** Next sequence number per client: names stay unique across runs (warm-up, then measure). */
  private seqs: number[] = [];
  constructor(private readonly opts: CreateLoadOptions) {}

  async connect(): Promise<void> {
    this.seqs = new Array<number>(this.opts.clients).fill(0);
    this.conns = await Promise.all(Array.from({ length: this.opts.clients }, () => HttpsConnection.connect({ url: this.opts.url, ca: this.opts.ca })));
  }

  /** Create until the absolute deadline (nowMs() clock). */
  async run(deadline: number): Promise<CreateLoadResult> {
    const { token, namespace, namePrefix } = this.opts;
    const path = `/api/v1/namespaces/${namespace}/configmaps`;
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json', 'user-agent': 'kennel-bench/1' };
    const latencies: number[] = [];
    let errors = 0;
    let firstError: string | undefined;
    const t0 = nowMs();
    await Promise.all(
      this.conns.map(async (conn, c) => {
        while (nowMs() < deadline) {
          const seq = this.seqs[c]++;
          const name = `${namePrefix}-c${c}-${seq}`;
          const body = configMapBody(name, c, seq);
          const t = performance.now();
          try {
            const r = await conn.request('POST', path, headers, body);
            if (r.status === 201) latencies.push(performance.now() - t);
            else {
              errors++;
              firstError ??= `${r.status}: ${r.body.toString('utf8').slice(0, 300)}`;
            }
          } catch (e) {
            errors++;
            firstError ??= String(e);
            return;
          }
        }
      }),
    );
    return { creates: latencies.length, errors, firstError, latencies: Float64Array.from(latencies), elapsedMs: nowMs() - t0 };
  }

  close(): void {
    for (const c of this.conns) c.close();
  }
}
