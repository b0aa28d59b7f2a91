/**
 * Pod CIDR allocation: the cluster CIDR cut into subnets of the node mask
 * size; reserved ranges are never handed out; allocations recovered from
 * existing nodes are marked used, so no CIDR is ever given twice.
 */

export class CidrError extends Error {
  constructor(message: string, readonly code: 'INVALID_CIDR' | 'CIDR_EXHAUSTED' | 'CIDR_OUT_OF_RANGE') {
    super(message);
    this.name = 'CidrError';
  }
}

export function parseIPv4(s: string): number {
  const parts = s.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw new CidrError(`invalid IPv4 address "${s}"`, 'INVALID_CIDR');
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export const formatIPv4 = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

export function parseCidr(s: string): { base: number; bits: number } {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s.trim());
  if (!m || Number(m[2]) > 32) throw new CidrError(`invalid CIDR "${s}"`, 'INVALID_CIDR');
  const bits = Number(m[2]);
  const ip = parseIPv4(m[1]!);
  const size = 2 ** (32 - bits);
  return { base: ip - (ip % size), bits };
}

export class CidrSet {
  private readonly base: number;
  private readonly subnetSize: number;
  private readonly count: number;
  private readonly used = new Map<number, string>();
  private readonly reserved = new Set<number>();

  constructor(clusterCidr: string, readonly maskSize: number, reservedCidrs: string[] = []) {
    const c = parseCidr(clusterCidr);
    if (maskSize < c.bits || maskSize > 32) throw new CidrError(`node CIDR mask size ${maskSize} does not fit cluster CIDR ${clusterCidr}`, 'INVALID_CIDR');
    this.base = c.base;
    this.subnetSize = 2 ** (32 - maskSize);
    this.count = 2 ** (maskSize - c.bits);
    for (const r of reservedCidrs) {
      const rc = parseCidr(r);
      const end = rc.base + 2 ** (32 - rc.bits) - 1;
      for (let i = 0; i < this.count; i++) {
        const s = this.base + i * this.subnetSize;
        if (s <= end && s + this.subnetSize - 1 >= rc.base) this.reserved.add(i);
      }
    }
  }

  cidrOf(i: number): string {
    return `${formatIPv4(this.base + i * this.subnetSize)}/${this.maskSize}`;
  }

  /** The subnet index of a CIDR of this set, or undefined when it is not one. */
  indexOf(cidr: string): number | undefined {
    let c: { base: number; bits: number };
    try {
      c = parseCidr(cidr);
    } catch {
      return undefined;
    }
    if (c.bits !== this.maskSize) return undefined;
    const off = c.base - this.base;
    if (off < 0 || off % this.subnetSize !== 0 || off / this.subnetSize >= this.count) return undefined;
    return off / this.subnetSize;
  }

  /** Marks a CIDR used by `owner`; returns the previous owner when it was already taken by someone else. */
  occupy(cidr: string, owner: string): { ok: true } | { ok: false; reason: 'out-of-range' | 'taken'; holder?: string } {
    const i = this.indexOf(cidr);
    if (i === undefined) return { ok: false, reason: 'out-of-range' };
    const holder = this.used.get(i);
    if (holder !== undefined && holder !== owner) return { ok: false, reason: 'taken', holder };
    this.used.set(i, owner);
    return { ok: true };
  }

  allocateNext(owner: string): string {
    for (const [i, o] of this.used) if (o === owner) return this.cidrOf(i);
    for (let i = 0; i < this.count; i++) {
      if (this.reserved.has(i) || this.used.has(i)) continue;
      this.used.set(i, owner);
      return this.cidrOf(i);
    }
    throw new CidrError(`no free pod CIDR left in ${formatIPv4(this.base)}/${32 - Math.log2(this.subnetSize * this.count)}`, 'CIDR_EXHAUSTED');
  }

  release(cidr: string, owner: string): void {
    const i = this.indexOf(cidr);
    if (i !== undefined && this.used.get(i) === owner) this.used.delete(i);
  }

  releaseOwner(owner: string): void {
    for (const [i, o] of [...this.used]) if (o === owner) this.used.delete(i);
  }

  holderOf(cidr: string): string | undefined {
    const i = this.indexOf(cidr);
    return i === undefined ? undefined : this.used.get(i);
  }

  get usedCount(): number {
    return this.used.size;
  }
}

/** 10.213.0.0/24 holds node addresses; 10.213.200.0/24 and above are for services and load balancers. */
export const DEFAULT_CLUSTER_CIDR = '10.213.0.0/16';
export const DEFAULT_RESERVED_CIDRS = ['10.213.0.0/24', '10.213.200.0/21', '10.213.208.0/20', '10.213.224.0/19'];
