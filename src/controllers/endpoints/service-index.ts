// Which services select a pod, without scanning every service of the namespace: services are
// indexed under one `key=value` pair of their selector, so a pod's candidates are the services
// indexed under one of its own labels; the full selector is then checked. A pod change thus
// costs O(its labels + candidates), whatever the number of services.
import type { KubeObject } from '../../registry/types.ts';
import { objectKey } from '../../client/rest.ts';
import type { Informer } from '../../client/informer.ts';
import { managesEndpoints, podEndpointFingerprint, selectorMatchesLabels, serviceSelector } from './compute.ts';

interface Entry {
  namespace: string;
  selector: Record<string, string>;
  pair: string;
}

export class ServiceSelectorIndex {
  /** `namespace\0key=value` → service keys indexed under it */
  private readonly byPair = new Map<string, Set<string>>();
  private readonly entries = new Map<string, Entry>();

  /** Index (or re-index) a service; one without a selector, or not managed, is removed. */
  set(svc: KubeObject): void {
    const key = objectKey(svc);
    this.delete(key);
    const selector = serviceSelector(svc);
    if (!selector || !managesEndpoints(svc)) return;
    const namespace = svc.metadata.namespace ?? '';
    const first = Object.keys(selector).sort()[0];
    const pair = `${namespace}\u0000${first}=${selector[first]}`;
    let set = this.byPair.get(pair);
    if (!set) this.byPair.set(pair, (set = new Set()));
    set.add(key);
    this.entries.set(key, { namespace, selector, pair });
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    const set = this.byPair.get(e.pair);
    if (!set) return;
    set.delete(key);
    if (set.size === 0) this.byPair.delete(e.pair);
  }

  /** Keys of the managed services whose selector matches the pod's labels. */
  servicesFor(pod: KubeObject): string[] {
    const labels = pod.metadata.labels;
    if (!labels) return [];
    const ns = pod.metadata.namespace ?? '';
    const out: string[] = [];
    for (const [k, v] of Object.entries(labels)) {
      const set = this.byPair.get(`${ns}\u0000${k}=${v}`);
      if (!set) continue;
      for (const key of set) {
        const e = this.entries.get(key);
        if (e && selectorMatchesLabels(e.selector, labels)) out.push(key);
      }
    }
    return out;
  }

  get size(): number {
    return this.entries.size;
  }
}

function sameLabels(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ak = Object.keys(a ?? {});
  if (ak.length !== Object.keys(b ?? {}).length) return false;
  for (const k of ak) if ((a ?? {})[k] !== (b ?? {})[k]) return false;
  return true;
}

/**
 * Feed service keys to `enqueue` from service and pod events: a service change queues the
 * service; a pod change queues the services selecting the pod before and after (skipped when
 * nothing the endpoints depend on changed). Returns a function that unregisters the handlers.
 */
export function watchServicesAndPods(services: Informer, pods: Informer, index: ServiceSelectorIndex, enqueue: (key: string) => void): () => void {
  const forPod = (pod: KubeObject): void => {
    for (const k of index.servicesFor(pod)) enqueue(k);
  };
  const offServices = services.addEventHandler({
    onAdd: (s) => {
      index.set(s);
      enqueue(objectKey(s));
    },
    onUpdate: (_o, s) => {
      index.set(s);
      enqueue(objectKey(s));
    },
    onDelete: (s) => {
      index.delete(objectKey(s));
      enqueue(objectKey(s));
    },
  });
  const offPods = pods.addEventHandler({
    onAdd: forPod,
    onUpdate: (o, p) => {
      if (o === p) {
        forPod(p); // resync
        return;
      }
      if (sameLabels(o.metadata.labels, p.metadata.labels)) {
        // Same services before and after: none (the common case, checked first as it is
        // cheap), or the pod's endpoint did not change, means nothing to do.
        const keys = index.servicesFor(p);
        if (keys.length === 0 || podEndpointFingerprint(o) === podEndpointFingerprint(p)) return;
        for (const k of keys) enqueue(k);
        return;
      }
      const keys = new Set(index.servicesFor(p));
      for (const k of index.servicesFor(o)) keys.add(k);
      for (const k of keys) enqueue(k);
    },
    onDelete: forPod,
  });
  return () => {
    offServices();
    offPods();
  };
}
