// Micro-benchmark of the MVCC apply path: puts of 256-byte values applied one by
// one through MvccStore.put(index++, ...) on a real LevelDB, with flush() (group
// commit) every FLUSH_EVERY entries, as the member does once per Raft Ready.
// Prints applies/s. Not a test: it measures.
//
//   npx tsx bench/store/mvcc_apply.ts
//   BENCH_ENTRIES=50000 BENCH_FLUSH_EVERY=100 BENCH_KEYS=1000 npx tsx bench/store/mvcc_apply.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { MvccStore } from '../../packages/store/src/mvcc/index.js';

const ENTRIES = Number(process.env.BENCH_ENTRIES ?? 20_000);
const FLUSH_EVERY = Number(process.env.BENCH_FLUSH_EVERY ?? 100);
const KEYS = Number(process.env.BENCH_KEYS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const VALUE = Buffer.alloc(256, 'v');

/** flush() where the store has it (the benchmark also runs against the per-apply-write store). */
async function flush(store: MvccStore): Promise<void> {
  const f = (store as unknown as { flush?: () => Promise<void> }).flush;
  if (f) await f.call(store);
}

interface Round {
  rate: number;
  applyUs: number;
  flushUs: number;
}

async function round(): Promise<Round> {
  const dir = mkdtempSync(join(tmpdir(), 'mvcc-bench-'));
  const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    const store = await MvccStore.open(db, Buffer.from('kv/'));
    const keys = Array.from({ length: KEYS }, (_, i) => Buffer.from(`/registry/pods/default/pod-${i}`));
    let index = 1;
    let applyNs = 0n;
    let flushNs = 0n;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ENTRIES; i += FLUSH_EVERY) {
      const n = Math.min(FLUSH_EVERY, ENTRIES - i);
      const a = process.hrtime.bigint();
      // The member awaits each apply in turn; so does this loop.
      for (let j = 0; j < n; j++) await store.put(index++, { key: keys[(i + j) % KEYS]!, value: VALUE });
      const f = process.hrtime.bigint();
      await flush(store);
      applyNs += f - a;
      flushNs += process.hrtime.bigint() - f;
    }
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    // A new store is at revision 1 (etcd's); each put adds one.
    if (store.revision !== ENTRIES + 1 || store.consistentIndex !== ENTRIES) throw new Error(`bench: revision ${store.revision}, consistent index ${store.consistentIndex}, expected ${ENTRIES + 1} and ${ENTRIES}`);
    await store.close();
    return { rate: ENTRIES / secs, applyUs: Number(applyNs) / 1e3 / ENTRIES, flushUs: Number(flushNs) / 1e3 / ENTRIES };
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const rates: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const { rate, applyUs, flushUs } = await round();
  rates.push(rate);
  console.log(
    `round ${r + 1}: ${ENTRIES} puts (256 B values, ${KEYS} keys, flush every ${FLUSH_EVERY}): ${Math.round(rate)} applies/s` +
      ` (per entry: ${applyUs.toFixed(1)} us applying, ${flushUs.toFixed(1)} us in flush)`,
  );
}
rates.sort((a, b) => a - b);
console.log(`median: ${Math.round(rates[Math.floor(rates.length / 2)]!)} applies/s, best: ${Math.round(rates[rates.length - 1]!)} applies/s`);
