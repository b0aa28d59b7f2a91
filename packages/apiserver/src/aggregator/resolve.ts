/**
 * Service → endpoint address for the aggregation layer, from the watch cache
 * (as kube-aggregator's ResolveEndpoint over its Service and Endpoints
 * listers): the service port with the APIService's port number, then an
 * address of the Endpoints subset port with that port's name. Failures carry
 * the reason and message the availability controller reports.
 */
import { findResource, type JsonObject } from '@mkube/api';
import type { Registry } from '../registry/registry.js';
import type { ServiceRef } from './apiservices.js';

type Obj = JsonObject;
const o = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const a = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

const SERVICES = findResource('', 'v1', 'services')!;
const ENDPOINTS = findResource('', 'v1', 'endpoints')!;

export class ResolveError extends Error {
  constructor(readonly reason: 'ServiceNotFound' | 'ServicePortError' | 'EndpointsNotFound' | 'MissingEndpoints', message: string) {
    super(message);
    this.name = 'ResolveError';
  }
}

export interface ServiceAddress {
  host: string;
  port: number;
}

/** One address serving ref (the first ready one; upstream picks at random). */
export function resolveEndpoint(registry: Registry, ref: ServiceRef): ServiceAddress {
  const svc = registry.cachedGet(SERVICES, ref.namespace, ref.name);
  if (!svc) throw new ResolveError('ServiceNotFound', `service/${ref.name} in "${ref.namespace}" is not present`);
  const spec = o(svc.spec);
  if (spec.type === 'ExternalName') return { host: String(spec.externalName ?? ''), port: ref.port };
  const svcPort = a(spec.ports).find((p) => Number(p.port) === ref.port);
  if (!svcPort) throw new ResolveError('ServicePortError', `service/${ref.name} in "${ref.namespace}" is not listening on port ${ref.port}`);
  const ep = registry.cachedGet(ENDPOINTS, ref.namespace, ref.name);
  if (!ep) throw new ResolveError('EndpointsNotFound', `cannot find endpoints for service/${ref.name} in "${ref.namespace}"`);
  const portName = String(svcPort.name ?? '');
  for (const ss of a(ep.subsets)) {
    const port = a(ss.ports).find((p) => String(p.name ?? '') === portName);
    const addr = a(ss.addresses)[0];
    if (port && addr) return { host: String(addr.ip ?? ''), port: Number(port.port) };
  }
  throw new ResolveError('MissingEndpoints', `endpoints for service/${ref.name} in "${ref.namespace}" have no addresses with port name "${portName}"`);
}
