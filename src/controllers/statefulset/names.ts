// Names in a StatefulSet: pods are `<set>-<ordinal>`, claims `<template>-<set>-<ordinal>`
// (Kubernetes' getPodName, getPersistentVolumeClaimName, getParentNameAndOrdinal).
import type { KubeObject } from '../../registry/types.ts';
import { setName } from './set.ts';

const INT32_MAX = 2 ** 31 - 1;
/** What /^(.*)-([0-9]+)$/ would not let `.` match in the parent part. */
const LINE_TERMINATORS = /[\n\r\u2028\u2029]/;

/**
 * The parent set name and ordinal encoded in a pod name (`<parent>-<digits>`, split at the last
 * dash); ordinal -1 when there is none. Scanned by hand, not with a regular expression: a round
 * of the control loop asks this several times for every pod of the set.
 */
export function parseOrdinal(name: string): { parent: string; ordinal: number } {
  const dash = name.lastIndexOf('-');
  if (dash < 0 || dash === name.length - 1) return { parent: '', ordinal: -1 };
  for (let i = dash + 1; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 48 || c > 57) return { parent: '', ordinal: -1 };
  }
  const parent = name.slice(0, dash);
  if (LINE_TERMINATORS.test(parent)) return { parent: '', ordinal: -1 };
  const n = Number(name.slice(dash + 1));
  return { parent, ordinal: Number.isSafeInteger(n) && n <= INT32_MAX ? n : -1 };
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
