/**
 * The audit log (--audit-log-path, --audit-policy-file): a wrapper around
 * the REST handler that writes upstream's audit.k8s.io/v1 Event JSON lines
 * per the policy (audit_policy.ts): stages RequestReceived,
 * ResponseStarted (long-running requests: watches, logs, exec),
 * ResponseComplete and Panic; the auditID is returned in the Audit-ID
 * header. At level Metadata no request or response body is ever written;
 * Request adds requestObject, RequestResponse responseObject too.
 * File output is rotated by size (--audit-log-maxsize MB) keeping
 * --audit-log-maxbackup files no older than --audit-log-maxage days.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, dirname, extname, join } from 'node:path';
import { decodeObject, findResource, hasProtobufMagic, type JsonObject, type JsonValue } from '@mkube/api';
import type { Logger } from 'pino';
import type { AuthenticatedUser } from '../auth/authn.js';
import { requestIdentity } from '../auth/impersonation.js';
import { evaluatePolicy, LEVELS, type AuditAttributes, type AuditLevel, type AuditPolicy, type AuditStage } from './audit_policy.js';
import { queryBool } from './query.js';
import { jsonDepth, MAX_DEPTH } from './safe_keys.js';

type Obj = JsonObject;
type Handle = (req: IncomingMessage, res: ServerResponse) => void;

export interface AuditOptions {
  /** A file, or "-" for stdout. */
  path: string;
  policy: AuditPolicy;
  /** Rotate when the file would exceed this many megabytes (0: never). */
  maxSizeMB?: number;
  /** Rotated files to keep (0: all). */
  maxBackups?: number;
  /** Days to keep rotated files (0: forever). */
  maxAgeDays?: number;
  log: Logger;
}

/** Appends lines to a file (0600) or stdout, rotating by size as lumberjack does for kube-apiserver. */
export class AuditSink {
  private fd: number;
  private size = 0;
  constructor(private readonly o: Pick<AuditOptions, 'path' | 'maxSizeMB' | 'maxBackups' | 'maxAgeDays'>) {
    this.fd = o.path === '-' ? 1 : this.open();
  }

  private open(): number {
    const fd = openSync(this.o.path, 'a', 0o600);
    this.size = statSync(this.o.path).size;
    return fd;
  }

  write(line: string): void {
    const buf = Buffer.from(`${line}\n`);
    const max = (this.o.maxSizeMB ?? 0) * 1024 * 1024;
    if (this.o.path !== '-' && max > 0 && this.size > 0 && this.size + buf.length > max) this.rotate();
    writeSync(this.fd, buf);
    this.size += buf.length;
  }

  /** path → name-<timestamp>.ext, then prune backups by count and age. */
  private rotate(): void {
    closeSync(this.fd);
    const ext = extname(this.o.path);
    const base = basename(this.o.path, ext);
    const stamp = new Date().toISOString().replace(/:/g, '-').replace(/Z$/, '');
    renameSync(this.o.path, join(dirname(this.o.path), `${base}-${stamp}${ext}`));
    this.fd = this.open();
    const backups = readdirSync(dirname(this.o.path))
      .filter((f) => f.startsWith(`${base}-`) && f.endsWith(ext))
      .sort()
      .reverse();
    const maxAgeMs = (this.o.maxAgeDays ?? 0) * 86_400_000;
    backups.forEach((f, i) => {
      const p = join(dirname(this.o.path), f);
      const tooMany = (this.o.maxBackups ?? 0) > 0 && i >= this.o.maxBackups!;
      const tooOld = maxAgeMs > 0 && Date.now() - statSync(p).mtimeMs > maxAgeMs;
      if (tooMany || tooOld) unlinkSync(p);
    });
  }

  close(): void {
    if (this.fd !== 1) closeSync(this.fd);
  }
}

/** RFC 3339 with microseconds, as upstream's MicroTime. */
function microTime(): string {
  const ns = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
  const ms = Number(ns / 1000n);
  const micro = String(ns % 1_000_000n).padStart(6, '0');
  return `${new Date(ms).toISOString().slice(0, 19)}.${micro}Z`;
}

interface RequestInfo {
  verb: string;
  resourceRequest: boolean;
  objectRef?: { resource: string; namespace?: string; name?: string; apiGroup?: string; apiVersion: string; subresource?: string };
  longRunning: boolean;
  path: string;
}

/** Verb and object reference from the URL, as upstream's RequestInfoFactory. */
function requestInfo(req: IncomingMessage): RequestInfo {
  const url = new URL(req.url ?? '/', 'https://localhost');
  const method = (req.method ?? 'GET').toUpperCase();
  const path = url.pathname;
  let parts: string[];
  try {
    parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    parts = [];
  }
  const nonResource = { verb: method.toLowerCase(), resourceRequest: false, longRunning: false, path };
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) [group, version, rest] = ['', parts[1]!, parts.slice(2)];
  else if (parts[0] === 'apis' && parts.length >= 4) [group, version, rest] = [parts[1]!, parts[2]!, parts.slice(3)];
  else return nonResource;
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 2) {
    namespace = rest[1];
    rest = rest.length === 2 || (rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize')) ? ['namespaces', rest[1]!, ...rest.slice(2)] : rest.slice(2);
  }
  const [resource, name, subresource] = rest as [string, string | undefined, string | undefined];
  if (!findResource(group, version, resource)) return nonResource;
  const watch = queryBool(url.searchParams, 'watch') ?? false;
  let verb: string;
  switch (method) {
    case 'POST': verb = 'create'; break;
    case 'PUT': verb = 'update'; break;
    case 'PATCH': verb = 'patch'; break;
    case 'DELETE': verb = name ? 'delete' : 'deletecollection'; break;
    default: verb = watch ? 'watch' : name ? 'get' : 'list';
  }
  const objectRef: NonNullable<RequestInfo['objectRef']> = { resource, apiVersion: version };
  if (namespace) objectRef.namespace = namespace;
  if (name) objectRef.name = name;
  if (group) objectRef.apiGroup = group;
  if (subresource) objectRef.subresource = subresource;
  const longRunning = verb === 'watch' || ['log', 'exec', 'attach', 'portforward', 'proxy'].includes(subresource ?? '');
  return { verb, resourceRequest: true, objectRef, longRunning, path };
}

function userJson(u: AuthenticatedUser): Obj {
  const out: Obj = { username: u.name };
  if (u.uid) out.uid = u.uid;
  out.groups = [...u.groups];
  if (u.extra && Object.keys(u.extra).length) out.extra = Object.fromEntries(Object.entries(u.extra).map(([k, v]) => [k, [...v]]));
  return out;
}

/** A captured body as JSON (JSON text or an enveloped protobuf object), or undefined. */
function bodyJson(buf: Buffer, contentType: string | undefined): JsonValue | undefined {
  if (buf.length === 0) return undefined;
  try {
    if (hasProtobufMagic(buf)) return decodeObject(buf);
    if ((contentType ?? '').includes('yaml')) return undefined;
    const text = buf.toString('utf8');
    // A body the handler refuses as too deep is not worth an event's recursion either.
    if (jsonDepth(text) > MAX_DEPTH) return undefined;
    return JSON.parse(text) as JsonValue;
  } catch {
    return undefined;
  }
}

function dropManagedFields(v: JsonValue | undefined): JsonValue | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
  const out: Obj = { ...v };
  const meta = out.metadata;
  if (typeof meta === 'object' && meta !== null && !Array.isArray(meta) && 'managedFields' in meta) {
    const m = { ...meta };
    delete m.managedFields;
    out.metadata = m;
  }
  if (Array.isArray(out.items)) out.items = out.items.map((i) => dropManagedFields(i) ?? null);
  return out;
}

const MAX_CAPTURE = 3 * 1024 * 1024;

export class AuditLog {
  private readonly sink: AuditSink;
  constructor(private readonly o: AuditOptions) {
    this.sink = new AuditSink(o);
  }

  close(): void {
    this.sink.close();
  }

  /** The REST handler with every request audited. */
  wrap(handle: Handle): Handle {
    return (req, res) => this.audit(req, res, handle);
  }

  private emit(ev: Obj): void {
    try {
      this.sink.write(JSON.stringify(ev));
    } catch (err) {
      this.o.log.error({ err, auditID: ev.auditID }, 'audit: writing the event failed');
    }
  }

  private audit(req: IncomingMessage, res: ServerResponse, handle: Handle): void {
    const incoming = req.headers['audit-id'];
    const auditID = typeof incoming === 'string' && /^[\w.:-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    res.setHeader('Audit-ID', auditID);
    const received = microTime();
    const info = requestInfo(req);
    // Bodies are seen as the handler reads / writes them (no change to flow or content).
    const reqChunks: Buffer[] = [];
    let reqSize = 0;
    const emitOrig = req.emit.bind(req) as (ev: string | symbol, ...args: unknown[]) => boolean;
    req.emit = ((ev: string | symbol, ...args: unknown[]) => {
      if (ev === 'data' && Buffer.isBuffer(args[0]) && reqSize < MAX_CAPTURE) {
        reqChunks.push(args[0]);
        reqSize += args[0].length;
      }
      return emitOrig(ev, ...args);
    }) as typeof req.emit;
    const resChunks: Buffer[] = [];
    let resSize = 0;
    const capture = (chunk: unknown) => {
      if (chunk === undefined || chunk === null || typeof chunk === 'function' || resSize >= MAX_CAPTURE || info.longRunning) return;
      const b = Buffer.isBuffer(chunk) ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk) : Buffer.from(String(chunk));
      resChunks.push(b);
      resSize += b.length;
    };
    const writeOrig = res.write.bind(res) as (...a: unknown[]) => boolean;
    const endOrig = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
    res.write = ((...a: unknown[]) => {
      capture(a[0]);
      return writeOrig(...a);
    }) as typeof res.write;
    res.end = ((...a: unknown[]) => {
      capture(a[0]);
      return endOrig(...a);
    }) as typeof res.end;

    let decided: { level: AuditLevel; omitStages: Set<AuditStage>; omitManagedFields: boolean } | undefined;
    let base: Obj | undefined;
    const decide = () => {
      if (decided) return;
      const id = requestIdentity(req);
      const user: AuthenticatedUser = id?.user ?? { name: 'system:anonymous', groups: ['system:unauthenticated'] };
      const ref = info.objectRef;
      const attrs: AuditAttributes = {
        user: user.name,
        groups: user.groups,
        verb: info.verb,
        resourceRequest: info.resourceRequest,
        apiGroup: ref?.apiGroup ?? '',
        resource: ref?.resource ?? '',
        subresource: ref?.subresource ?? '',
        namespace: ref?.namespace ?? '',
        name: ref?.name ?? '',
        path: info.path,
      };
      decided = evaluatePolicy(this.o.policy, attrs);
      const ip = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
      base = {
        kind: 'Event',
        apiVersion: 'audit.k8s.io/v1',
        level: decided.level,
        auditID,
        stage: 'RequestReceived',
        requestURI: req.url ?? '/',
        verb: info.verb,
        user: userJson(user),
        sourceIPs: ip ? [ip] : [],
      };
      if (typeof req.headers['user-agent'] === 'string') base.userAgent = req.headers['user-agent'];
      if (ref) base.objectRef = { ...ref };
      base.requestReceivedTimestamp = received;
    };
    let receivedDone = false;
    const stage = (s: AuditStage, complete: boolean) => {
      if (s === 'RequestReceived') {
        if (receivedDone) return;
        receivedDone = true;
      } else stage('RequestReceived', false);
      decide();
      if (!decided || decided.level === 'None' || decided.omitStages.has(s)) return;
      const ev: Obj = { ...base! };
      const id = requestIdentity(req);
      if (id?.impersonatedUser) ev.impersonatedUser = userJson(id.impersonatedUser);
      ev.stage = s;
      if (s !== 'RequestReceived') ev.responseStatus = this.responseStatus(res, complete ? resChunks : []);
      if (complete) this.addBodies(ev, req, res, reqChunks, resChunks, decided.level, decided.omitManagedFields);
      const decision = s !== 'RequestReceived' && id ? this.annotations(res.statusCode, resChunks) : undefined;
      if (decision) ev.annotations = decision;
      ev.stageTimestamp = microTime();
      // Key order as upstream writes it.
      const { requestReceivedTimestamp, stageTimestamp, annotations, ...rest } = ev;
      this.emit({ ...rest, requestReceivedTimestamp: requestReceivedTimestamp!, stageTimestamp: stageTimestamp!, ...(annotations ? { annotations } : {}) });
    };

    if (info.longRunning) {
      const writeHeadOrig = res.writeHead.bind(res) as (...a: unknown[]) => ServerResponse;
      let started = false;
      res.writeHead = ((...a: unknown[]) => {
        const out = writeHeadOrig(...a);
        if (!started) {
          started = true;
          stage('ResponseStarted', false);
        }
        return out;
      }) as typeof res.writeHead;
    }
    let completed = false;
    const complete = () => {
      if (completed) return;
      completed = true;
      stage('ResponseComplete', true);
    };
    res.on('finish', complete);
    res.on('close', complete);
    try {
      handle(req, res);
    } catch (err) {
      // The handler's own failures become a Status; only a throw out of it is a panic.
      completed = true;
      stage('Panic', false);
      throw err;
    }
    // Authentication (and impersonation) ran synchronously inside handle(): the user is known now.
    stage('RequestReceived', false);
  }

  private responseStatus(res: ServerResponse, chunks: Buffer[]): Obj {
    const code = res.statusCode;
    const out: Obj = { metadata: {}, code };
    if (code >= 300 || chunks.length === 0) {
      const body = bodyJson(Buffer.concat(chunks), String(res.getHeader('content-type') ?? ''));
      if (body && typeof body === 'object' && !Array.isArray(body) && body.kind === 'Status') {
        if (typeof body.status === 'string') out.status = body.status;
        if (typeof body.message === 'string') out.message = body.message;
        if (typeof body.reason === 'string') out.reason = body.reason;
        if (body.details !== undefined) out.details = body.details;
      }
    }
    return out;
  }

  private addBodies(ev: Obj, req: IncomingMessage, res: ServerResponse, reqChunks: Buffer[], resChunks: Buffer[], level: AuditLevel, omitManaged: boolean): void {
    const ref = ev.objectRef as Obj | undefined;
    const reqBody = bodyJson(Buffer.concat(reqChunks), req.headers['content-type']);
    // objectRef is completed from the request object at every level (its name on create), as upstream's LogRequestObject.
    if (ref && reqBody && typeof reqBody === 'object' && !Array.isArray(reqBody)) {
      const meta = reqBody.metadata;
      if (meta && typeof meta === 'object' && !Array.isArray(meta)) {
        if (!ref.name && typeof meta.name === 'string' && meta.name) ref.name = meta.name;
        if (!ref.namespace && typeof meta.namespace === 'string' && meta.namespace) ref.namespace = meta.namespace;
      }
    }
    const at = (l: AuditLevel) => LEVELS.indexOf(level) >= LEVELS.indexOf(l);
    if (!at('Request')) return; // Metadata: never a body.
    const strip = (v: JsonValue | undefined) => (omitManaged ? dropManagedFields(v) : v);
    if (reqBody !== undefined && ['create', 'update', 'patch', 'delete', 'deletecollection'].includes(String(ev.verb))) ev.requestObject = strip(reqBody)!;
    if (!at('RequestResponse')) return;
    const resBody = bodyJson(Buffer.concat(resChunks), String(res.getHeader('content-type') ?? ''));
    if (resBody !== undefined) ev.responseObject = strip(resBody)!;
  }

  /** authorization.k8s.io/decision and reason, as the authorization filter records them. */
  private annotations(code: number, chunks: Buffer[]): Obj | undefined {
    if (code !== 403) return { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' };
    const body = bodyJson(Buffer.concat(chunks), 'application/json');
    const message = body && typeof body === 'object' && !Array.isArray(body) && typeof body.message === 'string' ? body.message : '';
    if (/cannot impersonate /.test(message)) return undefined; // refused before authorization, as upstream
    if (/ cannot [a-z]+ (resource|path) /.test(message)) return { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' };
    return { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' };
  }
}
