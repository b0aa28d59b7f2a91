// CPU of the Watch service's encoding for one event batch delivered to N watchers:
// before (each watcher's WatchResponse serialized whole, its events converted and
// encoded again for every watcher, one response per revision) against the
// fan-out of watch_service.ts (each event encoded once, a response = its header
// and watch id plus the shared event chunks, a turn's revisions in one
// response). Same serializer as the server (the Watch method's). CPU time of this
// process, so the machine's load matters less than for wall-clock figures.
//
//   npx tsx bench/store/watch_encode.ts       # BENCH_WATCHERS=32 BENCH_EVENTS=64 BENCH_ROUNDS=300
import { loadEtcdProto } from '@mkube/store';

const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 32);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 300);

const serialize = loadEtcdProto().etcdserverpb.Watch.service.Watch.responseSerialize as (v: object) => Buffer;
const header = (rev: number) => ({ clusterId: 0x1234567890, memberId: 0x987654321, revision: rev, raftTerm: 3 });

/** One turn's events: EVENTS puts of 256-byte values, one revision each (as 64 writers' puts committed together). */
function batch(round: number) {
  return Array.from({ length: EVENTS }, (_, i) => ({
    type: 'PUT' as const,
    kv: { key: Buffer.from(`fan/${i}`), value: Buffer.alloc(256, 'v'), createRevision: 2, modRevision: round * EVENTS + i, version: round + 1, lease: 0 },
  }));
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function before(events: ReturnType<typeof batch>): number {
  let bytes = 0;
  for (let w = 0; w < WATCHERS; w++) {
    for (const e of events) bytes += serialize({ header: header(e.kv.modRevision), watchId: 0, events: [{ type: e.type, kv: e.kv }] }).length;
  }
  return bytes;
}

function after(events: ReturnType<typeof batch>): number {
  const cache = new WeakMap<object, Buffer>();
  let bytes = 0;
  for (let w = 0; w < WATCHERS; w++) {
    const parts = [serialize({ header: header(events[events.length - 1]!.kv.modRevision), watchId: 0 })];
    for (const e of events) {
      let b = cache.get(e.kv);
      if (!b) cache.set(e.kv, (b = serialize({ events: [{ type: e.type, kv: e.kv }] })));
      parts.push(b);
    }
    bytes += Buffer.concat(parts).length;
  }
  return bytes;
}

for (const [name, fn] of [['before', before], ['after', after], ['before', before], ['after', after]] as const) {
  const data = Array.from({ length: ROUNDS }, (_, r) => batch(r + 1));
  fn(data[0]!); // warm
  const c0 = cpuMs();
  let bytes = 0;
  for (const events of data) bytes += fn(events);
  const ms = cpuMs() - c0;
  const delivered = ROUNDS * EVENTS * WATCHERS;
  console.log(`${name.padEnd(6)}: ${((ms * 1000) / delivered).toFixed(2)} µs CPU per delivered event (${WATCHERS} watchers, ${EVENTS} events per turn, ${(bytes / delivered).toFixed(0)} bytes per event on the wire)`);
}
