// The node's service proxy: watches Services and EndpointSlices (slice_endpoints.ts) and keeps the nat
// table of the agent's network namespace in step (service_rules.ts), with one
// iptables-restore per change (coalesced). Jumps from PREROUTING and OUTPUT
// (and POSTROUTING for masquerade) are added once. Rules stay when the agent
// stops, as kube-proxy's do, so services keep working while it restarts.
// A Service or Endpoints with a value unfit for iptables-restore (sink_guard.ts)
// is logged, counted and replaced by its last good version, if any.
import { execFile } from 'node:child_process';
import { CoalescingSync } from '../coalescing_sync.js';
import type { Logger } from '../logger.js';
import { LastGood, type SinkRefusal } from './sink_guard.js';
import { checkEndpointsTopology as checkEndpoints, checkServiceTraffic as checkService } from './traffic_guard.js';
import { HealthCheckPorts, healthCheckTargets } from './health_check_ports.js';
import { filterRestoreInput, natRestoreInput, isProxyChain, SERVICES_CHAIN, POSTROUTING_CHAIN, type EndpointsLike, type ServiceLike } from './service_rules.js';

export interface ServiceSource {
  services(): ServiceLike[];
  endpoints(): EndpointsLike[];
  /** This node's pod CIDR (its pods' traffic to external addresses of Local Services goes to every endpoint). */
  localPodCIDR?(): string | undefined;
}

function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`), { code: 'ProxyRulesFailed' }));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** [table, from, to]: the jumps into the proxy's chains. */
const JUMPS: Array<[string, string, string]> = [
  ['nat', 'PREROUTING', SERVICES_CHAIN],
  ['nat', 'OUTPUT', SERVICES_CHAIN],
  ['nat', 'POSTROUTING', POSTROUTING_CHAIN],
  ['filter', 'FORWARD', SERVICES_CHAIN],
  ['filter', 'OUTPUT', SERVICES_CHAIN],
];

export class ServiceProxy {
  syncs = 0;
  failures = 0;
  /** Services and Endpoints refused by the sink guard. */
  refused = 0;
  private readonly goodServices = new LastGood<ServiceLike>((s) => `${String(s.metadata?.namespace)}/${String(s.metadata?.name)}`, checkService);
  private readonly goodEndpoints = new LastGood<EndpointsLike>((e) => `${String(e.metadata?.namespace)}/${String(e.metadata?.name)}`, checkEndpoints);
  private readonly onRefused = (err: SinkRefusal): void => {
    this.refused++;
    this.log.error({ err, key: err.key, field: err.field }, 'object refused by the service proxy: its rules are not written (the last good ones stay)');
  };
  private readonly runner = new CoalescingSync(() =>
    this.syncOnce().catch((err: Error) => {
      this.failures++;
      this.lastSyncOk = false;
      this.log.warn({ err: err.message }, 'service rules not programmed');
    }),
  );

  constructor(
    private readonly source: ServiceSource,
    private readonly log: Logger,
    /** This node's name: the Local traffic policies keep to its endpoints (and the health check node ports serve). */
    private readonly nodeName?: string,
  ) {
    this.healthChecks = nodeName ? new HealthCheckPorts(log, () => this.lastSyncOk) : undefined;
  }

  /** The health check node ports of externalTrafficPolicy Local LoadBalancer Services (health_check_ports.ts). */
  readonly healthChecks: HealthCheckPorts | undefined;
  private lastSyncOk = true;

  /** Closes the health check node ports (the rules stay). */
  async stop(): Promise<void> {
    await this.healthChecks?.close();
  }

  /** Coalescing: a change while a sync runs re-runs it once with the latest state. */
  update(): Promise<void> {
    return this.runner.request();
  }

  /** The proxy chains now in the nat table. */
  private async existingChains(): Promise<string[]> {
    const out = await run('iptables-save', ['-t', 'nat']);
    return out.split('\n').filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]!).filter(isProxyChain);
  }

  async syncOnce(): Promise<void> {
    const services = this.goodServices.filter(this.source.services(), this.onRefused);
    const endpoints = this.goodEndpoints.filter(this.source.endpoints(), this.onRefused);
    await run('iptables-restore', ['-w', '5', '--noflush'], natRestoreInput(services, endpoints, await this.existingChains(), this.onRefused, this.nodeName, this.source.localPodCIDR?.()));
    await run('iptables-restore', ['-w', '5', '--noflush'], filterRestoreInput(services, endpoints, this.onRefused, this.nodeName));
    for (const [table, from, to] of JUMPS) {
      await run('iptables', ['-w', '5', '-t', table, '-C', from, '-j', to]).catch(() => run('iptables', ['-w', '5', '-t', table, '-I', from, '1', '-j', to]));
    }
    this.syncs++;
    this.lastSyncOk = true;
    if (this.healthChecks && this.nodeName) await this.healthChecks.sync(healthCheckTargets(services, endpoints, this.nodeName));
  }
}
