// CPU and wall time per Raft entry of the member's log persistence, in one
// process: the WAL (packages/store/src/wal) against the LevelDB layout the
// Raft log had before it (one chained batch per Ready: raft/e/<index> =
// [crc32][term, index, type, data] per entry, raft/hs, written with sync —
// the layout server/legacy_raft_log.ts still reads to migrate). Each backend
// persists the same Readies: BATCH entries of VALUE bytes and a hard state,
// synced, one Ready at a time. CPU is this process's user + system time (all
// threads: the libuv pool's writes and syncs, LevelDB's compactions). Not a
// test: it measures.
//
//   npx tsx bench/store/raft_log_cpu.ts     # BENCH_BATCH=32 BENCH_READIES=1000 BENCH_VALUE=300
import { ClassicLevel } from 'classic-level';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from '../../packages/store/src/codec/crc32.js';
import type { Entry, HardState } from '../../packages/store/src/raft/types.js';
import { Wal } from '../../packages/store/src/wal/index.js';

const BATCH = Number(process.env.BENCH_BATCH ?? 32);
const READIES = Number(process.env.BENCH_READIES ?? 1000);
const VALUE = Number(process.env.BENCH_VALUE ?? 300);

interface Backend {
  save(hs: HardState, entries: Entry[]): Promise<void>;
  close(): Promise<void>;
}

async function wal(dir: string): Promise<Backend> {
  const { wal: w } = await Wal.open(join(dir, 'wal'));
  return { save: (hs, es) => w.save(hs, es, undefined, true), close: () => w.close() };
}

async function leveldb(dir: string): Promise<Backend> {
  const db = new ClassicLevel<Buffer, Buffer>(join(dir, 'db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  const sealed = (body: Buffer) => {
    const out = Buffer.alloc(4 + body.length);
    out.writeUInt32BE(crc32(body), 0);
    body.copy(out, 4);
    return out;
  };
  return {
    save: async (hs, es) => {
      const batch = db.batch();
      for (const e of es) {
        const key = Buffer.alloc(15);
        key.write('raft/e/');
        key.writeBigUInt64BE(BigInt(e.index), 7);
        const body = Buffer.alloc(17 + e.data.length);
        body.writeBigUInt64BE(BigInt(e.term), 0);
        body.writeBigUInt64BE(BigInt(e.index), 8);
        body.writeUInt8(e.type, 16);
        body.set(e.data, 17);
        batch.put(key, sealed(body));
      }
      batch.put(Buffer.from('raft/hs'), sealed(Buffer.from(JSON.stringify(hs))));
      await batch.write({ sync: true });
    },
    close: () => db.close(),
  };
}

async function measure(name: string, open: (dir: string) => Promise<Backend>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mkube-bench-raftlog-'));
  try {
    const b = await open(dir);
    const data = Buffer.alloc(VALUE, 'v');
    let index = 0;
    const readies: Array<{ hs: HardState; es: Entry[] }> = [];
    for (let r = 0; r < READIES; r++) {
      const es: Entry[] = [];
      for (let i = 0; i < BATCH; i++) es.push({ term: 2, index: ++index, type: 0, data });
      readies.push({ hs: { term: 2, vote: 1, commit: index - BATCH }, es });
    }
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const r of readies) await b.save(r.hs, r.es);
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    await b.close();
    const entries = READIES * BATCH;
    console.log(
      `${name.padEnd(8)}: ${READIES} Readies of ${BATCH} entries (${VALUE} B): CPU ${(((cpu.user + cpu.system) / entries)).toFixed(1)} µs per entry ` +
        `(user ${(cpu.user / entries).toFixed(1)}, system ${(cpu.system / entries).toFixed(1)}), ${(wall / READIES).toFixed(2)} ms per synced Ready`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`);
for (let round = 0; round < 2; round++) {
  await measure('leveldb', leveldb);
  await measure('wal', wal);
}
