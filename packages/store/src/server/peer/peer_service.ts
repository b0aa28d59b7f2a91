// Inbound side of the peer protocol: validates what peers send and hands it to the member.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { MessageType, type Message } from '../../raft/types.js';
import type { SnapshotFile } from '../snapshot_file.js';
import { fromWire, MalformedPeerMessageError, raftPeerService, type MessageBatch, type SnapshotChunk, type WireMember } from './wire.js';

export interface PeerHandler {
  clusterId(): number;
  /** Raft messages from a peer, already validated. */
  receive(messages: Message[]): void;
  /**
   * A snapshot stream starts: checks its Snap message (from the current leader, at its term) and
   * gives the size-capped temp file the data goes to; throws SnapshotRefusedError.
   */
  beginSnapshot(m: Message): Promise<SnapshotFile>;
  /**
   * The data is complete (fsynced): steps the Snap message into Raft; resolves once the key space was
   * restored from `file` for the snapshot Raft accepted (or the data was discarded as not needed).
   */
  receiveSnapshot(m: Message, file: SnapshotFile): Promise<void>;
  /** Leader only: renews a lease for a follower's client. */
  leaseRenew(id: number): Promise<number>;
  /** Leader only: the remaining TTL of a lease. */
  leaseTimeToLiveLocal(id: number): Promise<{ ttl: number; grantedTtl: number }>;
  clusterInfo(): { clusterId: number; members: WireMember[] };
  /** This member's HashKV at `revision`, for the leader's corruption check (corruption_check.ts). */
  hashKVLocal?(revision: number): Promise<{ memberId: number; revision: number; compactRevision: number; hash: number }>;
}

function clusterMismatch(mine: number, theirs: number): grpc.StatusObject {
  return {
    code: grpc.status.FAILED_PRECONDITION,
    details: `cluster ID mismatch: this member belongs to cluster ${mine.toString(16)}, the request came from cluster ${theirs.toString(16)}`,
    metadata: new grpc.Metadata(),
  };
}

export interface PeerServiceOptions {
  /**
   * --peer-client-cert-auth: every peer call must come over TLS with a client certificate (the TLS
   * handshake already verified it against --peer-trusted-ca-file); anything else is refused before
   * a byte of the request is read or served.
   */
  requirePeerCertificate?: boolean;
}

/** Why a call may not be served (UNAUTHENTICATED), or undefined. */
function unauthenticated(call: { getAuthContext(): { transportSecurityType?: string; sslPeerCertificate?: unknown }; getPeer(): string }, opts: PeerServiceOptions, logger: Logger): grpc.StatusObject | undefined {
  if (!opts.requirePeerCertificate) return undefined;
  const auth = call.getAuthContext();
  if (auth.transportSecurityType === 'ssl' && auth.sslPeerCertificate) return undefined;
  logger.warn({ peer: call.getPeer() }, 'refused a peer call without a verified peer certificate');
  return { code: grpc.status.UNAUTHENTICATED, details: 'peer certificate required (--peer-client-cert-auth)', metadata: new grpc.Metadata() };
}

export function addPeerService(server: Pick<grpc.Server, 'addService'>, handler: PeerHandler, logger: Logger, onMalformed?: () => void, opts: PeerServiceOptions = {}): void {
  server.addService(raftPeerService, {
    Send(call: grpc.ServerReadableStream<MessageBatch, object>, callback: grpc.sendUnaryData<object>) {
      const denied = unauthenticated(call, opts, logger);
      if (denied) return callback(denied);
      let failed = false;
      call.on('data', (batch: MessageBatch) => {
        if (failed) return;
        if (batch.clusterId !== handler.clusterId()) {
          failed = true;
          callback(clusterMismatch(handler.clusterId(), batch.clusterId));
          return;
        }
        const messages: Message[] = [];
        try {
          for (const w of batch.messages) {
            const m = fromWire(w);
            // A Snap message is only taken with its data, on the snapshot stream (SendSnapshot).
            if (m.type === MessageType.Snap) throw new MalformedPeerMessageError('a Snap message must travel on the snapshot stream with its data');
            messages.push(m);
          }
        } catch (err) {
          if (err instanceof MalformedPeerMessageError) {
            failed = true;
            onMalformed?.();
            logger.warn({ from: batch.from, err: err.message }, 'refused malformed peer message');
            callback({ code: grpc.status.INVALID_ARGUMENT, details: err.message, metadata: new grpc.Metadata() });
            return;
          }
          throw err;
        }
        handler.receive(messages);
      });
      call.on('end', () => {
        if (!failed) callback(null, {});
      });
      call.on('error', () => undefined);
    },

    SendSnapshot(call: grpc.ServerReadableStream<SnapshotChunk, object>, callback: grpc.sendUnaryData<object>) {
      const denied = unauthenticated(call, opts, logger);
      if (denied) return callback(denied);
      // The first chunk carries the Snap message: refused unless it comes from the current leader.
      // The data goes to a size-capped temp file as it arrives (reading pauses while a chunk is
      // written); the message is stepped into Raft only once the data is complete on disk.
      let message: Message | undefined;
      let file: Promise<SnapshotFile> | undefined;
      let writing: Promise<void> = Promise.resolve();
      let done = false;
      const finish = (err: grpc.StatusObject | null) => {
        if (done) return;
        done = true;
        if (err) {
          void file?.then((f) => f.discard(), () => undefined);
          callback(err);
        } else callback(null, {});
      };
      const fail = (err: unknown): void => {
        const e = err as Error & { code?: string };
        const code =
          e.code === 'SNAPSHOT_TOO_LARGE' ? grpc.status.RESOURCE_EXHAUSTED
          : e.code === 'SNAPSHOT_NOT_FROM_LEADER' ? grpc.status.FAILED_PRECONDITION
          : e.code === 'SNAPSHOT_INCOMPLETE' ? grpc.status.DATA_LOSS
          : grpc.status.UNAVAILABLE;
        logger.warn({ err: e.message, code: e.code }, 'refused a snapshot');
        finish({ code, details: e.message, metadata: new grpc.Metadata() });
      };
      call.on('data', (chunk: SnapshotChunk) => {
        if (done) return;
        if (chunk.clusterId !== handler.clusterId()) return finish(clusterMismatch(handler.clusterId(), chunk.clusterId));
        if (!message) {
          if (!chunk.message) return finish({ code: grpc.status.INVALID_ARGUMENT, details: 'snapshot stream must start with the Snap message', metadata: new grpc.Metadata() });
          try {
            message = fromWire(chunk.message);
            if (message.type !== MessageType.Snap || !message.snapshot?.metadata) throw new MalformedPeerMessageError('a snapshot stream must start with a Snap message with metadata');
          } catch (err) {
            onMalformed?.();
            return finish({ code: grpc.status.INVALID_ARGUMENT, details: (err as Error).message, metadata: new grpc.Metadata() });
          }
          file = handler.beginSnapshot(message);
          file.catch(fail);
        }
        const f = file!;
        const m = message;
        call.pause();
        writing = writing
          .then(async () => {
            const out = await f;
            if (done) return;
            if (chunk.data.length > 0) await out.write(chunk.data);
            if (chunk.last) {
              await out.complete();
              await handler.receiveSnapshot(m, out);
              finish(null);
            }
          })
          .then(() => {
            call.resume();
          }, fail);
      });
      call.on('end', () => {
        void writing.then(() => finish({ code: grpc.status.INVALID_ARGUMENT, details: message ? 'snapshot stream ended before its last chunk' : 'empty snapshot stream', metadata: new grpc.Metadata() }));
      });
      call.on('error', () => void writing.then(() => finish({ code: grpc.status.CANCELLED, details: 'snapshot stream broken', metadata: new grpc.Metadata() })));
    },

    LeaseRenew(call: grpc.ServerUnaryCall<{ clusterId: number; id: number }, object>, callback: grpc.sendUnaryData<object>) {
      const denied = unauthenticated(call, opts, logger);
      if (denied) return callback(denied);
      if (call.request.clusterId !== handler.clusterId()) return callback(clusterMismatch(handler.clusterId(), call.request.clusterId));
      handler.leaseRenew(call.request.id).then(
        (ttl) => callback(null, { ttl }),
        (err: Error & { etcdName?: string }) => callback({ code: grpc.status.FAILED_PRECONDITION, details: err.etcdName ?? err.message, metadata: new grpc.Metadata() }),
      );
    },

    LeaseTimeToLive(call: grpc.ServerUnaryCall<{ clusterId: number; id: number }, object>, callback: grpc.sendUnaryData<object>) {
      const denied = unauthenticated(call, opts, logger);
      if (denied) return callback(denied);
      if (call.request.clusterId !== handler.clusterId()) return callback(clusterMismatch(handler.clusterId(), call.request.clusterId));
      handler.leaseTimeToLiveLocal(call.request.id).then(
        (r) => callback(null, r),
        (err: Error & { etcdName?: string }) => callback({ code: grpc.status.FAILED_PRECONDITION, details: err.etcdName ?? err.message, metadata: new grpc.Metadata() }),
      );
    },

    ClusterInfo(call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) {
      const denied = unauthenticated(call, opts, logger);
      if (denied) return callback(denied);
      callback(null, handler.clusterInfo());
    },

    HashKV(call: grpc.ServerUnaryCall<{ clusterId: number; revision: number }, object>, callback: grpc.sendUnaryData<object>) {
      const denied = unauthenticated(call, opts, logger);
      if (denied) return callback(denied);
      if (call.request.clusterId !== handler.clusterId()) return callback(clusterMismatch(handler.clusterId(), call.request.clusterId));
      if (!handler.hashKVLocal) return callback({ code: grpc.status.UNIMPLEMENTED, details: 'HashKV', metadata: new grpc.Metadata() });
      handler.hashKVLocal(call.request.revision).then(
        (r) => callback(null, r),
        (err: Error & { etcdName?: string }) => callback({ code: grpc.status.FAILED_PRECONDITION, details: err.etcdName ?? err.message, metadata: new grpc.Metadata() }),
      );
    },
  });
}
