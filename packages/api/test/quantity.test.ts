import test from 'ava';
import {
  addQuantities,
  canonicalizeQuantity,
  compareQuantities,
  newQuantity,
  parseQuantity,
  QUANTITY_FORMAT_MESSAGE,
  QuantityError,
  quantityMilliValue,
  quantityValue,
  subtractQuantities,
} from '../src/index.js';

const canonical: [string, string][] = [
  ['1000m', '1'],
  ['1024Mi', '1Gi'],
  ['0.1', '100m'],
  ['100m', '100m'],
  ['1.5', '1500m'],
  ['0.5Gi', '512Mi'],
  ['1536Mi', '1536Mi'],
  ['1.5Gi', '1536Mi'],
  ['0.5Ki', '512'],
  ['1023', '1023'],
  ['2048', '2048'],
  ['1Ki', '1Ki'],
  ['1024Ki', '1Mi'],
  ['1k', '1k'],
  ['1000', '1k'],
  ['1500', '1500'],
  ['1M', '1M'],
  ['2000000000', '2G'],
  ['1E', '1E'],
  ['0', '0'],
  ['0Mi', '0'],
  ['-1', '-1'],
  ['-100m', '-100m'],
  ['+5', '5'],
  ['1n', '1n'],
  ['0.0000000001', '1n'], // rounded up to nano precision
  ['1u', '1u'],
  ['1000u', '1m'],
  ['12e6', '12e6'],
  ['1E3', '1e3'],
  ['1e-3', '1e-3'],
  ['.5', '500m'],
  ['5.', '5'],
];

for (const [input, want] of canonical) {
  test(`canonical form of "${input}" is "${want}"`, (t) => {
    t.is(canonicalizeQuantity(input), want);
  });
}

test('"1e3" keeps its decimal-exponent form, as Kubernetes prints it, and equals 1k', (t) => {
  const q = parseQuantity('1e3');
  t.is(q.format, 'DecimalExponent');
  t.is(canonicalizeQuantity('1e3'), '1e3');
  t.is(compareQuantities('1e3', '1k'), 0);
  t.is(quantityValue(q), 1000);
});

const invalid: [string, RegExp][] = [
  ['', /regular expression/],
  ['abc', /regular expression/],
  ['1 Gi', /regular expression/],
  ['1.2.3', /regular expression/],
  ['Gi', /regular expression/],
  ['1Gb', /regular expression/],
  ['1KiB', /regular expression/],
  ['--1', /regular expression/],
  ['1e', /suffix/],
  ['1mm', /suffix/],
  ['1Ki1', /suffix/],
  ['.', /numeric/],
];

for (const [input, message] of invalid) {
  test(`"${input}" is rejected`, (t) => {
    const err = t.throws(() => parseQuantity(input), { instanceOf: QuantityError, message });
    t.is(err?.code, 'QUANTITY_INVALID');
  });
}

test('the format error carries Kubernetes\' message verbatim', (t) => {
  t.throws(() => parseQuantity('x'), { message: QUANTITY_FORMAT_MESSAGE });
  t.is(QUANTITY_FORMAT_MESSAGE, "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
});

test('compare orders across formats and suffixes', (t) => {
  t.is(compareQuantities('1Gi', '1G'), 1);
  t.is(compareQuantities('1000m', '1'), 0);
  t.is(compareQuantities('999m', '1'), -1);
  t.is(compareQuantities('-1', '0'), -1);
  t.is(compareQuantities('1Ki', '1024'), 0);
  t.is(compareQuantities('1e-9', '1n'), 0);
});

test('value and milliValue round up like Kubernetes', (t) => {
  t.is(quantityMilliValue('100m'), 100);
  t.is(quantityMilliValue('1'), 1000);
  t.is(quantityMilliValue('1.5'), 1500);
  t.is(quantityMilliValue('1n'), 1);
  t.is(quantityValue('100m'), 1);
  t.is(quantityValue('1Gi'), 1073741824);
  t.is(quantityValue('1.5Ki'), 1536);
  t.is(quantityValue('-1500m'), -2);
  t.is(quantityMilliValue('16314644Ki'), 16314644 * 1024 * 1000);
});

test('arithmetic keeps the first operand\'s format', (t) => {
  t.is(canonicalizeQuantity('1Gi'), '1Gi');
  const sum = addQuantities('1Gi', '1Gi');
  t.is(sum.format, 'BinarySI');
  t.is(canonicalizeQuantity('2Gi'), '2Gi');
  t.is(compareQuantities(sum, '2Gi'), 0);
  t.is(compareQuantities(subtractQuantities('1', '250m'), '750m'), 0);
  t.is(compareQuantities(newQuantity(500, -3), '500m'), 0);
  t.throws(() => newQuantity(1.5));
});

test('the Kubernetes docs examples: 128974848, 129e6, 129M, 128974848000m and 123Mi are (about) the same memory; 0.1 CPU is 100m', (t) => {
  // "Resource Management for Pods and Containers": these express roughly the same value.
  t.is(compareQuantities('128974848', '123Mi'), 0);
  t.is(compareQuantities('128974848000m', '123Mi'), 0);
  t.is(compareQuantities('129e6', '129M'), 0);
  t.is(compareQuantities('129M', '123Mi'), 1, '129M is 25152 bytes more than 123Mi');
  t.is(quantityValue(subtractQuantities('129M', '123Mi')), 25152);
  t.is(canonicalizeQuantity('128974848000m'), '128974848');
  t.is(canonicalizeQuantity('129e6'), '129e6');
  t.is(canonicalizeQuantity('0.1'), '100m');
  t.is(quantityMilliValue('0.1'), 100);
  // "the m suffix": 400m is 0.4 CPU; quantities below 1m are rounded up to 1m in MilliValue.
  t.is(compareQuantities('400m', '0.4'), 0);
  t.is(quantityMilliValue('0.0001'), 1);
});
