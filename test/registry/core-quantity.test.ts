import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalQuantity,
  compareQuantities,
  formatQuantity,
  parseQuantity,
  quantityError,
  quantityMilliValue,
  quantityValue,
  QUANTITY_FORMAT_ERROR,
} from '../../src/registry/quantity.ts';

test('parses every suffix family to exact nano units', () => {
  const cases: Array<[string | number, bigint]> = [
    ['1', 1_000_000_000n],
    ['500m', 500_000_000n],
    ['0.5', 500_000_000n],
    ['1Ki', 1024n * 1_000_000_000n],
    ['1.5Gi', 1536n * 1024n * 1024n * 1_000_000_000n],
    ['2k', 2000n * 1_000_000_000n],
    ['1e3', 1000n * 1_000_000_000n],
    ['12E-3', 12_000_000n],
    ['1n', 1n],
    ['100u', 100_000n],
    ['-1', -1_000_000_000n],
    ['+5', 5_000_000_000n],
    ['.5', 500_000_000n],
    ['3.', 3_000_000_000n],
    [2, 2_000_000_000n],
    [0.25, 250_000_000n],
  ];
  for (const [input, nanos] of cases) assert.equal(parseQuantity(input).nanos, nanos, `parse ${input}`);
});

test('values finer than a nano unit round up, away from zero', () => {
  assert.equal(parseQuantity('0.1n').nanos, 1n);
  assert.equal(parseQuantity('1.0000000001').nanos, 1_000_000_001n);
});

test('canonical form matches Kubernetes serialization', () => {
  const cases: Array<[string | number, string]> = [
    ['1.5Gi', '1536Mi'],
    ['0.5', '500m'],
    ['1000m', '1'],
    ['2000', '2k'],
    ['1500', '1500'],
    ['512Mi', '512Mi'],
    ['1024Mi', '1Gi'],
    ['0.5Ki', '512'],
    ['1e3', '1e3'],
    ['1E6', '1e6'],
    ['0', '0'],
    ['0Gi', '0'],
    ['0.1m', '100u'],
    [1, '1'],
    ['100M', '100M'],
  ];
  for (const [input, out] of cases) assert.equal(canonicalQuantity(input), out, `canonical ${input}`);
});

test('malformed quantities are rejected with Kubernetes messages', () => {
  for (const bad of ['', 'abc', '1.2.3', '1Kb', '1 Gi', '--1', 'Gi']) {
    assert.ok(quantityError(bad), `expected an error for ${JSON.stringify(bad)}`);
  }
  assert.equal(quantityError('abc'), QUANTITY_FORMAT_ERROR);
  assert.equal(quantityError('1Kb'), QUANTITY_FORMAT_ERROR);
  assert.equal(quantityError('1Mk'), "unable to parse quantity's suffix");
  assert.equal(quantityError({}), QUANTITY_FORMAT_ERROR);
  assert.equal(quantityError('10Gi'), undefined);
});

test('comparison and unit conversions', () => {
  assert.equal(compareQuantities(parseQuantity('1'), parseQuantity('1000m')), 0);
  assert.equal(compareQuantities(parseQuantity('1Gi'), parseQuantity('1G')), 1);
  assert.equal(compareQuantities(parseQuantity('100Mi'), parseQuantity('1Gi')), -1);
  assert.equal(quantityValue(parseQuantity('1500m')), 2n);
  assert.equal(quantityMilliValue(parseQuantity('1.5')), 1500n);
  assert.equal(formatQuantity(parseQuantity('-1.5Gi')), '-1536Mi');
});
