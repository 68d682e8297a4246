// Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).
//
// kubectl 1.32 sends protobuf, not JSON, for the objects its generator commands build
// (`create namespace|configmap|secret|serviceaccount|service|deployment|job|cronjob|pdb …`,
// `create job --from=cronjob/…`, `auth can-i`, `auth whoami`, `create token`, `debug`), and it
// does not fall back to JSON on 415. This module turns such a body into the same JSON shape the
// JSON API receives, so the rest of the server sees one format. Responses stay JSON: kubectl always offers `application/json` in Accept beside protobuf.
//
// Wire format: the 4 bytes `k8s\0`, then a runtime.Unknown message
//   { typeMeta{apiVersion=1, kind=2}=1, raw=2, contentEncoding=3, contentType=4 }
// whose `raw` is the kind's message from k8s.io/api's generated.proto (proto2).
//
// The message definitions (protobuf-schema.ts) are written with Kubernetes' field numbers (checked
// against the descriptors kubectl 1.32 carries). protobufjs' Reader and Writer handle the wire format;
// the walk (protobuf-decode.ts, protobuf-encode.ts) is ours because the JSON mapping is
// Kubernetes-specific (Time → RFC 3339, Quantity → string, IntOrString → number|string, []byte →
// base64, inline embedded structs) and because an unknown field must be an error, not silently
// dropped data.
//
// Zero values: the Go encoder writes every non-pointer field, even when empty. Empty strings
// and zero numbers/bools are therefore dropped (as JSON's omitempty would), except for fields
// marked `!` — Go pointers (where an explicit 0/false means something: `immutable: false`,
// `terminationGracePeriodSeconds: 0`) and fields Kubernetes always prints (`exitCode: 0`).
//
// This file keeps the entry points and re-exports the error type (protobuf-wire.ts).
import protobuf from 'protobufjs/minimal.js';
import { KubernetesProtobufError, WIRE_LEN, malformed } from './protobuf-wire.ts';
import { message } from './protobuf-schema.ts';
import { decodeMessage, expectWire, readScalar } from './protobuf-decode.ts';
import { encodeMessage, tag } from './protobuf-encode.ts';

export { KubernetesProtobufError } from './protobuf-wire.ts';
export type { ProtobufErrorReason } from './protobuf-wire.ts';

const { Reader, Writer } = protobuf;

export const KUBERNETES_PROTOBUF = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]); // "k8s\0"

/** True for `application/vnd.kubernetes.protobuf` (parameters allowed). */
export function isKubernetesProtobuf(contentType: string | undefined): boolean {
  if (!contentType) return false;
  return contentType.split(';')[0]!.trim().toLowerCase() === KUBERNETES_PROTOBUF;
}

/** apiVersion/kind → root message, for every kind kennel accepts as protobuf. */
const ROOTS: Record<string, string> = {
  'v1/Namespace': 'Namespace',
  'v1/ConfigMap': 'ConfigMap',
  'v1/Secret': 'Secret',
  'v1/ServiceAccount': 'ServiceAccount',
  'v1/Service': 'Service',
  'v1/Pod': 'Pod',
  'v1/Binding': 'Binding',
  'v1/ReplicationController': 'ReplicationController',
  'v1/PersistentVolumeClaim': 'PersistentVolumeClaim',
  'apps/v1/Deployment': 'Deployment',
  'apps/v1/ReplicaSet': 'ReplicaSet',
  'apps/v1/StatefulSet': 'StatefulSet',
  'apps/v1/DaemonSet': 'DaemonSet',
  'batch/v1/Job': 'Job',
  'batch/v1/CronJob': 'CronJob',
  'policy/v1/Eviction': 'Eviction',
  'policy/v1/PodDisruptionBudget': 'PodDisruptionBudget',
  'authorization.k8s.io/v1/SelfSubjectAccessReview': 'SelfSubjectAccessReview',
  'authorization.k8s.io/v1/SelfSubjectRulesReview': 'SelfSubjectRulesReview',
  'authorization.k8s.io/v1/SubjectAccessReview': 'SubjectAccessReview',
  'authorization.k8s.io/v1/LocalSubjectAccessReview': 'LocalSubjectAccessReview',
  'authentication.k8s.io/v1/SelfSubjectReview': 'SelfSubjectReview',
  'authentication.k8s.io/v1/TokenRequest': 'TokenRequest',
  'authentication.k8s.io/v1/TokenReview': 'TokenReview',
};

/** The apiVersion/kind pairs accepted as protobuf bodies, e.g. "v1/Namespace". */
export function supportedProtobufKinds(): string[] {
  return Object.keys(ROOTS);
}

/**
 * Decodes a Kubernetes protobuf body (magic, runtime.Unknown, the kind's message) into the JSON
 * shape of the object, with apiVersion and kind. Throws KubernetesProtobufError: UnsupportedKind
 * (→ 415) for kinds kennel does not decode, Malformed (→ 400) for anything else wrong.
 */
export function decodeKubernetesProtobuf(body: Buffer | Uint8Array): Record<string, unknown> {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw malformed('the protobuf body does not start with the Kubernetes magic number "k8s\\0"');
  }
  let apiVersion = '';
  let kind = '';
  let raw: Uint8Array | undefined;
  let contentEncoding = '';
  try {
    const r = Reader.create(buf.subarray(MAGIC.length));
    while (r.pos < r.len) {
      const tag = r.uint32();
      const no = tag >>> 3;
      const wire = tag & 7;
      if (no === 1) {
        expectWire(wire, WIRE_LEN, 'typeMeta');
        const tm = Reader.create(r.bytes());
        while (tm.pos < tm.len) {
          const t2 = tm.uint32();
          if (t2 >>> 3 === 1) apiVersion = readScalar(tm, 'string', t2 & 7, 'typeMeta.apiVersion') as string;
          else if (t2 >>> 3 === 2) kind = readScalar(tm, 'string', t2 & 7, 'typeMeta.kind') as string;
          else tm.skipType(t2 & 7);
        }
      } else if (no === 2) {
        expectWire(wire, WIRE_LEN, 'raw');
        raw = r.bytes();
      } else if (no === 3) {
        contentEncoding = readScalar(r, 'string', wire, 'contentEncoding') as string;
      } else {
        r.skipType(wire); // contentType and anything newer
      }
    }
  } catch (err) {
    if (err instanceof KubernetesProtobufError) throw err;
    throw malformed(`the protobuf body is malformed: ${(err as Error).message}`);
  }
  if (!apiVersion || !kind) throw malformed('the protobuf body names no apiVersion and kind');
  if (contentEncoding) {
    throw new KubernetesProtobufError('Malformed', `unsupported protobuf contentEncoding "${contentEncoding}"`, { apiVersion, kind });
  }
  const root = ROOTS[`${apiVersion}/${kind}`];
  if (!root) {
    throw new KubernetesProtobufError(
      'UnsupportedKind',
      `kennel does not accept ${kind} (${apiVersion}) as application/vnd.kubernetes.protobuf; send it as application/json`,
      { apiVersion, kind },
    );
  }
  try {
    const obj = decodeMessage(raw ?? new Uint8Array(0), message(root), '');
    return { apiVersion, kind, ...obj };
  } catch (err) {
    if (err instanceof KubernetesProtobufError) {
      throw new KubernetesProtobufError(err.reason, `${kind}: ${err.message}`, { apiVersion, kind });
    }
    throw new KubernetesProtobufError('Malformed', `${kind}: the protobuf body is malformed: ${(err as Error).message}`, {
      apiVersion,
      kind,
    });
  }
}

/** Encodes an object (JSON shape, with apiVersion and kind) as a Kubernetes protobuf body. */
export function encodeKubernetesProtobuf(obj: Record<string, unknown>): Buffer {
  const apiVersion = obj.apiVersion;
  const kind = obj.kind;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
    throw malformed('the object needs apiVersion and kind');
  }
  const root = ROOTS[`${apiVersion}/${kind}`];
  if (!root) {
    throw new KubernetesProtobufError('UnsupportedKind', `kennel does not encode ${kind} (${apiVersion}) as protobuf`, {
      apiVersion,
      kind,
    });
  }
  const inner = Writer.create();
  encodeMessage(inner, message(root), obj, '');
  const raw = inner.finish();
  const w = Writer.create();
  w.uint32(tag(1, WIRE_LEN)).fork();
  w.uint32(tag(1, WIRE_LEN)).string(apiVersion);
  w.uint32(tag(2, WIRE_LEN)).string(kind);
  w.ldelim();
  w.uint32(tag(2, WIRE_LEN)).bytes(raw);
  w.uint32(tag(3, WIRE_LEN)).string('');
  w.uint32(tag(4, WIRE_LEN)).string('');
  return Buffer.concat([MAGIC, w.finish()]);
}
