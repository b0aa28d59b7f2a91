import test from 'ava';
import { checkKvHistory, checkLinearizable, HistoryRecorder, KeyWindows, kvModel, type KvInput, type KvOperation, type KvOutput } from '../../src/check/index.js';

// Compact constructors for hand-made histories.
const put = (c: number, call: number, ret: number | undefined, key: string, value: string): KvOperation => ({
  clientId: c, call, return: ret, input: { op: 'put', key, value }, output: ret === undefined ? undefined : { op: 'put' },
});
const get = (c: number, call: number, ret: number | undefined, key: string, value: string | undefined): KvOperation => ({
  clientId: c, call, return: ret, input: { op: 'get', key }, output: ret === undefined ? undefined : { op: 'get', value },
});
const del = (c: number, call: number, ret: number | undefined, key: string): KvOperation => ({
  clientId: c, call, return: ret, input: { op: 'delete', key }, output: ret === undefined ? undefined : { op: 'delete' },
});
const cas = (c: number, call: number, ret: number | undefined, key: string, expected: string | undefined, value: string, ok?: boolean): KvOperation => ({
  clientId: c, call, return: ret, input: { op: 'cas', key, expected, value }, output: ret === undefined ? undefined : { op: 'cas', ok: ok! },
});

test('empty history is linearizable', (t) => {
  t.deepEqual(checkKvHistory([]), { ok: true, partitions: 0, operations: 0, largestPartition: 0 });
});

test('sequential put/get/delete/cas is linearizable', (t) => {
  const h = [
    get(1, 0, 1, 'a', undefined),
    put(1, 2, 3, 'a', 'x'),
    get(2, 4, 5, 'a', 'x'),
    cas(2, 6, 7, 'a', 'x', 'y', true),
    cas(1, 8, 9, 'a', 'x', 'z', false),
    get(1, 10, 11, 'a', 'y'),
    del(2, 12, 13, 'a'),
    get(1, 14, 15, 'a', undefined),
    cas(1, 16, 17, 'a', undefined, 'w', true),
    get(2, 18, 19, 'a', 'w'),
  ];
  const r = checkKvHistory(h);
  t.is(r.ok, true);
});

test('stale read after a completed write is not linearizable', (t) => {
  const h = [
    put(1, 0, 1, 'k', 'old'),
    put(1, 2, 3, 'k', 'new'),
    get(2, 4, 5, 'k', 'old'),
  ];
  const r = checkKvHistory(h);
  t.is(r.ok, false);
  if (r.ok !== false) return;
  t.is(r.key, 'k');
  t.is(r.fragment.blocked.index, 2);
  t.regex(r.description, /cannot linearize: #2 client 2 \[4, 5\] get\("k"\) -> "old"/);
});

test('lost write (a read after an acknowledged write sees the previous value) is not linearizable', (t) => {
  const h = [
    put(1, 0, 10, 'k', 'v1'),
    get(2, 11, 12, 'k', undefined),
  ];
  t.is(checkKvHistory(h).ok, false);
});

test('a read concurrent with a write may see either value', (t) => {
  for (const seen of ['old', 'new']) {
    const h = [
      put(1, 0, 1, 'k', 'old'),
      put(1, 2, 10, 'k', 'new'),
      get(2, 3, 5, 'k', seen),
    ];
    t.is(checkKvHistory(h).ok, true, seen);
  }
});

test('overlapping reads must agree on one order of the writes', (t) => {
  // Both writes overlap both reads. Reader 1 sees b then a, reader 2 sees a then b: impossible.
  const h = [
    put(1, 0, 100, 'k', 'a'),
    put(2, 0, 100, 'k', 'b'),
    get(3, 1, 2, 'k', 'b'),
    get(3, 3, 4, 'k', 'a'),
    get(4, 5, 6, 'k', 'b'),
  ];
  t.is(checkKvHistory(h).ok, false);
  // Without the last read it is fine (b then a).
  t.is(checkKvHistory(h.slice(0, 4)).ok, true);
});

test('concurrent cas: exactly one of two racing cas with the same expectation may succeed', (t) => {
  const base = put(1, 0, 1, 'k', 'v0');
  t.is(checkKvHistory([base, cas(1, 2, 5, 'k', 'v0', 'v1', true), cas(2, 2, 5, 'k', 'v0', 'v2', false), get(3, 6, 7, 'k', 'v1')]).ok, true);
  t.is(checkKvHistory([base, cas(1, 2, 5, 'k', 'v0', 'v1', true), cas(2, 2, 5, 'k', 'v0', 'v2', true)]).ok, false);
  // A failed cas must have seen a value different from its expectation.
  t.is(checkKvHistory([base, cas(1, 2, 3, 'k', 'v0', 'v1', false)]).ok, false);
});

test('unknown-outcome write may take effect later, or never', (t) => {
  const pending = put(1, 0, undefined, 'k', 'ghost');
  // Never happened.
  t.is(checkKvHistory([pending, get(2, 5, 6, 'k', undefined)]).ok, true);
  // Happened much later than the call.
  t.is(checkKvHistory([pending, get(2, 5, 6, 'k', undefined), get(2, 100, 101, 'k', 'ghost')]).ok, true);
  // But once seen it cannot be un-done (it happens at most once).
  t.is(checkKvHistory([pending, get(2, 5, 6, 'k', 'ghost'), get(2, 7, 8, 'k', undefined)]).ok, false);
  // And it cannot take effect before its call.
  t.is(checkKvHistory([get(2, 0, 1, 'k', 'ghost'), put(1, 2, undefined, 'k', 'ghost')]).ok, false);
});

test('unknown-outcome cas applies only if its expectation held when it took effect', (t) => {
  const h = [
    put(1, 0, 1, 'k', 'a'),
    cas(2, 2, undefined, 'k', 'a', 'b'),
    put(1, 3, 4, 'k', 'c'),
    get(1, 5, 6, 'k', 'c'),
  ];
  t.is(checkKvHistory(h).ok, true);
  // b can only appear if the cas ran while the value was a, i.e. before put c; then it is overwritten.
  t.is(checkKvHistory([...h, get(1, 7, 8, 'k', 'b')]).ok, false);
});

test('unknown-outcome reads are ignored', (t) => {
  t.is(checkKvHistory([get(1, 0, undefined, 'k', undefined), put(2, 1, 2, 'k', 'x'), get(2, 3, 4, 'k', 'x')]).ok, true);
});

test('keys are checked independently and the failing key is reported', (t) => {
  const h = [
    put(1, 0, 1, 'a', '1'),
    put(1, 2, 3, 'b', '1'),
    get(2, 4, 5, 'a', '1'),
    put(2, 6, 7, 'b', '2'),
    get(1, 8, 9, 'b', '1'),
  ];
  const r = checkKvHistory(h);
  t.is(r.ok, false);
  if (r.ok === false) {
    t.is(r.key, 'b');
    t.deepEqual(r.fragment.linearized.map((o) => o.index), [1, 3]);
    t.is(r.fragment.blocked.index, 4);
  }
});

test('operations touching at the same instant are treated as concurrent', (t) => {
  t.is(checkKvHistory([put(1, 0, 5, 'k', 'x'), get(2, 5, 6, 'k', undefined)]).ok, true);
  t.is(checkKvHistory([put(1, 0, 5, 'k', 'x'), get(2, 6, 7, 'k', undefined)]).ok, false);
});

test('a search over many concurrent operations stops at the time budget', (t) => {
  // 40 concurrent writes of distinct values and reads that cannot be satisfied: exponential without a budget.
  const h: KvOperation[] = [];
  for (let i = 0; i < 40; i++) h.push(put(i, 0, 1000, 'k', `v${i}`));
  for (let i = 0; i < 40; i++) h.push(get(100 + i, 1 + i, 1000, 'k', `v${(i * 7) % 40}`));
  h.push(get(999, 1001, 1002, 'k', 'never-written'));
  let clock = 0;
  const r = checkKvHistory(h, { timeBudgetMs: 50, now: () => clock++ });
  t.is(r.ok, 'unknown');
  if (r.ok === 'unknown') t.deepEqual(r.undecidedKeys, ['k']);
});

test('mismatched output kind is rejected', (t) => {
  const bad = { clientId: 1, call: 0, return: 1, input: { op: 'get', key: 'k' } as KvInput, output: { op: 'put' } as KvOutput };
  t.is(checkKvHistory([bad]).ok, false);
});

test('history with return before call is refused', (t) => {
  const err = t.throws(() => checkKvHistory([put(1, 5, 4, 'k', 'x')]));
  t.is((err as Error & { code: string }).code, 'CHECK_BAD_HISTORY');
});

test('HistoryRecorder records ok, unknown and failed operations', (t) => {
  const rec = new HistoryRecorder<KvInput, KvOutput>();
  const a = rec.call(1, { op: 'put', key: 'k', value: 'x' }, 0);
  const b = rec.call(2, { op: 'put', key: 'k', value: 'y' }, 1);
  const c = rec.call(3, { op: 'get', key: 'k' }, 2);
  const d = rec.call(4, { op: 'put', key: 'k', value: 'z' }, 3);
  rec.ok(a, { op: 'put' }, 4);
  rec.unknown(b);
  rec.ok(c, { op: 'get', value: 'x' }, 5);
  rec.fail(d);
  t.is(rec.size, 3);
  const h = rec.history();
  t.deepEqual(h.map((o) => o.return), [4, undefined, 5]);
  t.is(checkLinearizable(kvModel, h).ok, true);
  t.throws(() => rec.ok(a, { op: 'put' }, 6), { message: /not open/ });
});

test('bounded histories: KeyWindows renames a key after n operations; a larger partition is refused, not searched', (t) => {
  const w = new KeyWindows(2);
  t.deepEqual([w.next('a'), w.next('a'), w.next('b'), w.next('a')], ['a@0', 'a@0', 'b@0', 'a@1']);
  t.throws(() => new KeyWindows(0), { instanceOf: RangeError });
  const h = new HistoryRecorder<KvInput, KvOutput>();
  for (let i = 0; i < 3; i++) h.ok(h.call(1, { op: 'put', key: 'k', value: `${i}` }, 2 * i), { op: 'put' }, 2 * i + 1);
  const err = t.throws(() => checkKvHistory(h.history(), { maxPartitionOperations: 2 }));
  t.is((err as { code?: string }).code, 'CHECK_HISTORY_UNBOUNDED');
  const r = checkKvHistory(h.history(), { maxPartitionOperations: 3 });
  t.deepEqual(r, { ok: true, partitions: 1, operations: 3, largestPartition: 3 });
});
