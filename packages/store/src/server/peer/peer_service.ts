// Inbound side of the peer protocol: validates what peers send and hands it to the member.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Message } from '../../raft/types.js';
import { fromWire, MalformedPeerMessageError, raftPeerService, type MessageBatch, type SnapshotChunk, type WireMember } from './wire.js';

export interface PeerHandler {
  clusterId(): number;
  /** Raft messages from a peer, already validated. */
  receive(messages: Message[]): void;
  /** A snapshot: the Snap message and the key-space data that goes with it. */
  receiveSnapshot(m: Message, data: Buffer[]): Promise<void>;
  /** Leader only: renews a lease for a follower's client. */
  leaseRenew(id: number): Promise<number>;
  /** Leader only: the remaining TTL of a lease. */
  leaseTimeToLiveLocal(id: number): Promise<{ ttl: number; grantedTtl: number }>;
  clusterInfo(): { clusterId: number; members: WireMember[] };
}

function clusterMismatch(mine: number, theirs: number): grpc.StatusObject {
  return {
    code: grpc.status.FAILED_PRECONDITION,
    details: `cluster ID mismatch: this member belongs to cluster ${mine.toString(16)}, the request came from cluster ${theirs.toString(16)}`,
    metadata: new grpc.Metadata(),
  };
}

export function addPeerService(server: grpc.Server, handler: PeerHandler, logger: Logger, onMalformed?: () => void): void {
  server.addService(raftPeerService, {
    Send(call: grpc.ServerReadableStream<MessageBatch, object>, callback: grpc.sendUnaryData<object>) {
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
          for (const w of batch.messages) messages.push(fromWire(w));
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
      let message: Message | undefined;
      const data: Buffer[] = [];
      let done = false;
      const finish = (err: grpc.StatusObject | null) => {
        if (done) return;
        done = true;
        if (err) callback(err);
        else callback(null, {});
      };
      call.on('data', (chunk: SnapshotChunk) => {
        if (done) return;
        if (chunk.clusterId !== handler.clusterId()) return finish(clusterMismatch(handler.clusterId(), chunk.clusterId));
        if (!message) {
          if (!chunk.message) return finish({ code: grpc.status.INVALID_ARGUMENT, details: 'snapshot stream must start with the Snap message', metadata: new grpc.Metadata() });
          try {
            message = fromWire(chunk.message);
          } catch (err) {
            onMalformed?.();
            return finish({ code: grpc.status.INVALID_ARGUMENT, details: (err as Error).message, metadata: new grpc.Metadata() });
          }
          return;
        }
        if (chunk.data.length > 0) data.push(chunk.data);
        if (chunk.last) {
          const m = message;
          handler.receiveSnapshot(m, data).then(
            () => finish(null),
            (err: Error) => {
              logger.warn({ err: err.message }, 'snapshot restore failed');
              finish({ code: grpc.status.DATA_LOSS, details: err.message, metadata: new grpc.Metadata() });
            },
          );
        }
      });
      call.on('end', () => {
        if (!message) finish({ code: grpc.status.INVALID_ARGUMENT, details: 'empty snapshot stream', metadata: new grpc.Metadata() });
      });
      call.on('error', () => undefined);
    },

    LeaseRenew(call: grpc.ServerUnaryCall<{ clusterId: number; id: number }, object>, callback: grpc.sendUnaryData<object>) {
      if (call.request.clusterId !== handler.clusterId()) return callback(clusterMismatch(handler.clusterId(), call.request.clusterId));
      handler.leaseRenew(call.request.id).then(
        (ttl) => callback(null, { ttl }),
        (err: Error & { etcdName?: string }) => callback({ code: grpc.status.FAILED_PRECONDITION, details: err.etcdName ?? err.message, metadata: new grpc.Metadata() }),
      );
    },

    LeaseTimeToLive(call: grpc.ServerUnaryCall<{ clusterId: number; id: number }, object>, callback: grpc.sendUnaryData<object>) {
      if (call.request.clusterId !== handler.clusterId()) return callback(clusterMismatch(handler.clusterId(), call.request.clusterId));
      handler.leaseTimeToLiveLocal(call.request.id).then(
        (r) => callback(null, r),
        (err: Error & { etcdName?: string }) => callback({ code: grpc.status.FAILED_PRECONDITION, details: err.etcdName ?? err.message, metadata: new grpc.Metadata() }),
      );
    },

    ClusterInfo(_call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) {
      callback(null, handler.clusterInfo());
    },
  });
}
