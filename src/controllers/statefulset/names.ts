// Names in a StatefulSet: pods are `<set>-<ordinal>`, claims `<template>-<set>-<ordinal>`
// (Kubernetes' getPodName, getPersistentVolumeClaimName, getParentNameAndOrdinal).
import type { KubeObject } from '../../registry/types.ts';
import { setName } from './set.ts';

const ORDINAL_RE = /^(.*)-([0-9]+)$/;
const INT32_MAX = 2 ** 31 - 1;

/** The parent set name and ordinal encoded in a pod name; ordinal -1 when there is none. */
export function parseOrdinal(name: string): { parent: string; ordinal: number } {
  const m = ORDINAL_RE.exec(name);
  if (!m) return { parent: '', ordinal: -1 };
  const n = Number(m[2]);
  return { parent: m[1], ordinal: Number.isSafeInteger(n) && n <= INT32_MAX ? n : -1 };
}

/** The ordinal of a pod (from its name), -1 when it has none. */
export function ordinalOf(pod: KubeObject): number {
  return parseOrdinal(pod.metadata.name ?? '').ordinal;
}

export function podName(set: KubeObject, ordinal: number): string {
  return `${setName(set)}-${ordinal}`;
}

/** `<template>-<set>-<ordinal>`, the claim a pod of that ordinal mounts for that template. */
export function claimName(set: KubeObject, templateName: string, ordinal: number): string {
  return `${templateName}-${setName(set)}-${ordinal}`;
}

/** Whether a pod's name says it belongs to the set (isMemberOf). */
export function isMemberOf(set: KubeObject, pod: KubeObject): boolean {
  const { parent, ordinal } = parseOrdinal(pod.metadata.name ?? '');
  return ordinal >= 0 && parent === setName(set);
}
