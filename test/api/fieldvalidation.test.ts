import { test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import {
  JsonScanError,
  checkJsonBody,
  checkJsonPatch,
  checkMergePatch,
  checkYamlBody,
  duplicateFields,
  duplicateFieldsYaml,
  fieldValidationMessage,
  parseFieldValidation,
  strictBadRequestMessage,
  strictDecodingMessage,
  strictFieldErrors,
  strictPatchInvalid,
  unknownFields,
  warningHeaderValue,
} from '../../src/api/fieldvalidation.ts';

// The bodies of Kubernetes' own field-validation integration test, with its expected answers.
const INVALID_DEPLOYMENT_JSON = `
{
  "apiVersion": "apps/v1",
  "kind": "Deployment",
  "metadata": {
    "name": "dupename",
    "name": "web",
    "labels": {"app": "nginx"},
    "unknownMeta": "metaVal"
  },
  "spec": {
    "unknown1": "val1",
    "unknownDupe": "valDupe",
    "unknownDupe": "valDupe2",
    "paused": true,
    "paused": false,
    "selector": {"matchLabels": {"app": "nginx"}},
    "template": {
      "metadata": {"labels": {"app": "nginx"}},
      "spec": {
        "containers": [{
          "name":  "nginx",
          "image": "nginx:latest",
          "unknownNested": "val1",
          "imagePullPolicy": "Always",
          "imagePullPolicy": "Never"
        }]
      }
    }
  }
}`;

const INVALID_DEPLOYMENT_YAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: dupename
  name: web
  unknownMeta: metaVal
  labels:
    app: nginx
spec:
  unknown1: val1
  unknownDupe: valDupe
  unknownDupe: valDupe2
  paused: true
  paused: false
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:latest
        unknownNested: val1
        imagePullPolicy: Always
        imagePullPolicy: Never`;

test('JSON body: unknown and duplicate fields in document order, worded as Kubernetes', () => {
  const errs = strictFieldErrors(INVALID_DEPLOYMENT_JSON, 'V1Deployment');
  assert.equal(
    strictDecodingMessage(errs),
    'strict decoding error: duplicate field "metadata.name", unknown field "metadata.unknownMeta", unknown field "spec.unknown1", unknown field "spec.unknownDupe", duplicate field "spec.paused", unknown field "spec.template.spec.containers[0].unknownNested", duplicate field "spec.template.spec.containers[0].imagePullPolicy"',
  );
  assert.deepEqual(checkJsonBody(INVALID_DEPLOYMENT_JSON, 'V1Deployment').warnings, errs);
  assert.equal(
    strictBadRequestMessage('Deployment', 'v1', ['unknown field "spec.foo"']),
    'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo"',
  );
});

test('YAML body: go-yaml duplicate lines first, then unknown fields in sorted-key order', () => {
  const obj = YAML.parse(INVALID_DEPLOYMENT_YAML, { uniqueKeys: false }) as unknown;
  const r = checkYamlBody(INVALID_DEPLOYMENT_YAML, obj, 'V1Deployment');
  assert.equal(
    strictDecodingMessage(r.errors),
    `strict decoding error: yaml: unmarshal errors:
  line 5: key "name" already set in map
  line 12: key "unknownDupe" already set in map
  line 14: key "paused" already set in map
  line 28: key "imagePullPolicy" already set in map, unknown field "metadata.unknownMeta", unknown field "spec.template.spec.containers[0].unknownNested", unknown field "spec.unknown1", unknown field "spec.unknownDupe"`,
  );
  assert.deepEqual(r.warnings, [
    'line 5: key "name" already set in map',
    'line 12: key "unknownDupe" already set in map',
    'line 14: key "paused" already set in map',
    'line 28: key "imagePullPolicy" already set in map',
    'unknown field "metadata.unknownMeta"',
    'unknown field "spec.template.spec.containers[0].unknownNested"',
    'unknown field "spec.unknown1"',
    'unknown field "spec.unknownDupe"',
  ]);
  assert.deepEqual(duplicateFieldsYaml('a: 1\nb:\n  c: 1\n  d: 2\n'), []);
  assert.deepEqual(duplicateFieldsYaml('items:\n- x: 1\n  x: 2\n---\ny: 1\ny: 2\n'), ['line 3: key "x" already set in map', 'line 6: key "y" already set in map']);
  assert.deepEqual(duplicateFieldsYaml('1: a\n1: b\n'), ['line 2: key 1 already set in map']);
});

test('merge patch: duplicates in the patch, then unknown fields of the patched object', () => {
  const patch = `{
  "spec": {
    "unknown1": "val1",
    "unknownDupe": "valDupe",
    "unknownDupe": "valDupe2",
    "paused": true,
    "paused": false,
    "template": {"spec": {"containers": [{
      "name": "nginx", "image": "nginx:latest", "unknownNested": "val1",
      "imagePullPolicy": "Always", "imagePullPolicy": "Never"}]}}
  }
}`;
  const patched = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      unknown1: 'val1',
      unknownDupe: 'valDupe2',
      paused: false,
      selector: { matchLabels: { app: 'nginx' } },
      template: { metadata: { labels: { app: 'nginx' } }, spec: { containers: [{ name: 'nginx', image: 'nginx:latest', unknownNested: 'val1', imagePullPolicy: 'Never' }] } },
    },
  };
  const r = checkMergePatch(patch, patched, 'V1Deployment');
  assert.equal(
    strictDecodingMessage(r.errors),
    'strict decoding error: duplicate field "spec.unknownDupe", duplicate field "spec.paused", duplicate field "spec.template.spec.containers[0].imagePullPolicy", unknown field "spec.template.spec.containers[0].unknownNested", unknown field "spec.unknown1", unknown field "spec.unknownDupe"',
  );
  const invalid = strictPatchInvalid('{"a":"b"}', ['unknown field "spec.x"']);
  assert.equal(invalid.message, ' "" is invalid: patch: Invalid value: "{\\"a\\":\\"b\\"}": strict decoding error: unknown field "spec.x"');
  assert.deepEqual(invalid.causes, [{ reason: 'FieldValueInvalid', field: 'patch', message: 'Invalid value: "{\\"a\\":\\"b\\"}": strict decoding error: unknown field "spec.x"' }]);
});

test('JSON patch: unknown and duplicate op fields, then unknown fields of the result', () => {
  const patch = `[
    {"op": "add", "path": "/spec/unknown1", "value": "val1", "foo":"bar"},
    {"op": "add", "path": "/spec/unknown2", "path": "/spec/unknown3", "value": "val1"},
    {"op": "add", "path": "/spec/unknownDupe", "value": {"a": 1, "a": 2}},
    {"op": "add", "path": "/spec/template/spec/containers/0/unknownNested", "value": "val1"}
  ]`;
  const patched = {
    spec: {
      unknown1: 'val1',
      unknown3: 'val1',
      unknownDupe: { a: 2 },
      template: { spec: { containers: [{ name: 'nginx', unknownNested: 'val1' }] } },
    },
  };
  const r = checkJsonPatch(patch, patched, 'V1Deployment');
  assert.deepEqual(r.errors, [
    'json patch unknown field "[0].foo"',
    'json patch duplicate field "[1].path"',
    'unknown field "spec.template.spec.containers[0].unknownNested"',
    'unknown field "spec.unknown1"',
    'unknown field "spec.unknown3"',
    'unknown field "spec.unknownDupe"',
  ]);
});

test('unknownFields table', () => {
  const cases: { name: string; model: string; obj: unknown; want: string[]; sorted?: boolean }[] = [
    { name: 'valid pod', model: 'V1Pod', obj: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', labels: { x: 'y' } }, spec: { containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 80 }] }] } }, want: [] },
    { name: 'typo in container', model: 'V1Pod', obj: { spec: { containers: [{ name: 'c' }, { name: 'd', imagePullPolcy: 'Always' }] } }, want: ['spec.containers[1].imagePullPolcy'] },
    { name: 'top-level unknown', model: 'V1ConfigMap', obj: { apiVersion: 'v1', kind: 'ConfigMap', metadata: {}, dataa: {} }, want: ['dataa'] },
    { name: 'metadata checked as ObjectMeta', model: 'V1ConfigMap', obj: { metadata: { name: 'x', lables: {} } }, want: ['metadata.lables'] },
    { name: 'map values are free keys', model: 'V1ConfigMap', obj: { data: { 'any.key': 'v', other: 'w' } }, want: [] },
    { name: 'map of models descends', model: 'V1PersistentVolumeClaim', obj: { spec: { resources: { requests: { storage: '1Gi' } } } }, want: [] },
    { name: 'any is lenient', model: 'V1ControllerRevision', obj: { data: { whatever: { deep: 1 } }, revision: 1 }, want: [] },
    { name: 'managedFields fieldsV1 is free-form', model: 'V1Pod', obj: { metadata: { managedFields: [{ manager: 'm', fieldsV1: { 'f:spec': {} } }] } }, want: [] },
    { name: 'unknown value not descended', model: 'V1Pod', obj: { spec: { bogus: { a: { b: 1 } } } }, want: ['spec.bogus'] },
    { name: 'type mismatch is not an unknown field', model: 'V1Pod', obj: { spec: 'text', status: [1] }, want: [] },
    { name: 'intOrString', model: 'V1Service', obj: { spec: { ports: [{ port: 80, targetPort: 'http' }] } }, want: [] },
    { name: 'statefulset template', model: 'V1StatefulSet', obj: { spec: { serviceName: 's', template: { spec: { containers: [{ name: 'c', volumeMount: [] }] } }, volumeClaimTemplates: [{ metadata: { name: 'd' }, spec: { accessMode: [] } }] } }, want: ['spec.template.spec.containers[0].volumeMount', 'spec.volumeClaimTemplates[0].spec.accessMode'] },
    { name: 'sorted keys', model: 'V1Pod', obj: { spec: { zz: 1, aa: 1, containers: [{ b: 1 }] } }, want: ['spec.aa', 'spec.containers[0].b', 'spec.zz'], sorted: true },
    { name: 'insertion order', model: 'V1Pod', obj: { spec: { zz: 1, aa: 1, containers: [{ b: 1 }] } }, want: ['spec.zz', 'spec.aa', 'spec.containers[0].b'] },
    { name: 'unknown model reports nothing', model: 'V1NoSuchThing', obj: { a: 1 }, want: [] },
    { name: 'list kinds', model: 'V1PodList', obj: { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: '1' }, items: [{ spec: { foo: 1 } }] }, want: ['items[0].spec.foo'] },
  ];
  for (const c of cases) assert.deepEqual(unknownFields(c.obj, c.model, { sortKeys: c.sorted }), c.want, c.name);
});

test('duplicateFields table', () => {
  const cases: [string, string[]][] = [
    ['{"a":1,"b":2}', []],
    ['{"a":1,"a":2}', ['a']],
    ['{"a":{"x":1,"y":2,"x":3},"a":{}}', ['a.x', 'a']],
    ['[{"k":1,"k":2},{"k":1}]', ['[0].k']],
    ['{"spec":{"containers":[{"name":"a"},{"name":"b","image":"x","image":"y"}]}}', ['spec.containers[1].image']],
    ['{"metadata":{"labels":{"app":"a","app":"b"}}}', ['metadata.labels.app']],
    ['{"a\\u0062":1,"ab":2}', ['ab']],
    ['{"a":1,"a":2,"a":3}', ['a']],
    ['  {"s": "with \\"quotes\\" and , : { [", "s": 1}  ', ['s']],
    ['{"n":[1,2.5,-3e+2,true,false,null,"x"]}', []],
    ['{}', []],
    ['[]', []],
    ['"just a string"', []],
  ];
  for (const [text, want] of cases) assert.deepEqual(duplicateFields(text), want, text);
});

test('the JSON scanner rejects malformed input', () => {
  for (const bad of ['{', '{"a":1,}', '[1,]', '{"a" 1}', '{"a":1}x', '{a:1}', '"unterminated', '{"a":tru}', '', '{"a":"\u0001"}']) {
    assert.throws(() => duplicateFields(bad), JsonScanError, JSON.stringify(bad));
  }
});

test('deep nesting does not overflow the stack', () => {
  const depth = 200_000;
  const text = '['.repeat(depth) + ']'.repeat(depth);
  assert.deepEqual(duplicateFields(text), []);
  const objText = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  assert.deepEqual(strictFieldErrors(objText, 'V1Pod'), ['unknown field "a"']);
  let deep: Record<string, unknown> = {};
  const root = deep;
  for (let i = 0; i < depth; i++) {
    const next: Record<string, unknown> = {};
    deep.data = next;
    deep = next;
  }
  assert.deepEqual(unknownFields({ spec: root }, 'V1Pod'), ['spec.data']);
});

test('errors are deduplicated and capped at 100', () => {
  const keys = Array.from({ length: 150 }, (_, i) => `"k${i}":1`).join(',');
  assert.equal(strictFieldErrors(`{"spec":{${keys}}}`, 'V1Pod').length, 100);
  assert.deepEqual(strictFieldErrors('{"spec":{"x":1,"x":2,"x":3}}', 'V1Pod'), ['unknown field "spec.x"']);
});

test('fieldValidation directive, message and Warning header', () => {
  assert.equal(parseFieldValidation(undefined), 'Warn');
  assert.equal(parseFieldValidation(''), 'Warn');
  assert.equal(parseFieldValidation('Strict'), 'Strict');
  assert.equal(parseFieldValidation('Ignore'), 'Ignore');
  assert.equal(parseFieldValidation('strict'), null);
  assert.deepEqual(fieldValidationMessage('unknown', ['spec.foo', 'spec.bar']), {
    strict: 'strict decoding error: unknown field "spec.foo", unknown field "spec.bar"',
    warnings: ['unknown field "spec.foo"', 'unknown field "spec.bar"'],
  });
  assert.deepEqual(fieldValidationMessage('duplicate', ['metadata.name']).warnings, ['duplicate field "metadata.name"']);
  assert.equal(warningHeaderValue('unknown field "spec.foo"'), '299 - "unknown field \\"spec.foo\\""');
  assert.equal(warningHeaderValue('a\\b\nc'), '299 - "a\\\\b c"');
});
