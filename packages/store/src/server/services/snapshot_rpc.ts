// Maintenance.Snapshot: streams a point-in-time copy of the member's key space
// (server/snapshot_spool.ts) in chunks that carry the bytes still to come
// (remaining_bytes), then — as etcd's v3rpc maintenance.go — one last message
// whose blob is the SHA-256 of all the data sent, with remaining_bytes 0.
// `etcdctl snapshot save` writes the blobs one after the other; the file
// format is described in api/snapshot_file_format.ts.
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import type { EtcdBackend } from '../backend.js';
import type { SnapshotRequest__Output } from '../../gen/etcdserverpb/SnapshotRequest.js';
import type { SnapshotResponse } from '../../gen/etcdserverpb/SnapshotResponse.js';
import { grpcError, RpcErrors, toGrpcError } from './errors.js';

/** Blob size of one message (etcd sends 32 KiB). */
const CHUNK_BYTES = 64 * 1024;

export function snapshotHandler(backend: EtcdBackend): grpc.handleServerStreamingCall<SnapshotRequest__Output, SnapshotResponse> {
  return (call) => {
    if (!backend.snapshot) {
      call.destroy(grpcError(RpcErrors.NotSupported));
      return;
    }
    const take = backend.snapshot.bind(backend);
    void (async () => {
      const source = await take();
      try {
        const h = createHash('sha256');
        let sent = 0;
        const send = async (msg: SnapshotResponse): Promise<void> => {
          if (call.cancelled) throw Object.assign(new Error('snapshot stream cancelled by the client'), { code: 1, details: 'cancelled' });
          if (!call.write(msg)) await Promise.race([once(call, 'drain'), once(call, 'cancelled')]);
        };
        let pending: Buffer[] = [];
        let pendingBytes = 0;
        const flush = async (n: number): Promise<void> => {
          const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
          const blob = all.subarray(0, n);
          const rest = all.subarray(n);
          pending = rest.length > 0 ? [rest] : [];
          pendingBytes = rest.length;
          h.update(blob);
          sent += blob.length;
          await send({ remainingBytes: source.size - sent, blob });
        };
        for await (const chunk of source.chunks()) {
          pending.push(chunk);
          pendingBytes += chunk.length;
          while (pendingBytes >= CHUNK_BYTES) await flush(CHUNK_BYTES);
        }
        if (pendingBytes > 0) await flush(pendingBytes);
        if (sent !== source.size) throw new Error(`snapshot: sent ${sent} bytes of ${source.size}`);
        await send({ remainingBytes: 0, blob: h.digest() });
        call.end();
      } finally {
        await source.close();
      }
    })().catch((err: unknown) => {
      if (!call.cancelled) call.destroy(toGrpcError(err));
    });
  };
}
