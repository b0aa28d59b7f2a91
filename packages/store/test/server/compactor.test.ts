// The auto compactors (etcd's v3compactor semantics), the maintenance flags
// and the alarm set's refusals — without processes; the whole behaviour with
// real members is in test/etcdctl/maintenance.test.ts.
import test from 'ava';
import { pino } from 'pino';
import { PeriodicCompactor, RevisionCompactor } from '../../src/server/compactor.js';
import { parseAutoCompaction, parseDurationFlag } from '../../src/server/maintenance_flags.js';
import { AlarmSet } from '../../src/server/alarms.js';
import { parseFlags } from '../../src/server/config.js';

const logger = pino({ level: 'silent' });

function host(rev: () => number) {
  const calls: Array<{ rev: number; at: number }> = [];
  return {
    calls,
    h: {
      logger,
      revision: rev,
      compact: async (r: number) => {
        calls.push({ rev: r, at: Date.now() });
      },
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('periodic: paused (not leader) it never compacts; resumed, it compacts after one retention to the revision of one retention ago', async (t) => {
  let rev = 1;
  const ticker = setInterval(() => rev++, 10);
  t.teardown(() => clearInterval(ticker));
  const { calls, h } = host(() => rev);
  const c = new PeriodicCompactor(400, h);
  t.teardown(() => c.stop());
  await sleep(700);
  t.is(calls.length, 0, 'a paused compactor proposes nothing');
  const resumedAt = Date.now();
  c.resume();
  while (calls.length === 0 && Date.now() - resumedAt < 3000) await sleep(10);
  t.is(calls.length, 1);
  // The oldest sample of the last retention: about 400 ms (40 revisions) back, sampled every 40 ms.
  const behind = rev - calls[0]!.rev;
  t.true(behind >= 30 && behind <= 60, `compacted ${behind} revisions back`);
  await sleep(450);
  t.true(calls.length >= 2, 'then every min(retention, 1h)');
  c.pause();
  const n = calls.length;
  await sleep(600);
  t.is(calls.length, n, 'paused again: nothing more');
});

test('revision: keeps the last N revisions; no compaction when the target did not move or is not above 0', async (t) => {
  let rev = 5;
  const { calls, h } = host(() => rev);
  const c = new RevisionCompactor(10, h, 50);
  t.teardown(() => c.stop());
  c.resume();
  await sleep(200);
  t.is(calls.length, 0, 'current - 10 <= 0');
  rev = 25;
  while (calls.length === 0) await sleep(10);
  t.is(calls[0]!.rev, 15);
  await sleep(200);
  t.is(calls.length, 1, 'unchanged target: not again');
  rev = 30;
  while (calls.length === 1) await sleep(10);
  t.is(calls[1]!.rev, 20);
});

test('flags: --auto-compaction-retention as etcd (plain number = hours in periodic mode, revisions in revision mode; durations)', (t) => {
  t.deepEqual(parseAutoCompaction('periodic', '1'), { mode: 'periodic', retention: 3_600_000 });
  t.deepEqual(parseAutoCompaction('periodic', '30m'), { mode: 'periodic', retention: 1_800_000 });
  t.deepEqual(parseAutoCompaction('periodic', '0'), { mode: 'periodic', retention: 0 });
  t.deepEqual(parseAutoCompaction('revision', '1000'), { mode: 'revision', retention: 1000 });
  t.throws(() => parseAutoCompaction('revision', '1h'), { message: /revision mode takes a number of revisions/ });
  t.throws(() => parseAutoCompaction('daily', '1'), { message: /unknown auto-compaction-mode "daily"/ });
  t.throws(() => parseAutoCompaction('periodic', 'soon'), { message: /error parsing CompactionRetention: time: invalid duration "soon"/ });
  t.is(parseDurationFlag('experimental-corrupt-check-time', '0s', false), 0);
  t.is(parseDurationFlag('experimental-corrupt-check-time', '2m', false), 120_000);
  const cmd = parseFlags(['--auto-compaction-mode', 'revision', '--auto-compaction-retention', '5', '--quota-backend-bytes', '0']);
  if (cmd.kind !== 'run') throw new Error('expected run');
  t.is(cmd.config.autoCompactionMode, 'revision');
  t.is(cmd.config.autoCompactionRetention, 5);
  t.is(cmd.config.autoCompactionRevisionIntervalMs, 300_000, "etcd's 5 minutes");
  t.is(cmd.config.quotaBackendBytes, 2 * 1024 * 1024 * 1024, '0 = the default quota');
  t.is(cmd.config.corruptCheckTimeMs, 0);
  t.throws(() => parseFlags(['--auto-compaction-mode', 'hourly']), { message: /unknown auto-compaction-mode/ });
});

test('alarms: NOSPACE refuses puts, lease grants and writing txns; CORRUPT refuses every write; deactivation clears', (t) => {
  const a = new AlarmSet();
  const put = { put: { key: Buffer.from('k'), value: Buffer.from('v') } } as never;
  const readTxn = { txn: { compare: [], success: [{ request: 'requestRange', requestRange: { key: Buffer.from('k') } }], failure: [] } } as never;
  const delTxn = { txn: { compare: [], success: [{ request: 'requestDeleteRange', requestDeleteRange: { key: Buffer.from('k') } }], failure: [] } } as never;
  const del = { deleteRange: { key: Buffer.from('k') } } as never;
  t.is(a.refusal(put), undefined);
  t.deepEqual(a.apply({ action: 'ACTIVATE', memberID: 7, alarm: 'NOSPACE' }), { alarms: [{ memberID: 7, alarm: 'NOSPACE' }], raised: 'NOSPACE' });
  t.deepEqual(a.apply({ action: 'ACTIVATE', memberID: 3, alarm: 'NOSPACE' }).raised, undefined, 'already raised by another member');
  t.is(a.refusal(put)?.message, 'etcdserver: mvcc: database space exceeded');
  t.is(a.refusal({ leaseGrant: { id: 1, ttl: 10 } } as never)?.etcdName, 'NoSpace');
  t.is(a.refusal(delTxn)?.etcdName, 'NoSpace', "etcd's isTxnReadonly: a delete in a txn is a write");
  t.is(a.refusal(readTxn), undefined);
  t.is(a.refusal(del), undefined);
  t.is(a.refusal({ compaction: { revision: 3 } } as never), undefined);
  t.deepEqual(a.list(), [{ memberID: 3, alarm: 'NOSPACE' }, { memberID: 7, alarm: 'NOSPACE' }]);
  t.deepEqual(a.apply({ action: 'DEACTIVATE', memberID: 9, alarm: 'NOSPACE' }), { alarms: [] }, 'not raised for that member');
  a.apply({ action: 'DEACTIVATE', memberID: 3, alarm: 'NOSPACE' });
  t.deepEqual(a.apply({ action: 'DEACTIVATE', memberID: 7, alarm: 'NOSPACE' }).cleared, 'NOSPACE');
  t.is(a.refusal(put), undefined);
  a.apply({ action: 'ACTIVATE', memberID: 7, alarm: 'CORRUPT' });
  t.is(a.refusal(del)?.message, 'etcdserver: corrupt cluster');
  const copy = new AlarmSet();
  copy.restore(JSON.parse(JSON.stringify(a.toJSON())));
  t.deepEqual(copy.list(), [{ memberID: 7, alarm: 'CORRUPT' }], 'restored from a Raft snapshot');
});
