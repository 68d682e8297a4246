// Random patches and configurations against real objects: every answer is a result or a
// PatchError (the API layer's Status), never another exception.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyJsonPatch,
  applyMergePatch,
  applyStrategicMergePatch,
  parseApplyPatch,
  PatchError,
  serverSideApply,
  trackUpdate,
} from '../../src/api/patch/index.ts';
import type { KubeObject } from '../../src/registry/types.ts';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const KEYS = ['spec', 'metadata', 'containers', 'name', 'image', 'env', 'ports', 'containerPort', 'labels', 'finalizers',
  '$patch', '$retainKeys', '$setElementOrder/containers', '$deleteFromPrimitiveList/finalizers', 'volumes', 'status',
  'tolerations', 'replicas', 'template', '__proto__', 'value', 'protocol', 'data', 'managedFields'];
const SCALARS: unknown[] = [null, 0, 1, -1, 2.5, '', 'a', 'nginx', 'delete', 'replace', 'merge', true, false, 80, 'TCP'];

function randomValue(r: () => number, depth: number): unknown {
  const x = r();
  if (depth > 4 || x < 0.45) return SCALARS[Math.floor(r() * SCALARS.length)];
  if (x < 0.7) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 4); i > 0; i--) {
    Object.defineProperty(o, KEYS[Math.floor(r() * KEYS.length)]!, {
      value: randomValue(r, depth + 1), enumerable: true, writable: true, configurable: true,
    });
  }
  return o;
}

const POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'default', labels: { app: 'x' }, finalizers: ['a'] },
  spec: {
    containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 80 }], env: [{ name: 'E', value: '1' }] }],
    volumes: [{ name: 'v', emptyDir: {} }],
  },
};

function allowed(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof PatchError)) throw e;
    assert.ok([400, 409, 413, 415, 422].includes(e.code));
  }
}

describe('fuzzing the patch engines', () => {
  it('2,000 random patches and configurations only ever fail with PatchError', () => {
    const r = rng(12345);
    const live = trackUpdate({ old: null, updated: structuredClone(POD) as KubeObject, manager: 'c', modelName: 'V1Pod', apiVersion: 'v1', now: 't0' });
    for (let i = 0; i < 2000; i++) {
      const v = randomValue(r, 0);
      const ops = Array.from({ length: 1 + Math.floor(r() * 3) }, () => ({
        op: ['add', 'remove', 'replace', 'move', 'copy', 'test', 'x'][Math.floor(r() * 7)],
        path: ['', '/spec', '/spec/containers/0', '/spec/containers/-', '/metadata/labels/a', '/x/y', 'bad', '/spec/containers/9'][Math.floor(r() * 8)],
        from: '/metadata',
        value: randomValue(r, 2),
      }));
      allowed(() => applyJsonPatch(POD, r() < 0.9 ? ops : v));
      allowed(() => applyMergePatch(POD, v));
      allowed(() => applyStrategicMergePatch(POD, v, r() < 0.5 ? 'V1Pod' : 'V1StatefulSet'));
      allowed(() => {
        const applied = { apiVersion: 'v1', kind: 'Pod', ...(typeof v === 'object' && v && !Array.isArray(v) ? v : {}), metadata: { name: 'p' } };
        const out = serverSideApply({ live: r() < 0.5 ? live : null, applied: applied as KubeObject, manager: 'fuzz', force: r() < 0.5, modelName: 'V1Pod', apiVersion: 'v1', now: 't1' }).object;
        JSON.stringify(out);
      });
      allowed(() => {
        const updated = { ...live, spec: v } as KubeObject;
        JSON.stringify(trackUpdate({ old: live, updated, manager: 'u', modelName: 'V1Pod', apiVersion: 'v1', now: 't2' }));
      });
      allowed(() => parseApplyPatch(JSON.stringify(v)));
    }
    assert.deepEqual(structuredClone(POD), POD);
    assert.equal(({} as Record<string, unknown>).value, undefined);
  });

  it('deeply nested documents are 400, not a crash', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100000; i++) deep = { a: deep };
    for (const fn of [
      () => applyMergePatch({}, deep),
      () => applyStrategicMergePatch({}, deep, 'V1Pod'),
      () => serverSideApply({ live: null, applied: { metadata: { name: 'x' }, spec: deep } as KubeObject, manager: 'm', force: false, modelName: 'V1Pod', apiVersion: 'v1', now: 't' }),
    ]) {
      assert.throws(fn, (e: unknown) => e instanceof PatchError && e.code === 400);
    }
  });
});
