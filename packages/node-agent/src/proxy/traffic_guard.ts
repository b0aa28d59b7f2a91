// The sink guard of the proxy's traffic fields (issue 14), next to sink_guard.ts's checks of
// addresses and ports: external IPs, load-balancer ingress IPs, session affinity and its
// timeout, the traffic policies, the health check node port, and the endpoints' node names and
// serving-terminating addresses. Each value reaches iptables-restore (addresses, numbers in
// `-m recent --seconds`) or an HTTP listener, so each is checked again here; an object that
// fails is refused as a whole with a SinkRefusal, as sink_guard.ts does.
import { checkEndpoints, checkService, isSafeName, isSafePort, safeIPFamily, SinkRefusal } from './sink_guard.js';

type Loose = Record<string, unknown>;
const obj = (v: unknown): Loose => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Loose) : {});
const list = (v: unknown): unknown[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);
const keyOf = (kind: string, o: unknown) => {
  const m = obj(obj(o).metadata);
  return `${kind} ${String(m.namespace ?? 'default')}/${String(m.name)}`.slice(0, 300);
};

/** Upstream's limit of sessionAffinityConfig.clientIP.timeoutSeconds (1 day); 10800 is the default. */
export const MAX_AFFINITY_SECONDS = 86400;
export const DEFAULT_AFFINITY_SECONDS = 10800;

/** Throws a SinkRefusal unless the Service's addresses, ports and traffic fields are all safe. */
export function checkServiceTraffic(s: unknown): void {
  checkService(s);
  const key = keyOf('Service', s);
  const refuse = (field: string, value: unknown, reason: string): never => {
    throw new SinkRefusal(key, field, value, reason);
  };
  const spec = obj(obj(s).spec);
  list(spec.externalIPs).forEach((ip, i) => {
    if (safeIPFamily(ip) === 0) refuse(`spec.externalIPs[${i}]`, ip, 'not an IP address');
  });
  if (spec.loadBalancerIP !== undefined && spec.loadBalancerIP !== '' && safeIPFamily(spec.loadBalancerIP) === 0) refuse('spec.loadBalancerIP', spec.loadBalancerIP, 'not an IP address');
  list(obj(obj(obj(s).status).loadBalancer).ingress).forEach((g, i) => {
    const ip = obj(g).ip;
    if (ip !== undefined && ip !== '' && safeIPFamily(ip) === 0) refuse(`status.loadBalancer.ingress[${i}].ip`, ip, 'not an IP address');
  });
  if (spec.sessionAffinity !== undefined && !['None', 'ClientIP'].includes(String(spec.sessionAffinity))) refuse('spec.sessionAffinity', spec.sessionAffinity, 'not None or ClientIP');
  const timeout = obj(obj(spec.sessionAffinityConfig).clientIP).timeoutSeconds;
  if (timeout !== undefined && !(typeof timeout === 'number' && Number.isInteger(timeout) && timeout >= 1 && timeout <= MAX_AFFINITY_SECONDS)) {
    refuse('spec.sessionAffinityConfig.clientIP.timeoutSeconds', timeout, `not an integer in 1..${MAX_AFFINITY_SECONDS}`);
  }
  for (const f of ['externalTrafficPolicy', 'internalTrafficPolicy']) {
    if (spec[f] !== undefined && !['Cluster', 'Local'].includes(String(spec[f]))) refuse(`spec.${f}`, spec[f], 'not Cluster or Local');
  }
  if (spec.healthCheckNodePort !== undefined && spec.healthCheckNodePort !== 0 && !isSafePort(spec.healthCheckNodePort)) refuse('spec.healthCheckNodePort', spec.healthCheckNodePort, 'not a port number');
}

/** Throws a SinkRefusal unless the Endpoints' addresses, ports, node names and serving-terminating addresses are safe. */
export function checkEndpointsTopology(e: unknown): void {
  checkEndpoints(e);
  const key = keyOf('Endpoints', e);
  list(obj(e).subsets).forEach((ss, i) => {
    const subset = obj(ss);
    for (const kind of ['addresses', 'notReadyAddresses', 'terminatingAddresses']) {
      list(subset[kind]).forEach((a, j) => {
        const { ip, nodeName } = obj(a);
        if (safeIPFamily(ip) === 0) throw new SinkRefusal(key, `subsets[${i}].${kind}[${j}].ip`, ip, 'not an IP address');
        if (nodeName !== undefined && nodeName !== null && !isSafeName(nodeName)) throw new SinkRefusal(key, `subsets[${i}].${kind}[${j}].nodeName`, nodeName, 'not a DNS name');
      });
    }
  });
}
