// What a member needs from the MVCC key space. Implemented over the mvcc
// package by mvcc_key_space.ts; kept narrow so the member loop does not depend
// on MVCC internals.
import type { RangeRequest__Output } from '../gen/etcdserverpb/RangeRequest.js';
import type { RangeResponse } from '../gen/etcdserverpb/RangeResponse.js';
import type { TxnRequest__Output } from '../gen/etcdserverpb/TxnRequest.js';
import type { TxnResponse } from '../gen/etcdserverpb/TxnResponse.js';
import type { WatchCreateOptions, WatchHandle, WatchSink } from './backend.js';
import type { InternalRequestBody } from './internal_request.js';

export interface KeySpace {
  /** Index of the last Raft entry whose effects are in the key space. */
  consistentIndex(): number;
  currentRevision(): number;
  /** Serves a range at the member's current state (the caller provides linearizability). */
  range(req: RangeRequest__Output): Promise<Omit<RangeResponse, 'header'>>;
  /**
   * Applies one replicated request at Raft index `index` (a no-op returning the same shape when
   * index <= consistentIndex). Throws EtcdError for deterministic request failures.
   */
  apply(index: number, req: InternalRequestBody): Promise<unknown>;
  /** A txn whose ops are all Ranges, at the current revision without a Raft entry (mvcc/read_txn.ts); the caller provides linearizability. */
  readTxn?(req: TxnRequest__Output): Promise<Omit<TxnResponse, 'header'> & { header: { revision: number } }>;
  watch(opts: WatchCreateOptions, sink: WatchSink): WatchHandle;
  /** Periodic progress notifications for synced watchers. */
  tickProgress(): void;

  // Lease expiry bookkeeping, only meaningful on the leader.
  leasePromote(nowMs: number): void;
  leaseDemote(): void;
  leaseRenew(id: number, nowMs: number): number;
  leaseTimeToLive(id: number, nowMs: number): { ttl: number; grantedTTL: number; keys: Buffer[] } | undefined;
  leaseExpired(nowMs: number): number[];
  leaseIds(): number[];
  leaseExists(id: number): boolean;

  /** The whole key space, for a follower that needs a snapshot. */
  snapshotChunks(): AsyncIterable<Buffer>;
  /** Replaces the key space with a received snapshot (read as a stream, e.g. from its temp file). */
  restore(chunks: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<void>;
  /** Writes what the applies of the last batch changed (one write for many entries). */
  flush(): Promise<void>;
  /** Makes everything written so far durable (fsync), before the Raft log that holds it is compacted. */
  sync(): Promise<void>;
  dbSize(): number;
  close(): Promise<void>;

  // Maintenance (maintenance.ts): hashes, the size on disk and defragmentation.
  /** HashKV at `revision` (0 = current): see mvcc/hash.ts. Throws Compacted / FutureRev. */
  hashKV(revision: number): Promise<import('../mvcc/hash.js').HashKVResult>;
  /** Maintenance.Hash: a hash over every stored entry of the key space. */
  hash(): Promise<{ hash: number; revision: number }>;
  /** Bytes of the key space's LevelDB files on disk (etcd's dbSize). */
  diskSize(): number;
  /** Writes what is pending and compacts the whole LevelDB (compactRange), dropping deleted data from disk. */
  defragment(): Promise<void>;
}
