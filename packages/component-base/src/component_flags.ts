// The flags every mkube component shares, parsed by one helper: --kubeconfig, --v/--log-level,
// --bind-address (the metrics and health endpoint; --metrics-bind-address is its older name),
// and, for components that elect a leader, the --leader-elect* set. Each binary adds its own
// flags next to these and gets typed values, a usage text and the common settings in one object.
import { FlagError } from './errors.js';
import { formatUsage, parseFlags, type FlagDefs, type FlagValues } from './flags.js';
import { leaderElectionFlags, validateLeaderElection, type LeaderElectionConfig } from './leader_election.js';
import { logLevelFromFlags, type LogLevel } from './logger.js';

export interface ComponentFlagOptions {
  /** The default of --bind-address. */
  bindAddress: string;
  /** The Lease of the component's leader election (none: no --leader-elect* flags). */
  leaderElection?: { resourceName: string; resourceNamespace?: string };
}

function commonFlags(o: ComponentFlagOptions) {
  return {
    kubeconfig: { type: 'string', arg: 'PATH', usage: 'Path to a kubeconfig file with the API server and credentials (default $KUBECONFIG).' },
    'bind-address': { type: 'string', default: o.bindAddress, arg: 'IP', aliases: ['metrics-bind-address'], usage: 'The address of the /metrics, /healthz, /livez and /readyz endpoint.' },
    'log-level': { type: 'string', arg: 'LEVEL', usage: 'trace, debug, info, warn, error, fatal or silent (wins over --v; default info).' },
    v: { type: 'string', short: 'v', arg: 'int', usage: 'Log verbosity as klog: 0-3 info, 4-5 debug, 6+ trace.' },
    help: { type: 'boolean', short: 'h', usage: 'Print this help and exit.' },
  } as const satisfies FlagDefs;
}

type Common = ReturnType<typeof commonFlags>;
type Leader = ReturnType<typeof leaderElectionFlags>;

export interface ComponentSettings {
  kubeconfig: string | undefined;
  bindAddress: string;
  logLevel: LogLevel;
  help: boolean;
  /** Present when the component elects a leader. */
  leaderElection?: LeaderElectionConfig;
}

export interface ComponentFlags<S extends FlagDefs> {
  values: FlagValues<S & Common & Partial<Leader>>;
  given: Set<string>;
  common: ComponentSettings;
  usage: string;
}

/** The common definitions merged with the component's own (`own` wins on a name clash). */
export function componentFlagDefs<S extends FlagDefs>(o: ComponentFlagOptions, own: S): S & Common & Partial<Leader> {
  const le = o.leaderElection ? leaderElectionFlags(o.leaderElection.resourceName, o.leaderElection.resourceNamespace) : {};
  return { ...commonFlags(o), ...le, ...own } as S & Common & Partial<Leader>;
}

/** Parses a component's command line; throws FlagError (the binary prints it and exits 2). */
export function parseComponentFlags<S extends FlagDefs>(binary: string, argv: readonly string[], o: ComponentFlagOptions, own: S, synopsis?: string): ComponentFlags<S> {
  const defs = componentFlagDefs(o, own);
  const usage = formatUsage(binary, defs, synopsis);
  const { values, given } = parseFlags(binary, argv, defs);
  const v = values as Record<string, unknown>;
  const common: ComponentSettings = {
    kubeconfig: (v.kubeconfig as string | undefined) || process.env.KUBECONFIG || undefined,
    bindAddress: v['bind-address'] as string,
    logLevel: logLevelFromFlags(v['log-level'] as string | undefined, v.v as string | undefined),
    help: v.help as boolean,
  };
  if (o.leaderElection) {
    common.leaderElection = validateLeaderElection({
      leaderElect: v['leader-elect'] as boolean,
      leaseDurationMs: v['leader-elect-lease-duration'] as number,
      renewDeadlineMs: v['leader-elect-renew-deadline'] as number,
      retryPeriodMs: v['leader-elect-retry-period'] as number,
      resourceName: v['leader-elect-resource-name'] as string,
      resourceNamespace: v['leader-elect-resource-namespace'] as string,
    });
  }
  return { values, given: given as Set<string>, common, usage };
}

/** --kubeconfig (or $KUBECONFIG), or a FlagError naming it. */
export function requireKubeconfig(common: ComponentSettings): string {
  if (!common.kubeconfig) throw new FlagError('--kubeconfig is required (or set $KUBECONFIG)');
  return common.kubeconfig;
}
