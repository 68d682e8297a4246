// Every active namespace gets a `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap
// (the cluster CA, for in-cluster clients), as Kubernetes' serviceaccounts and root-ca-cert
// publisher controllers keep them; deleted ones come back.
import { InformerFactory, reportCacheMutation, type InformerSource } from '../client/informer.ts';
import { WorkQueue } from '../client/workqueue.ts';
import { isAlreadyExists, isNotFound, resourceRef, type KubeClient } from '../client/rest.ts';
import type { KubeObject } from '../registry/types.ts';
import type { ControllerFactory } from './manager.ts';
import type { Logger } from '../util/log.ts';

const NAMESPACES = resourceRef('v1', 'namespaces', false, 'Namespace');
const SERVICEACCOUNTS = resourceRef('v1', 'serviceaccounts', true, 'ServiceAccount');
const CONFIGMAPS = resourceRef('v1', 'configmaps', true, 'ConfigMap');
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';

/** What a namespace lacks: the objects to create (pure). */
export function missingObjects(ns: KubeObject, hasDefaultSA: boolean, rootCA: KubeObject | undefined, caPem: string | undefined): KubeObject[] {
  if (ns.metadata.deletionTimestamp) return [];
  const name = ns.metadata.name ?? '';
  const out: KubeObject[] = [];
  if (!hasDefaultSA) out.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: name } });
  if (caPem && (!rootCA || (rootCA.data as Record<string, string> | undefined)?.['ca.crt'] !== caPem)) {
    out.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: ROOT_CA_CONFIGMAP, namespace: name, annotations: { 'kubernetes.io/description': 'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.' } },
      data: { 'ca.crt': caPem },
    });
  }
  return out;
}

export async function startServiceAccountsController(opts: { client: KubeClient; logger: Logger; informers?: InformerFactory }): Promise<{ stop(): Promise<void> }> {
  const { client, logger: log } = opts;
  // The process's factory (its owner stops it) or an own one.
  const factory: InformerSource = opts.informers ? opts.informers.scoped() : new InformerFactory(client, { logger: log });
  const namespaces = factory.informer(NAMESPACES);
  const accounts = factory.informer(SERVICEACCOUNTS, { fieldSelector: 'metadata.name=default' });
  const rootCAs = factory.informer(CONFIGMAPS, { fieldSelector: `metadata.name=${ROOT_CA_CONFIGMAP}` });
  const queue = new WorkQueue<string>({ name: 'serviceaccounts', logger: log });
  const enqueue = (o: KubeObject) => queue.add(o.metadata.namespace ?? o.metadata.name ?? '');
  const unregister = [
    namespaces.addEventHandler({ onAdd: enqueue, onUpdate: (_o, n) => enqueue(n), onDelete: () => {} }),
    ...[accounts, rootCAs].map((inf) => inf.addEventHandler({ onAdd: () => {}, onUpdate: (_o, n) => enqueue(n), onDelete: (o) => enqueue(o) })),
  ];
  factory.start();
  try {
    await factory.waitForSync();
  } catch (e) {
    for (const u of unregister) u();
    queue.shutDown();
    await factory.stop();
    throw e;
  }
  const caPem = client.config.ca;
  const done = queue.runWorkers(2, async (ns) => {
    const nsObj = namespaces.get(undefined, ns);
    if (!nsObj) return;
    const todo = missingObjects(nsObj, Boolean(accounts.get(ns, 'default')), rootCAs.get(ns, ROOT_CA_CONFIGMAP), caPem);
    for (const o of todo) {
      const res = o.kind === 'ServiceAccount' ? SERVICEACCOUNTS : CONFIGMAPS;
      try {
        await client.create(res, o);
      } catch (e) {
        if (isAlreadyExists(e) && o.kind === 'ConfigMap') await client.update(res, { ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
        else if (!isAlreadyExists(e) && !isNotFound(e)) throw e;
      }
    }
  }, {
    onError: (ns, err, requeues) => {
      reportCacheMutation(`serviceaccounts ${ns}`, err);
      log.warn('reconcile failed; retrying', { namespace: ns, retries: requeues, error: String(err) });
    },
  });
  return {
    async stop() {
      queue.shutDown();
      for (const u of unregister) u();
      await done;
      await factory.stop();
    },
  };
}

export const serviceAccountsController: ControllerFactory = {
  name: 'serviceaccounts',
  start: (ctx) => startServiceAccountsController({ client: ctx.client, logger: ctx.logger, informers: ctx.informers }),
};
