// A minimal in-memory EtcdBackend for testing the gRPC service layer only
// (validation, error mapping, headers, stream handling). Not Raft, not durable.

import {
  EtcdError,
  type EtcdBackend,
  type EtcdErrorName,
  type KeyValueFields,
  type MemberInfo,
  type ResponseHeaderFields,
  type StatusInfo,
  type WatchCreateOptions,
  type WatchEventFields,
  type WatchHandle,
  type WatchSink,
} from '../../src/server/backend.js';
import type { RangeRequest__Output } from '../../src/gen/etcdserverpb/RangeRequest.js';
import type { RangeResponse } from '../../src/gen/etcdserverpb/RangeResponse.js';
import type { PutRequest__Output } from '../../src/gen/etcdserverpb/PutRequest.js';
import type { PutResponse } from '../../src/gen/etcdserverpb/PutResponse.js';
import type { DeleteRangeRequest__Output } from '../../src/gen/etcdserverpb/DeleteRangeRequest.js';
import type { DeleteRangeResponse } from '../../src/gen/etcdserverpb/DeleteRangeResponse.js';
import type { TxnRequest__Output } from '../../src/gen/etcdserverpb/TxnRequest.js';
import type { TxnResponse } from '../../src/gen/etcdserverpb/TxnResponse.js';
import type { ResponseOp } from '../../src/gen/etcdserverpb/ResponseOp.js';
import type { Compare__Output } from '../../src/gen/etcdserverpb/Compare.js';
import type { CompactionRequest__Output } from '../../src/gen/etcdserverpb/CompactionRequest.js';
import type { CompactionResponse } from '../../src/gen/etcdserverpb/CompactionResponse.js';

interface Version {
  rev: number;
  kv: KeyValueFields | undefined; // undefined = tombstone
}

interface FakeWatcher {
  opts: WatchCreateOptions;
  sink: WatchSink;
}

interface FakeLease {
  ttl: number;
  keys: Set<string>;
}

const kstr = (b: Buffer) => b.toString('latin1');
const kbuf = (s: string) => Buffer.from(s, 'latin1');

function inRange(key: Buffer, start: Buffer, end: Buffer): boolean {
  if (end.length === 0) return key.equals(start);
  if (Buffer.compare(key, start) < 0) return false;
  if (end.length === 1 && end[0] === 0) return true;
  return Buffer.compare(key, end) < 0;
}

export class FakeBackend implements EtcdBackend {
  readonly clusterId = 1001;
  readonly memberId = 2002;
  revision = 1;
  compactRevision = 0;
  raftTerm = 3;
  /** The next backend call throws EtcdError(failNext). */
  failNext: EtcdErrorName | undefined;
  learnersReady = false;
  members: MemberInfo[] = [{ id: 2002, name: 'fake', peerURLs: ['http://127.0.0.1:2380'], clientURLs: ['http://127.0.0.1:2379'], isLearner: false }];

  private readonly history = new Map<string, Version[]>();
  private readonly watchers = new Set<FakeWatcher>();
  private readonly leases = new Map<number, FakeLease>();
  private readonly log: Array<{ rev: number; ev: WatchEventFields }> = [];
  private nextLeaseId = 7000;
  private nextMemberId = 3003;

  private maybeFail(): void {
    const n = this.failNext;
    if (n) {
      this.failNext = undefined;
      throw new EtcdError(n);
    }
  }

  header(): ResponseHeaderFields {
    return { clusterId: this.clusterId, memberId: this.memberId, revision: this.revision, raftTerm: this.raftTerm };
  }

  private at(key: string, rev: number): KeyValueFields | undefined {
    const vs = this.history.get(key);
    if (!vs) return undefined;
    for (let i = vs.length - 1; i >= 0; i--) if (vs[i]!.rev <= rev) return vs[i]!.kv;
    return undefined;
  }

  private current(key: string): KeyValueFields | undefined {
    return this.at(key, this.revision);
  }

  private keysIn(start: Buffer, end: Buffer, rev: number): KeyValueFields[] {
    const out: KeyValueFields[] = [];
    for (const k of [...this.history.keys()].sort((a, b) => Buffer.compare(kbuf(a), kbuf(b)))) {
      if (!inRange(kbuf(k), start, end)) continue;
      const kv = this.at(k, rev);
      if (kv) out.push(kv);
    }
    return out;
  }

  private doRange(req: RangeRequest__Output): RangeResponse {
    const rev = req.revision > 0 ? req.revision : this.revision;
    if (req.revision > this.revision) throw new EtcdError('FutureRev');
    if (req.revision > 0 && req.revision < this.compactRevision) throw new EtcdError('Compacted');
    let kvs = this.keysIn(req.key, req.rangeEnd, rev);
    if (req.sortOrder === 'DESCEND') kvs = kvs.reverse();
    const count = kvs.length;
    const more = req.limit > 0 && kvs.length > req.limit;
    if (req.limit > 0) kvs = kvs.slice(0, req.limit);
    if (req.countOnly) kvs = [];
    if (req.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: Buffer.alloc(0) }));
    return { header: { ...this.header(), revision: this.revision }, kvs, more, count };
  }

  private write(key: Buffer, kv: KeyValueFields | undefined, prev: KeyValueFields | undefined, rev: number, events: WatchEventFields[]): void {
    const k = kstr(key);
    if (!this.history.has(k)) this.history.set(k, []);
    this.history.get(k)!.push({ rev, kv });
    if (prev && prev.lease) this.leases.get(prev.lease)?.keys.delete(k);
    if (kv && kv.lease) this.leases.get(kv.lease)?.keys.add(k);
    const ev: WatchEventFields = kv
      ? { type: 'PUT', kv, ...(prev ? { prevKv: prev } : {}) }
      : { type: 'DELETE', kv: { key, createRevision: 0, modRevision: rev, version: 0, value: Buffer.alloc(0), lease: 0 }, ...(prev ? { prevKv: prev } : {}) };
    events.push(ev);
  }

  private doPut(req: PutRequest__Output, rev: number, events: WatchEventFields[]): PutResponse {
    const prev = this.current(kstr(req.key));
    if ((req.ignoreValue || req.ignoreLease) && !prev) throw new EtcdError('KeyNotFound');
    const lease = req.ignoreLease ? prev!.lease : req.lease;
    if (lease !== 0 && !this.leases.has(lease)) throw new EtcdError('LeaseNotFound');
    const kv: KeyValueFields = {
      key: req.key,
      value: req.ignoreValue ? prev!.value : req.value,
      createRevision: prev ? prev.createRevision : rev,
      modRevision: rev,
      version: prev ? prev.version + 1 : 1,
      lease,
    };
    this.write(req.key, kv, prev, rev, events);
    return { header: this.header(), ...(req.prevKv && prev ? { prevKv: prev } : {}) };
  }

  private doDelete(req: DeleteRangeRequest__Output, rev: number, events: WatchEventFields[]): DeleteRangeResponse {
    const victims = this.keysIn(req.key, req.rangeEnd, this.revision);
    for (const kv of victims) this.write(kv.key, undefined, kv, rev, events);
    return { header: this.header(), deleted: victims.length, prevKvs: req.prevKv ? victims : [] };
  }

  private compare(c: Compare__Output): boolean {
    const kv = this.current(kstr(c.key));
    let actual: number | Buffer;
    let expected: number | Buffer;
    switch (c.target) {
      case 'VALUE':
        if (!kv) return false;
        actual = kv.value;
        expected = c.value ?? Buffer.alloc(0);
        break;
      case 'VERSION':
        actual = kv?.version ?? 0;
        expected = c.version ?? 0;
        break;
      case 'CREATE':
        actual = kv?.createRevision ?? 0;
        expected = c.createRevision ?? 0;
        break;
      case 'MOD':
        actual = kv?.modRevision ?? 0;
        expected = c.modRevision ?? 0;
        break;
      default:
        actual = kv?.lease ?? 0;
        expected = c.lease ?? 0;
    }
    const cmp = Buffer.isBuffer(actual) ? Buffer.compare(actual, expected as Buffer) : Math.sign(actual - (expected as number));
    switch (c.result) {
      case 'EQUAL':
        return cmp === 0;
      case 'NOT_EQUAL':
        return cmp !== 0;
      case 'GREATER':
        return cmp > 0;
      default:
        return cmp < 0;
    }
  }

  private doTxn(req: TxnRequest__Output, rev: number, events: WatchEventFields[]): TxnResponse {
    const succeeded = req.compare.every((c) => this.compare(c));
    const responses: ResponseOp[] = [];
    for (const op of succeeded ? req.success : req.failure) {
      if (op.requestRange) responses.push({ responseRange: this.doRange(op.requestRange) });
      else if (op.requestPut) responses.push({ responsePut: this.doPut(op.requestPut, rev, events) });
      else if (op.requestDeleteRange) responses.push({ responseDeleteRange: this.doDelete(op.requestDeleteRange, rev, events) });
      else if (op.requestTxn) responses.push({ responseTxn: this.doTxn(op.requestTxn, rev, events) });
    }
    return { header: this.header(), succeeded, responses };
  }

  /** Runs a mutation at revision+1; commits the revision only if it produced events. */
  private mutate<T extends { header?: unknown }>(fn: (rev: number, events: WatchEventFields[]) => T): T {
    const rev = this.revision + 1;
    const events: WatchEventFields[] = [];
    const res = fn(rev, events);
    if (events.length > 0) {
      this.revision = rev;
      for (const ev of events) this.log.push({ rev, ev });
      this.notify(events);
    }
    return { ...res, header: this.header() };
  }

  private matches(w: FakeWatcher, ev: WatchEventFields): boolean {
    if (!inRange(ev.kv.key, w.opts.key, w.opts.rangeEnd)) return false;
    if (ev.type === 'PUT' && w.opts.filters.includes('NOPUT')) return false;
    if (ev.type === 'DELETE' && w.opts.filters.includes('NODELETE')) return false;
    return true;
  }

  private shape(w: FakeWatcher, ev: WatchEventFields): WatchEventFields {
    if (w.opts.prevKv || !ev.prevKv) return ev;
    return { type: ev.type, kv: ev.kv };
  }

  private notify(events: WatchEventFields[]): void {
    for (const w of this.watchers) {
      const mine = events.filter((e) => this.matches(w, e)).map((e) => this.shape(w, e));
      if (mine.length > 0) w.sink.events(mine, this.revision);
    }
  }

  async range(req: RangeRequest__Output): Promise<RangeResponse> {
    this.maybeFail();
    return this.doRange(req);
  }

  async put(req: PutRequest__Output): Promise<PutResponse> {
    this.maybeFail();
    return this.mutate((rev, events) => this.doPut(req, rev, events));
  }

  async deleteRange(req: DeleteRangeRequest__Output): Promise<DeleteRangeResponse> {
    this.maybeFail();
    return this.mutate((rev, events) => this.doDelete(req, rev, events));
  }

  async txn(req: TxnRequest__Output): Promise<TxnResponse> {
    this.maybeFail();
    return this.mutate((rev, events) => this.doTxn(req, rev, events));
  }

  async compact(req: CompactionRequest__Output): Promise<CompactionResponse> {
    this.maybeFail();
    if (req.revision <= this.compactRevision) throw new EtcdError('Compacted');
    if (req.revision > this.revision) throw new EtcdError('FutureRev');
    this.compactRevision = req.revision;
    return { header: this.header() };
  }

  watch(opts: WatchCreateOptions, sink: WatchSink): WatchHandle {
    this.maybeFail();
    const w: FakeWatcher = { opts, sink };
    if (opts.startRevision > 0 && opts.startRevision < this.compactRevision) {
      sink.compacted(this.compactRevision, this.revision);
      return { cancel: () => undefined, requestProgress: () => undefined };
    }
    if (opts.startRevision > 0) {
      const replay = this.log.filter((l) => l.rev >= opts.startRevision && this.matches(w, l.ev)).map((l) => this.shape(w, l.ev));
      if (replay.length > 0) sink.events(replay, this.revision);
    }
    this.watchers.add(w);
    return {
      cancel: () => {
        this.watchers.delete(w);
      },
      requestProgress: () => {
        if (this.watchers.has(w)) sink.progress(this.revision);
      },
    };
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  async leaseGrant(ttl: number, id: number): Promise<{ id: number; ttl: number }> {
    this.maybeFail();
    const leaseId = id !== 0 ? id : this.nextLeaseId++;
    if (this.leases.has(leaseId)) throw new EtcdError('LeaseExist');
    this.leases.set(leaseId, { ttl, keys: new Set() });
    return { id: leaseId, ttl };
  }

  async leaseRevoke(id: number): Promise<void> {
    this.maybeFail();
    const l = this.leases.get(id);
    if (!l) throw new EtcdError('LeaseNotFound');
    this.leases.delete(id);
    const keys = [...l.keys];
    if (keys.length > 0) {
      this.mutate((rev, events) => {
        for (const k of keys) this.write(kbuf(k), undefined, this.current(k), rev, events);
        return {};
      });
    }
  }

  async leaseKeepAlive(id: number): Promise<number> {
    this.maybeFail();
    const l = this.leases.get(id);
    if (!l) throw new EtcdError('LeaseNotFound');
    return l.ttl;
  }

  async leaseTimeToLive(id: number, keys: boolean): Promise<{ id: number; ttl: number; grantedTTL: number; keys: Buffer[] }> {
    this.maybeFail();
    const l = this.leases.get(id);
    if (!l) throw new EtcdError('LeaseNotFound');
    return { id, ttl: l.ttl, grantedTTL: l.ttl, keys: keys ? [...l.keys].map(kbuf) : [] };
  }

  async leaseLeases(): Promise<number[]> {
    this.maybeFail();
    return [...this.leases.keys()];
  }

  async memberList(): Promise<MemberInfo[]> {
    this.maybeFail();
    return this.members;
  }

  async memberAdd(peerURLs: string[], isLearner: boolean): Promise<{ member: MemberInfo; members: MemberInfo[] }> {
    this.maybeFail();
    if (this.members.some((m) => m.peerURLs.some((u) => peerURLs.includes(u)))) throw new EtcdError('PeerURLExist');
    const member: MemberInfo = { id: this.nextMemberId++, name: '', peerURLs, clientURLs: [], isLearner };
    this.members = [...this.members, member];
    return { member, members: this.members };
  }

  async memberRemove(id: number): Promise<MemberInfo[]> {
    this.maybeFail();
    if (!this.members.some((m) => m.id === id)) throw new EtcdError('MemberNotFound');
    this.members = this.members.filter((m) => m.id !== id);
    return this.members;
  }

  async memberUpdate(id: number, peerURLs: string[]): Promise<MemberInfo[]> {
    this.maybeFail();
    const m = this.members.find((x) => x.id === id);
    if (!m) throw new EtcdError('MemberNotFound');
    m.peerURLs = peerURLs;
    return this.members;
  }

  async memberPromote(id: number): Promise<MemberInfo[]> {
    this.maybeFail();
    const m = this.members.find((x) => x.id === id);
    if (!m) throw new EtcdError('MemberNotFound');
    if (!m.isLearner) throw new EtcdError('MemberNotLearner');
    if (!this.learnersReady) throw new EtcdError('LearnerNotReady');
    m.isLearner = false;
    return this.members;
  }

  async status(): Promise<StatusInfo> {
    this.maybeFail();
    return {
      version: '3.4.0',
      dbSize: 4096,
      leader: this.memberId,
      raftIndex: 42,
      raftTerm: this.raftTerm,
      raftAppliedIndex: 42,
      errors: [],
      dbSizeInUse: 2048,
      isLearner: false,
    };
  }
}
