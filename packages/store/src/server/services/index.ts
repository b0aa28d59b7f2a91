// The etcd v3 gRPC API (KV, Watch, Lease, Cluster, Maintenance) on top of an EtcdBackend.

import type * as grpc from '@grpc/grpc-js';
import type { EtcdBackend } from '../backend.js';
import { loadEtcdProto } from '../etcd_proto.js';
import { DEFAULT_MAX_REQUEST_BYTES, withRequestSizes, type ServiceOptions } from './common.js';
import { kvService } from './kv_service.js';
import { watchService } from './watch_service.js';
import { leaseService } from './lease_service.js';
import { clusterService } from './cluster_service.js';
import { maintenanceService } from './maintenance_service.js';

export { DEFAULT_MAX_REQUEST_BYTES, type ServiceOptions } from './common.js';
export { ETCD_ERRORS, RpcErrors, RpcError, toGrpcError, grpcError, type GrpcEtcdError } from './errors.js';
export { MAX_TXN_OPS, MAX_LEASE_TTL } from './validate.js';
export { kvService, watchService, leaseService, clusterService, maintenanceService };

export function addEtcdServices(server: grpc.Server, backend: EtcdBackend, opts: Partial<ServiceOptions> = {}): void {
  const o: ServiceOptions = { maxRequestBytes: opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES };
  const pkg = loadEtcdProto().etcdserverpb;
  server.addService(withRequestSizes(pkg.KV.service), kvService(backend, o));
  server.addService(pkg.Watch.service, watchService(backend));
  server.addService(pkg.Lease.service, leaseService(backend));
  server.addService(pkg.Cluster.service, clusterService(backend));
  server.addService(pkg.Maintenance.service, maintenanceService(backend));
}
