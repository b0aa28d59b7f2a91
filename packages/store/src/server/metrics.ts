// Prometheus metrics of a store member (names after etcd's where one exists).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class StoreMetrics {
  readonly registry = new Registry();
  readonly proposalsCommitted = new Gauge({ name: 'etcd_server_proposals_committed_total', help: 'The total number of consensus proposals committed.', registers: [this.registry] });
  readonly proposalsApplied = new Gauge({ name: 'etcd_server_proposals_applied_total', help: 'The total number of consensus proposals applied.', registers: [this.registry] });
  readonly proposalsPending = new Gauge({ name: 'etcd_server_proposals_pending', help: 'The current number of pending proposals to commit.', registers: [this.registry] });
  readonly proposalsFailed = new Counter({ name: 'etcd_server_proposals_failed_total', help: 'The total number of failed proposals seen.', registers: [this.registry] });
  readonly leaderChanges = new Counter({ name: 'etcd_server_leader_changes_seen_total', help: 'The number of leader changes seen.', registers: [this.registry] });
  readonly hasLeader = new Gauge({ name: 'etcd_server_has_leader', help: 'Whether or not a leader exists. 1 is existence, 0 is not.', registers: [this.registry] });
  readonly isLeader = new Gauge({ name: 'etcd_server_is_leader', help: 'Whether or not this member is a leader. 1 if is, 0 otherwise.', registers: [this.registry] });
  readonly fsyncDuration = new Histogram({
    name: 'etcd_disk_wal_fsync_duration_seconds',
    help: 'The latency distributions of the synced Raft log writes.',
    buckets: [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192],
    registers: [this.registry],
  });
  readonly applyDuration = new Histogram({
    name: 'mkube_store_apply_duration_seconds',
    help: 'Time to apply a committed entry to the key space.',
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    registers: [this.registry],
  });
  readonly dbSize = new Gauge({ name: 'etcd_mvcc_db_total_size_in_bytes', help: 'Total size of the underlying database in bytes.', registers: [this.registry] });
  readonly peerMalformed = new Counter({ name: 'mkube_store_peer_malformed_messages_total', help: 'Peer messages refused as malformed.', registers: [this.registry] });
  readonly snapshotsSent = new Counter({ name: 'mkube_store_snapshots_sent_total', help: 'Snapshots streamed to peers.', labelNames: ['result'], registers: [this.registry] });
  // Maintenance (maintenance.ts).
  readonly dbSizeInUse = new Gauge({ name: 'etcd_mvcc_db_total_size_in_use_in_bytes', help: 'Total size of the live data of the key space in bytes (what the quota is checked against).', registers: [this.registry] });
  readonly autoCompactions = new Counter({ name: 'mkube_store_auto_compactions_total', help: 'Compactions this member proposed through its auto compactor (--auto-compaction-mode/-retention; only a leader proposes).', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
