// The environment kubelet gives every container about Services: for the
// `kubernetes` Service in `default` always, and for the Services of the pod's
// namespace when enableServiceLinks is not false: NAME_SERVICE_HOST,
// NAME_SERVICE_PORT, NAME_SERVICE_PORT_<PORTNAME> and the Docker-link style
// NAME_PORT, NAME_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR] (NAME upper-cased,
// '-' as '_'). Only Services with a cluster IP count.
export interface ServiceLike {
  metadata: { name?: string; namespace?: string };
  spec?: { clusterIP?: string; ports?: Array<{ name?: string; port: number; protocol?: string }> };
}

/** Where the node agent's view of the Services comes from (an informer). */
export interface ServiceListSource {
  listServices(): ServiceLike[];
}

export function isServiceListSource(v: unknown): v is ServiceListSource {
  return typeof (v as Partial<ServiceListSource>)?.listServices === 'function';
}

const MASTER_SERVICES = new Set(['kubernetes']);
const envName = (s: string) => s.toUpperCase().replace(/-/g, '_');

/** The Services whose variables a pod in `namespace` gets, by name (a namespace's own Service wins over the master one). */
export function servicesForPod(all: ServiceLike[], namespace: string, enableServiceLinks: boolean): ServiceLike[] {
  const byName = new Map<string, ServiceLike>();
  for (const s of all) {
    const ip = s.spec?.clusterIP;
    if (!ip || ip === 'None') continue;
    const name = s.metadata.name ?? '';
    if (s.metadata.namespace === 'default' && MASTER_SERVICES.has(name)) {
      if (!byName.has(name)) byName.set(name, s);
    } else if (s.metadata.namespace === namespace && enableServiceLinks) {
      byName.set(name, s);
    }
  }
  return [...byName.keys()].sort().map((k) => byName.get(k)!);
}

/** The variables of the given Services, in a stable order. */
export function serviceEnv(services: ServiceLike[]): Array<{ key: string; value: string }> {
  const out: Array<{ key: string; value: string }> = [];
  for (const s of services) {
    const name = envName(s.metadata.name ?? '');
    const ip = s.spec!.clusterIP!;
    const ports = s.spec?.ports ?? [];
    out.push({ key: `${name}_SERVICE_HOST`, value: ip });
    if (ports.length === 0) continue;
    out.push({ key: `${name}_SERVICE_PORT`, value: String(ports[0]!.port) });
    for (const p of ports) if (p.name) out.push({ key: `${name}_SERVICE_PORT_${envName(p.name)}`, value: String(p.port) });
    const first = ports[0]!;
    out.push({ key: `${name}_PORT`, value: `${(first.protocol ?? 'TCP').toLowerCase()}://${ip}:${first.port}` });
    for (const p of ports) {
      const proto = (p.protocol ?? 'TCP').toUpperCase();
      const prefix = `${name}_PORT_${p.port}_${proto}`;
      out.push({ key: prefix, value: `${proto.toLowerCase()}://${ip}:${p.port}` });
      out.push({ key: `${prefix}_PROTO`, value: proto.toLowerCase() });
      out.push({ key: `${prefix}_PORT`, value: String(p.port) });
      out.push({ key: `${prefix}_ADDR`, value: ip });
    }
  }
  return out;
}
