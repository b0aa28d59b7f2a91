// The plugin registry and the framework a profile builds from it: upstream's
// registry errors, the default profile's extension points and weights, the
// multiPoint expansion with per-point overrides and disables, upstream's
// messages for profiles that cannot be built, and the Permit/PreBind/PostBind
// extension points of an out-of-tree plugin registered next to the in-tree ones.
import test from 'ava';
import { defaultedProfile } from '../src/config/defaults.js';
import { Framework } from '../src/framework/framework.js';
import type { HandleDeps } from '../src/framework/handle.js';
import {
  Code, Status, type CycleState, type FilterPlugin, type PermitPlugin, type PermitResult, type PostBindPlugin, type PreBindPlugin,
} from '../src/framework/interface.js';
import { Registry, RegistryError } from '../src/framework/registry.js';
import type { PodInfo } from '../src/node_info.js';
import { inTreeRegistry } from '../src/plugins/registry.js';
import type { SchedulerPod } from '../src/types.js';
import { harness, node, pod, scheduleAll } from './helpers.js';

const deps: HandleDeps = {
  snapshot: () => { throw new Error('unused'); },
  nominatedPodsForNode: () => [],
  evict: async () => undefined,
  clearNomination: async () => undefined,
  bind: async () => undefined,
};

test('registry: a name registers once, unregisters once, merging a taken name fails (upstream messages)', (t) => {
  const r = new Registry().register('A', () => ({ name: 'A' }));
  t.true(r.has('A'));
  t.throws(() => r.register('A', () => ({ name: 'A' })), { instanceOf: RegistryError, message: 'a plugin named A already exists' });
  t.throws(() => r.unregister('B'), { message: 'no plugin named B exists' });
  t.throws(() => r.merge(new Registry().register('A', () => ({ name: 'A' }))), { message: 'a plugin named A already exists' });
  r.unregister('A');
  t.false(r.has('A'));
  t.deepEqual(inTreeRegistry().names().sort(), [
    'DefaultBinder', 'DefaultPreemption', 'ImageLocality', 'InterPodAffinity', 'NodeAffinity', 'NodeName', 'NodePorts',
    'NodeResourcesBalancedAllocation', 'NodeResourcesFit', 'NodeUnschedulable', 'PodTopologySpread', 'TaintToleration', 'VolumeBinding',
  ]);
});

test('the default profile: each plugin at the points it implements, in upstream order, with upstream score weights', (t) => {
  const fw = new Framework(inTreeRegistry(), defaultedProfile({ schedulerName: 'default-scheduler' }), deps);
  t.deepEqual(fw.preFilter.map((p) => p.name), ['VolumeBinding', 'PodTopologySpread', 'InterPodAffinity']);
  t.deepEqual(fw.filter.map((p) => p.name), ['NodeUnschedulable', 'NodeName', 'TaintToleration', 'NodeAffinity', 'NodePorts', 'NodeResourcesFit', 'VolumeBinding', 'PodTopologySpread', 'InterPodAffinity']);
  t.deepEqual(fw.pointsOf('VolumeBinding'), ['preFilter', 'filter', 'reserve', 'preBind']);
  t.deepEqual(fw.postFilter.map((p) => p.name), ['DefaultPreemption']);
  t.deepEqual(fw.preScore.map((p) => p.name), ['PodTopologySpread', 'InterPodAffinity']);
  t.deepEqual(fw.score.map((s) => [s.plugin.name, s.weight]), [
    ['TaintToleration', 3], ['NodeAffinity', 2], ['NodeResourcesFit', 1], ['PodTopologySpread', 2], ['InterPodAffinity', 2],
    ['NodeResourcesBalancedAllocation', 1], ['ImageLocality', 1],
  ]);
  t.deepEqual(fw.bind.map((p) => p.name), ['DefaultBinder']);
  t.deepEqual(fw.pointsOf('TaintToleration'), ['filter', 'score']);
  t.deepEqual([...fw.pluginEvents().get('NodeResourcesFit')!].sort(), ['AssignedPodDelete', 'AssignedPodUpdate', 'NodeAdd', 'NodeUpdate']);
});

test('per-point sets over multiPoint: a disabled score plugin keeps filtering, a re-enabled one takes its new weight and goes first, "*" empties a point', (t) => {
  const fw = new Framework(inTreeRegistry(), defaultedProfile({
    schedulerName: 's',
    plugins: {
      score: { disabled: [{ name: 'ImageLocality' }, { name: 'TaintToleration' }], enabled: [{ name: 'NodeResourcesFit', weight: 7 }] },
      preScore: { disabled: [{ name: '*' }] },
    },
  }), deps);
  t.deepEqual(fw.score.map((s) => [s.plugin.name, s.weight]), [
    ['NodeResourcesFit', 7], ['NodeAffinity', 2], ['PodTopologySpread', 2], ['InterPodAffinity', 2], ['NodeResourcesBalancedAllocation', 1],
  ]);
  t.true(fw.filter.some((p) => p.name === 'TaintToleration'));
  t.deepEqual(fw.preScore, []);
});

test('profiles that cannot be built fail with upstream messages', (t) => {
  const r = inTreeRegistry();
  const build = (plugins: Parameters<typeof defaultedProfile>[0]['plugins'], pluginConfig?: { name: string; args?: unknown }[]) =>
    () => new Framework(r, defaultedProfile({ schedulerName: 'p', plugins, ...(pluginConfig ? { pluginConfig } : {}) }), deps);
  t.throws(build({ filter: { enabled: [{ name: 'NoSuchPlugin' }] } }), { message: 'FilterPlugin "NoSuchPlugin" does not exist' });
  t.throws(build({ score: { enabled: [{ name: 'NodeName' }] } }), { message: 'plugin "NodeName" does not extend ScorePlugin plugin' });
  // (defaulting merges a re-enabled default in place; a raw profile can still name a plugin twice)
  t.throws(() => new Framework(r, { schedulerName: 'p', plugins: { multiPoint: { enabled: [{ name: 'NodeName' }, { name: 'DefaultBinder' }, { name: 'NodeName' }] } } }, deps),
    { message: 'plugin "NodeName" already registered as "FilterPlugin"' });
  t.throws(() => new Framework(r, { schedulerName: 'p', plugins: { filter: { enabled: [{ name: 'NodeName' }, { name: 'NodeName' }] } } }, deps),
    { message: 'plugin "NodeName" already registered as "FilterPlugin"' });
  t.throws(build({ bind: { disabled: [{ name: 'DefaultBinder' }] } }), { message: 'at least one bind plugin is needed for profile with scheduler name "p"' });
  t.throws(build(undefined, [{ name: 'NodeName' }, { name: 'NodeName' }]), { message: 'repeated config for plugin NodeName' });
  // int32 weights (what a config file can hold) never reach MaxInt64; larger programmatic ones do.
  t.notThrows(build({ score: { enabled: [{ name: 'ImageLocality', weight: 2 ** 31 - 1 }, { name: 'NodeResourcesFit', weight: 2 ** 31 - 1 }] } }));
  t.throws(build({ score: { enabled: [{ name: 'ImageLocality', weight: 2 ** 62 }] } }), { message: 'total score of Score plugins could overflow' });
});

/** An out-of-tree plugin at Permit (Wait until allowed), PreBind and PostBind, recording the order of calls. */
class Gate implements FilterPlugin, PermitPlugin, PreBindPlugin, PostBindPlugin {
  readonly name = 'Gate';
  constructor(readonly calls: string[], readonly args: { timeoutMs: number; rejectPreBind: boolean }) {}
  filter(): Status | null { return null; }
  permit(_s: CycleState, p: PodInfo): PermitResult {
    this.calls.push(`permit ${p.pod.metadata.name}`);
    return { status: new Status(Code.Wait), timeoutMs: this.args.timeoutMs };
  }
  async preBind(_s: CycleState, p: SchedulerPod): Promise<Status | null> {
    this.calls.push(`preBind ${p.metadata.name}`);
    return this.args.rejectPreBind ? Status.unschedulable('volume not ready') : null;
  }
  postBind(_s: CycleState, p: SchedulerPod, nodeName: string): void {
    this.calls.push(`postBind ${p.metadata.name} ${nodeName}`);
  }
}

function gateRegistry(calls: string[]): Registry {
  return inTreeRegistry().register('Gate', (args: { timeoutMs: number; rejectPreBind: boolean }) => new Gate(calls, args), (raw) => {
    const o = (raw ?? {}) as { timeoutMs?: number; rejectPreBind?: boolean };
    return { timeoutMs: o.timeoutMs ?? 1000, rejectPreBind: o.rejectPreBind ?? false };
  });
}

const gateConfig = (args: object) => ({
  config: { ...defaultConfigWith('gated', { multiPoint: { enabled: [{ name: 'Gate' }] } }) },
  args: new Map([['gated', new Map<string, unknown>([['Gate', { timeoutMs: 1000, rejectPreBind: false, ...args }]])]]),
});

function defaultConfigWith(name: string, plugins: NonNullable<Parameters<typeof defaultedProfile>[0]['plugins']>) {
  return {
    apiVersion: 'kubescheduler.config.k8s.io/v1', kind: 'KubeSchedulerConfiguration', parallelism: 16,
    podInitialBackoffSeconds: 1, podMaxBackoffSeconds: 10, leaderElection: {}, clientConnection: {},
    profiles: [defaultedProfile({ schedulerName: name, plugins })],
  };
}

test('Permit Wait holds the binding until a plugin allows the pod through the handle; then PreBind, Bind, PostBind', async (t) => {
  const calls: string[] = [];
  const h = harness([node('a')], { core: { registry: gateRegistry(calls), config: gateConfig({}) } });
  const p = pod('p', { spec: { schedulerName: 'gated' } });
  h.core.onPodAdd(p);
  await h.core.scheduleAllPending();
  t.deepEqual(calls, ['permit p']);
  t.deepEqual(h.rec.binds, []);
  const fw = h.core.frameworks.get('gated')!;
  const wp = fw.handle.getWaitingPod(p.metadata.uid!);
  t.deepEqual(wp?.pendingPlugins(), ['Gate']);
  wp!.allow('Gate');
  await h.core.waitForBindings();
  t.deepEqual(calls, ['permit p', 'preBind p', 'postBind p a']);
  t.deepEqual(h.rec.binds, [{ pod: 'p', node: 'a' }]);
});

test('a waiting pod past its Permit timeout is rejected with upstream\'s message and unreserved', async (t) => {
  const calls: string[] = [];
  const h = harness([node('a', { cpu: '1' })], { core: { registry: gateRegistry(calls), config: gateConfig({ timeoutMs: 10_000 }) } });
  const p = pod('p', { cpu: '1', spec: { schedulerName: 'gated' } });
  h.core.onPodAdd(p);
  await h.core.scheduleAllPending();
  t.is(h.core.cache.isAssumed({ ...p, spec: { ...p.spec, nodeName: 'a' } }), true);
  h.clock.advance(9_999);
  h.core.housekeeping();
  t.is(h.rec.statuses.length, 0);
  h.clock.advance(1);
  h.core.housekeeping();
  await h.core.waitForBindings();
  t.deepEqual(h.rec.binds, []);
  const st = h.rec.statuses.at(-1)!;
  t.like(st.condition, { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'rejected due to timeout after waiting 10s at plugin Gate' });
  t.false(h.core.cache.isAssumed({ ...p, spec: { ...p.spec, nodeName: 'a' } }));
  // As upstream's binding-cycle failure: the node's resources moved pods first, so the pod backs off rather than parks.
  t.deepEqual(h.core.queue.pending(), { active: 0, backoff: 1, unschedulable: 0 });
});

test('a PreBind rejection fails the binding; the pod is not bound and goes back to the queue', async (t) => {
  const calls: string[] = [];
  const h = harness([node('a')], { core: { registry: gateRegistry(calls), config: gateConfig({ rejectPreBind: true }) } });
  const p = pod('p', { spec: { schedulerName: 'gated' } });
  h.core.onPodAdd(p);
  await h.core.scheduleAllPending();
  h.core.frameworks.get('gated')!.handle.getWaitingPod(p.metadata.uid!)!.allow('Gate');
  await h.core.waitForBindings();
  t.deepEqual(calls, ['permit p', 'preBind p']);
  t.deepEqual(h.rec.binds, []);
  t.regex(h.rec.events.at(-1)!.message, /binding rejected: volume not ready/);
  t.is(h.core.queue.pending().backoff, 1);
});

test('two profiles share one queue and cache: each pod is scheduled by the profile its schedulerName names, others are left alone', async (t) => {
  const config = {
    ...defaultConfigWith('default-scheduler', {}),
  };
  config.profiles.push(defaultedProfile({ schedulerName: 'binpack', pluginConfig: [] }));
  const args = new Map([['binpack', new Map<string, unknown>([['NodeResourcesFit', { ignoredResources: [], ignoredResourceGroups: [], scoringStrategy: { type: 'MostAllocated', resources: [{ name: 'cpu', weight: 1 }, { name: 'memory', weight: 1 }] } }]])]]);
  const h = harness([node('a', { cpu: '4' }), node('b', { cpu: '4' })], { core: { config: { config, args } } });
  t.deepEqual([...h.core.frameworks.keys()], ['default-scheduler', 'binpack']);
  const r = await scheduleAll(h, [
    pod('packed-1', { cpu: '1', spec: { schedulerName: 'binpack' } }),
    pod('packed-2', { cpu: '1', spec: { schedulerName: 'binpack' } }),
    pod('packed-3', { cpu: '1', spec: { schedulerName: 'binpack' } }),
    pod('other', { cpu: '1', spec: { schedulerName: 'someone-else' } }),
  ]);
  // MostAllocated piles the binpack pods onto one node.
  t.is(new Set([r.get('packed-1'), r.get('packed-2'), r.get('packed-3')]).size, 1);
  t.is(r.get('other'), undefined);
  t.is(h.core.queue.pending().active + h.core.queue.pending().backoff + h.core.queue.pending().unschedulable, 0);
  // The default profile spreads onto the emptier node, counting the binpack pods in the shared cache.
  const spread = await scheduleAll(h, [pod('spread', { cpu: '1' })]);
  t.not(spread.get('spread'), r.get('packed-1'));
});
