// ProposalWaiters: sequence numbers unique across runs of a member (a replayed
// entry of an earlier run never answers a new proposal), and timeouts with
// etcd's errors instead of failing everything when the leader changes.
import test from 'ava';
import { EtcdError } from '../../src/api/etcd_error.js';
import { ProposalWaiters, firstSequence } from '../../src/server/proposal_waiters.js';

test('a run started later numbers its proposals above every one of an earlier run (etcd idutil: ms << 8)', (t) => {
  const earlier = new ProposalWaiters(1000, firstSequence(1_700_000_000_000));
  const seqs = Array.from({ length: 2000 }, () => earlier.register().seq);
  // The next run starts 20 ms later (a fast restart): 2,000 proposals in between still do not reach it.
  const later = new ProposalWaiters(1000, firstSequence(1_700_000_000_020));
  const first = later.register().seq;
  t.true(first > Math.max(...seqs), `first of the new run ${first}, last of the old ${Math.max(...seqs)}`);
  t.true(Number.isSafeInteger(firstSequence(Date.now() + 100 * 365 * 86_400_000)), 'sequence numbers stay exact integers for a century');
});

test('an answer for a sequence number of an earlier run resolves nothing', async (t) => {
  const w = new ProposalWaiters(1000, firstSequence(Date.now()));
  const { seq, result } = w.register<string>();
  w.resolve(1, 'replayed entry of an earlier run');
  w.resolve(firstSequence(Date.now() - 5000), 'replayed entry of an earlier run');
  t.is(w.size, 1);
  w.resolve(seq, 'mine');
  t.is(await result, 'mine');
});

test('a proposal past its deadline fails with the error chosen for its start time; nothing else fails', async (t) => {
  const w = new ProposalWaiters(100, 1);
  const old = w.register();
  const oldErr = t.throwsAsync(old.result, { instanceOf: EtcdError, message: 'etcdserver: request timed out, possibly due to previous leader failure' });
  const startedAt = Date.now();
  w.expire(startedAt + 50, () => new EtcdError('Timeout', 'etcdserver: request timed out'));
  t.is(w.size, 1, 'not yet due');
  w.expire(startedAt + 200, (s) => (s <= startedAt ? new EtcdError('TimeoutDueToLeaderFail', 'etcdserver: request timed out, possibly due to previous leader failure') : new EtcdError('Timeout', 'x')));
  await oldErr;
  t.is(w.size, 0);
});
