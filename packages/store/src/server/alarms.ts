// The cluster's alarms (etcd's alarm store and the appliers it switches):
// NOSPACE (raised by a member whose apply hit --quota-backend-bytes) and
// CORRUPT (raised by the leader's corruption check for a member whose HashKV
// disagrees). The set is replicated state: changed only by applying an alarm
// entry from the Raft log, carried in the Raft snapshot's data, rebuilt by
// replaying the log after a restart — so every member agrees on it. While an
// alarm is active, writes are refused in the apply (as etcd's applierV3Capped
// and applierV3Corrupt), deterministically on every member.
import type { AlarmRequest__Output } from '../gen/etcdserverpb/AlarmRequest.js';
import { EtcdError } from './backend.js';
import type { InternalRequestBody } from './internal_request.js';

export type AlarmName = 'NOSPACE' | 'CORRUPT';

export interface AlarmEntry {
  memberID: number;
  alarm: AlarmName;
}

export interface AlarmApplyResult {
  /** The alarms the request returns (etcd's AlarmResponse.alarms). */
  alarms: AlarmEntry[];
  /** The first alarm of its type was raised / the last one of its type was cleared. */
  raised?: AlarmName;
  cleared?: AlarmName;
}

const ORDER: AlarmName[] = ['NOSPACE', 'CORRUPT'];

export class AlarmSet {
  private readonly byType = new Map<AlarmName, Set<number>>();

  /** Active alarms of `type` (all for NONE / undefined), by type then member id. */
  list(type?: AlarmName | 'NONE'): AlarmEntry[] {
    const out: AlarmEntry[] = [];
    for (const t of ORDER) {
      if (type && type !== 'NONE' && type !== t) continue;
      for (const id of [...(this.byType.get(t) ?? [])].sort((a, b) => a - b)) out.push({ memberID: id, alarm: t });
    }
    return out;
  }

  has(type: AlarmName): boolean {
    return (this.byType.get(type)?.size ?? 0) > 0;
  }

  /** Applies a replicated alarm request (ACTIVATE / DEACTIVATE; GET lists), as etcd's applier. */
  apply(req: AlarmRequest__Output): AlarmApplyResult {
    const type = req.alarm === 'NONE' ? undefined : (req.alarm as AlarmName);
    if (req.action === 'GET') return { alarms: this.list(req.alarm) };
    if (!type) return { alarms: [] };
    const set = this.byType.get(type) ?? new Set<number>();
    const before = set.size;
    if (req.action === 'ACTIVATE') {
      set.add(req.memberID);
      this.byType.set(type, set);
      return { alarms: [{ memberID: req.memberID, alarm: type }], raised: before === 0 ? type : undefined };
    }
    if (!set.delete(req.memberID)) return { alarms: [] };
    return { alarms: [{ memberID: req.memberID, alarm: type }], cleared: set.size === 0 ? type : undefined };
  }

  /**
   * The error a replicated request meets while an alarm is active, or undefined. CORRUPT refuses
   * every write; NOSPACE refuses puts, lease grants and txns that are not read-only (etcd's
   * isTxnReadonly: any put, delete or nested txn); deletes, compactions, lease revokes pass.
   */
  refusal(req: InternalRequestBody): EtcdError | undefined {
    if (this.has('CORRUPT') && ('put' in req || 'deleteRange' in req || 'txn' in req || 'compaction' in req || 'leaseGrant' in req || 'leaseRevoke' in req)) {
      return new EtcdError('Corrupt', 'etcdserver: corrupt cluster');
    }
    if (!this.has('NOSPACE')) return undefined;
    const readOnly = (ops: Array<{ requestRange?: unknown; request?: string }> | undefined) =>
      (ops ?? []).every((op) => (op.request ? op.request === 'requestRange' : op.requestRange != null));
    if ('put' in req || 'leaseGrant' in req || ('txn' in req && !(readOnly(req.txn.success) && readOnly(req.txn.failure)))) {
      return new EtcdError('NoSpace', 'etcdserver: mvcc: database space exceeded');
    }
    return undefined;
  }

  toJSON(): AlarmEntry[] {
    return this.list();
  }

  /** Replaces the set (from a Raft snapshot's data). */
  restore(entries: AlarmEntry[] | undefined): void {
    this.byType.clear();
    for (const e of entries ?? []) {
      const set = this.byType.get(e.alarm) ?? new Set<number>();
      set.add(e.memberID);
      this.byType.set(e.alarm, set);
    }
  }
}
