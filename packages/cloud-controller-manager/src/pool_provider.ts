// The provider built in for labs and bare VMs ("address-pool"): load balancers are addresses of an
// AddressPool (announced by the node agents, see packages/node-agent README), and the "machines" are
// the lines of a hosts file (`NAME IP [NETNS]`, one a line, `#` comments): a machine exists while its
// line is there and, when a network namespace is named, while /run/netns/NETNS exists (a lab worker).
// Instances give the InternalIP and Hostname addresses and the providerID `mkube://NAME`; Zones give
// one zone and region.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadBalancerStatus, Node, NodeAddress, Service } from '@mkube/api';
import { AddressPool } from './address_pool.js';
import { CloudProviderError, type CloudProvider, type InstanceMetadata, type Instances, type InstancesV2, type LoadBalancer, type Zone, type Zones } from './cloudprovider.js';

export const PROVIDER_NAME = 'mkube';
export const PROVIDER_ID_PREFIX = 'mkube://';

export interface Machine {
  name: string;
  ip: string;
  netns?: string;
}

export interface PoolProviderOptions {
  /** The address pool CIDR (--lb-address-pool); none: no LoadBalancer support. */
  pool?: string;
  /** The hosts file (--machines-file); none: no Instances support. */
  machinesFile?: string;
  /** Where named network namespaces live (default /run/netns). */
  netnsDir?: string;
  zone?: string;
  region?: string;
}

const ownerOf = (s: Service) => `${s.metadata?.namespace ?? 'default'}/${s.metadata?.name ?? ''}`;

export function parseMachines(text: string): Machine[] {
  const out: Machine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [name, ip, netns] = line.split(/\s+/);
    if (name && ip) out.push(netns ? { name, ip, netns } : { name, ip });
  }
  return out;
}

export class PoolProvider implements CloudProvider, LoadBalancer, Instances, InstancesV2, Zones {
  readonly pool: AddressPool | undefined;

  constructor(private readonly o: PoolProviderOptions) {
    this.pool = o.pool ? new AddressPool(o.pool) : undefined;
  }

  providerName(): string {
    return PROVIDER_NAME;
  }
  hasClusterID(): boolean {
    return true;
  }
  loadBalancer(): LoadBalancer | undefined {
    return this.pool ? this : undefined;
  }
  instances(): Instances | undefined {
    return this.o.machinesFile ? this : undefined;
  }
  instancesV2(): InstancesV2 | undefined {
    return this.o.machinesFile ? this : undefined;
  }
  zones(): Zones | undefined {
    return this;
  }

  // ---- LoadBalancer

  private requirePool(): AddressPool {
    if (!this.pool) throw new CloudProviderError('no address pool configured (--lb-address-pool)', 'ProviderFailed');
    return this.pool;
  }

  getLoadBalancerName(_clusterName: string, service: Service): string {
    // As cloudprovider.DefaultLoadBalancerName: "a" + the UID without dashes, at most 32 characters.
    return `a${(service.metadata?.uid ?? '').replace(/-/g, '')}`.slice(0, 32);
  }

  async getLoadBalancer(_clusterName: string, service: Service): Promise<{ status?: LoadBalancerStatus; exists: boolean }> {
    const ip = this.requirePool().addressOf(ownerOf(service));
    return ip ? { status: { ingress: [{ ip, ipMode: 'VIP' }] }, exists: true } : { exists: false };
  }

  async ensureLoadBalancer(_clusterName: string, service: Service): Promise<LoadBalancerStatus> {
    const ip = this.requirePool().allocate(ownerOf(service), service.spec?.loadBalancerIP || undefined);
    return { ingress: [{ ip, ipMode: 'VIP' }] };
  }

  async updateLoadBalancer(): Promise<void> {
    // The nodes behind an address are the node agents' business (the announcer and the service proxy).
  }

  async ensureLoadBalancerDeleted(_clusterName: string, service: Service): Promise<void> {
    this.requirePool().release(ownerOf(service));
  }

  /** Marks the addresses already in Services' status as theirs (at start, before any ensure). */
  recover(services: Service[]): void {
    for (const s of services) for (const g of s.status?.loadBalancer?.ingress ?? []) if (g.ip) this.pool?.recover(ownerOf(s), g.ip);
  }

  // ---- Instances / InstancesV2

  machines(): Machine[] {
    if (!this.o.machinesFile) return [];
    try {
      return parseMachines(readFileSync(this.o.machinesFile, 'utf8'));
    } catch (err) {
      throw new CloudProviderError(`machines file ${this.o.machinesFile}: ${(err as Error).message}`, 'ProviderFailed');
    }
  }

  private machine(name: string): Machine | undefined {
    const m = this.machines().find((x) => x.name === name);
    if (m?.netns && !existsSync(join(this.o.netnsDir ?? '/run/netns', m.netns))) return undefined;
    return m;
  }

  private nameOf(providerID: string): string {
    return providerID.startsWith(PROVIDER_ID_PREFIX) ? providerID.slice(PROVIDER_ID_PREFIX.length) : providerID;
  }

  async nodeAddresses(nodeName: string): Promise<NodeAddress[]> {
    const m = this.machine(nodeName);
    if (!m) throw new CloudProviderError(`instance ${nodeName} not found`, 'InstanceNotFound');
    return [
      { type: 'InternalIP', address: m.ip },
      { type: 'Hostname', address: m.name },
    ];
  }
  async instanceID(nodeName: string): Promise<string> {
    if (!this.machine(nodeName)) throw new CloudProviderError(`instance ${nodeName} not found`, 'InstanceNotFound');
    return nodeName;
  }
  async instanceExistsByProviderID(providerID: string): Promise<boolean> {
    return this.machine(this.nameOf(providerID)) !== undefined;
  }
  async instanceShutdownByProviderID(): Promise<boolean> {
    return false;
  }
  async instanceExists(node: Node): Promise<boolean> {
    return this.machine(node.metadata?.name ?? '') !== undefined;
  }
  async instanceShutdown(): Promise<boolean> {
    return false;
  }
  async instanceMetadata(node: Node): Promise<InstanceMetadata> {
    const name = node.metadata?.name ?? '';
    const zone = await this.getZoneByNodeName(name);
    return { providerID: `${PROVIDER_ID_PREFIX}${name}`, instanceType: 'lab', nodeAddresses: await this.nodeAddresses(name), zone: zone.failureDomain, region: zone.region };
  }

  // ---- Zones

  async getZoneByNodeName(_nodeName?: string): Promise<Zone> {
    return { failureDomain: this.o.zone ?? 'lab', region: this.o.region ?? 'lab' };
  }
}
