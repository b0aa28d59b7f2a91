// etcd Maintenance service: Status, Alarm (list, activate, disarm: replicated
// alarms), Hash and HashKV (mvcc/hash.ts), Defragment (compacts the member's
// LevelDB), MoveLeader (leadership transfer) — all but Status and Snapshot
// through the backend's MemberMaintenance (../maintenance.ts); Snapshot in
// snapshot_rpc.ts.

import type { EtcdBackend } from '../backend.js';
import type { MaintenanceHandlers } from '../../gen/etcdserverpb/Maintenance.js';
import type { StatusRequest__Output } from '../../gen/etcdserverpb/StatusRequest.js';
import type { StatusResponse } from '../../gen/etcdserverpb/StatusResponse.js';
import type { AlarmRequest__Output } from '../../gen/etcdserverpb/AlarmRequest.js';
import type { AlarmResponse } from '../../gen/etcdserverpb/AlarmResponse.js';
import type { DefragmentRequest__Output } from '../../gen/etcdserverpb/DefragmentRequest.js';
import type { DefragmentResponse } from '../../gen/etcdserverpb/DefragmentResponse.js';
import type { HashRequest__Output } from '../../gen/etcdserverpb/HashRequest.js';
import type { HashResponse } from '../../gen/etcdserverpb/HashResponse.js';
import type { HashKVRequest__Output } from '../../gen/etcdserverpb/HashKVRequest.js';
import type { HashKVResponse } from '../../gen/etcdserverpb/HashKVResponse.js';
import type { MoveLeaderRequest__Output } from '../../gen/etcdserverpb/MoveLeaderRequest.js';
import type { MoveLeaderResponse } from '../../gen/etcdserverpb/MoveLeaderResponse.js';
import type { MemberMaintenance } from '../maintenance.js';
import { header, unary } from './common.js';
import { RpcError, RpcErrors } from './errors.js';
import { snapshotHandler } from './snapshot_rpc.js';

export function maintenanceService(backend: EtcdBackend): MaintenanceHandlers {
  /** The backend's maintenance, or UNIMPLEMENTED (a backend without one, e.g. the services' test fake). */
  const maint = (): MemberMaintenance => {
    if (!backend.maintenance) throw new RpcError(RpcErrors.NotSupported);
    return backend.maintenance;
  };
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
      if (!backend.maintenance) {
        if (req.action !== 'GET') throw new RpcError(RpcErrors.NotSupported);
        return { header: header(backend), alarms: [] };
      }
      const alarms = await backend.maintenance.alarm(req);
      return { header: header(backend), alarms };
    }),
    Defragment: unary<DefragmentRequest__Output, DefragmentResponse>(async () => {
      await maint().defragment();
      return { header: header(backend) };
    }),
    Hash: unary<HashRequest__Output, HashResponse>(async () => {
      const r = await maint().hash();
      return { header: header(backend, r.revision), hash: r.hash };
    }),
    HashKV: unary<HashKVRequest__Output, HashKVResponse>(async (req) => {
      const r = await maint().hashKV(Number(req.revision));
      return { header: header(backend, r.revision), hash: r.hash, compactRevision: r.compactRevision, hashRevision: r.hashRevision };
    }),
    MoveLeader: unary<MoveLeaderRequest__Output, MoveLeaderResponse>(async (req, call) => {
      const d = call.getDeadline();
      const deadline = d instanceof Date ? d.getTime() : Number.isFinite(d) ? Number(d) : undefined;
      await maint().moveLeader(Number(req.targetID), deadline);
      return { header: header(backend) };
    }),
    Snapshot: snapshotHandler(backend),
  };
}
