// The leader-election option set of the components (component-base's LeaderElectionConfiguration
// and its --leader-elect* flags), parsed once here; the election itself is @mkube/client's
// LeaderElector. Defaults and checks as client-go: 15s lease, 10s renew deadline, 2s retry period,
// leaseDuration > renewDeadline > retryPeriod*JitterFactor.
import { formatGoDuration } from './duration.js';
import { FlagError } from './errors.js';
import type { FlagDefs } from './flags.js';

export interface LeaderElectionConfig {
  leaderElect: boolean;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  resourceName: string;
  resourceNamespace: string;
}

/**
 * The leader-election options of a component's constructor (controller manager, scheduler, cloud
 * controller manager), each defaulted by the component: --leader-elect* as numbers.
 */
export interface LeaderElectionOptions {
  /** Elect a leader through a Lease (default true). */
  leaderElect?: boolean;
  leaseNamespace?: string;
  leaseName?: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

/** client-go's leaderelection.JitterFactor. */
export const JITTER_FACTOR = 1.2;

export const LEADER_ELECTION_DEFAULTS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 } as const;

/** The --leader-elect* flags with the component's lease (e.g. kube-system/kube-scheduler). */
export function leaderElectionFlags(resourceName: string, resourceNamespace = 'kube-system') {
  return {
    'leader-elect': { type: 'boolean', default: 'true', usage: 'Start a leader election client and gain leadership before executing the main loop.' },
    'leader-elect-lease-duration': { type: 'duration', default: formatGoDuration(LEADER_ELECTION_DEFAULTS.leaseDurationMs), usage: 'How long non-leader candidates wait after the last observed renewal before taking the lease.' },
    'leader-elect-renew-deadline': { type: 'duration', default: formatGoDuration(LEADER_ELECTION_DEFAULTS.renewDeadlineMs), usage: 'How long the leader keeps trying to renew before it stops leading.' },
    'leader-elect-retry-period': { type: 'duration', default: formatGoDuration(LEADER_ELECTION_DEFAULTS.retryPeriodMs), usage: 'How long clients wait between attempts to acquire and renew.' },
    'leader-elect-resource-name': { type: 'string', default: resourceName, usage: 'The name of the Lease object used for locking.' },
    'leader-elect-resource-namespace': { type: 'string', default: resourceNamespace, usage: 'The namespace of the Lease object used for locking.' },
  } as const satisfies FlagDefs;
}

/** Checks the durations as client-go's NewLeaderElector (same messages); throws FlagError. */
export function validateLeaderElection(c: LeaderElectionConfig): LeaderElectionConfig {
  if (!c.leaderElect) return c;
  if (c.leaseDurationMs <= c.renewDeadlineMs) throw new FlagError('leaseDuration must be greater than renewDeadline');
  if (c.renewDeadlineMs <= JITTER_FACTOR * c.retryPeriodMs) throw new FlagError('renewDeadline must be greater than retryPeriod*JitterFactor');
  if (c.leaseDurationMs < 1) throw new FlagError('leaseDuration must be greater than zero');
  if (c.renewDeadlineMs < 1) throw new FlagError('renewDeadline must be greater than zero');
  if (c.retryPeriodMs < 1) throw new FlagError('retryPeriod must be greater than zero');
  if (!c.resourceName) throw new FlagError('--leader-elect-resource-name must not be empty');
  if (!c.resourceNamespace) throw new FlagError('--leader-elect-resource-namespace must not be empty');
  return c;
}
