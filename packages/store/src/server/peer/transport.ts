// Outbound side of the peer protocol: one client stream per peer for Raft
// messages, a separate stream per snapshot transfer, and unary calls for
// requests a follower forwards to the leader.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { MessageType, type Message } from '../../raft/types.js';
import { parseURL, type ListenURL } from '../urls.js';
import { Http2GrpcChannel, type ChannelTLS, type ClientStreamCall } from '../grpc/client.js';
import { RaftPeerClient, encodeBatchFramed, raftPeerService, toWire, type MessageBatch, type SnapshotChunk, type WireMessage } from './wire.js';

export interface TransportOptions {
  clusterId: number;
  memberId: number;
  logger: Logger;
  /** Credentials for https peer URLs (client certificate for mutual TLS), for grpc-js' client (MKUBE_STORE_GRPC_SERVER=grpc-js) and the one-off ClusterInfo. */
  tlsCredentials?: grpc.ChannelCredentials;
  /** The same as files, for the node:http2 channel (server/grpc/client.ts). */
  tls?: ChannelTLS;
  /** The transport lost a message to this peer (Raft goes back to probing). */
  onUnreachable(id: number): void;
  /** A snapshot transfer ended. */
  onSnapshotStatus(id: number, ok: boolean): void;
  /** The key-space data to stream with a Snap message. */
  snapshotData(): AsyncIterable<Buffer>;
}

const MAX_QUEUED_BATCHES = 1024;
const SNAPSHOT_CHUNK_BYTES = 1 << 20;

/** A method of a grpc-js client made from a service definition (its result is cast where used). */
type GrpcMethod = (...args: unknown[]) => unknown;

/** The calls a link makes to its peer: over server/grpc's node:http2 channel, or grpc-js' client (A/B). */
interface PeerChannel {
  clientStream<Req>(method: 'Send' | 'SendSnapshot', onDone: (err: Error & { code?: number } | null) => void): ClientStreamCall<Req> | Error;
  unary<Req, Res>(method: string, req: Req, timeoutMs: number): Promise<Res>;
  close(): void;
}

type MethodDef = grpc.MethodDefinition<unknown, unknown>;

function http2Channel(url: ListenURL, tls: ChannelTLS | undefined): PeerChannel {
  const ch = new Http2GrpcChannel(url, tls, { maxReceiveMessageBytes: 64 << 20, keepaliveTimeMs: 10_000, reconnectBackoffMs: 50 });
  const def = (method: string) => (raftPeerService as unknown as Record<string, MethodDef>)[method]!;
  return {
    clientStream: <Req>(method: string, onDone: (err: Error | null) => void) =>
      method === 'Send'
        ? ch.clientStream<Req>(def(method).path, encodeBatchFramed as unknown as (v: Req) => Buffer, (err) => onDone(err), true)
        : ch.clientStream<Req>(def(method).path, def(method).requestSerialize as (v: Req) => Buffer, (err) => onDone(err)),
    unary: <Req, Res>(method: string, req: Req, timeoutMs: number) => ch.unary<Req, Res>(def(method).path, def(method).requestSerialize as (v: Req) => Buffer, def(method).responseDeserialize as (b: Buffer) => Res, req, timeoutMs),
    close: () => ch.close(),
  };
}

function grpcJsChannel(url: ListenURL, creds: grpc.ChannelCredentials): PeerChannel {
  const client = new RaftPeerClient(url.address, creds, {
    'grpc.max_send_message_length': 64 << 20,
    'grpc.max_receive_message_length': 64 << 20,
    'grpc.initial_reconnect_backoff_ms': 50,
    'grpc.max_reconnect_backoff_ms': 500,
    'grpc.keepalive_time_ms': 10_000,
    'grpc.enable_channelz': 0,
  }) as grpc.Client & Record<string, GrpcMethod>;
  return {
    clientStream: <Req>(method: string, onDone: (err: grpc.ServiceError | null) => void) => {
      const call = client[method]!(onDone) as grpc.ClientWritableStream<Req> & { cancel(): void };
      call.on('error', () => undefined);
      return {
        write: (msg: Req, done?: () => void) => call.write(msg, done),
        end: () => call.end(),
        cancel: () => call.cancel(),
        once: (event: 'drain', listener: () => void) => void call.once(event, listener),
      };
    },
    unary: <Req, Res>(method: string, req: Req, timeoutMs: number) =>
      new Promise<Res>((resolve, reject) => {
        client[method]!(req, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: Res) => (err ? reject(err) : resolve(res)));
      }),
    close: () => client.close(),
  };
}

class PeerLink {
  private readonly channel: PeerChannel;
  private stream: ClientStreamCall<MessageBatch> | undefined;
  private queued = 0;
  private brokenUntil = 0;

  constructor(
    readonly id: number,
    readonly urls: string[],
    private readonly opts: TransportOptions,
  ) {
    const url = parseURL(urls[0]!);
    if (process.env.MKUBE_STORE_GRPC_SERVER === 'grpc-js' || process.env.MKUBE_STORE_PEER_CLIENT === 'grpc-js') {
      const creds = url.scheme === 'https' ? opts.tlsCredentials ?? grpc.credentials.createSsl() : grpc.credentials.createInsecure();
      this.channel = grpcJsChannel(url, creds);
    } else {
      this.channel = http2Channel(url, opts.tls);
    }
  }

  private openStream(): ClientStreamCall<MessageBatch> | undefined {
    if (this.stream) return this.stream;
    if (Date.now() < this.brokenUntil) return undefined;
    const stream = this.channel.clientStream<MessageBatch>('Send', (err) => {
      if (this.stream === stream) this.stream = undefined;
      if (err && err.code !== grpc.status.CANCELLED) {
        this.brokenUntil = Date.now() + 50;
        this.opts.logger.debug({ peer: this.id, err: err.message }, 'peer stream closed');
        this.opts.onUnreachable(this.id);
      }
    });
    if (stream instanceof Error) {
      this.brokenUntil = Date.now() + 50;
      return undefined;
    }
    this.stream = stream;
    return stream;
  }

  send(messages: WireMessage[]): void {
    const stream = this.openStream();
    if (!stream || this.queued >= MAX_QUEUED_BATCHES) {
      this.opts.onUnreachable(this.id);
      return;
    }
    this.queued++;
    stream.write({ clusterId: this.opts.clusterId, from: this.opts.memberId, messages }, () => {
      this.queued--;
    });
  }

  async sendSnapshot(m: Message): Promise<void> {
    const ok = await new Promise<boolean>((resolve) => {
      const call = this.channel.clientStream<SnapshotChunk>('SendSnapshot', (err) => {
        if (err) this.opts.logger.warn({ peer: this.id, err: err.message }, 'snapshot transfer failed');
        resolve(!err);
      });
      if (call instanceof Error) {
        this.opts.logger.warn({ peer: this.id, err: call.message }, 'snapshot transfer failed');
        resolve(false);
        return;
      }
      const write = (c: SnapshotChunk) =>
        new Promise<void>((res) => {
          if (!call.write(c)) call.once('drain', res);
          else res();
        });
      (async () => {
        await write({ clusterId: this.opts.clusterId, message: toWire(m), data: Buffer.alloc(0), last: false });
        let pending: Buffer[] = [];
        let size = 0;
        for await (const chunk of this.opts.snapshotData()) {
          pending.push(chunk);
          size += chunk.length;
          if (size >= SNAPSHOT_CHUNK_BYTES) {
            await write({ clusterId: this.opts.clusterId, message: null, data: Buffer.concat(pending), last: false });
            pending = [];
            size = 0;
          }
        }
        await write({ clusterId: this.opts.clusterId, message: null, data: Buffer.concat(pending), last: true });
        call.end();
      })().catch((err: Error) => {
        this.opts.logger.warn({ peer: this.id, err: err.message }, 'snapshot read failed');
        call.cancel();
      });
    });
    this.opts.onSnapshotStatus(this.id, ok);
  }

  unary<Req, Res>(method: string, req: Req, timeoutMs: number): Promise<Res> {
    return this.channel.unary<Req, Res>(method, req, timeoutMs);
  }

  close(): void {
    this.stream?.end();
    this.stream = undefined;
    this.channel.close();
  }
}

export class PeerTransport {
  private readonly links = new Map<number, PeerLink>();

  constructor(private readonly opts: TransportOptions) {}

  setPeer(id: number, peerURLs: string[]): void {
    if (id === this.opts.memberId || peerURLs.length === 0) return;
    const existing = this.links.get(id);
    if (existing && existing.urls.join(',') === peerURLs.join(',')) return;
    existing?.close();
    this.links.set(id, new PeerLink(id, peerURLs, this.opts));
  }

  removePeer(id: number): void {
    this.links.get(id)?.close();
    this.links.delete(id);
  }

  hasPeer(id: number): boolean {
    return this.links.has(id);
  }

  /** Sends Raft messages; batches per destination. Snap messages go over their own stream. */
  send(messages: Message[]): void {
    const perPeer = new Map<number, WireMessage[]>();
    for (const m of messages) {
      const link = this.links.get(m.to);
      if (!link) {
        this.opts.onUnreachable(m.to);
        continue;
      }
      if (m.type === MessageType.Snap) {
        void link.sendSnapshot(m);
        continue;
      }
      let list = perPeer.get(m.to);
      if (!list) perPeer.set(m.to, (list = []));
      list.push(toWire(m));
    }
    for (const [id, list] of perPeer) this.links.get(id)!.send(list);
  }

  unary<Req, Res>(peer: number, method: 'LeaseRenew' | 'LeaseTimeToLive' | 'ClusterInfo' | 'HashKV', req: Req, timeoutMs: number): Promise<Res> {
    const link = this.links.get(peer);
    if (!link) return Promise.reject(new Error(`no transport to member ${peer.toString(16)}`));
    return link.unary<Req, Res>(method, req, timeoutMs);
  }

  close(): void {
    for (const link of this.links.values()) link.close();
    this.links.clear();
  }
}

/** A one-off call to a peer URL (used by a joining member before it knows the cluster). */
export function fetchClusterInfo(peerURL: string, timeoutMs: number, creds?: grpc.ChannelCredentials): Promise<{ clusterId: number; members: Array<{ id: number; name: string; peerUrls: string[]; clientUrls: string[]; isLearner: boolean }> }> {
  const url = parseURL(peerURL);
  const client = new RaftPeerClient(url.address, url.scheme === 'https' ? creds ?? grpc.credentials.createSsl() : grpc.credentials.createInsecure()) as grpc.Client & Record<string, GrpcMethod>;
  return new Promise((resolve, reject) => {
    client.ClusterInfo!({}, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: { clusterId: number; members: never[] }) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    });
  });
}
