// The body of an apply request (application/apply-patch+yaml): YAML (kubectl sends JSON, which is
// YAML too) holding one object. Malformed bodies are 400 BadRequest, as in Kubernetes
// ("error decoding YAML: …").
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../registry/types.ts';
import { badRequest, guardDepth } from './errors.ts';
import { isObject } from './json.ts';

/** Parses an apply-patch+yaml body into the applied configuration. */
export function parseApplyPatch(body: string | Uint8Array): KubeObject {
  return guardDepth(() => parseApplyPatchImpl(body));
}

function parseApplyPatchImpl(body: string | Uint8Array): KubeObject {
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  const docs = parseAllDocuments(text, { prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [docs];
  const real = list.filter((d) => d.contents !== null || d.errors.length > 0);
  if (real.length === 0) throw badRequest('error decoding YAML: the apply configuration is empty');
  if (real.length > 1) throw badRequest('error decoding YAML: expected a single YAML document, got several');
  const doc = real[0]!;
  if (doc.errors.length > 0) throw badRequest(`error decoding YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  let value: unknown;
  try {
    // The JSON round trip yields plain JSON and rejects self-referencing aliases.
    value = JSON.parse(JSON.stringify(doc.toJS({ maxAliasCount: 100 })) ?? 'null');
  } catch (e) {
    throw badRequest(`error decoding YAML: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isObject(value)) throw badRequest('error decoding YAML: the apply configuration must be an object');
  if (value.metadata !== undefined && !isObject(value.metadata)) {
    throw badRequest('error decoding YAML: metadata must be an object');
  }
  if (value.metadata === undefined) value.metadata = {};
  return value as KubeObject;
}
