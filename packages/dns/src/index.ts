/** @mkube/dns: the cluster DNS component (mkube-dns) and its parts. */
export { ClusterDns, type ClusterDnsOptions } from './cluster_dns.js';
export { ClusterZone, SCHEMA_VERSION, type ZoneAnswer, type ZoneOptions } from './zone.js';
export { DnsServer, RCODE, type DnsServerOptions } from './server.js';
export { Forwarder, ForwardError, hostResolvers, resolvConfNameservers, type ForwarderOptions, type ForwardResult } from './forwarder.js';
export { dashedAddress, normalizeName, reverseName } from './names.js';
