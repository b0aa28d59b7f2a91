// One gRPC channel per etcd endpoint with the five etcd service stubs on it,
// and a pool that rotates the "current" endpoint on failure.

import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../gen/rpc.js';
import type { KVClient } from '../gen/etcdserverpb/KV.js';
import type { WatchClient } from '../gen/etcdserverpb/Watch.js';
import type { LeaseClient } from '../gen/etcdserverpb/Lease.js';
import type { ClusterClient } from '../gen/etcdserverpb/Cluster.js';
import type { MaintenanceClient } from '../gen/etcdserverpb/Maintenance.js';
import { ETCD_PROTO_FILES, etcdProtoDir } from '../api/etcd_proto.js';
import { NotSentError } from './errors.js';

export interface EtcdTlsOptions {
  /** PEM contents (Buffer) or a file path (string). */
  ca?: Buffer | string;
  cert?: Buffer | string;
  key?: Buffer | string;
}

let clientProto: ProtoGrpcType | undefined;

/**
 * The client loads the protos with int64 as *strings*: real etcd uses random
 * 63-bit member, cluster and lease IDs that do not fit a JS number. The client
 * converts revisions/counts to numbers and keeps IDs as decimal strings. (The
 * generated types claim `number` for int64; every int64 the client reads goes
 * through Number() or String().)
 */
export function clientProtoPackage(): ProtoGrpcType['etcdserverpb'] {
  if (!clientProto) {
    const def = protoLoader.loadSync([...ETCD_PROTO_FILES], {
      keepCase: false,
      longs: String,
      enums: String,
      bytes: Buffer,
      defaults: true,
      oneofs: true,
      includeDirs: [etcdProtoDir()],
    });
    clientProto = grpc.loadPackageDefinition(def) as unknown as ProtoGrpcType;
  }
  return clientProto.etcdserverpb;
}

/** Strips an http(s):// scheme and trailing slash: 'http://127.0.0.1:2379/' -> '127.0.0.1:2379'. */
export function endpointAddress(endpoint: string): string {
  return endpoint.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
}

function pem(v: Buffer | string | undefined): Buffer | null {
  if (v === undefined) return null;
  return typeof v === 'string' ? readFileSync(v) : v;
}

/** As etcd's clientv3: an http:// endpoint is plaintext even with TLS options; https:// (or no scheme) uses them. */
export function channelCredentials(endpoint: string, tls?: EtcdTlsOptions): grpc.ChannelCredentials {
  if (/^http:\/\//i.test(endpoint)) return grpc.credentials.createInsecure();
  if (tls) return grpc.credentials.createSsl(pem(tls.ca), pem(tls.key), pem(tls.cert));
  if (/^https:\/\//i.test(endpoint)) return grpc.credentials.createSsl();
  return grpc.credentials.createInsecure();
}

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // No channelz bookkeeping (per-call counters and timestamps): nothing here reads it.
  'grpc.enable_channelz': 0,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2000,
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
};

/** What the client needs of a connection to one member: the five service stubs. */
export interface StoreConnection {
  readonly address: string;
  readonly kv: KVClient;
  readonly watch: WatchClient;
  readonly lease: LeaseClient;
  readonly cluster: ClusterClient;
  readonly maintenance: MaintenanceClient;
  /** Resolves once requests can be sent; rejects with NotSentError otherwise. */
  ready(timeoutMs: number, method: string): Promise<void>;
  close(): void;
}

export class Connection implements StoreConnection {
  readonly address: string;
  readonly channel: grpc.Channel;
  readonly kv: KVClient;
  readonly watch: WatchClient;
  readonly lease: LeaseClient;
  readonly cluster: ClusterClient;
  readonly maintenance: MaintenanceClient;

  constructor(endpoint: string, tls?: EtcdTlsOptions) {
    this.address = endpointAddress(endpoint);
    const creds = channelCredentials(endpoint, tls);
    this.channel = new grpc.Channel(this.address, creds, CHANNEL_OPTIONS);
    const pkg = clientProtoPackage();
    const opts = { channelOverride: this.channel };
    this.kv = new pkg.KV(this.address, creds, opts);
    this.watch = new pkg.Watch(this.address, creds, opts);
    this.lease = new pkg.Lease(this.address, creds, opts);
    this.cluster = new pkg.Cluster(this.address, creds, opts);
    this.maintenance = new pkg.Maintenance(this.address, creds, opts);
  }

  /**
   * Resolves once the channel is READY; rejects with NotSentError (nothing was
   * sent) when it fails to connect (TRANSIENT_FAILURE) or within `timeoutMs`.
   */
  ready(timeoutMs: number, method: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        let state: grpc.connectivityState;
        try {
          state = this.channel.getConnectivityState(true);
        } catch (err) {
          reject(new NotSentError(`channel closed: ${String(err)}`, method, this.address));
          return;
        }
        if (state === grpc.connectivityState.READY) return resolve();
        if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) {
          reject(new NotSentError(`No connection established (${grpc.connectivityState[state]})`, method, this.address));
          return;
        }
        if (Date.now() >= deadline) {
          reject(new NotSentError(`No connection established within ${timeoutMs} ms`, method, this.address));
          return;
        }
        this.channel.watchConnectivityState(state, deadline, () => check());
      };
      check();
    });
  }

  close(): void {
    this.kv.close();
    this.watch.close();
    this.lease.close();
    this.cluster.close();
    this.maintenance.close();
    this.channel.close();
  }
}

export class ConnectionPool {
  readonly connections: StoreConnection[];
  private current = 0;

  /** Connections to `endpoints` over gRPC, or the given connections (e.g. in-process). */
  constructor(endpoints: string[] | readonly StoreConnection[], tls?: EtcdTlsOptions) {
    if (endpoints.length === 0) throw new Error('EtcdClient: at least one endpoint is required');
    this.connections = endpoints.map((e) => (typeof e === 'string' ? new Connection(e, tls) : e));
  }

  get size(): number {
    return this.connections.length;
  }

  pick(): StoreConnection {
    return this.connections[this.current]!;
  }

  /** Moves off `failed` (if it is still the current one) to the next endpoint. */
  rotate(failed: StoreConnection): StoreConnection {
    const idx = this.connections.indexOf(failed);
    if (idx === this.current) this.current = (this.current + 1) % this.connections.length;
    return this.pick();
  }

  /** The endpoint after `conn`, for streams that resume elsewhere. */
  next(conn: StoreConnection): StoreConnection {
    const idx = this.connections.indexOf(conn);
    return this.connections[(idx + 1) % this.connections.length]!;
  }

  byAddress(address: string): StoreConnection | undefined {
    const a = endpointAddress(address);
    return this.connections.find((c) => c.address === a);
  }

  close(): void {
    for (const c of this.connections) c.close();
  }
}
