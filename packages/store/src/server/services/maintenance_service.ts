// etcd Maintenance service: Status (full), Alarm GET (no alarms raised),
// Defragment (no-op: LevelDB compacts on its own); Hash, HashKV, Snapshot and
// MoveLeader answer UNIMPLEMENTED.

import * as grpc from '@grpc/grpc-js';
import type { EtcdBackend } from '../backend.js';
import type { MaintenanceHandlers } from '../../gen/etcdserverpb/Maintenance.js';
import type { StatusRequest__Output } from '../../gen/etcdserverpb/StatusRequest.js';
import type { StatusResponse } from '../../gen/etcdserverpb/StatusResponse.js';
import type { AlarmRequest__Output } from '../../gen/etcdserverpb/AlarmRequest.js';
import type { AlarmResponse } from '../../gen/etcdserverpb/AlarmResponse.js';
import type { DefragmentRequest__Output } from '../../gen/etcdserverpb/DefragmentRequest.js';
import type { DefragmentResponse } from '../../gen/etcdserverpb/DefragmentResponse.js';
import { header, unary } from './common.js';
import { grpcError, RpcError, RpcErrors } from './errors.js';
import { snapshotHandler } from './snapshot_rpc.js';

export function maintenanceService(backend: EtcdBackend): MaintenanceHandlers {
  const notSupported = (_call: unknown, callback: (err: grpc.ServiceError) => void) => callback(grpcError(RpcErrors.NotSupported));
  return {
    Status: unary<StatusRequest__Output, StatusResponse>(async () => {
      const s = await backend.status();
      return {
        header: header(backend),
        version: s.version,
        dbSize: s.dbSize,
        leader: s.leader,
        raftIndex: s.raftIndex,
        raftTerm: s.raftTerm,
        raftAppliedIndex: s.raftAppliedIndex,
        errors: s.errors,
        dbSizeInUse: s.dbSizeInUse,
        isLearner: s.isLearner,
      };
    }),
    Alarm: unary<AlarmRequest__Output, AlarmResponse>(async (req) => {
      if (req.action !== 'GET') throw new RpcError(RpcErrors.NotSupported);
      return { header: header(backend), alarms: [] };
    }),
    Defragment: unary<DefragmentRequest__Output, DefragmentResponse>(async () => ({ header: header(backend) })),
    Hash: notSupported,
    HashKV: notSupported,
    MoveLeader: notSupported,
    Snapshot: snapshotHandler(backend),
  };
}
