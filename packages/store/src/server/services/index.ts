// The etcd v3 gRPC API (KV, Watch, Lease, Cluster, Maintenance) on top of an EtcdBackend.

import type * as grpc from '@grpc/grpc-js';
import type { EtcdBackend } from '../backend.js';
import { loadEtcdProto } from '../../api/etcd_proto.js';
import type { EtcdServiceEntry } from '../../transport/call_dispatcher.js';
import { DEFAULT_MAX_REQUEST_BYTES, withRequestSizes, type ServiceOptions } from './common.js';
import { kvService } from './kv_service.js';
import { watchDefinition, watchService } from './watch_service.js';
import { leaseService } from './lease_service.js';
import { clusterService } from './cluster_service.js';
import { maintenanceService } from './maintenance_service.js';

export { DEFAULT_MAX_REQUEST_BYTES, type ServiceOptions } from './common.js';
export { ETCD_ERRORS, RpcErrors, RpcError, toGrpcError, grpcError, type GrpcEtcdError } from './errors.js';
export { MAX_TXN_OPS, MAX_LEASE_TTL } from './validate.js';
export { kvService, watchService, leaseService, clusterService, maintenanceService };

/** One etcd service: its method definitions (server-side codecs) and handlers (declared with the frame transport that dispatches to it). */
export type { EtcdServiceEntry } from '../../transport/call_dispatcher.js';

/** The five etcd v3 services over `backend`, for a gRPC server or an in-process connection. */
export function etcdServices(backend: EtcdBackend, opts: Partial<ServiceOptions> = {}): EtcdServiceEntry[] {
  const o: ServiceOptions = { maxRequestBytes: opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES };
  const pkg = loadEtcdProto().etcdserverpb;
  const entry = (name: EtcdServiceEntry['name'], definition: grpc.ServiceDefinition, handlers: object): EtcdServiceEntry => ({
    name,
    definition,
    handlers: handlers as grpc.UntypedServiceImplementation,
  });
  return [
    entry('KV', withRequestSizes(pkg.KV.service), kvService(backend, o)),
    entry('Watch', watchDefinition(pkg.Watch.service), watchService(backend, pkg.Watch.service.Watch.responseSerialize)),
    entry('Lease', pkg.Lease.service, leaseService(backend)),
    entry('Cluster', pkg.Cluster.service, clusterService(backend)),
    entry('Maintenance', pkg.Maintenance.service, maintenanceService(backend)),
  ];
}

/** Anything services are added to as grpc-js' Server takes them (grpc.Server, server/grpc's Http2GrpcServer). */
export type ServiceRegistrar = Pick<grpc.Server, 'addService'>;

export function addEtcdServices(server: ServiceRegistrar, backend: EtcdBackend, opts: Partial<ServiceOptions> = {}): EtcdServiceEntry[] {
  const services = etcdServices(backend, opts);
  for (const s of services) server.addService(s.definition, s.handlers);
  return services;
}
