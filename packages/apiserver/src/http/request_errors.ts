/**
 * Failures below the REST handler answered as Kubernetes Statuses instead of
 * a 500 or a bare socket: a write the store refuses as too large (etcd's
 * "request is too large", a gRPC message over the store's limit) is a 413
 * RequestEntityTooLarge, as kube-apiserver answers it; a request Node's HTTP
 * parser cannot read (unknown method, malformed request line, headers over
 * the limit) gets a 400 / 431 with a Status body before the connection closes.
 */
import type { Duplex } from 'node:stream';
import { ApiError } from '../errors.js';

const TOO_LARGE = /request is too large|RESOURCE_EXHAUSTED: .*(message larger than max|trying to send message larger)/i;

/** The 413 for a storage error that says the write is too large, or undefined. */
export function storageTooLarge(err: unknown): ApiError | undefined {
  const msg = (err as Error | undefined)?.message ?? String(err);
  if (!TOO_LARGE.test(msg)) return undefined;
  return new ApiError(413, 'RequestEntityTooLarge', `Request entity too large: ${/etcdserver: request is too large/.test(msg) ? 'etcdserver: request is too large' : 'limit is 1572864'}`);
}

/** node:http 'clientError': the request could not be parsed; answer with a Status and close. */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const headerOverflow = err.code === 'HPE_HEADER_OVERFLOW';
  const e = headerOverflow
    ? new ApiError(431, '', 'Request Header Fields Too Large')
    : new ApiError(400, 'BadRequest', `the server could not parse the request: ${err.code ?? err.message}`);
  const body = JSON.stringify(e.toStatus());
  const text = headerOverflow ? 'Request Header Fields Too Large' : 'Bad Request';
  socket.end(`HTTP/1.1 ${e.code} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
