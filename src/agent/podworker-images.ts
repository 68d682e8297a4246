// Pod workers: image pulls (pull policy, back-off, registry credentials from pull secrets).
import { defaultPullPolicy } from '../registry/podspec.ts';
import { podTarget } from './events.ts';
import type { KubeObject } from '../registry/types.ts';
import type { Container, Pod } from './kube-types.ts';
import type { AuthConfig } from './runtime/types.ts';
import { Backoff } from './sync.ts';
import { errMessage, seconds, type PodWorkersOptions, type Worker } from './podworker-types.ts';

/** Image pulls for the pod workers: pull policy, one pull per image at a time, per pod/image back-off. */
export class ImagePuller {
  readonly imageBackoff: Backoff;
  private readonly pullsInFlight = new Map<string, Promise<void>>();

  constructor(private readonly o: PodWorkersOptions) {
    this.imageBackoff = o.imageBackoff ?? new Backoff();
  }

  async ensureImage(w: Worker, pod: Pod, c: Container): Promise<boolean> {
    const rt = this.o.runtime;
    const image = c.image ?? '';
    const target = podTarget(pod, c.name);
    const rec = this.o.recorder;
    const policy = c.imagePullPolicy || defaultPullPolicy(image);
    const present = await rt.imageStatus(image).catch(() => null);
    if (policy === 'Never') {
      if (present) return true;
      const msg = `Container image "${image}" is not present with pull policy of Never`;
      w.reasons.set(c.name, { reason: 'ErrImageNeverPull', message: msg });
      rec.event(target, 'Warning', 'ErrImageNeverPull', msg);
      return false;
    }
    if (present && policy !== 'Always') {
      rec.event(target, 'Normal', 'Pulled', `Container image "${image}" already present on machine`);
      return true;
    }
    const key = `${pod.metadata.uid ?? ''}/${image}`;
    const now = this.o.now();
    if (this.inImageBackoff(key, now)) {
      const until = this.imageBackoffUntil(key);
      w.imagePullWaitUntil = until;
      const why = this.imageBackoffState.get(key)?.message;
      w.reasons.set(c.name, { reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"${why ? `: ErrImagePull: ${why}` : ''}` });
      rec.event(target, 'Normal', 'BackOff', `Back-off pulling image "${image}"`);
      return false;
    }
    rec.event(target, 'Normal', 'Pulling', `Pulling image "${image}"`);
    const started = this.o.now();
    // One pull of an image at a time; others wait for it.
    const inflight = this.pullsInFlight.get(image);
    let waited = 0;
    if (inflight) {
      const t0 = this.o.now();
      await inflight.catch(() => undefined);
      waited = this.o.now() - t0;
    }
    let size = 0;
    try {
      const auth = await this.pullAuth(pod, image);
      const p = rt.pullImage(image, auth).then((ref) => {
        size = ref.size ?? 0;
      });
      this.pullsInFlight.set(image, p);
      try {
        await p;
      } finally {
        if (this.pullsInFlight.get(image) === p) this.pullsInFlight.delete(image);
      }
    } catch (e) {
      const msg = errMessage(e);
      this.imageBackoff.next(key, this.o.now(), this.o.now());
      this.imageBackoffState.set(key, { at: this.o.now(), message: msg });
      w.imagePullWaitUntil = this.imageBackoffUntil(key);
      w.reasons.set(c.name, { reason: 'ErrImagePull', message: msg });
      rec.event(target, 'Warning', 'Failed', `Failed to pull image "${image}": ${msg}`);
      rec.event(target, 'Warning', 'Failed', 'Error: ErrImagePull');
      return false;
    }
    this.imageBackoff.reset(key);
    this.imageBackoffState.delete(key);
    const total = this.o.now() - started;
    rec.event(target, 'Normal', 'Pulled', `Successfully pulled image "${image}" in ${seconds(total - waited)} (${seconds(total)} including waiting). Image size: ${size} bytes.`);
    return true;
  }

  /** Per pod/image: when the last pull failed and why. */
  readonly imageBackoffState = new Map<string, { at: number; message: string }>();

  private inImageBackoff(key: string, now: number): boolean {
    return now < this.imageBackoffUntil(key);
  }

  private imageBackoffUntil(key: string): number {
    // The back-off runs from the last failed pull (the entry's last update).
    const d = this.imageBackoff.get(key);
    if (!d) return 0;
    const last = this.imageBackoffState.get(key);
    return last === undefined ? 0 : last.at + d;
  }

  private async pullAuth(pod: Pod, image: string): Promise<AuthConfig | undefined> {
    const secrets = pod.spec.imagePullSecrets ?? [];
    if (secrets.length === 0) return undefined;
    const host = registryHost(image);
    for (const ref of secrets) {
      if (!ref.name) continue;
      const s = await this.o.sources.getSecret(pod.metadata.namespace ?? 'default', ref.name);
      if (!s) continue;
      const auth = dockerAuthFor(s, host);
      if (auth) return auth;
    }
    return undefined;
  }
}

/** The registry host of an image reference (docker.io for bare names). */
export function registryHost(image: string): string {
  const first = image.split('/')[0] ?? '';
  if (image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')) return first;
  return 'docker.io';
}

/** Credentials for a registry host from a dockerconfigjson / dockercfg secret. */
export function dockerAuthFor(secret: KubeObject, host: string): AuthConfig | undefined {
  const data = (secret.data ?? {}) as Record<string, string>;
  const raw = data['.dockerconfigjson'] ?? data['.dockercfg'];
  if (!raw) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  const auths = ((parsed as { auths?: unknown }).auths ?? parsed) as Record<string, { username?: string; password?: string; auth?: string }>;
  const norm = (k: string): string => k.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  const aliases = host === 'docker.io' ? ['docker.io', 'index.docker.io', 'registry-1.docker.io'] : [host];
  for (const [k, v] of Object.entries(auths)) {
    if (!aliases.includes(norm(k))) continue;
    const out: AuthConfig = { serverAddress: host };
    if (v.username) out.username = v.username;
    if (v.password) out.password = v.password;
    if (v.auth) {
      out.auth = v.auth;
      if (!v.username) {
        const dec = Buffer.from(v.auth, 'base64').toString('utf8');
        const i = dec.indexOf(':');
        if (i > 0) {
          out.username = dec.slice(0, i);
          out.password = dec.slice(i + 1);
        }
      }
    }
    return out;
  }
  return undefined;
}
