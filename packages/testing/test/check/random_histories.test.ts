// Randomized checks of the linearizability checker: histories produced by a
// real sequential execution, smeared into overlapping call/return intervals,
// must pass; the same histories with one read made stale must fail.
import test from 'ava';
import { checkKvHistory, type KvInput, type KvOperation, type KvOutput } from '../../src/check/index.js';
import { seededRandom as mulberry32 } from '@mkube/component-base';


interface GenOptions {
  ops: number;
  keys: number;
  clients: number;
  /** Max distance of call/return from the linearization point, in units of 10 ops. */
  window: number;
  unknownRate: number;
}

/**
 * Runs `ops` random operations sequentially against a map; operation i takes effect
 * at time 10*i, its call is up to `window` before and its return up to `window` after.
 * Unknown-outcome operations either took effect (and their effect shows) or never did.
 */
function generate(rand: () => number, o: GenOptions): KvOperation[] {
  const state = new Map<string, string>();
  const int = (n: number) => Math.floor(rand() * n);
  const history: KvOperation[] = [];
  for (let i = 0; i < o.ops; i++) {
    const key = `k${int(o.keys)}`;
    const t = 10 * i;
    const call = t - int(o.window * 10 + 1);
    const unknown = rand() < o.unknownRate;
    const ret = unknown ? undefined : t + int(o.window * 10 + 1);
    const applied = !unknown || rand() < 0.5;
    const cur = state.get(key);
    const r = rand();
    let input: KvInput;
    let output: KvOutput;
    if (r < 0.3) {
      input = { op: 'put', key, value: `v${i}` };
      if (applied) state.set(key, input.value);
      output = { op: 'put' };
    } else if (r < 0.7) {
      input = { op: 'get', key };
      output = { op: 'get', value: cur };
    } else if (r < 0.8) {
      input = { op: 'delete', key };
      if (applied) state.delete(key);
      output = { op: 'delete' };
    } else {
      // Half of the cas expect the current value (succeed), half something else.
      const expected = rand() < 0.5 ? cur : rand() < 0.5 ? undefined : `v${int(i + 1)}`;
      input = { op: 'cas', key, expected, value: `v${i}` };
      const ok = expected === cur;
      if (ok && applied) state.set(key, input.value);
      output = { op: 'cas', ok };
    }
    history.push({ clientId: int(o.clients), call, return: ret, input, output: ret === undefined ? undefined : output });
  }
  // Present the operations in call order, as a recorder would.
  return history.sort((a, b) => a.call - b.call);
}

const changesValue = (op: KvOperation): boolean =>
  op.return !== undefined &&
  (op.input.op === 'put' || op.input.op === 'delete' || (op.input.op === 'cas' && op.output?.op === 'cas' && op.output.ok));

/**
 * Makes one completed read return the value of an older completed put W1 although a
 * later write W2 (W1 → W2 → read in real time) overwrote it. Values are unique per
 * write, so no order can explain it. Returns undefined when the history has no such triple.
 */
function staleRead(history: KvOperation[], rand: () => number): { history: KvOperation[]; read: number } | undefined {
  const candidates: Array<{ read: number; value: string }> = [];
  for (let g = 0; g < history.length; g++) {
    const read = history[g]!;
    if (read.input.op !== 'get' || read.return === undefined) continue;
    const key = read.input.key;
    for (let w2 = 0; w2 < history.length; w2++) {
      const second = history[w2]!;
      if (second.input.key !== key || !changesValue(second) || second.return! >= read.call) continue;
      for (let w1 = 0; w1 < history.length; w1++) {
        const first = history[w1]!;
        if (first.input.op !== 'put' || first.input.key !== key || first.return === undefined || first.return >= second.call) continue;
        candidates.push({ read: g, value: first.input.value });
      }
    }
    if (candidates.length > 50) break;
  }
  if (candidates.length === 0) return undefined;
  const pick = candidates[Math.floor(rand() * candidates.length)]!;
  const mutated = history.map((op) => ({ ...op }));
  mutated[pick.read]!.output = { op: 'get', value: pick.value };
  return { history: mutated, read: pick.read };
}

test('random linearizable histories pass and stale-read mutations fail', (t) => {
  let passed = 0;
  let failed = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const rand = mulberry32(seed);
    const opts: GenOptions = {
      ops: 20 + Math.floor(rand() * 200),
      keys: 1 + Math.floor(rand() * 4),
      clients: 2 + Math.floor(rand() * 6),
      window: Math.floor(rand() * 7),
      unknownRate: rand() < 0.5 ? 0 : 0.05,
    };
    const h = generate(rand, opts);
    const r = checkKvHistory(h, { timeBudgetMs: 20_000 });
    if (r.ok !== true) {
      t.fail(`seed ${seed} (${JSON.stringify(opts)}): linearizable history judged ${String(r.ok)}\n${r.ok === false ? r.description : r.reason}`);
      return;
    }
    passed++;
    const m = staleRead(h, rand);
    if (m === undefined) continue;
    const rm = checkKvHistory(m.history, { timeBudgetMs: 20_000 });
    if (rm.ok !== false) {
      t.fail(`seed ${seed}: stale read at #${m.read} judged ${String(rm.ok)}`);
      return;
    }
    failed++;
  }
  t.log(`${passed} linearizable histories passed, ${failed} stale-read mutations caught`);
  t.true(failed > 200, `too few mutations generated: ${failed}`);
});

test('thousands of operations over a few keys check quickly', (t) => {
  const rand = mulberry32(4242);
  const h = generate(rand, { ops: 5000, keys: 8, clients: 16, window: 3, unknownRate: 0.01 });
  const start = performance.now();
  const r = checkKvHistory(h, { timeBudgetMs: 60_000 });
  const ms = performance.now() - start;
  t.log(`5000 ops, 8 keys: ${ms.toFixed(0)} ms`);
  t.is(r.ok, true, r.ok === false ? r.description : undefined);
  const m = staleRead(h, rand)!;
  const rm = checkKvHistory(m.history, { timeBudgetMs: 60_000 });
  t.is(rm.ok, false);
  if (rm.ok === false) {
    t.is(rm.fragment.blocked.index, m.read);
    t.log(rm.description);
  }
});
