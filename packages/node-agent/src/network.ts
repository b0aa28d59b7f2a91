// Pod networking of a node: the CNI conflist for the node's pod CIDR
// (bridge + host-local + portmap + loopback) when none exists, and host-gw
// routes to the other nodes' pod CIDRs via their InternalIPs, programmed in
// the agent's network namespace with `ip route replace … proto 213` so stale
// ones (nodes gone, CIDR or IP changed) can be found and removed.
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoalescingSync } from './coalescing_sync.js';
import { silentLogger, type Logger } from './logger.js';
import { checkNodeRoute, LastGood, safeIPFamily, screen, type SinkRefusal } from './proxy/sink_guard.js';

/** Route protocol number that marks the agent's host-gw routes. */
export const ROUTE_PROTO = '213';

export interface CniConfigOptions {
  confDir: string;
  networkName: string;
  bridge: string;
  podCIDR: string;
  ipamDataDir: string;
}

/** The first usable address of a /N IPv4 CIDR (the bridge gateway). */
export function gatewayOf(cidr: string): string {
  const [ip] = cidr.split('/');
  const o = ip!.split('.').map(Number);
  const n = ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
  const g = n + 1;
  return [g >>> 24, (g >>> 16) & 255, (g >>> 8) & 255, g & 255].join('.');
}

export function cniConflist(o: CniConfigOptions): object {
  return {
    cniVersion: '0.4.0',
    name: o.networkName,
    plugins: [
      {
        type: 'bridge',
        bridge: o.bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: o.ipamDataDir,
          ranges: [[{ subnet: o.podCIDR, gateway: gatewayOf(o.podCIDR) }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'loopback' },
    ],
  };
}

/** Writes <confDir>/10-mkube.conflist unless a conflist is there already; true when written. */
export function ensureCniConfig(o: CniConfigOptions): boolean {
  mkdirSync(o.confDir, { recursive: true });
  const existing = readdirSync(o.confDir).filter((f) => /\.(conflist|conf|json)$/.test(f));
  if (existing.length) return false;
  mkdirSync(o.ipamDataDir, { recursive: true });
  writeFileSync(join(o.confDir, '10-mkube.conflist'), JSON.stringify(cniConflist(o), null, 2) + '\n');
  return true;
}

function ip(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(new Error(`ip ${args.join(' ')}: ${stderr.trim() || err.message}`), { code: 'RouteCommandFailed' }));
      else resolve(stdout);
    });
  });
}

export interface NodeRoute {
  cidr: string;
  via: string;
}

export interface NodeLike {
  metadata: { name: string };
  spec?: { podCIDR?: string };
  status?: { addresses?: { type: string; address: string }[] };
}

/**
 * host-gw routes wanted on `self`: every other node's podCIDR via its (first
 * IPv4) InternalIP. Nodes whose values are unfit for `ip route` (sink_guard.ts)
 * are left out and reported to `onRefused`.
 */
export function desiredRoutes(self: string, allNodes: NodeLike[], onRefused?: (r: SinkRefusal) => void): NodeRoute[] {
  const out: NodeRoute[] = [];
  for (const n of screen(allNodes, checkNodeRoute, onRefused)) {
    if (n.metadata.name === self) continue;
    const cidr = n.spec?.podCIDR;
    const via = n.status?.addresses?.find((a) => a.type === 'InternalIP' && safeIPFamily(a.address) === 4)?.address;
    if (cidr && via) out.push({ cidr, via });
  }
  return out.sort((a, b) => a.cidr.localeCompare(b.cidr));
}

export class RouteSync {
  private readonly log: Logger;
  private latest: NodeLike[] = [];
  private readonly runner = new CoalescingSync(() => this.syncOnce(this.latest).catch((err) => this.log.warn({ err: String(err) }, 'route sync failed')));
  syncs = 0;
  /** Nodes refused by the sink guard. */
  refused = 0;
  private readonly goodNodes = new LastGood<NodeLike>((n) => String(n.metadata?.name), checkNodeRoute);
  private readonly onRefused = (err: SinkRefusal): void => {
    this.refused++;
    this.log.error({ err, key: err.key, field: err.field }, 'node refused by the route sync: its route is not written (the last good one stays)');
  };

  constructor(
    private readonly self: string,
    logger: Logger = silentLogger,
  ) {
    this.log = logger.child({ component: 'routes' });
  }

  /** The routes this agent programmed (proto 213). */
  async current(): Promise<NodeRoute[]> {
    const out = await ip(['-4', 'route', 'show', 'proto', ROUTE_PROTO]);
    const routes: NodeRoute[] = [];
    for (const line of out.split('\n')) {
      const m = /^(\S+) via (\S+)/.exec(line.trim());
      if (m) routes.push({ cidr: m[1]!, via: m[2]! });
    }
    return routes;
  }

  /** Coalescing: a sync while one runs re-runs once with the latest nodes. */
  update(nodes: NodeLike[]): Promise<void> {
    this.latest = nodes;
    return this.runner.request();
  }

  async syncOnce(nodes: NodeLike[]): Promise<void> {
    const want = desiredRoutes(this.self, this.goodNodes.filter(nodes, this.onRefused), this.onRefused);
    const have = await this.current();
    for (const r of want) {
      if (have.some((h) => h.cidr === r.cidr && h.via === r.via)) continue;
      try {
        await ip(['route', 'replace', r.cidr, 'via', r.via, 'proto', ROUTE_PROTO]);
        this.log.info({ cidr: r.cidr, via: r.via }, 'route programmed');
      } catch (err) {
        this.log.warn({ err: String(err), cidr: r.cidr, via: r.via }, 'route not programmed');
      }
    }
    for (const h of have) {
      if (want.some((r) => r.cidr === h.cidr)) continue;
      await ip(['route', 'del', h.cidr, 'proto', ROUTE_PROTO]).catch((err) => this.log.warn({ err: String(err) }, 'stale route not removed'));
      this.log.info({ cidr: h.cidr, via: h.via }, 'stale route removed');
    }
    this.syncs++;
  }
}
