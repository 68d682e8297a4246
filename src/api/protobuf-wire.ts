// What the protobuf decoder and encoder share: the protobuf wire types and the error every
// malformed or unsupported body becomes.

export type ProtobufErrorReason = 'UnsupportedKind' | 'Malformed';

/** A body kennel cannot decode: UnsupportedKind → 415 UnsupportedMediaType, Malformed → 400 BadRequest. */
export class KubernetesProtobufError extends Error {
  readonly reason: ProtobufErrorReason;
  readonly code: 400 | 415;
  readonly apiVersion?: string;
  readonly kind?: string;
  constructor(reason: ProtobufErrorReason, message: string, gvk: { apiVersion?: string; kind?: string } = {}) {
    super(message);
    this.name = 'KubernetesProtobufError';
    this.reason = reason;
    this.code = reason === 'UnsupportedKind' ? 415 : 400;
    this.apiVersion = gvk.apiVersion;
    this.kind = gvk.kind;
  }
}

export const WIRE_VARINT = 0;
export const WIRE_LEN = 2;

export function malformed(message: string): KubernetesProtobufError {
  return new KubernetesProtobufError('Malformed', message);
}
