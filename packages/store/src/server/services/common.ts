// Shared plumbing of the etcd services: unary handler wrapper, response
// headers, and request sizes captured at deserialization.

import type * as grpc from '@grpc/grpc-js';
import type { EtcdBackend, ResponseHeaderFields } from '../backend.js';
import type { ResponseHeader } from '../../gen/etcdserverpb/ResponseHeader.js';
import { toGrpcError } from './errors.js';

export interface ServiceOptions {
  /** etcd's --max-request-bytes (default 1.5 MiB). */
  maxRequestBytes: number;
}

export const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;

/** Serialized size of each decoded request message (recorded by the wrapped deserializer). */
const requestSizes = new WeakMap<object, number>();

export function requestSize(req: object): number | undefined {
  return requestSizes.get(req);
}

/** Copies a service definition, recording every request's wire size for `requestSize`. */
export function withRequestSizes<D extends grpc.ServiceDefinition>(def: D): D {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(def)) {
    const method = m as grpc.MethodDefinition<unknown, unknown>;
    out[name] = {
      ...method,
      requestDeserialize: (buf: Buffer) => {
        const msg = method.requestDeserialize(buf);
        if (msg !== null && typeof msg === 'object') requestSizes.set(msg, buf.length);
        return msg;
      },
    };
  }
  return out as unknown as D;
}

export function header(backend: EtcdBackend, revision?: number): ResponseHeader {
  const h: ResponseHeaderFields = backend.header();
  return { clusterId: h.clusterId, memberId: h.memberId, revision: revision ?? h.revision, raftTerm: h.raftTerm };
}

/** The backend's header if it set one (non-zero member id), else the member's current header. */
export function headerOr(backend: EtcdBackend, h: ResponseHeader | null | undefined): ResponseHeader {
  if (h && Number(h.memberId ?? 0) !== 0) return h;
  const cur = header(backend);
  if (h && Number(h.revision ?? 0) !== 0) cur.revision = Number(h.revision);
  return cur;
}

/** Wraps an async unary implementation: errors become etcd-style gRPC statuses. */
export function unary<Req, Res>(fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let p: Promise<Res>;
    try {
      p = fn(call.request, call);
    } catch (err) {
      callback(toGrpcError(err));
      return;
    }
    p.then(
      (res) => callback(null, res),
      (err: unknown) => callback(toGrpcError(err)),
    );
  };
}
