// The leader's corruption check (etcd's checkHashKV rules) over a fake host;
// with real members: test/etcdctl/maintenance.test.ts.
import test from 'ava';
import { pino } from 'pino';
import { checkHashKV, type PeerHash } from '../../src/server/corruption_check.js';

function host(local: Array<{ hash: number; revision: number; compactRevision: number }>, peers: Record<number, PeerHash | Error>) {
  const raised: number[] = [];
  let i = 0;
  return {
    raised,
    h: {
      logger: pino({ level: 'silent' }),
      isLeader: () => true,
      memberId: () => 1,
      localHash: async () => local[Math.min(i++, local.length - 1)]!,
      peers: () => Object.keys(peers).map(Number),
      peerHash: async (id: number) => {
        const p = peers[id]!;
        if (p instanceof Error) throw p;
        return p;
      },
      caughtUp: async () => undefined,
      raiseCorrupt: async (id: number) => {
        raised.push(id);
      },
    },
  };
}

const me = { hash: 100, revision: 50, compactRevision: 10 };

test('agreeing members, a member that cannot answer (behind: future revision) or compacted earlier: no alarm', async (t) => {
  const { raised, h } = host([me], {
    2: { memberId: 2, hash: 100, revision: 50, compactRevision: 10 },
    3: new Error('FutureRev'),
    4: { memberId: 4, hash: 999, revision: 50, compactRevision: 5 },
  });
  t.is(await checkHashKV(h), undefined);
  t.deepEqual(raised, []);
});

test('a member with the same compacted revision and another hash gets the CORRUPT alarm (one per check)', async (t) => {
  const { raised, h } = host([me], {
    2: { memberId: 2, hash: 101, revision: 50, compactRevision: 10 },
    3: { memberId: 3, hash: 102, revision: 50, compactRevision: 10 },
  });
  t.is(await checkHashKV(h), 2);
  t.deepEqual(raised, [2]);
});

test('a member ahead of the leader (revision or compaction) is reported', async (t) => {
  let r = host([me], { 2: { memberId: 2, hash: 100, revision: 51, compactRevision: 10 } });
  t.is(await checkHashKV(r.h), 2);
  r = host([me], { 3: { memberId: 3, hash: 100, revision: 50, compactRevision: 11 } });
  t.is(await checkHashKV(r.h), 3);
});

test('the leader\'s own hash changing at the same revisions reports the leader', async (t) => {
  const { raised, h } = host([me, { ...me, hash: 7 }], {});
  t.is(await checkHashKV(h), 1);
  t.deepEqual(raised, [1]);
});
