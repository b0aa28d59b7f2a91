// Why a synced WAL write inside a member costs more than a bare O_DSYNC write
// (issue 15 §3, lever 2): one process, one 400-byte entry + hard state per synced
// save, one save at a time, timed from the call to its resolution, under
//   bare-sync    fs.writeSync through an O_DSYNC descriptor (the floor: the disk)
//   bare-async   fs.write through the same descriptor (adds libuv's thread pool hop)
//   wal          Wal.save(…, sync) with nothing else running
//   wal+pool     the same while LevelDB (classic-level: the same libuv pool) writes and reads
//                as a member's key space does (8 operations in flight)
//   wal+loop     the same while the event loop is busy (2 ms of JavaScript every 3 ms, as
//                request handling of a loaded member)
//   thread+pool  the O_DSYNC write done by a thread of its own (a worker doing fs.writeSync, woken
//                through a SharedArrayBuffer and Atomics) while LevelDB works as in wal+pool
// Prints mean, p50, p99 (ms) of each. UV_THREADPOOL_SIZE changes the pool size. Not a test.
//
//   npx tsx bench/store/wal_path.ts            # BENCH_SAVES=300
import { ClassicLevel } from 'classic-level';
import * as fs from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { EntryType, type Entry } from '../../packages/store/src/raft/types.js';
import { Wal } from '../../packages/store/src/wal/index.js';

const WRITER_SOURCE = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const ctrl = new Int32Array(workerData.ctrl);
const data = Buffer.from(workerData.data);
for (;;) {
  Atomics.wait(ctrl, 0, 0);
  const len = ctrl[1], pos = ctrl[2];
  let r = 2;
  try { fs.writeSync(workerData.fd, data, 0, len, pos); } catch { r = 3; }
  Atomics.store(ctrl, 0, r);
  Atomics.notify(ctrl, 0);
}`;

/** A thread of its own that writes through `fd`; write() resolves when the write returned. */
function writerThread(fd: number): { write(buf: Buffer, pos: number): Promise<void>; stop(): Promise<number> } {
  const ctrl = new Int32Array(new SharedArrayBuffer(16));
  const data = new SharedArrayBuffer(1 << 20);
  const view = Buffer.from(data);
  const worker = new Worker(WRITER_SOURCE, { eval: true, workerData: { fd, ctrl: ctrl.buffer, data } });
  return {
    async write(buf, pos) {
      buf.copy(view, 0);
      ctrl[1] = buf.length;
      ctrl[2] = pos;
      Atomics.store(ctrl, 0, 1);
      Atomics.notify(ctrl, 0);
      const w = Atomics.waitAsync(ctrl, 0, 1);
      if (w.async) await w.value;
      const r = Atomics.load(ctrl, 0);
      Atomics.store(ctrl, 0, 0);
      if (r !== 2) throw new Error('write failed');
    },
    stop: () => worker.terminate(),
  };
}

const SAVES = Number(process.env.BENCH_SAVES ?? 300);
const VARIANTS = (process.env.BENCH_VARIANTS ?? 'bare-sync,bare-async,wal,wal+pool,thread+pool,wal+loop').split(',');

function stats(lat: number[]): string {
  lat.sort((a, b) => a - b);
  const q = (x: number) => lat[Math.min(lat.length - 1, Math.floor(x * lat.length))]!.toFixed(2);
  const mean = lat.reduce((a, b) => a + b, 0) / lat.length;
  return `mean ${mean.toFixed(2)}, p50 ${q(0.5)}, p99 ${q(0.99)} ms`;
}

async function timed(n: number, op: (i: number) => Promise<void> | void): Promise<number[]> {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await op(i);
    lat.push(performance.now() - t0);
  }
  return lat;
}

/** Background load until the returned stop() is called. */
async function leveldbLoad(dir: string): Promise<() => Promise<void>> {
  const db = new ClassicLevel<Buffer, Buffer>(join(dir, 'kv'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  let running = true;
  const value = Buffer.alloc(300, 'v');
  const workers = Array.from({ length: 8 }, async (_, w) => {
    for (let i = 0; running; i++) {
      const key = Buffer.from(`k/${w}/${i % 500}`);
      if (i % 2 === 0) await db.batch().put(key, value).put(Buffer.from(`m/${w}`), value).write();
      else await db.get(key).catch(() => undefined);
    }
  });
  return async () => {
    running = false;
    await Promise.all(workers);
    await db.close();
  };
}

function loopLoad(): () => Promise<void> {
  const t = setInterval(() => {
    const until = performance.now() + 2;
    while (performance.now() < until);
  }, 3);
  return async () => clearInterval(t);
}

const root = fs.mkdtempSync(join(tmpdir(), 'wal-path-'));
const entry = (i: number): Entry => ({ term: 2, index: i + 1, type: EntryType.Normal, data: Buffer.alloc(400, 'e') });
try {
  console.log(`${SAVES} synced saves of one 400-byte entry each, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4}, load ${loadavg()[0]!.toFixed(1)}`);
  for (const v of VARIANTS) {
    const dir = fs.mkdtempSync(join(root, 'v-'));
    let lat: number[];
    if (v === 'thread+pool') {
      const path = join(dir, 'seg');
      fs.writeFileSync(path, Buffer.alloc(8 << 20));
      const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_DSYNC);
      const writer = writerThread(fd);
      const stop = await leveldbLoad(dir);
      const buf = Buffer.alloc(472, 'e');
      try {
        lat = await timed(SAVES, (i) => writer.write(buf, i * buf.length));
      } finally {
        await stop();
        await writer.stop();
        fs.closeSync(fd);
      }
    } else if (v.startsWith('bare')) {
      const path = join(dir, 'seg');
      fs.writeFileSync(path, Buffer.alloc(8 << 20));
      const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_DSYNC);
      const buf = Buffer.alloc(472, 'e');
      lat = await timed(SAVES, (i) =>
        v === 'bare-sync'
          ? void fs.writeSync(fd, buf, 0, buf.length, i * buf.length)
          : new Promise<void>((res, rej) => fs.write(fd, buf, 0, buf.length, i * buf.length, (e) => (e ? rej(e) : res()))),
      );
      fs.closeSync(fd);
    } else {
      const { wal } = await Wal.open(join(dir, 'wal'), { segmentBytes: 8 << 20 });
      const stop = v === 'wal+pool' ? await leveldbLoad(dir) : v === 'wal+loop' ? loopLoad() : async () => undefined;
      try {
        lat = await timed(SAVES, (i) => wal.save({ term: 2, vote: 1, commit: i }, [entry(i)], undefined, true));
      } finally {
        await stop();
        await wal.close();
      }
    }
    console.log(`${v.padEnd(10)} ${stats(lat)}`);
  }
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
