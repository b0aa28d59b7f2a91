// etcd v3 client for real etcd 3.4 and for mkube-store.
//
// Failover and retries:
// - Every unary request first waits (up to dialTimeoutMs) for the current
//   endpoint's channel to be READY; if it cannot connect, nothing was sent and
//   the request moves to the next endpoint (reads and writes alike).
// - Reads (range, a txn without writes, status, member list, lease TTL/list)
//   are retried on the next endpoint — at once on the first pass through the
//   endpoints, then with exponential backoff — after transport
//   errors, deadline expiry and etcd's "no leader", "not leader", "leader
//   changed", "request timed out…", "server stopped", "too many requests".
// - Writes (put, delete, txn with writes, compact, lease grant/revoke, member
//   changes) are re-sent only when they provably were not applied: the channel
//   could not connect (connection refused / not established), or etcd refused
//   them before proposing ("no leader", "not leader", "too many requests").
//   After a timeout, a dropped connection or "leader changed" a write may or may
//   not have been applied; it is NOT retried and the EtcdClientError is thrown,
//   so the caller can reconcile (e.g. use a txn guarded on mod revision).
// - A member that stops answering without dropping its connection (frozen,
//   SIGSTOPped, a host that drops packets): with several endpoints, a request
//   without a reply after probeAfterMs asks that member for its Status (a
//   read that needs no Raft round) with a probeTimeoutMs deadline; no reply
//   means the member is down: the request is cancelled (a read moves to the
//   next endpoint, a write fails with UNAVAILABLE, its outcome unknown),
//   requests move off it, and watch streams on it resume on the next
//   endpoint. While watches are open the member they use is probed every
//   probeAfterMs. A transport failure of any request also moves the next requests
//   to the next endpoint.
// - A request still waiting 300 ms after its member reported a new
//   leader in a Raft term past the one the client knew when sending it (a
//   proposal forwarded to a leader that died is lost and would only fail at
//   the server's request timeout) fails with etcd's "etcdserver: leader
//   changed" — for a write its outcome is unknown, as etcd's own
//   ErrLeaderChanged; a read is retried. (While there is no leader yet the
//   request keeps waiting: the member proposes it once one is elected.)

import * as grpc from '@grpc/grpc-js';
import type { RangeResponse__Output } from '../gen/etcdserverpb/RangeResponse.js';
import type { PutResponse__Output } from '../gen/etcdserverpb/PutResponse.js';
import type { DeleteRangeResponse__Output } from '../gen/etcdserverpb/DeleteRangeResponse.js';
import type { TxnResponse__Output } from '../gen/etcdserverpb/TxnResponse.js';
import type { CompactionResponse__Output } from '../gen/etcdserverpb/CompactionResponse.js';
import type { LeaseGrantResponse__Output } from '../gen/etcdserverpb/LeaseGrantResponse.js';
import type { LeaseRevokeResponse__Output } from '../gen/etcdserverpb/LeaseRevokeResponse.js';
import type { LeaseTimeToLiveResponse__Output } from '../gen/etcdserverpb/LeaseTimeToLiveResponse.js';
import type { LeaseLeasesResponse__Output } from '../gen/etcdserverpb/LeaseLeasesResponse.js';
import type { MemberListResponse__Output } from '../gen/etcdserverpb/MemberListResponse.js';
import type { MemberAddResponse__Output } from '../gen/etcdserverpb/MemberAddResponse.js';
import type { MemberRemoveResponse__Output } from '../gen/etcdserverpb/MemberRemoveResponse.js';
import type { MemberUpdateResponse__Output } from '../gen/etcdserverpb/MemberUpdateResponse.js';
import type { MemberPromoteResponse__Output } from '../gen/etcdserverpb/MemberPromoteResponse.js';
import type { StatusResponse__Output } from '../gen/etcdserverpb/StatusResponse.js';
import type { ResponseOp__Output } from '../gen/etcdserverpb/ResponseOp.js';
import { ConnectionPool, type EtcdTlsOptions, type StoreConnection as Connection } from './connection.js';
import { EtcdClientError, EtcdMessages, isConnectionLevel, isRetryableRead, isRetryableWrite } from './errors.js';
import { LeaseKeeper, type LeaseKeeperOptions } from './lease.js';
import {
  deleteRequest,
  putRequest,
  rangeRequest,
  TxnBuilder,
  type DeleteOptions,
  type GetOptions,
  type PutOptions,
  type TxnOpResult,
  type TxnResult,
} from './txn.js';
import {
  idStr,
  num,
  toHeader,
  toKeyValue,
  toMember,
  type Bytes,
  type DeleteResult,
  type IdInput,
  type LeaseGrantResult,
  type LeaseTimeToLiveResult,
  type Member,
  type PutResult,
  type RangeResult,
  type ResponseHeader,
  type StatusResult,
} from './types.js';
import { Watcher, type WatchOptions } from './watch.js';

export interface EtcdClientOptions {
  /** 'host:port' or 'http(s)://host:port'. */
  endpoints: string[];
  /** Connections to use instead of dialing `endpoints` (e.g. an InProcessConnection to an embedded member). */
  connections?: readonly Connection[];
  tls?: EtcdTlsOptions;
  /** Max wait for a connection before trying the next endpoint (default 2000). */
  dialTimeoutMs?: number;
  /** Per-attempt deadline of unary requests (default 5000). */
  requestTimeoutMs?: number;
  /** Max attempts of one request across endpoints (default max(3, 2 × endpoints)). */
  maxAttempts?: number;
  /** Backoff before the n-th attempt after every endpoint was tried once (default 50·2^(n-1) ms, capped at 1 s); the first pass goes through the endpoints at once. */
  backoffMs?: (attempt: number) => number;
  /** With several endpoints: probe a member whose reply takes longer than this (default 500 ms). */
  probeAfterMs?: number;
  /** The probe's (Maintenance.Status) deadline (default 800 ms). */
  probeTimeoutMs?: number;
}

type Kind = 'read' | 'write';

/** After its member reports a new leader, how long a request may still be on its way through it before it counts as lost with the old one. */
const LEADER_CHANGE_GRACE_MS = 300;
type Callback<T> = (err: grpc.ServiceError | null, res?: T) => void;
type Invoke<T> = (conn: Connection, md: grpc.Metadata, opts: grpc.CallOptions, cb: Callback<T>) => unknown;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function toRange(r: RangeResponse__Output): RangeResult {
  return { header: toHeader(r.header), kvs: r.kvs.map(toKeyValue), more: r.more, count: num(r.count) };
}
function toPut(r: PutResponse__Output): PutResult {
  const out: PutResult = { header: toHeader(r.header) };
  if (r.prevKv) out.prevKv = toKeyValue(r.prevKv);
  return out;
}
function toDelete(r: DeleteRangeResponse__Output): DeleteResult {
  return { header: toHeader(r.header), deleted: num(r.deleted), prevKvs: r.prevKvs.map(toKeyValue) };
}
function toTxn(r: TxnResponse__Output): TxnResult {
  return { header: toHeader(r.header), succeeded: r.succeeded, responses: r.responses.map(toOp) };
}
function toOp(r: ResponseOp__Output): TxnOpResult {
  switch (r.response) {
    case 'responseRange':
      return { type: 'range', ...toRange(r.responseRange!) };
    case 'responsePut':
      return { type: 'put', ...toPut(r.responsePut!) };
    case 'responseDeleteRange':
      return { type: 'delete', ...toDelete(r.responseDeleteRange!) };
    case 'responseTxn':
      return { type: 'txn', ...toTxn(r.responseTxn!) };
    default:
      throw new Error(`unknown txn response op ${String(r.response)}`);
  }
}

export class EtcdClient {
  readonly pool: ConnectionPool;
  private readonly dialTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly maxAttempts: number;
  private readonly backoffMs: (attempt: number) => number;
  private readonly watchers = new Set<Watcher>();
  private readonly keepers = new Set<LeaseKeeper>();
  private closed = false;
  private readonly probeAfterMs: number;
  private readonly probeTimeoutMs: number;
  /** One Status probe per member at a time, its result reused briefly: undefined = no reply. */
  private readonly probes = new Map<Connection, { at: number; status: Promise<{ term: number; leader: string } | undefined> }>();
  /** The highest Raft term seen in a reply header. */
  private raftTerm = 0;
  private watchMonitor: NodeJS.Timeout | undefined;

  constructor(opts: EtcdClientOptions) {
    this.pool = new ConnectionPool(opts.connections && opts.connections.length > 0 ? opts.connections : opts.endpoints, opts.tls);
    this.dialTimeoutMs = opts.dialTimeoutMs ?? 2000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
    this.maxAttempts = opts.maxAttempts ?? Math.max(3, 2 * this.pool.size);
    this.backoffMs = opts.backoffMs ?? ((n) => Math.min(50 * 2 ** (n - 1), 1000));
    this.probeAfterMs = opts.probeAfterMs ?? 500;
    this.probeTimeoutMs = opts.probeTimeoutMs ?? 800;
  }

  /** Whether the member answers Maintenance.Status within probeTimeoutMs (any reply counts). */
  private async responsive(conn: Connection): Promise<boolean> {
    return (await this.probeStatus(conn)) !== undefined;
  }

  /** The member's Raft term and leader from Maintenance.Status (term 0 for an error reply); undefined without a reply within probeTimeoutMs. */
  private probeStatus(conn: Connection): Promise<{ term: number; leader: string } | undefined> {
    const cached = this.probes.get(conn);
    if (cached && Date.now() - cached.at < 300) return cached.status;
    const status = new Promise<{ term: number; leader: string } | undefined>((resolve) => {
      if (this.closed) return resolve({ term: 0, leader: '0' });
      try {
        conn.maintenance.Status({}, new grpc.Metadata(), { deadline: Date.now() + this.probeTimeoutMs }, (err, res) => {
          if (err) resolve(err.code !== grpc.status.DEADLINE_EXCEEDED && err.code !== grpc.status.UNAVAILABLE ? { term: 0, leader: '0' } : undefined);
          else resolve({ term: Number(res?.raftTerm ?? 0), leader: String(res?.leader ?? '0') });
        });
      } catch {
        resolve({ term: 0, leader: '0' }); // the channel was closed under us (client.close()): not a member failure
      }
    });
    this.probes.set(conn, { at: Date.now(), status });
    return status;
  }

  private noteTerm(res: unknown): void {
    const t = Number((res as { header?: { raftTerm?: string | number } } | undefined)?.header?.raftTerm ?? 0);
    if (t > this.raftTerm) this.raftTerm = t;
  }

  /** The member behind `conn` does not answer: requests and watches move to the next endpoint. */
  private memberDown(conn: Connection, reason: string): void {
    this.pool.rotate(conn);
    for (const w of this.watchers) w.moveOff(conn.address, reason);
  }

  /** While watches are open (several endpoints): probe the members they are on every probeAfterMs. */
  private ensureWatchMonitor(): void {
    if (this.pool.size < 2 || this.watchMonitor) return;
    this.watchMonitor = setInterval(() => {
      if (this.watchers.size === 0) {
        clearInterval(this.watchMonitor);
        this.watchMonitor = undefined;
        return;
      }
      const on = new Set([...this.watchers].map((w) => w.endpoint));
      for (const conn of this.pool.connections) {
        if (!on.has(conn.address)) continue;
        void this.responsive(conn).then((ok) => {
          if (!ok && !this.closed) this.memberDown(conn, `member ${conn.address} not responding (no Status reply within ${this.probeTimeoutMs} ms)`);
        });
      }
    }, this.probeAfterMs);
    this.watchMonitor.unref();
  }

  /** host:port of the endpoint requests currently go to. */
  get currentEndpoint(): string {
    return this.pool.pick().address;
  }

  private callOnce<T>(conn: Connection, method: string, invoke: Invoke<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let probe: NodeJS.Timeout | undefined;
      const termAtSend = this.raftTerm;
      const call = invoke(conn, new grpc.Metadata(), { deadline: Date.now() + this.requestTimeoutMs }, (err, res) => {
        if (settled) return;
        settled = true;
        clearTimeout(probe);
        if (err) reject(EtcdClientError.fromServiceError(err, method, conn.address));
        else {
          this.noteTerm(res);
          resolve(res as T);
        }
      }) as { cancel?: () => void } | undefined;
      if (this.pool.size < 2 || settled) return;
      const giveUp = (err: EtcdClientError): void => {
        settled = true;
        call?.cancel?.();
        reject(err);
      };
      let newLeaderSeenAt = 0;
      const check = (): void => {
        probe = undefined;
        void this.probeStatus(conn).then((st) => {
          if (settled || this.closed) return;
          if (st === undefined) {
            const reason = `member ${conn.address} not responding (no Status reply within ${this.probeTimeoutMs} ms)`;
            this.memberDown(conn, reason);
            return giveUp(new EtcdClientError(grpc.status.UNAVAILABLE, reason, method, conn.address));
          }
          const termMoved = termAtSend > 0 && st.term > termAtSend;
          if (termMoved && st.leader !== '0') {
            if (st.term > this.raftTerm) this.raftTerm = st.term;
            if (newLeaderSeenAt === 0) newLeaderSeenAt = Date.now();
            else if (Date.now() - newLeaderSeenAt >= LEADER_CHANGE_GRACE_MS) return giveUp(new EtcdClientError(grpc.status.UNAVAILABLE, EtcdMessages.leaderChanged, method, conn.address));
          }
          // An election is under way or done: look again soon.
          probe = setTimeout(check, termMoved ? Math.min(this.probeAfterMs, 150) : this.probeAfterMs);
        });
      };
      probe = setTimeout(check, this.probeAfterMs);
    });
  }

  /** Runs a unary request with endpoint failover (see the policy at the top of this file). */
  private async unary<T>(method: string, kind: Kind, invoke: Invoke<T>, pinned?: Connection): Promise<T> {
    if (this.closed) throw new EtcdClientError(grpc.status.CANCELLED, 'client closed', method);
    let attempt = 0;
    for (;;) {
      attempt++;
      const conn = pinned ?? this.pool.pick();
      try {
        await conn.ready(this.dialTimeoutMs, method);
        return await this.callOnce(conn, method, invoke);
      } catch (e) {
        const err = e instanceof EtcdClientError ? e : new EtcdClientError(grpc.status.UNKNOWN, String(e), method, conn.address, { cause: e });
        const retryable = kind === 'read' ? isRetryableRead(err) : isRetryableWrite(err);
        // The connection failed: whatever happens to this request, the next ones go to the next endpoint.
        if (!retryable && !pinned && isConnectionLevel(err)) this.pool.rotate(conn);
        if (!retryable || attempt >= this.maxAttempts || this.closed) throw err;
        if (pinned) {
          await sleep(this.backoffMs(attempt));
          continue;
        }
        this.pool.rotate(conn);
        // The next member is tried at once (a dead member must not cost a backoff); once every one
        // was tried, with the backoff.
        if (attempt >= this.pool.size) await sleep(this.backoffMs(attempt - this.pool.size + 1));
      }
    }
  }

  // ---- KV ----

  /** Range read. `get('a')`, `get('/pods/', { prefix: true })`, `get('a', { rangeEnd: 'c', revision: 5 })`. */
  async get(key: Bytes, opts: GetOptions = {}): Promise<RangeResult> {
    const req = rangeRequest(key, opts);
    const r = await this.unary<RangeResponse__Output>('KV.Range', 'read', (c, md, o, cb) => c.kv.Range(req, md, o, cb));
    return toRange(r);
  }

  /** Alias of get. */
  range(key: Bytes, opts: GetOptions = {}): Promise<RangeResult> {
    return this.get(key, opts);
  }

  async put(key: Bytes, value: Bytes, opts: PutOptions = {}): Promise<PutResult> {
    const req = putRequest(key, value, opts);
    const r = await this.unary<PutResponse__Output>('KV.Put', 'write', (c, md, o, cb) => c.kv.Put(req, md, o, cb));
    return toPut(r);
  }

  async delete(key: Bytes, opts: DeleteOptions = {}): Promise<DeleteResult> {
    const req = deleteRequest(key, opts);
    const r = await this.unary<DeleteRangeResponse__Output>('KV.DeleteRange', 'write', (c, md, o, cb) => c.kv.DeleteRange(req, md, o, cb));
    return toDelete(r);
  }

  /** Starts a transaction; finish with `.commit()`. A txn with only reads is retried like a read. */
  txn(): TxnBuilder {
    return new TxnBuilder(async (b) => {
      const req = b.request();
      const kind: Kind = b.readOnly() ? 'read' : 'write';
      const r = await this.unary<TxnResponse__Output>('KV.Txn', kind, (c, md, o, cb) => c.kv.Txn(req, md, o, cb));
      return toTxn(r);
    });
  }

  async compact(revision: number, opts: { physical?: boolean } = {}): Promise<{ header: ResponseHeader }> {
    const req = { revision, physical: opts.physical ?? false };
    const r = await this.unary<CompactionResponse__Output>('KV.Compact', 'write', (c, md, o, cb) => c.kv.Compact(req, md, o, cb));
    return { header: toHeader(r.header) };
  }

  // ---- Watch ----

  /** Creates a watcher; resolves once the server confirmed it. See Watcher for the resume semantics. */
  async watch(key: Bytes, opts: WatchOptions = {}): Promise<Watcher> {
    if (this.closed) throw new EtcdClientError(grpc.status.CANCELLED, 'client closed', 'Watch.Watch');
    const w = new Watcher({ pool: this.pool }, key, opts);
    this.watchers.add(w);
    w.once('end', () => this.watchers.delete(w));
    this.ensureWatchMonitor();
    try {
      await w.start();
    } catch (err) {
      w.cancel();
      throw err;
    }
    return w;
  }

  // ---- Lease ----

  async leaseGrant(ttlSeconds: number, id: IdInput = 0): Promise<LeaseGrantResult> {
    const req = { TTL: ttlSeconds, ID: String(id) };
    const r = await this.unary<LeaseGrantResponse__Output>('Lease.LeaseGrant', 'write', (c, md, o, cb) => c.lease.LeaseGrant(req, md, o, cb));
    if (r.error) throw new EtcdClientError(grpc.status.UNKNOWN, r.error, 'Lease.LeaseGrant');
    return { header: toHeader(r.header), id: idStr(r.ID), ttl: num(r.TTL) };
  }

  async leaseRevoke(id: IdInput): Promise<{ header: ResponseHeader }> {
    const req = { ID: String(id) };
    const r = await this.unary<LeaseRevokeResponse__Output>('Lease.LeaseRevoke', 'write', (c, md, o, cb) => c.lease.LeaseRevoke(req, md, o, cb));
    return { header: toHeader(r.header) };
  }

  /**
   * Keeps a lease alive until `close()`; resolves after the first renewal.
   * Listen for 'lost' (EtcdLeaseLostError) or await `keeper.lost`.
   */
  async leaseKeepAlive(id: IdInput, opts: LeaseKeeperOptions = {}): Promise<LeaseKeeper> {
    if (this.closed) throw new EtcdClientError(grpc.status.CANCELLED, 'client closed', 'Lease.LeaseKeepAlive');
    const k = new LeaseKeeper(this.pool, id, { firstResponseTimeoutMs: this.dialTimeoutMs + this.requestTimeoutMs, ...opts });
    this.keepers.add(k);
    void k.lost.then(() => this.keepers.delete(k));
    try {
      await k.start();
    } catch (err) {
      k.close();
      this.keepers.delete(k);
      throw err;
    }
    return k;
  }

  async leaseTimeToLive(id: IdInput, opts: { keys?: boolean } = {}): Promise<LeaseTimeToLiveResult> {
    const req = { ID: String(id), keys: opts.keys ?? false };
    const r = await this.unary<LeaseTimeToLiveResponse__Output>('Lease.LeaseTimeToLive', 'read', (c, md, o, cb) => c.lease.LeaseTimeToLive(req, md, o, cb));
    return { header: toHeader(r.header), id: idStr(r.ID), ttl: num(r.TTL), grantedTtl: num(r.grantedTTL), keys: r.keys };
  }

  async leaseLeases(): Promise<{ header: ResponseHeader; leases: string[] }> {
    const r = await this.unary<LeaseLeasesResponse__Output>('Lease.LeaseLeases', 'read', (c, md, o, cb) => c.lease.LeaseLeases({}, md, o, cb));
    return { header: toHeader(r.header), leases: r.leases.map((l) => idStr(l.ID)) };
  }

  // ---- Cluster ----

  async memberList(): Promise<{ header: ResponseHeader; members: Member[] }> {
    const r = await this.unary<MemberListResponse__Output>('Cluster.MemberList', 'read', (c, md, o, cb) => c.cluster.MemberList({}, md, o, cb));
    return { header: toHeader(r.header), members: r.members.map(toMember) };
  }

  async memberAdd(peerURLs: string[], opts: { isLearner?: boolean } = {}): Promise<{ header: ResponseHeader; member: Member; members: Member[] }> {
    const req = { peerURLs, isLearner: opts.isLearner ?? false };
    const r = await this.unary<MemberAddResponse__Output>('Cluster.MemberAdd', 'write', (c, md, o, cb) => c.cluster.MemberAdd(req, md, o, cb));
    return { header: toHeader(r.header), member: toMember(r.member!), members: r.members.map(toMember) };
  }

  /**
   * Removes a member. mkube-store refuses to remove a voter when the voters
   * left would have no live quorum ("etcdserver: re-configuration failed due
   * to not enough started members"); `force` skips that check (mkube's
   * metadata extension; real etcd ignores it).
   */
  async memberRemove(id: IdInput, opts: { force?: boolean } = {}): Promise<{ header: ResponseHeader; members: Member[] }> {
    const req = { ID: String(id) };
    const r = await this.unary<MemberRemoveResponse__Output>('Cluster.MemberRemove', 'write', (c, md, o, cb) => {
      if (opts.force) md.set('mkube-force-reconfig', 'true');
      return c.cluster.MemberRemove(req, md, o, cb);
    });
    return { header: toHeader(r.header), members: r.members.map(toMember) };
  }

  async memberUpdate(id: IdInput, peerURLs: string[]): Promise<{ header: ResponseHeader; members: Member[] }> {
    const req = { ID: String(id), peerURLs };
    const r = await this.unary<MemberUpdateResponse__Output>('Cluster.MemberUpdate', 'write', (c, md, o, cb) => c.cluster.MemberUpdate(req, md, o, cb));
    return { header: toHeader(r.header), members: r.members.map(toMember) };
  }

  /** Promotes a learner; sent to the leader when it is among the endpoints (only the leader can check the learner is in sync; mkube-store's followers refuse). */
  async memberPromote(id: IdInput): Promise<{ header: ResponseHeader; members: Member[] }> {
    const req = { ID: String(id) };
    const leader = await this.leaderConnection();
    const r = await this.unary<MemberPromoteResponse__Output>('Cluster.MemberPromote', 'write', (c, md, o, cb) => c.cluster.MemberPromote(req, md, o, cb), leader);
    return { header: toHeader(r.header), members: r.members.map(toMember) };
  }

  /** The connection to the current Raft leader, when one of the endpoints is its client URL. */
  private async leaderConnection(): Promise<Connection | undefined> {
    if (this.pool.size < 2) return undefined;
    try {
      const st = await this.status();
      if (st.leader === '0') return undefined;
      const { members } = await this.memberList();
      for (const u of members.find((m) => m.id === st.leader)?.clientURLs ?? []) {
        const c = this.pool.byAddress(u);
        if (c) return c;
      }
    } catch {
      // no status: let the request find its way
    }
    return undefined;
  }

  // ---- Maintenance ----

  /** Status of the current endpoint, or of `endpoint` (host:port, one of the configured endpoints; no failover then). */
  async status(endpoint?: string): Promise<StatusResult> {
    let pinned: Connection | undefined;
    if (endpoint !== undefined) {
      pinned = this.pool.byAddress(endpoint);
      if (!pinned) throw new EtcdClientError(grpc.status.INVALID_ARGUMENT, `unknown endpoint ${endpoint}`, 'Maintenance.Status');
    }
    const r = await this.unary<StatusResponse__Output>('Maintenance.Status', 'read', (c, md, o, cb) => c.maintenance.Status({}, md, o, cb), pinned);
    return {
      header: toHeader(r.header),
      version: r.version,
      dbSize: num(r.dbSize),
      leader: idStr(r.leader),
      raftIndex: num(r.raftIndex),
      raftTerm: num(r.raftTerm),
      raftAppliedIndex: num(r.raftAppliedIndex),
      errors: r.errors,
      dbSizeInUse: num(r.dbSizeInUse),
      isLearner: r.isLearner,
    };
  }

  /** Cancels watchers, stops keep-alives and closes all channels. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchMonitor);
    for (const w of this.watchers) w.cancel();
    for (const k of this.keepers) k.close();
    this.watchers.clear();
    this.keepers.clear();
    this.pool.close();
  }
}
