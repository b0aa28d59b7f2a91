/** Request bodies in (JSON, YAML, protobuf) and responses out (JSON, protobuf, Table). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CodecError, decodeObject, encodeObject, EnvelopeError, fromJson, hasProtobufMagic, PROTOBUF_CONTENT_TYPE, RegistryError, type JsonObject, type ResourceInfo } from '@mkube/api';
import { parse as parseYaml } from 'yaml';
import { ApiError, errors } from '../errors.js';
import { assertSafeDecoded, jsonDepth, MAX_DEPTH, MAX_YAML_DEPTH, maxDepthError, yamlDepth, type BodySubject } from './safe_keys.js';

export const MAX_BODY = 3 * 1024 * 1024;

/** How much of an oversized body is read and dropped (so the client reads its 413) before the connection is cut. */
const MAX_DISCARD = 16 * 1024 * 1024;

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        // Answer 413 while the rest of the body is read and dropped: destroying the socket now
        // would lose the answer (the client is still writing); past MAX_DISCARD the connection goes.
        if (!refused) {
          refused = true;
          chunks = [];
          reject(new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728'));
        }
        if (size > MAX_BODY + MAX_DISCARD) req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

/** YAML aliases one body may expand (billion laughs), as go-yaml's alias budget is for small documents. */
const YAML_MAX_ALIASES = 100;

/**
 * Parses a request body by Content-Type into Kubernetes JSON. The result
 * holds no `__proto__`/`constructor`/`prototype` key and is nested at most
 * MAX_DEPTH deep (safe_keys.ts); `subject` names the object in that 422
 * (default: the body's own kind and name).
 */
export function decodeBody(buf: Buffer, contentType: string | undefined, allowed: string[] = ['application/json', 'application/yaml', PROTOBUF_CONTENT_TYPE], subject?: BodySubject): unknown {
  const type = mediaType(contentType) || 'application/json';
  if (!allowed.includes(type)) throw errors.unsupportedMediaType(type);
  if (buf.length === 0) return undefined;
  let out: unknown;
  try {
    if (type === PROTOBUF_CONTENT_TYPE) {
      if (!hasProtobufMagic(buf)) throw errors.badRequest('provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]');
      out = decodeObject(new Uint8Array(buf));
    } else if (type === 'application/yaml' || type === 'application/apply-patch+yaml') {
      const text = buf.toString('utf8');
      if (yamlDepth(text) > MAX_YAML_DEPTH) throw maxDepthError();
      out = parseYaml(text, { maxAliasCount: YAML_MAX_ALIASES, merge: false, uniqueKeys: true }) as unknown;
    } else {
      const text = buf.toString('utf8');
      if (jsonDepth(text) > MAX_DEPTH) throw maxDepthError();
      out = JSON.parse(text) as unknown;
    }
  } catch (err) {
    if (err instanceof ApiError) throw err;
    if (err instanceof EnvelopeError || err instanceof CodecError || err instanceof RegistryError) throw errors.badRequest(err.message);
    if (err instanceof RangeError) throw maxDepthError();
    throw errors.badRequest(`couldn't get version/kind; json parse error: ${(err as Error).message}`);
  }
  assertSafeDecoded(out, subject);
  return out;
}

/** Unknown fields of an object for its resource, as "spec.containers[0].imagee". */
export function unknownFields(info: ResourceInfo, obj: JsonObject): string[] {
  try {
    return fromJson(info.protoType, obj, { typeMeta: true }).unknownFields.map((p) => (p.startsWith('.') ? p.slice(1) : p));
  } catch (err) {
    if (err instanceof CodecError) throw errors.badRequest(`${info.kind} in version "${info.version}" cannot be handled as a ${info.kind}: ${err.message}`);
    throw err;
  }
}

export interface Negotiated {
  protobuf: boolean;
  table: boolean;
}

export function negotiate(accept: string | undefined): Negotiated {
  const parts = (accept ?? '').split(',').map((p) => p.trim().toLowerCase());
  const first = parts[0] ?? '';
  return {
    table: parts.some((p) => p.includes('as=table')),
    protobuf: first.startsWith(PROTOBUF_CONTENT_TYPE) && !first.includes('as='),
  };
}

export function sendObject(res: ServerResponse, code: number, obj: JsonObject, neg: Negotiated, headers: Record<string, string> = {}): void {
  if (neg.protobuf && typeof obj.kind === 'string' && typeof obj.apiVersion === 'string') {
    try {
      const { bytes } = encodeObject(obj);
      res.writeHead(code, { ...headers, 'Content-Type': PROTOBUF_CONTENT_TYPE, 'Content-Length': bytes.length });
      res.end(Buffer.from(bytes));
      return;
    } catch {
      // fall back to JSON
    }
  }
  const body = JSON.stringify(obj);
  res.writeHead(code, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
