/**
 * Service cluster IPs and node ports. Each allocation is its own etcd key,
 * created with a compare on create_revision == 0, so two concurrent creates
 * can never take the same IP or port (on any number of API servers).
 */
import { Compare, Op, type EtcdClient } from '@mkube/store/client';
import { ApiError } from '../errors.js';

export function parseCidr(cidr: string): { base: number; size: number } {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr.trim());
  if (!m) throw new Error(`invalid CIDR ${cidr}`);
  const bits = Number(m[5]);
  if (bits < 8 || bits > 30) throw new Error(`CIDR ${cidr}: prefix length must be between 8 and 30`);
  const ip = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
  const size = 2 ** (32 - bits);
  return { base: (ip & ~(size - 1)) >>> 0, size };
}

export const ipToString = (n: number): string => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
export function ipToNumber(ip: string): number | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  if (!m || m.slice(1).some((p) => Number(p) > 255)) return undefined;
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

/** Allocates unique values of a range as keys under `prefix`. */
class KeyAllocator {
  constructor(
    private readonly client: EtcdClient,
    private readonly prefix: string,
    private readonly first: number,
    private readonly count: number,
    private readonly format: (n: number) => string,
    private readonly what: string,
  ) {}

  private async claim(n: number, owner: string): Promise<boolean> {
    const key = `${this.prefix}${this.format(n)}`;
    const r = await this.client.txn().if(Compare.createRevision(key, '=', 0)).then(Op.put(key, owner)).commit();
    return r.succeeded;
  }

  /** A specific value; false when taken. */
  allocate(n: number, owner: string): Promise<boolean> {
    return this.claim(n, owner);
  }

  /** Any free value: random probes, then a scan of what is taken. */
  async allocateNext(owner: string): Promise<number> {
    for (let i = 0; i < 16; i++) {
      const n = this.first + Math.floor(Math.random() * this.count);
      if (await this.claim(n, owner)) return n;
    }
    const taken = new Set((await this.client.get(this.prefix, { prefix: true, keysOnly: true })).kvs.map((kv) => kv.key.toString('utf8').slice(this.prefix.length)));
    const start = Math.floor(Math.random() * this.count);
    for (let i = 0; i < this.count; i++) {
      const n = this.first + ((start + i) % this.count);
      if (taken.has(this.format(n))) continue;
      if (await this.claim(n, owner)) return n;
    }
    throw new ApiError(500, 'InternalError', `Internal error occurred: failed to allocate a ${this.what}: range is full`);
  }

  async release(n: number): Promise<void> {
    await this.client.delete(`${this.prefix}${this.format(n)}`);
  }

  contains(n: number): boolean {
    return n >= this.first && n < this.first + this.count;
  }
}

export class ServiceAllocators {
  readonly ips: KeyAllocator;
  readonly ports: KeyAllocator;
  readonly cidr: string;
  readonly portRange: string;

  constructor(client: EtcdClient, prefix: string, serviceCidr: string, nodePortRange = '30000-32767') {
    const { base, size } = parseCidr(serviceCidr);
    this.cidr = serviceCidr;
    // Skip the network address and the broadcast address.
    this.ips = new KeyAllocator(client, `${prefix}/ranges/serviceips/`, base + 1, size - 2, ipToString, 'service IP');
    const [lo, hi] = nodePortRange.split('-').map(Number) as [number, number];
    this.portRange = nodePortRange;
    this.ports = new KeyAllocator(client, `${prefix}/ranges/servicenodeports/`, lo, hi - lo + 1, String, 'node port');
  }

  /** The first usable IP of the range (kubernetes.default's address). */
  firstIp(): string {
    return ipToString(parseCidr(this.cidr).base + 1);
  }
}
