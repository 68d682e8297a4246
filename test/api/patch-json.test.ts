import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyJsonPatch, applyMergePatch, PatchError } from '../../src/api/patch/index.ts';

function expectPatchError(fn: () => unknown, code: number, reason: string): PatchError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PatchError, `expected PatchError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.reason, reason);
    return e;
  }
  assert.fail('expected an error');
}

describe('applyJsonPatch: RFC 6902 appendix A', () => {
  const ok: [string, unknown, unknown[], unknown][] = [
    ['A.1 add an object member', { foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux' }], { baz: 'qux', foo: 'bar' }],
    ['A.2 add an array element', { foo: ['bar', 'baz'] }, [{ op: 'add', path: '/foo/1', value: 'qux' }], { foo: ['bar', 'qux', 'baz'] }],
    ['A.3 remove an object member', { baz: 'qux', foo: 'bar' }, [{ op: 'remove', path: '/baz' }], { foo: 'bar' }],
    ['A.4 remove an array element', { foo: ['bar', 'qux', 'baz'] }, [{ op: 'remove', path: '/foo/1' }], { foo: ['bar', 'baz'] }],
    ['A.5 replace a value', { baz: 'qux', foo: 'bar' }, [{ op: 'replace', path: '/baz', value: 'boo' }], { baz: 'boo', foo: 'bar' }],
    [
      'A.6 move a value',
      { foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } },
      [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }],
      { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } },
    ],
    [
      'A.7 move an array element',
      { foo: ['all', 'grass', 'cows', 'eat'] },
      [{ op: 'move', from: '/foo/1', path: '/foo/3' }],
      { foo: ['all', 'cows', 'eat', 'grass'] },
    ],
    [
      'A.8 test: success',
      { baz: 'qux', foo: ['a', 2, 'c'] },
      [
        { op: 'test', path: '/baz', value: 'qux' },
        { op: 'test', path: '/foo/1', value: 2 },
      ],
      { baz: 'qux', foo: ['a', 2, 'c'] },
    ],
    [
      'A.10 add a nested member object',
      { foo: 'bar' },
      [{ op: 'add', path: '/child', value: { grandchild: {} } }],
      { foo: 'bar', child: { grandchild: {} } },
    ],
    [
      'A.11 ignore unrecognized elements',
      { foo: 'bar' },
      [{ op: 'add', path: '/baz', value: 'qux', xyz: 123 }],
      { foo: 'bar', baz: 'qux' },
    ],
    ['A.14 ~ escape ordering', { '/': 9, '~1': 10 }, [{ op: 'test', path: '/~01', value: 10 }], { '/': 9, '~1': 10 }],
    ['A.16 add an array value', { foo: ['bar'] }, [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }], { foo: ['bar', ['abc', 'def']] }],
    ['copy', { a: { b: 1 } }, [{ op: 'copy', from: '/a', path: '/c' }], { a: { b: 1 }, c: { b: 1 } }],
    ['replace the whole document', { a: 1 }, [{ op: 'replace', path: '', value: { b: 2 } }], { b: 2 }],
  ];
  for (const [name, doc, patch, want] of ok) {
    it(name, () => {
      const before = structuredClone(doc);
      const patchBefore = structuredClone(patch);
      assert.deepEqual(applyJsonPatch(doc, patch), want);
      assert.deepEqual(doc, before, 'document not mutated');
      assert.deepEqual(patch, patchBefore, 'patch not mutated');
    });
  }

  const failing: [string, unknown, unknown[], string][] = [
    ['A.9 test: error', { baz: 'qux' }, [{ op: 'test', path: '/baz', value: 'bar' }], 'testing value /baz failed: test failed'],
    ['A.12 add to a nonexistent target', { foo: 'bar' }, [{ op: 'add', path: '/baz/bat', value: 'qux' }], 'missing'],
    ['A.15 compare strings and numbers', { '/': 9, '~1': 10 }, [{ op: 'test', path: '/~01', value: '10' }], 'test failed'],
    ['remove a missing member', { a: 1 }, [{ op: 'remove', path: '/b' }], 'doc is missing path: "/b"'],
    ['replace a missing member', { a: 1 }, [{ op: 'replace', path: '/b', value: 1 }], 'missing'],
    ['array index out of range', { a: [1] }, [{ op: 'add', path: '/a/5', value: 2 }], 'index'],
    ['move from a missing path', { a: 1 }, [{ op: 'move', from: '/x', path: '/y' }], 'from path'],
    ['unknown op', { a: 1 }, [{ op: 'frobnicate', path: '/a' }], 'Unexpected kind: frobnicate'],
    ['add without value', { a: 1 }, [{ op: 'add', path: '/b' }], 'missing value'],
    ['op without path', { a: 1 }, [{ op: 'remove' }], 'missing path'],
  ];
  for (const [name, doc, patch, detail] of failing) {
    it(`${name} → 422`, () => {
      const before = structuredClone(doc);
      const e = expectPatchError(() => applyJsonPatch(doc, patch), 422, 'Invalid');
      assert.equal(e.message, 'the server rejected our request due to an error in our request');
      assert.equal(e.causes?.length, 1);
      assert.equal(e.causes?.[0]?.reason, 'UnexpectedServerResponse');
      assert.ok(e.causes?.[0]?.message.includes(detail), e.causes?.[0]?.message);
      assert.deepEqual(doc, before, 'document not mutated by a failed patch');
    });
  }

  it('a test failing after earlier operations leaves the input untouched', () => {
    const doc = { a: 1, b: 2 };
    expectPatchError(
      () => applyJsonPatch(doc, [{ op: 'replace', path: '/a', value: 5 }, { op: 'test', path: '/b', value: 3 }]),
      422,
      'Invalid',
    );
    assert.deepEqual(doc, { a: 1, b: 2 });
  });

  it('a body that is not a list of operations → 400 BadRequest', () => {
    for (const bad of [{ op: 'add' }, 'x', null, 3, [1], [[{ op: 'add' }]]]) {
      expectPatchError(() => applyJsonPatch({}, bad), 400, 'BadRequest');
    }
  });

  it('more than 10,000 operations → 413', () => {
    const ops = Array.from({ length: 10001 }, () => ({ op: 'test', path: '/a', value: 1 }));
    expectPatchError(() => applyJsonPatch({ a: 1 }, ops), 413, 'RequestEntityTooLarge');
  });

  it('the result shares nothing with the patch', () => {
    const value = { x: [1] };
    const out = applyJsonPatch({}, [{ op: 'add', path: '/v', value }]) as { v: { x: number[] } };
    out.v.x.push(2);
    assert.deepEqual(value, { x: [1] });
  });

  it('kubectl patch --type json on a StatefulSet', () => {
    const sts = { spec: { replicas: 1, template: { spec: { containers: [{ name: 'c', image: 'a' }] } } } };
    const out = applyJsonPatch(sts, [
      { op: 'replace', path: '/spec/replicas', value: 3 },
      { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'b' },
    ]);
    assert.deepEqual(out, { spec: { replicas: 3, template: { spec: { containers: [{ name: 'c', image: 'b' }] } } } });
  });
});

describe('applyMergePatch: RFC 7386', () => {
  const cases: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    [
      { title: 'Goodbye!', author: { givenName: 'John', familyName: 'Doe' }, tags: ['example', 'sample'], content: 'This will be unchanged' },
      { title: 'Hello!', phoneNumber: '+01-123-456-7890', author: { familyName: null }, tags: ['example'] },
      { title: 'Hello!', author: { givenName: 'John' }, tags: ['example'], content: 'This will be unchanged', phoneNumber: '+01-123-456-7890' },
    ],
  ];
  cases.forEach(([doc, patch, want], i) => {
    it(`example ${i + 1}: ${JSON.stringify(patch)}`, () => {
      const before = structuredClone(doc);
      assert.deepEqual(applyMergePatch(doc, patch), want);
      assert.deepEqual(doc, before);
    });
  });

  it('a patch that is not an object → 400 (Kubernetes cannot apply it to an object)', () => {
    for (const bad of [['c', 'd'], null, 'bar', 1]) {
      const e = expectPatchError(() => applyMergePatch({ a: 'b' }, bad), 400, 'BadRequest');
      assert.equal(e.message, 'Invalid JSON Patch');
    }
  });

  it('kubectl patch --type merge replaces lists wholesale', () => {
    const pod = { spec: { containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }] } };
    assert.deepEqual(applyMergePatch(pod, { spec: { containers: [{ name: 'a', image: 'z' }] } }), {
      spec: { containers: [{ name: 'a', image: 'z' }] },
    });
  });
});
