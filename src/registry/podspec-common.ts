// Small value, path and image pull policy checks shared by the PodSpec modules (podspec*.ts).
import type { FieldCause } from './types.ts';
import { invalid, notSupported, required } from './validation.ts';

export type Obj = Record<string, unknown>;

export const MAX_INT32 = 2147483647;

export const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
export const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
export const present = (v: unknown): boolean => v !== undefined && v !== null;

export function pathNoBacksteps(p: string, field: string): FieldCause[] {
  return p.replace(/\\/g, '/').split('/').includes('..') ? [invalid(field, p, "must not contain '..'")] : [];
}

/** validateLocalDescendingPath: relative, no '..' element. */
export function localDescendingPathErrors(p: string, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  if (p.startsWith('/')) out.push(invalid(field, p, 'must be a relative path'));
  out.push(...pathNoBacksteps(p, field));
  return out;
}

/** ValidateLocalNonReservedPath: a local descending path that does not start with '..'. */
export function localNonReservedPathErrors(p: string, field: string): FieldCause[] {
  const out = localDescendingPathErrors(p, field);
  if (p.startsWith('..') && !p.startsWith('../')) out.push(invalid(field, p, "must not start with '..'"));
  return out;
}

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];

export function validatePullPolicy(policy: unknown, field: string): FieldCause[] {
  const p = str(policy);
  if (!p) return [required(field)];
  return PULL_POLICIES.includes(p) ? [] : [notSupported(field, p, PULL_POLICIES)];
}
