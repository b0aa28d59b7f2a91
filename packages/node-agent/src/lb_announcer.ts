// The node agent's load-balancer announcer (issue 14, L2 mode): the addresses lb_election.ts gives
// this node are added to the interface holding the node IP (`ip addr add IP/32 dev DEV label DEV:lb`,
// in the agent's network namespace) and announced with gratuitous ARP (`arping -U`, when installed),
// so the segment's neighbours send that address's traffic here, where the service proxy DNATs it;
// addresses no longer ours are removed. Liveness of the other nodes comes from probing their node
// agents' /healthz every probeInterval (not from the Node's Ready condition, which the node lifecycle
// controller turns only after its 40 s grace): a node whose agent has not answered within deadAfter is
// no candidate, so its addresses move within about deadAfter + one probe interval.
//
// Why the node agent announces, not the cloud controller manager: the address must sit on the chosen
// node's own interface and be announced from its own link (ARP is link-local), which only a process on
// that node can do; the CCM runs on the control plane and only allocates addresses. And why probes, not a
// Lease per node: the Node authorizer lets a node touch only its own Lease in kube-node-lease (the 40 s
// heartbeat lease), so agents could neither write a second short Lease nor read each other's.
//
// Every value reaching `ip`/`arping` is checked again at the sink (unicast IPv4 addresses, link names).
import { execFile } from 'node:child_process';
import { request } from 'node:https';
import { CoalescingSync } from './coalescing_sync.js';
import type { Logger } from './logger.js';
import { addressesToAnnounce, type ElectionNode } from './lb_election.js';
import { isSafeLinkName, isSafeUnicastIPv4 } from './proxy/sink_guard.js';
import type { EndpointsLike, ServiceLike } from './proxy/service_rules.js';

export interface AnnouncerNode extends ElectionNode {
  status?: ElectionNode['status'] & { addresses?: Array<{ type: string; address: string }>; daemonEndpoints?: { kubeletEndpoint?: { Port?: number } } };
}

export interface LbAnnouncerOptions {
  nodeName: string;
  nodeIP: string;
  log: Logger;
  services(): ServiceLike[];
  endpoints(): EndpointsLike[];
  nodes(): AnnouncerNode[];
  /** How often peers are probed and the addresses reconciled (default 250 ms). */
  probeIntervalMs?: number;
  /** A peer silent this long is dead (default 1000 ms). */
  deadAfterMs?: number;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 5_000 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`), { code: 'LbAnnounceFailed' }));
      else resolve(stdout);
    });
  });
}

/** GET https://ip:port/healthz within timeoutMs: true on a 200. The agent's /healthz needs no credentials; only liveness is read. */
function probe(ip: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: ip, port, path: '/healthz', method: 'GET', rejectUnauthorized: false, timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

export class LbAnnouncer {
  /** Addresses on the interface now (ours, by label). */
  readonly announced = new Set<string>();
  private readonly lastSeen = new Map<string, number>();
  private dev: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private arping: boolean | undefined;
  private readonly sync = new CoalescingSync(() => this.reconcile().catch((err: unknown) => this.o.log.warn({ err }, 'load-balancer addresses not reconciled')));

  constructor(private readonly o: LbAnnouncerOptions) {}

  private get label(): string {
    return `${this.dev}:lb`;
  }

  async start(): Promise<void> {
    const out = await run('ip', ['-o', '-4', 'addr', 'show']);
    const line = out.split('\n').find((l) => l.split(/\s+/).some((w) => w.startsWith(`${this.o.nodeIP}/`)));
    const dev = line?.split(/\s+/)[1]?.replace(/@.*$/, '');
    if (!isSafeLinkName(dev) || dev.length > 12) throw Object.assign(new Error(`no interface holds the node IP ${this.o.nodeIP} (or its name is unfit for a label)`), { code: 'LbAnnounceFailed' });
    this.dev = dev;
    this.arping = await run('arping', ['-V']).then(() => true, () => false);
    if (!this.arping) this.o.log.warn({}, 'arping not installed: load-balancer addresses are added without gratuitous ARP (neighbours learn a move only when their entry expires)');
    // Addresses of an earlier run stay until the first reconcile decides.
    for (const l of (await run('ip', ['-o', '-4', 'addr', 'show', 'dev', dev, 'label', this.label])).split('\n')) {
      const ip = /inet (\S+)\/32/.exec(l)?.[1];
      if (ip) this.announced.add(ip);
    }
    const tick = () => {
      if (this.stopped) return;
      void this.probePeers().finally(() => {
        void this.sync.request();
        if (!this.stopped) this.timer = setTimeout(tick, this.o.probeIntervalMs ?? 250);
      });
    };
    tick();
  }

  /** Re-reconcile now (Service, endpoint or Node changes). */
  update(): void {
    void this.sync.request();
  }

  /** Stops; the addresses stay (as kube-proxy's rules), a restarted agent takes them over or removes them. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private async probePeers(): Promise<void> {
    const timeout = Math.min(400, this.o.deadAfterMs ?? 1000);
    await Promise.all(
      this.o.nodes().map(async (n) => {
        const name = n.metadata.name;
        if (name === this.o.nodeName) return;
        const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
        const port = n.status?.daemonEndpoints?.kubeletEndpoint?.Port;
        if (!isSafeUnicastIPv4(ip) || typeof port !== 'number' || port < 1 || port > 65535) return;
        if (await probe(ip, port, timeout)) this.lastSeen.set(name, Date.now());
      }),
    );
  }

  private alive = (node: string): boolean => Date.now() - (this.lastSeen.get(node) ?? 0) < (this.o.deadAfterMs ?? 1000);

  private async reconcile(): Promise<void> {
    const dev = this.dev;
    if (!dev || this.stopped) return;
    const want = addressesToAnnounce(this.o.nodeName, this.o.services(), this.o.endpoints(), this.o.nodes(), this.alive);
    for (const ip of [...this.announced]) {
      if (want.has(ip)) continue;
      if (!isSafeUnicastIPv4(ip)) continue;
      await run('ip', ['addr', 'del', `${ip}/32`, 'dev', dev]).catch((err: Error) => this.o.log.warn({ err, ip }, 'load-balancer address not removed'));
      this.announced.delete(ip);
      this.o.log.info({ ip }, 'load-balancer address withdrawn');
    }
    for (const [ip, service] of want) {
      if (this.announced.has(ip) || ip === this.o.nodeIP || !isSafeUnicastIPv4(ip)) continue;
      await run('ip', ['addr', 'replace', `${ip}/32`, 'dev', dev, 'label', this.label]);
      this.announced.add(ip);
      this.o.log.info({ ip, service }, 'load-balancer address announced');
      // Unsolicited ARP (twice, as keepalived/kube-vip): neighbours point the address at this interface now.
      if (this.arping) void run('arping', ['-U', '-c', '2', '-w', '2', '-I', dev, ip]).catch((err: Error) => this.o.log.warn({ err, ip }, 'gratuitous ARP not sent'));
    }
  }
}
