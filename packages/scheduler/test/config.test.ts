// KubeSchedulerConfiguration files: upstream's v1 defaults, several profiles
// with plugin sets and args that change what gets scheduled where, and bad
// files refused with errors that name the field (plugin names, args, ranges,
// duplicates, versions, unknown fields, profiles the framework cannot build).
import test from 'ava';
import { ConfigError } from '../src/config/field_errors.js';
import { parseSchedulerConfig } from '../src/config/load.js';
import type { NodeResourcesFitArgs } from '../src/config/plugin_args.js';
import { inTreeRegistry } from '../src/plugins/registry.js';
import { harness, node, pod, scheduleAll } from './helpers.js';

const HEAD = 'apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n';
const parse = (body: string) => parseSchedulerConfig(HEAD + body, inTreeRegistry());

function refused(t: import('ava').ExecutionContext, body: string, message: string): void {
  const err = t.throws(() => parse(body), { instanceOf: ConfigError });
  t.is(err?.message, message);
  t.is(err?.code, 'INVALID_SCHEDULER_CONFIG');
}

test('an empty configuration is one default profile with upstream defaults', (t) => {
  const { config, args } = parse('');
  t.is(config.profiles.length, 1);
  t.is(config.profiles[0]!.schedulerName, 'default-scheduler');
  t.is(config.parallelism, 16);
  t.is(config.podInitialBackoffSeconds, 1);
  t.is(config.podMaxBackoffSeconds, 10);
  t.like(config.leaderElection, { leaderElect: true, resourceLock: 'leases', resourceName: 'kube-scheduler', resourceNamespace: 'kube-system' });
  t.is(config.profiles[0]!.plugins!.multiPoint!.enabled!.length, 13);
  t.deepEqual([...args.get('default-scheduler')!.keys()], []);
});

test('two profiles, plugin sets and args: decoded, defaulted and handed to the plugins', (t) => {
  const { config, args } = parse(`
percentageOfNodesToScore: 50
profiles:
  - schedulerName: default-scheduler
  - schedulerName: binpack
    percentageOfNodesToScore: 100
    plugins:
      score:
        disabled:
          - name: NodeResourcesBalancedAllocation
        enabled:
          - name: NodeResourcesFit
            weight: 5
    pluginConfig:
      - name: NodeResourcesFit
        args:
          scoringStrategy:
            type: MostAllocated
            resources:
              - name: cpu
              - name: memory
                weight: 3
      - name: InterPodAffinity
        args:
          hardPodAffinityWeight: 0
      - name: PodTopologySpread
        args:
          defaultingType: List
          defaultConstraints:
            - maxSkew: 1
              topologyKey: topology.kubernetes.io/zone
              whenUnsatisfiable: ScheduleAnyway
`);
  t.deepEqual(config.profiles.map((p) => p.schedulerName), ['default-scheduler', 'binpack']);
  t.is(config.percentageOfNodesToScore, 50);
  t.is(config.profiles[1]!.percentageOfNodesToScore, 100);
  const fit = args.get('binpack')!.get('NodeResourcesFit') as NodeResourcesFitArgs;
  t.deepEqual(fit.scoringStrategy, { type: 'MostAllocated', resources: [{ name: 'cpu', weight: 1 }, { name: 'memory', weight: 3 }] });
  t.deepEqual(args.get('binpack')!.get('InterPodAffinity'), { hardPodAffinityWeight: 0, ignorePreferredTermsOfExistingPods: false });
  t.like(args.get('binpack')!.get('PodTopologySpread'), { defaultingType: 'List' });

  const h = harness([node('a', { cpu: '8' }), node('b', { cpu: '8' })], { core: { config: { config, args } } });
  const fw = h.core.frameworks.get('binpack')!;
  t.deepEqual(fw.score.map((s) => [s.plugin.name, s.weight]), [['NodeResourcesFit', 5], ['TaintToleration', 3], ['NodeAffinity', 2], ['PodTopologySpread', 2], ['InterPodAffinity', 2], ['ImageLocality', 1]]);
  t.is(fw.percentageOfNodesToScore, 100);
  t.is(h.core.frameworks.get('default-scheduler')!.percentageOfNodesToScore, undefined);
});

test('the args change scheduling: MostAllocated packs, the default profile spreads', async (t) => {
  const { config, args } = parse(`
profiles:
  - schedulerName: default-scheduler
  - schedulerName: binpack
    pluginConfig:
      - name: NodeResourcesFit
        args:
          scoringStrategy:
            type: MostAllocated
`);
  const h = harness([node('a', { cpu: '8' }), node('b', { cpu: '8' }), node('c', { cpu: '8' })], { core: { config: { config, args } } });
  const packed = await scheduleAll(h, [1, 2, 3].map((i) => pod(`pack-${i}`, { cpu: '1', spec: { schedulerName: 'binpack' } })));
  t.is(new Set(packed.values()).size, 1);
  const spread = await scheduleAll(h, [1, 2].map((i) => pod(`spread-${i}`, { cpu: '1' })));
  const used = new Set([...spread.values(), ...packed.values()]);
  t.is(used.size, 3);
});

test('RequestedToCapacityRatio with a shape that favours full nodes', async (t) => {
  const { config, args } = parse(`
profiles:
  - pluginConfig:
      - name: NodeResourcesFit
        args:
          scoringStrategy:
            type: RequestedToCapacityRatio
            resources: [{ name: cpu, weight: 1 }]
            requestedToCapacityRatio:
              shape:
                - { utilization: 0, score: 0 }
                - { utilization: 100, score: 10 }
`);
  const h = harness([node('a', { cpu: '4' }), node('b', { cpu: '4' })], { core: { config: { config, args } } });
  const r = await scheduleAll(h, [pod('x', { cpu: '2' }), pod('y', { cpu: '1' })]);
  t.is(r.get('x'), r.get('y'));
});

test('an unknown plugin name is refused naming the field', (t) => {
  refused(t, `
profiles:
  - schedulerName: s
    plugins:
      score:
        enabled:
          - name: NodeResourcesFit
          - name: NodeResourceFit
`, 'profiles[0].plugins.score.enabled[1].name: Not found: "NodeResourceFit": no plugin of this name is registered');
  refused(t, `
profiles:
  - pluginConfig:
      - name: InterPodAffinty
        args: { hardPodAffinityWeight: 2 }
`, 'profiles[0].pluginConfig[0].name: Not found: "InterPodAffinty": no plugin of this name is registered');
  refused(t, `
profiles:
  - plugins:
      queueSort:
        enabled: [{ name: MyQueueSort }]
`, 'profiles[0].plugins.queueSort.enabled[0].name: Unsupported value: "MyQueueSort": supported values: "PrioritySort"');
});

test('bad plugin args are refused with upstream\'s messages under the args path', (t) => {
  refused(t, `
profiles:
  - pluginConfig:
      - name: InterPodAffinity
        args: { hardPodAffinityWeight: 101 }
`, 'profiles[0].pluginConfig[0].args.hardPodAffinityWeight: Invalid value: 101: not in valid range [0, 100]');
  refused(t, `
profiles:
  - pluginConfig:
      - name: NodeResourcesFit
        args:
          scoringStrategy:
            type: LeastRequested
            resources: [{ name: cpu, weight: 101 }]
`, '[profiles[0].pluginConfig[0].args.scoringStrategy.type: Unsupported value: "LeastRequested": supported values: "LeastAllocated", "MostAllocated", "RequestedToCapacityRatio", profiles[0].pluginConfig[0].args.scoringStrategy.resources[0].weight: Invalid value: 101: resource weight of cpu not in valid range (0, 100]]');
  refused(t, `
profiles:
  - pluginConfig:
      - name: NodeResourcesFit
        args:
          scoringStrategy:
            type: RequestedToCapacityRatio
`, 'profiles[0].pluginConfig[0].args.scoringStrategy.requestedToCapacityRatio: Required value: must be specified when type is RequestedToCapacityRatio');
  refused(t, `
profiles:
  - pluginConfig:
      - name: PodTopologySpread
        args:
          defaultConstraints:
            - { maxSkew: 0, topologyKey: zone, whenUnsatisfiable: Sometimes }
`, '[profiles[0].pluginConfig[0].args.defaultingType: Invalid value: "System": when .defaultConstraints are not empty, profiles[0].pluginConfig[0].args.defaultConstraints[0].maxSkew: Invalid value: 0: not in valid range (0, inf), profiles[0].pluginConfig[0].args.defaultConstraints[0].whenUnsatisfiable: Unsupported value: "Sometimes": supported values: "DoNotSchedule", "ScheduleAnyway"]');
  refused(t, `
profiles:
  - pluginConfig:
      - name: DefaultPreemption
        args: { minCandidateNodesPercentage: 0, minCandidateNodesAbsolute: 0 }
`, '[profiles[0].pluginConfig[0].args.minCandidateNodesPercentage: Invalid value: 0: cannot be zero at the same time as minCandidateNodesAbsolute, profiles[0].pluginConfig[0].args.minCandidateNodesAbsolute: Invalid value: 0: cannot be zero at the same time as minCandidateNodesPercentage]');
  refused(t, `
profiles:
  - pluginConfig:
      - name: InterPodAffinity
        args: { hardPodAffinityWeight: "heavy", hardPodAfinityWeight: 3 }
`, '[profiles[0].pluginConfig[0].args.hardPodAfinityWeight: Forbidden: unknown field, profiles[0].pluginConfig[0].args.hardPodAffinityWeight: Invalid value: "heavy": must be a 32-bit integer]');
});

test('configuration-level validation as upstream: ranges, duplicates, required names, versions', (t) => {
  refused(t, 'percentageOfNodesToScore: 101\n', 'percentageOfNodesToScore: Invalid value: 101: not in valid range [0-100]');
  refused(t, 'parallelism: 0\n', 'parallelism: Invalid value: 0: should be an integer value greater than zero');
  refused(t, 'profiles:\n  - schedulerName: a\n  - schedulerName: a\n', 'profiles[1].schedulerName: Duplicate value: "profiles[0].schedulerName"');
  refused(t, 'profiles:\n  - schedulerName: a\n  - percentageOfNodesToScore: 10\n', 'profiles[1].schedulerName: Required value');
  refused(t, 'podInitialBackoffSeconds: 5\npodMaxBackoffSeconds: 2\n', 'podMaxBackoffSeconds: Invalid value: 2: must be greater than or equal to PodInitialBackoffSeconds');
  refused(t, 'leaderElection:\n  resourceLock: endpoints\n', 'leaderElection.resourceLock: Invalid value: "endpoints": resourceLock value must be "leases"');
  refused(t, 'profile:\n  - schedulerName: a\n', 'profile: Forbidden: unknown field');
  const err = t.throws(() => parseSchedulerConfig('apiVersion: kubescheduler.config.k8s.io/v1beta3\nkind: KubeSchedulerConfiguration\n', inTreeRegistry()), { instanceOf: ConfigError });
  t.is(err?.message, 'apiVersion: Unsupported value: "kubescheduler.config.k8s.io/v1beta3": supported values: "kubescheduler.config.k8s.io/v1"');
  t.throws(() => parseSchedulerConfig('profiles: [\n', inTreeRegistry()), { message: /^couldn't decode as KubeSchedulerConfiguration: / });
});

test('a profile the framework cannot build is refused at load, naming the profile', (t) => {
  refused(t, `
profiles:
  - schedulerName: odd
    plugins:
      score:
        enabled: [{ name: NodeName }]
`, 'profiles[0].plugins: creating profile for scheduler name odd: plugin "NodeName" does not extend ScorePlugin plugin');
  refused(t, `
profiles:
  - schedulerName: nobind
    plugins:
      multiPoint:
        disabled: [{ name: DefaultBinder }]
`, 'profiles[0].plugins: creating profile for scheduler name nobind: at least one bind plugin is needed for profile with scheduler name "nobind"');
});
