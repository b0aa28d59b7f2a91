// Leader failover: a 3-member cluster under writes from 4 clients; the leader is
// killed with SIGKILL ROUNDS times (and restarted); prints the time from each kill
// to the next successful write, for mkube-store and for etcd 3.4 in the same run.
//
//   npx tsx bench/store/failover.ts            (ROUNDS=8 by default)
import * as grpc from '@grpc/grpc-js';
import { loadEtcdProto } from '@mkube/store';
import { startEtcdCluster } from '@mkube/testing';
import { StoreCluster } from '@mkube/testing';

const ROUNDS = Number(process.env.ROUNDS ?? 8);

type Cb<T> = (err: grpc.ServiceError | null, res: T) => void;
interface Clients {
  kv: Array<grpc.Client & { Put(r: object, o: grpc.CallOptions, cb: Cb<unknown>): void }>;
  mt: Array<grpc.Client & { Status(r: object, o: grpc.CallOptions, cb: Cb<{ leader: number; header: { memberId: number } }>): void }>;
}

function clients(endpoints: string[]): Clients {
  const p = loadEtcdProto().etcdserverpb;
  const mk = <T>(C: unknown) => endpoints.map((e) => new (C as new (a: string, c: grpc.ChannelCredentials) => T)(e, grpc.credentials.createInsecure()));
  return { kv: mk(p.KV), mt: mk(p.Maintenance) };
}

async function leaderIndex(c: Clients): Promise<number> {
  for (;;) {
    for (let i = 0; i < c.mt.length; i++) {
      const st = await new Promise<{ leader: number; header: { memberId: number } } | undefined>((resolve) =>
        c.mt[i]!.Status({}, { deadline: Date.now() + 300 }, (err, res) => resolve(err ? undefined : res)),
      );
      if (st && st.leader !== 0 && st.leader === st.header.memberId) return i;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function measure(c: Clients, kill: (i: number) => Promise<void>, restart: (i: number) => Promise<void>): Promise<number[]> {
  let running = true;
  /** [sent, answered] of every successful write. */
  const successes: Array<[number, number]> = [];
  const writers = Array.from({ length: 4 }, async (_, w) => {
    let ep = w % c.kv.length;
    let n = 0;
    while (running) {
      const sent = Date.now();
      const ok = await new Promise<boolean>((resolve) =>
        c.kv[ep]!.Put({ key: Buffer.from(`f/${w}`), value: Buffer.from(String(n++)) }, { deadline: Date.now() + 1000 }, (err) => resolve(!err)),
      );
      if (ok) successes.push([sent, Date.now()]);
      else {
        ep = (ep + 1) % c.kv.length;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  });
  const out: number[] = [];
  await new Promise((r) => setTimeout(r, 1000));
  for (let k = 0; k < ROUNDS; k++) {
    const leader = await leaderIndex(c);
    const killedAt = Date.now();
    await kill(leader);
    // The first write sent after the kill that succeeded (writes already in flight do not count).
    const after = () => successes.find(([sent]) => sent > killedAt);
    while (!after()) await new Promise((r) => setTimeout(r, 2));
    out.push(after()![1] - killedAt);
    await new Promise((r) => setTimeout(r, 500));
    await restart(leader);
    await new Promise((r) => setTimeout(r, 1500));
  }
  running = false;
  await Promise.all(writers);
  return out;
}

function summary(name: string, xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${name}: median ${s[Math.floor(s.length / 2)]} ms, max ${s[s.length - 1]} ms (${xs.join(', ')})`;
}

async function main(): Promise<void> {
  let e: number[] = [];
  if (process.env.ONLY !== 'mkube') {
    const etcd = await startEtcdCluster({ members: 3, captureLogs: false });
    try {
      e = await measure(clients(etcd.endpoints), (i) => etcd.members[i]!.kill(), (i) => etcd.members[i]!.start());
    } finally {
      await etcd.stop();
    }
  }
  const store = await StoreCluster.start({ members: 3 });
  let m: number[];
  try {
    m = await measure(clients(store.endpoints), (i) => store.kill(i), async (i) => store.restart(i));
  } finally {
    await store.stop();
  }
  console.log(`kill -9 of the leader → next successful write, ${ROUNDS} rounds, 3 members on loopback`);
  console.log(summary('mkube-store (heartbeat 50 ms, election 400 ms)', m));
  if (e.length > 0) console.log(summary('etcd 3.4 (heartbeat 100 ms, election 1000 ms)', e));
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
