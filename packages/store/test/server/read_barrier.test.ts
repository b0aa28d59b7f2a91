// ReadBarrier (src/server/read_barrier.ts): a ReadIndex in flight when a new leader becomes known is asked
// again at once (reissue) instead of after the retry period; the old request's answer is ignored, the new
// one releases every waiter once applied; nothing in flight, nothing sent.
import test from 'ava';
import { ReadBarrier } from '../../src/server/read_barrier.js';

function issuer() {
  const sent: Uint8Array[] = [];
  let applied = 0;
  return { sent, setApplied: (i: number) => (applied = i), node: { readIndex: (ctx: Uint8Array) => void sent.push(ctx), appliedIndex: () => applied } };
}

test('reissue sends a fresh ReadIndex at once; the old one\'s answer is ignored, the new one releases the waiters', async (t) => {
  const f = issuer();
  const b = new ReadBarrier(f.node, 5000, 550);
  let done = 0;
  const w1 = b.wait().then(() => void done++);
  t.is(f.sent.length, 1);
  b.reissue();
  t.is(f.sent.length, 2);
  t.notDeepEqual(Buffer.from(f.sent[1]!), Buffer.from(f.sent[0]!));
  const w2 = b.wait().then(() => void done++); // queued behind the request in flight
  f.setApplied(10);
  b.onReadState(10, f.sent[0]!); // the old leader's (late) answer
  await Promise.resolve();
  t.is(done, 0);
  b.onReadState(10, f.sent[1]!);
  await w1;
  t.is(f.sent.length, 3); // the queued waiter's own ReadIndex
  b.onReadState(10, f.sent[2]!);
  await w2;
  t.is(done, 2);
});

test('reissue with nothing in flight sends nothing', (t) => {
  const f = issuer();
  const b = new ReadBarrier(f.node, 5000, 550);
  b.reissue();
  t.is(f.sent.length, 0);
});
