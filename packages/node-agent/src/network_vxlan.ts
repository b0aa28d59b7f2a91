// The pod network across subnets: a VXLAN overlay as flannel's vxlan backend
// builds it, through iproute2. One `vxlan` device per node (mkube.<VNI>, VNI 1,
// UDP 8472, local = node IP, nolearning, MTU of the underlay minus 50) whose
// address is the network address of the node's pod CIDR (the VTEP address);
// its MAC and the node IP are published in the Node's annotations
// (mkube.io/vxlan-backend-data {"VNI","VtepMAC","VtepIP"} and
// mkube.io/public-ip, as flannel's backend-data and public-ip). For every
// other node with those annotations: an FDB entry (its MAC → its public IP),
// a permanent neighbour (its VTEP address → its MAC) and a route to its pod
// CIDR via its VTEP address on the device (onlink). Entries of nodes gone or
// changed are removed; every value passes the sink guard (checkNodeVxlan)
// first, refused Nodes are logged, counted and keep their last good entries.
// Mode `auto` routes a peer host-gw when its node IP is on-link (a route
// without a gateway: flannel's DirectRouting) and through the overlay otherwise;
// host-gw peers are handed to RouteSync.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoalescingSync } from './coalescing_sync.js';
import { silentLogger, type Logger } from './logger.js';
import type { NodeLike, RouteSync } from './network.js';
import {
  checkNodeVxlan, isSafeIPv4Cidr, isSafeLinkName, isSafeMac, isSafeUnicastIPv4, isSafeVni, LastGood, safeIPFamily, SinkRefusal,
  VXLAN_BACKEND_DATA_ANNOTATION, VXLAN_PUBLIC_IP_ANNOTATION, vxlanBackendData,
} from './proxy/sink_guard.js';

export type PodNetworkMode = 'host-gw' | 'vxlan' | 'auto';
export const POD_NETWORK_MODES: readonly PodNetworkMode[] = ['host-gw', 'vxlan', 'auto'];

/** flannel's defaults: VNI 1 and the Linux kernel's historical VXLAN port 8472. */
export const VXLAN_VNI = 1;
export const VXLAN_PORT = 8472;
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) headers. */
export const VXLAN_OVERHEAD = 50;

export const vxlanDeviceName = (vni: number): string => `mkube.${vni}`;

export interface OverlayNode extends NodeLike {
  metadata: { name: string; annotations?: Record<string, string> };
}

/** What one peer needs on the device. */
export interface VxlanPeer {
  node: string;
  podCIDR: string;
  vtepIP: string;
  mac: string;
  publicIP: string;
}

/** The network address of a canonical IPv4 CIDR: the node's VTEP address (flannel's choice). */
export function vtepAddressOf(podCIDR: string): string {
  return podCIDR.split('/')[0]!;
}

const internalIPv4 = (n: NodeLike): string | undefined => n.status?.addresses?.find((a) => a.type === 'InternalIP' && safeIPFamily(a.address) === 4)?.address;

/**
 * The overlay peers of `self` among Nodes the sink guard accepted: every other
 * node with backend data of our VNI, a podCIDR and a public IP (the annotation,
 * else its InternalIP), unless `direct` says it is reached host-gw.
 */
export function desiredPeers(self: string, nodes: readonly OverlayNode[], vni: number, direct: (n: OverlayNode) => boolean = () => false): VxlanPeer[] {
  const out: VxlanPeer[] = [];
  for (const n of nodes) {
    if (n.metadata.name === self || direct(n)) continue;
    const data = vxlanBackendData(n);
    const podCIDR = n.spec?.podCIDR;
    const publicIP = n.metadata.annotations?.[VXLAN_PUBLIC_IP_ANNOTATION] ?? internalIPv4(n);
    if (!data || data.VNI !== vni || !podCIDR || !publicIP) continue;
    out.push({ node: n.metadata.name, podCIDR, vtepIP: data.VtepIP, mac: data.VtepMAC, publicIP });
  }
  return out.sort((a, b) => a.podCIDR.localeCompare(b.podCIDR));
}

/** The annotations this node publishes for its device. */
export function ownAnnotations(vni: number, mac: string, vtepIP: string, publicIP: string): Record<string, string> {
  return { [VXLAN_BACKEND_DATA_ANNOTATION]: JSON.stringify({ VNI: vni, VtepMAC: mac, VtepIP: vtepIP }), [VXLAN_PUBLIC_IP_ANNOTATION]: publicIP };
}

/** Runs iproute2 (`ip` or `bridge`); rejects with the command and its stderr (code VxlanCommandFailed). */
export function iproute(cmd: 'ip' | 'bridge', args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`), { code: 'VxlanCommandFailed' }));
      else resolve(stdout);
    });
  });
}

const json = <T>(s: string): T[] => (s.trim() ? (JSON.parse(s) as T[]) : []);

/** The link carrying `ip` and its MTU (the VXLAN underlay). */
export async function underlayOf(ip: string): Promise<{ dev: string; mtu: number }> {
  const links = json<{ ifname: string; mtu: number; addr_info?: { family: string; local: string }[] }>(await iproute('ip', ['-j', '-4', 'addr', 'show']));
  const link = links.find((l) => l.addr_info?.some((a) => a.family === 'inet' && a.local === ip));
  if (!link) throw Object.assign(new Error(`no interface has the node IP ${ip}: the VXLAN device needs it as its local address`), { code: 'VxlanNoUnderlay' });
  return { dev: link.ifname, mtu: link.mtu };
}

/** Whether `ip` is on-link from here (its route has no gateway): host-gw reaches it (auto mode). */
export async function isOnLink(ip: string): Promise<boolean> {
  const [r] = json<{ gateway?: string; type?: string }>(await iproute('ip', ['-j', '-4', 'route', 'get', ip]));
  return !!r && !r.gateway && (r.type === undefined || r.type === 'unicast');
}

/**
 * Sets the pod interfaces' MTU in the node's mkube conflist (the bridge
 * plugin's `mtu`, which sizes the bridge and the pods' veths) when it differs;
 * true when written. Conflists of other names are left alone.
 */
export function ensureCniMtu(confDir: string, mtu: number): boolean {
  const file = join(confDir, '10-mkube.conflist');
  if (!existsSync(file)) return false;
  const conf = JSON.parse(readFileSync(file, 'utf8')) as { plugins?: { type?: string; mtu?: number }[] };
  const bridge = conf.plugins?.find((p) => p.type === 'bridge');
  if (!bridge || bridge.mtu === mtu) return false;
  bridge.mtu = mtu;
  writeFileSync(file, JSON.stringify(conf, null, 2) + '\n');
  return true;
}

interface LinkInfo {
  ifname: string;
  address: string;
  mtu: number;
  operstate?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string; port?: number; learning?: boolean } };
}
interface FdbEntry { mac: string; dst?: string }
interface NeighEntry { dst: string; lladdr?: string }
interface RouteEntry { dst: string; gateway?: string }

export interface VxlanSyncOptions {
  nodeName: string;
  nodeIP: string;
  mode: Exclude<PodNetworkMode, 'host-gw'>;
  /** Writes the node's annotations (a merge patch of metadata.annotations). */
  publish: (annotations: Record<string, string>) => Promise<void>;
  /** Receives the peers reached host-gw (auto mode: on-link ones; vxlan mode: none). */
  routes?: Pick<RouteSync, 'update'>;
  vni?: number;
  port?: number;
  logger?: Logger;
}

export class VxlanSync {
  readonly device: string;
  readonly vni: number;
  private readonly port: number;
  private readonly log: Logger;
  private latest: OverlayNode[] = [];
  private readonly runner = new CoalescingSync(() => this.syncOnce(this.latest).catch((err: unknown) => {
    this.failures++;
    this.log.warn({ err }, 'vxlan sync failed');
  }));
  private readonly goodNodes = new LastGood<OverlayNode>((n) => String(n.metadata?.name), checkNodeVxlan);
  syncs = 0;
  failures = 0;
  /** Nodes refused by the sink guard. */
  refused = 0;
  /** The device's MTU once created (underlay MTU − 50). */
  mtu = 0;
  private readonly onRefused = (err: SinkRefusal): void => {
    this.refused++;
    this.log.error({ err, key: err.key, field: err.field }, 'node refused by the vxlan sync: its overlay entries are not written (the last good ones stay)');
  };

  constructor(private readonly o: VxlanSyncOptions) {
    this.vni = o.vni ?? VXLAN_VNI;
    this.port = o.port ?? VXLAN_PORT;
    this.device = vxlanDeviceName(this.vni);
    if (!isSafeVni(this.vni) || !isSafeLinkName(this.device) || !isSafeUnicastIPv4(o.nodeIP)) {
      throw Object.assign(new Error(`vxlan: unusable VNI ${this.vni} or node IP ${o.nodeIP}`), { code: 'VxlanInvalidConfig' });
    }
    this.log = (o.logger ?? silentLogger).child({ component: 'vxlan', device: this.device });
  }

  /** The pods' MTU in this mode: the underlay's minus the VXLAN overhead. */
  async podMtu(): Promise<number> {
    return (await underlayOf(this.o.nodeIP)).mtu - VXLAN_OVERHEAD;
  }

  /** Coalescing: a sync while one runs re-runs once with the latest nodes. */
  update(nodes: OverlayNode[]): Promise<void> {
    this.latest = nodes;
    return this.runner.request();
  }

  /** The device's link, or undefined when it does not exist. */
  async link(): Promise<LinkInfo | undefined> {
    const links = json<LinkInfo>(await iproute('ip', ['-j', '-d', 'link', 'show']));
    return links.find((l) => l.ifname === this.device);
  }

  /**
   * Creates the device (or re-creates one whose VNI, local address, port or
   * learning differ), sets its MTU, its VTEP address and up; returns its MAC.
   */
  async ensureDevice(vtepIP: string): Promise<string> {
    const under = await underlayOf(this.o.nodeIP);
    const mtu = under.mtu - VXLAN_OVERHEAD;
    let link = await this.link();
    const d = link?.linkinfo?.info_data;
    if (link && (link.linkinfo?.info_kind !== 'vxlan' || d?.id !== this.vni || d?.local !== this.o.nodeIP || d?.port !== this.port || d?.learning !== false)) {
      this.log.warn({ have: link.linkinfo }, 'existing device is incompatible: re-creating it');
      await iproute('ip', ['link', 'del', this.device]);
      link = undefined;
    }
    if (!link) {
      await iproute('ip', ['link', 'add', this.device, 'type', 'vxlan', 'id', String(this.vni), 'local', this.o.nodeIP, 'dev', under.dev, 'dstport', String(this.port), 'nolearning']);
      this.log.info({ vni: this.vni, local: this.o.nodeIP, port: this.port, underlay: under.dev }, 'vxlan device created');
      link = await this.link();
      if (!link) throw Object.assign(new Error(`${this.device} not found after creating it`), { code: 'VxlanDeviceMissing' });
    }
    if (link.mtu !== mtu) await iproute('ip', ['link', 'set', this.device, 'mtu', String(mtu)]);
    this.mtu = mtu;
    const addrs = json<{ addr_info?: { family: string; local: string; prefixlen: number }[] }>(await iproute('ip', ['-j', '-4', 'addr', 'show', 'dev', this.device]))
      .flatMap((l) => l.addr_info ?? []).filter((a) => a.family === 'inet');
    for (const a of addrs) if (a.local !== vtepIP || a.prefixlen !== 32) await iproute('ip', ['addr', 'del', `${a.local}/${a.prefixlen}`, 'dev', this.device]);
    if (!addrs.some((a) => a.local === vtepIP && a.prefixlen === 32)) await iproute('ip', ['addr', 'add', `${vtepIP}/32`, 'dev', this.device]);
    if (!link.flags?.includes('UP')) await iproute('ip', ['link', 'set', this.device, 'up']);
    if (!isSafeMac(link.address)) throw Object.assign(new Error(`${this.device} has no usable MAC (${link.address})`), { code: 'VxlanDeviceMissing' });
    return link.address;
  }

  /** FDB entries, permanent neighbours and routes now on the device. */
  async current(): Promise<{ fdb: FdbEntry[]; neigh: NeighEntry[]; routes: RouteEntry[] }> {
    const [fdb, neigh, routes] = await Promise.all([
      iproute('bridge', ['-j', 'fdb', 'show', 'dev', this.device]).then((s) => json<FdbEntry>(s)),
      iproute('ip', ['-j', '-4', 'neigh', 'show', 'dev', this.device, 'nud', 'permanent']).then((s) => json<NeighEntry>(s)),
      iproute('ip', ['-j', '-4', 'route', 'show', 'dev', this.device]).then((s) => json<RouteEntry>(s)),
    ]);
    return { fdb: fdb.filter((f) => f.dst), neigh, routes: routes.filter((r) => r.gateway) };
  }

  async syncOnce(nodes: OverlayNode[]): Promise<void> {
    const good = this.goodNodes.filter(nodes, this.onRefused);
    const peers = good.filter((n) => n.metadata.name !== this.o.nodeName);
    // auto: peers whose node IP is on-link go host-gw; vxlan: none.
    const direct = new Set<string>();
    if (this.o.mode === 'auto') {
      for (const n of peers) {
        const ip = internalIPv4(n);
        if (ip && (await isOnLink(ip).catch(() => false))) direct.add(n.metadata.name);
      }
    }
    void this.o.routes?.update(good.filter((n) => n.metadata.name === this.o.nodeName || direct.has(n.metadata.name)));

    const self = good.find((n) => n.metadata.name === this.o.nodeName);
    const cidr = self?.spec?.podCIDR;
    if (!cidr || !isSafeIPv4Cidr(cidr)) return; // not registered yet, or no pod CIDR: nothing to tunnel to
    const vtepIP = vtepAddressOf(cidr);
    const mac = await this.ensureDevice(vtepIP);
    const want = ownAnnotations(this.vni, mac, vtepIP, this.o.nodeIP);
    const mine = self?.metadata.annotations ?? {};
    if (Object.entries(want).some(([k, v]) => mine[k] !== v)) {
      await this.o.publish(want);
      this.log.info({ mac, vtepIP }, 'vxlan backend data published');
    }

    const wantPeers = desiredPeers(this.o.nodeName, good, this.vni, (n) => direct.has(n.metadata.name));
    const have = await this.current();
    const dev = this.device;
    const step = async (what: string, fields: object, cmd: 'ip' | 'bridge', args: string[]): Promise<void> => {
      try {
        await iproute(cmd, args);
        this.log.info(fields, what);
      } catch (err) {
        this.log.warn({ err, ...fields }, `${what}: failed`);
      }
    };
    for (const p of wantPeers) {
      const f = { node: p.node, mac: p.mac, publicIP: p.publicIP, vtepIP: p.vtepIP, podCIDR: p.podCIDR };
      if (!have.fdb.some((e) => e.mac === p.mac && e.dst === p.publicIP)) await step('fdb entry programmed', f, 'bridge', ['fdb', 'replace', p.mac, 'dev', dev, 'dst', p.publicIP, 'self', 'permanent']);
      if (!have.neigh.some((e) => e.dst === p.vtepIP && e.lladdr === p.mac)) await step('neighbour programmed', f, 'ip', ['neigh', 'replace', p.vtepIP, 'lladdr', p.mac, 'dev', dev, 'nud', 'permanent']);
      if (!have.routes.some((e) => e.dst === p.podCIDR && e.gateway === p.vtepIP)) await step('overlay route programmed', f, 'ip', ['route', 'replace', p.podCIDR, 'via', p.vtepIP, 'dev', dev, 'onlink']);
    }
    // Stale entries (changed ones were replaced in place above): routes first (they use the
    // neighbours), then neighbours, then the FDB.
    for (const r of have.routes) {
      if (!wantPeers.some((p) => p.podCIDR === r.dst)) await step('stale overlay route removed', { podCIDR: r.dst, via: r.gateway }, 'ip', ['route', 'del', r.dst, 'via', r.gateway!, 'dev', dev]);
    }
    for (const e of have.neigh) {
      if (!wantPeers.some((p) => p.vtepIP === e.dst)) await step('stale neighbour removed', { vtepIP: e.dst, mac: e.lladdr }, 'ip', ['neigh', 'del', e.dst, 'dev', dev]);
    }
    for (const e of have.fdb) {
      if (!wantPeers.some((p) => p.mac === e.mac)) await step('stale fdb entry removed', { mac: e.mac, publicIP: e.dst }, 'bridge', ['fdb', 'del', e.mac, 'dev', dev, 'dst', e.dst!, 'self']);
    }
    this.syncs++;
  }
}
