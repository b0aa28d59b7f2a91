import test from 'ava';
import { ApiError, KubeClient, LeaderElector, loadKubeconfig, Resources } from '../src/index.js';
import { eventually, sleep, startFixture, type Fixture } from './helpers/cluster.js';

let fx: Fixture;
test.before(async () => {
  fx = await startFixture();
});
test.after.always(async () => {
  await fx?.stop();
});

const TIMING = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 300 };

/** Candidates that "act" (tick) while leading; records overlaps of acting leaders. */
function arena() {
  const acting = new Set<string>();
  const violations: string[] = [];
  const started: { id: string; at: number }[] = [];
  const stopped: { id: string; at: number }[] = [];
  const make = (client: KubeClient, id: string, name: string, onNewLeader?: (id: string) => void) =>
    new LeaderElector(client, {
      namespace: 'default',
      name,
      identity: id,
      ...TIMING,
      onNewLeader,
      onStartedLeading(signal) {
        if (acting.size > 0) violations.push(`${id} started while ${[...acting]} acting`);
        acting.add(id);
        started.push({ id, at: Date.now() });
        const tick = setInterval(() => {
          if (signal.aborted) return;
          for (const other of acting) if (other !== id) violations.push(`${id} acted while ${other} acting`);
        }, 20);
        signal.addEventListener('abort', () => {
          clearInterval(tick);
          acting.delete(id);
        });
      },
      onStoppedLeading() {
        acting.delete(id);
        stopped.push({ id, at: Date.now() });
      },
    });
  return { acting, violations, started, stopped, make };
}

test.serial('two electors: exactly one leads; stopping it releases the lease and the other takes over within the lease duration', async (t) => {
  const c = fx.client();
  const a = arena();
  const seenLeaders: string[] = [];
  const e1 = a.make(c, 'one', 'lock-1');
  const e2 = a.make(c, 'two', 'lock-1', (id) => seenLeaders.push(id));
  e1.run();
  e2.run();
  t.teardown(async () => {
    await e1.stop();
    await e2.stop();
  });
  await eventually('a leader', () => e1.isLeader() || e2.isLeader(), 10_000);
  // Hold for a few renew periods: leadership is stable and exclusive.
  await sleep(1500);
  t.is(a.started.length, 1);
  t.true(e1.isLeader() !== e2.isLeader());
  const [leader, follower] = e1.isLeader() ? [e1, e2] : [e2, e1];
  const leaderId = a.started[0]!.id;
  const lease = await c.resource(Resources.leases).get('default', 'lock-1');
  t.is(lease.spec.holderIdentity, leaderId);
  t.is(lease.spec.leaseDurationSeconds, 2);
  t.regex(lease.spec.renewTime, /\.\d{6}Z$/);
  if (follower === e2) t.deepEqual(seenLeaders, [leaderId]);

  const t0 = Date.now();
  await leader.stop();
  t.false(leader.isLeader());
  t.is(a.stopped.length, 1);
  const released = await c.resource(Resources.leases).get('default', 'lock-1');
  t.true(released.spec.holderIdentity === '' || released.spec.holderIdentity !== leaderId);
  await eventually('the other elector leads', () => follower.isLeader(), TIMING.leaseDurationMs);
  t.true(Date.now() - t0 < TIMING.leaseDurationMs, `handover took ${Date.now() - t0} ms`);
  t.is(a.started.length, 2);
  t.not(a.started[1]!.id, leaderId);
  const after = await c.resource(Resources.leases).get('default', 'lock-1');
  t.is(after.spec.leaseTransitions, 1);
  t.deepEqual(a.violations, []);
});

test.serial('a leader cut off from the API server steps down after renewDeadline; the other waits for the lease to expire, never overlapping', async (t) => {
  const side = await fx.startExtraApiServer();
  let sideStopped = false;
  t.teardown(async () => {
    if (!sideStopped) await side.stop();
  });
  const cutOff = new KubeClient({ ...loadKubeconfig(side.kubeconfigPath), timeoutMs: 500 });
  const c = fx.client();
  t.teardown(() => cutOff.close());
  const a = arena();
  const e1 = a.make(cutOff, 'isolated', 'lock-2');
  const e2 = a.make(c, 'healthy', 'lock-2');
  t.teardown(async () => {
    await e1.stop();
    await e2.stop();
  });
  e1.run();
  await eventually('isolated leads', () => e1.isLeader(), 10_000);
  e2.run();
  await sleep(1000);
  t.false(e2.isLeader(), 'the lease is held: no takeover');
  t.deepEqual(a.started.map((s) => s.id), ['isolated']);

  const lease = await c.resource(Resources.leases).get('default', 'lock-2');
  const lastRenew = Date.parse(lease.spec.renewTime);
  await side.stop();
  sideStopped = true;
  await eventually('isolated steps down', () => a.stopped.some((s) => s.id === 'isolated'), 5000);
  t.false(e1.isLeader());
  const steppedDown = a.stopped.find((s) => s.id === 'isolated')!.at;
  t.true(steppedDown - lastRenew <= TIMING.renewDeadlineMs + TIMING.retryPeriodMs + 600, `stepped down ${steppedDown - lastRenew} ms after its last renewal`);
  await eventually('healthy takes over', () => e2.isLeader(), 10_000);
  const takeover = a.started.find((s) => s.id === 'healthy')!.at;
  t.true(takeover >= steppedDown, 'no overlap');
  t.true(takeover - lastRenew >= TIMING.leaseDurationMs, `took over ${takeover - lastRenew} ms after the last renewal, before the lease expired`);
  t.deepEqual(a.violations, []);
});

test.serial('fencing: an update with a stale resourceVersion of the lease is refused', async (t) => {
  const c = fx.client();
  const leases = c.resource(Resources.leases);
  const e = new LeaderElector(c, { namespace: 'default', name: 'lock-3', identity: 'me', ...TIMING, onStartedLeading: () => undefined, onStoppedLeading: () => undefined });
  e.run();
  t.teardown(() => e.stop());
  await eventually('leading', () => e.isLeader(), 5000);
  const stale = await leases.get('default', 'lock-3');
  await eventually('renewed', async () => (await leases.get('default', 'lock-3')).metadata.resourceVersion !== stale.metadata.resourceVersion, 3000);
  const err = await t.throwsAsync(leases.update({ ...stale, spec: { ...stale.spec, holderIdentity: 'thief' } }));
  t.true(ApiError.isConflict(err));
  await sleep(TIMING.retryPeriodMs * 2);
  t.true(e.isLeader());
  t.is((await leases.get('default', 'lock-3')).spec.holderIdentity, 'me');
});
