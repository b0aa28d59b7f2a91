// The benchmark's cluster: SERVICES ClusterIP services with a named port in namespace bench, the same
// records as mkube-dns's zone and as an RFC 1035 zone file for the Debian DNS server.
import type { Service } from '@mkube/api';

export const DOMAIN = 'cluster.local';

export function services(n: number): Service[] {
  return Array.from({ length: n }, (_, i) => ({
    metadata: { name: `svc-${i}`, namespace: 'bench' },
    spec: { clusterIP: `10.213.${200 + Math.floor(i / 250)}.${(i % 250) + 2}`, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  }));
}

/** The same names as a zone file (SOA, A and SRV records, TTL 5 as mkube-dns). */
export function zoneFile(svcs: Service[]): string {
  const lines = [
    `$ORIGIN ${DOMAIN}.`,
    '$TTL 5',
    `@ IN SOA ns.dns.${DOMAIN}. hostmaster.${DOMAIN}. 1 7200 1800 86400 5`,
    '@ IN NS ns.dns',
    'ns.dns IN A 127.0.0.1',
    'dns-version IN TXT "1.1.0"',
  ];
  for (const s of svcs) {
    const name = `${s.metadata!.name}.${s.metadata!.namespace}.svc`;
    lines.push(`${name} IN A ${s.spec!.clusterIP}`);
    lines.push(`_http._tcp.${name} IN SRV 0 100 80 ${name}.${DOMAIN}.`);
  }
  return `${lines.join('\n')}\n`;
}

/** The question names of the load: every service's A record. */
export function queryNames(svcs: Service[]): string[] {
  return svcs.map((s) => `${s.metadata!.name}.${s.metadata!.namespace}.svc.${DOMAIN}`);
}
