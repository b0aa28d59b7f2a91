// The load-balancer address pool of the built-in provider: IPv4 addresses of one CIDR (flag
// --lb-address-pool) handed out one per Service. A requested address (spec.loadBalancerIP) must be
// in the pool and free or already the Service's; otherwise the lowest free address is given. The
// network and broadcast addresses of pools larger than /31 are never given. Pure: the assignments
// are recovered from the Services' status at start (recover()).
import { formatIPv4, parseCidr, parseIPv4 } from '@mkube/controllers';
import { CloudProviderError } from './cloudprovider.js';

export class AddressPool {
  private readonly first: number;
  private readonly last: number;
  /** address number → owner key ("ns/name"). */
  private readonly owners = new Map<number, string>();
  private readonly byOwner = new Map<string, number>();

  constructor(readonly cidr: string) {
    const { base, bits } = parseCidr(cidr);
    const size = 2 ** (32 - bits);
    this.first = size > 2 ? base + 1 : base;
    this.last = size > 2 ? base + size - 2 : base + size - 1;
  }

  get size(): number {
    return this.last - this.first + 1;
  }

  get used(): number {
    return this.owners.size;
  }

  contains(ip: string): boolean {
    let n: number;
    try {
      n = parseIPv4(ip);
    } catch {
      return false;
    }
    return n >= this.first && n <= this.last;
  }

  /** The address of `owner`, if it has one. */
  addressOf(owner: string): string | undefined {
    const n = this.byOwner.get(owner);
    return n === undefined ? undefined : formatIPv4(n);
  }

  ownerOf(ip: string): string | undefined {
    return this.contains(ip) ? this.owners.get(parseIPv4(ip)) : undefined;
  }

  /** Marks an address found in a Service's status as `owner`'s (false when it is outside the pool or another's). */
  recover(owner: string, ip: string): boolean {
    if (!this.contains(ip)) return false;
    const n = parseIPv4(ip);
    const cur = this.owners.get(n);
    if (cur !== undefined && cur !== owner) return false;
    if (this.byOwner.has(owner) && this.byOwner.get(owner) !== n) return false;
    this.owners.set(n, owner);
    this.byOwner.set(owner, n);
    return true;
  }

  /**
   * The address of `owner`: `requested` when given (in the pool, free or already its own; a previous
   * different address is released), else the one it has, else the lowest free one.
   */
  allocate(owner: string, requested?: string): string {
    const had = this.byOwner.get(owner);
    if (requested) {
      if (!this.contains(requested)) throw new CloudProviderError(`requested loadBalancerIP ${requested} is not in the address pool ${this.cidr}`, 'LoadBalancerIPUnavailable');
      const n = parseIPv4(requested);
      const cur = this.owners.get(n);
      if (cur !== undefined && cur !== owner) throw new CloudProviderError(`requested loadBalancerIP ${requested} is already in use by service ${cur}`, 'LoadBalancerIPUnavailable');
      if (had !== undefined && had !== n) this.release(owner);
      this.owners.set(n, owner);
      this.byOwner.set(owner, n);
      return requested;
    }
    if (had !== undefined) return formatIPv4(had);
    for (let n = this.first; n <= this.last; n++) {
      if (this.owners.has(n)) continue;
      this.owners.set(n, owner);
      this.byOwner.set(owner, n);
      return formatIPv4(n);
    }
    throw new CloudProviderError(`no free address left in the address pool ${this.cidr} (${this.size} addresses in use)`, 'AddressPoolExhausted');
  }

  /** Frees `owner`'s address (no-op without one). */
  release(owner: string): void {
    const n = this.byOwner.get(owner);
    if (n === undefined) return;
    this.byOwner.delete(owner);
    this.owners.delete(n);
  }
}
