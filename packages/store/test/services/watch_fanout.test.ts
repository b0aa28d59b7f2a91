// The Watch service's fan-out on a real mkube-store member: events encoded once
// and shared between watchers (with and without prevKv, on several streams),
// events of one watcher batched per event-loop turn. Each watcher gets exactly
// its events, in revision order, with etcd's fields; a progress response never
// overtakes held events; etcdctl (the Go client) decodes the batched responses.
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { loadEtcdProto } from '@mkube/store';
import { StoreCluster } from '@mkube/testing';

type Cb<T> = (err: grpc.ServiceError | null, res: T) => void;
interface Kv {
  key: Buffer;
  value: Buffer;
  modRevision: string | number;
  version: string | number;
}
interface WatchRes {
  header: { revision: string | number };
  watchId: string | number;
  created: boolean;
  canceled: boolean;
  events: Array<{ type: string; kv: Kv; prevKv: Kv | null }>;
}
interface KV extends grpc.Client {
  Put(req: object, cb: Cb<{ header: { revision: string | number } }>): void;
  DeleteRange(req: object, cb: Cb<unknown>): void;
  Txn(req: object, cb: Cb<unknown>): void;
}
interface WatchClient extends grpc.Client {
  Watch(): grpc.ClientDuplexStream<object, WatchRes>;
}

function call<T>(fn: (cb: Cb<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}

interface Seen {
  type: string;
  key: string;
  value: string;
  rev: number;
  prev?: string;
}

/** One stream; records events per watch id and the order of responses. */
function stream(wc: WatchClient) {
  const s = wc.Watch();
  const byId = new Map<number, Seen[]>();
  const log: WatchRes[] = [];
  const waiters: Array<() => void> = [];
  s.on('data', (res: WatchRes) => {
    log.push(res);
    const id = Number(res.watchId);
    for (const e of res.events) {
      const list = byId.get(id) ?? [];
      list.push({ type: e.type, key: e.kv.key.toString(), value: e.kv.value.toString(), rev: Number(e.kv.modRevision), ...(e.prevKv ? { prev: e.prevKv.value.toString() } : {}) });
      byId.set(id, list);
    }
    for (const w of waiters.splice(0)) w();
  });
  s.on('error', () => undefined);
  const until = async (cond: () => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + 20_000;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
  };
  const create = async (req: object): Promise<number> => {
    const n = log.length;
    s.write({ createRequest: req });
    await until(() => log.slice(n).some((r) => r.created), 'created');
    return Number(log.slice(n).find((r) => r.created)!.watchId);
  };
  return { s, byId, log, until, create };
}

test('watchers on several streams each get their events once, in order, prevKv where asked; progress follows held events; etcdctl decodes them', async (t) => {
  t.timeout(120_000);
  const c = await StoreCluster.start({ members: 1 });
  t.teardown(() => c.stop());
  const proto = loadEtcdProto().etcdserverpb;
  const ep = c.endpoints[0]!;
  const kv = new (proto.KV as unknown as new (a: string, c: grpc.ChannelCredentials) => KV)(ep, grpc.credentials.createInsecure());
  const wcA = new (proto.Watch as unknown as new (a: string, c: grpc.ChannelCredentials, o: object) => WatchClient)(ep, grpc.credentials.createInsecure(), { 'mkube.test.channel': 1 });
  const wcB = new (proto.Watch as unknown as new (a: string, c: grpc.ChannelCredentials, o: object) => WatchClient)(ep, grpc.credentials.createInsecure(), { 'mkube.test.channel': 2 });
  t.teardown(() => [kv, wcA, wcB].forEach((x) => x.close()));

  const a = stream(wcA);
  const b = stream(wcB);
  const prefix = { key: Buffer.from('f/'), rangeEnd: Buffer.from('f0') };
  const aPlain = await a.create(prefix);
  const aPrev = await a.create({ ...prefix, prevKv: true });
  const aOne = await a.create({ key: Buffer.from('f/a') });
  const bPlain = await b.create(prefix);

  const put = (k: string, v: string) => call<unknown>((cb) => kv.Put({ key: Buffer.from(k), value: Buffer.from(v) }, cb));
  await put('f/a', '1');
  await put('f/b', '1');
  await call((cb) => kv.Txn({ compare: [], success: [{ requestPut: { key: Buffer.from('f/a'), value: Buffer.from('2') } }, { requestPut: { key: Buffer.from('f/c'), value: Buffer.from('1') } }], failure: [] }, cb));
  await call((cb) => kv.DeleteRange({ key: Buffer.from('f/b') }, cb));
  // A burst: many revisions committed together, delivered in few responses.
  await Promise.all(Array.from({ length: 64 }, (_, i) => put(`f/x${i % 8}`, `${i}`)));
  // The progress request is answered after everything held for the stream.
  a.s.write({ progressRequest: {} });
  const total = 5 + 64;
  await a.until(() => (a.byId.get(aPlain)?.length ?? 0) >= total && (a.byId.get(aPrev)?.length ?? 0) >= total, 'all events on stream A');
  await b.until(() => (b.byId.get(bPlain)?.length ?? 0) >= total, 'all events on stream B');
  await a.until(() => a.log.some((r) => !r.created && r.events.length === 0 && !r.canceled), 'progress response');

  const plain = a.byId.get(aPlain)!;
  t.is(plain.length, total, 'no duplicate and no missing event');
  t.deepEqual(b.byId.get(bPlain), plain, 'the other stream got the same events');
  const revs = plain.map((e) => e.rev);
  t.deepEqual(revs, [...revs].sort((x, y) => x - y), 'in revision order');
  t.deepEqual(
    plain.slice(0, 5).map(({ type, key, value }) => `${type} ${key}=${value}`),
    ['PUT f/a=1', 'PUT f/b=1', 'PUT f/a=2', 'PUT f/c=1', 'DELETE f/b='],
  );
  t.is(plain[2]!.rev, plain[3]!.rev, 'the txn events share one revision');
  t.true(plain.every((e) => e.prev === undefined), 'no prevKv for the watcher that did not ask');
  const withPrev = a.byId.get(aPrev)!;
  t.deepEqual(
    withPrev.map(({ type, key, value, rev }) => ({ type, key, value, rev })),
    plain.map(({ type, key, value, rev }) => ({ type, key, value, rev })),
  );
  t.is(withPrev[2]!.prev, '1', 'prevKv of the second put of f/a');
  t.is(withPrev[4]!.prev, '1', 'prevKv of the delete of f/b');
  t.is(withPrev[0]!.prev, undefined, 'a created key has no prevKv');
  t.deepEqual(
    a.byId.get(aOne)!.map((e) => `${e.key}=${e.value}`),
    ['f/a=1', 'f/a=2'],
    'the single-key watcher got only its key',
  );
  const progressAt = a.log.findIndex((r) => !r.created && r.events.length === 0 && !r.canceled);
  const lastEventAt = a.log.map((r, i) => (r.events.length > 0 ? i : -1)).reduce((x, y) => Math.max(x, y));
  t.true(progressAt > lastEventAt, 'the progress response came after every event');
  t.true(Number(a.log[progressAt]!.header.revision) >= revs[revs.length - 1]!);
  const responses = a.log.filter((r) => Number(r.watchId) === aPlain && r.events.length > 0).length;
  t.log(`stream A, plain watcher: ${total} events in ${responses} responses`);

  // etcdctl (Go's gRPC and protobuf) reads the concatenated encoding: a watch from a past revision (history replay).
  const first = (await call<{ header: { revision: string | number } }>((cb) => kv.Put({ key: Buffer.from('g/k'), value: Buffer.from('v1') }, cb))).header.revision;
  await put('g/k', 'v2');
  const ctl = spawn('etcdctl', [`--endpoints=${ep}`, 'watch', '--prefix', '--prev-kv', `--rev=${first}`, 'g/'], { env: { ...process.env, ETCDCTL_API: '3' } });
  t.teardown(() => ctl.kill('SIGKILL'));
  let out = '';
  ctl.stdout.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`etcdctl watch printed only:\n${out}`)), 20_000);
    ctl.stdout.on('data', (d: string) => {
      out += d;
      if (out.includes('g/k\nv2')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  t.is(out, 'PUT\ng/k\nv1\nPUT\ng/k\nv1\ng/k\nv2\n', 'etcdctl watch printed both puts, the second with its prevKv');
});
