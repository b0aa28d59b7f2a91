/**
 * A client of mkube.api.v1.Resources: Kubernetes JSON objects in and out,
 * Kubernetes protobuf messages on the wire. Failed calls reject with the
 * grpc-js ServiceError, with `status` set to the Kubernetes Status from the
 * k8s-status-bin trailer.
 */
import { bytesToJson, findResource, jsonToBytes, type JsonObject, type ResourceInfo } from '@mkube/api';
import * as grpc from '@grpc/grpc-js';
import { decodeGrpc, encodeGrpc, RESOURCES_SERVICE, type Msg } from './proto.js';
import { k8sStatusOf } from './status.js';

type Obj = JsonObject;
const P = 'mkube.api.v1.';

export interface ResourcesClientOptions {
  /** host:port */
  address: string;
  caCert: string | Buffer;
  /** Client certificate and key (PEM). */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Bearer token (sent as `authorization: Bearer …` metadata). */
  token?: string;
  /** Per-call deadline in ms (unary calls). Default 30 s. */
  timeoutMs?: number;
  channelOptions?: grpc.ChannelOptions;
}

export interface Ref {
  group?: string;
  version?: string;
  resource: string;
  namespace?: string;
}

export type GrpcApiError = grpc.ServiceError & { status?: Obj };

export interface WatchEventJson {
  type: string;
  object: Obj;
}

/** A watch event as it arrived: the object is the message encoding of `objectType`. */
export interface RawWatchEvent {
  type: string;
  object: Uint8Array;
  objectType: string;
}

export interface WatchOptions {
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
  name?: string;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface DeleteOpts {
  gracePeriodSeconds?: number;
  preconditionUid?: string;
  preconditionResourceVersion?: string;
  propagationPolicy?: string;
  dryRun?: boolean;
}

export type PatchKind = 'JSON_MERGE_PATCH' | 'JSON_PATCH' | 'STRATEGIC_MERGE_PATCH';

const id = (b: Buffer) => b;

/** The resource of a Ref (plural name, group "" and version v1 by default; core then apps, batch, ... by name alone). */
export function resourceOf(ref: Ref): ResourceInfo {
  const info = ref.group !== undefined ? findResource(ref.group, ref.version ?? 'v1', ref.resource) : ['', 'apps', 'batch', 'coordination.k8s.io', 'networking.k8s.io', 'rbac.authorization.k8s.io', 'scheduling.k8s.io'].map((g) => findResource(g, ref.version ?? 'v1', ref.resource)).find(Boolean);
  if (!info) throw new Error(`unknown resource ${ref.group ?? ''}/${ref.version ?? 'v1'}/${ref.resource}`);
  return info;
}

export class ResourcesClient {
  readonly client: grpc.Client;
  private readonly timeoutMs: number;

  constructor(o: ResourcesClientOptions) {
    const buf = (v: string | Buffer | undefined) => (v === undefined ? null : Buffer.from(v));
    let creds = grpc.credentials.createSsl(buf(o.caCert), buf(o.key), buf(o.cert));
    if (o.token !== undefined) {
      const token = o.token;
      creds = grpc.credentials.combineChannelCredentials(
        creds,
        grpc.credentials.createFromMetadataGenerator((_params, cb) => {
          const md = new grpc.Metadata();
          md.set('authorization', `Bearer ${token}`);
          cb(null, md);
        }),
      );
    }
    this.client = new grpc.Client(o.address, creds, { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1, 'grpc.enable_channelz': 0, ...o.channelOptions });
    this.timeoutMs = o.timeoutMs ?? 30_000;
  }

  close(): void {
    this.client.close();
  }

  /** One unary call with an already encoded request (for tests of malformed input). */
  callRaw(method: string, request: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(`/${RESOURCES_SERVICE}/${method}`, id, id, request, new grpc.Metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) => {
        if (err) {
          const e = err as GrpcApiError;
          try {
            e.status = k8sStatusOf(e);
          } catch {
            // trailer present but undecodable: leave status unset
          }
          reject(e);
        } else resolve(res!);
      });
    });
  }

  private async call(method: string, reqType: string, req: Msg, resType: string): Promise<Msg> {
    return decodeGrpc(P + resType, await this.callRaw(method, encodeGrpc(P + reqType, req)));
  }

  private refMsg(ref: Ref): { info: ResourceInfo; msg: Msg } {
    const info = resourceOf(ref);
    return { info, msg: { group: info.group, version: info.version, resource: info.resource, namespace: ref.namespace ?? '' } };
  }

  private encodeObj(info: ResourceInfo, obj: Obj): Buffer {
    return Buffer.from(jsonToBytes(info.protoType, { apiVersion: info.apiVersion, kind: info.kind, ...obj }, { typeMeta: true }).bytes);
  }

  private decodeObj(info: ResourceInfo, bytes: Uint8Array): Obj {
    return bytesToJson(info.protoType, bytes, { apiVersion: info.apiVersion, kind: info.kind });
  }

  async create(ref: Ref, obj: Obj, opts: { dryRun?: boolean; fieldManager?: string } = {}): Promise<Obj> {
    const { info, msg } = this.refMsg(ref);
    const res = await this.call('Create', 'CreateRequest', { ref: msg, object: this.encodeObj(info, obj), dry_run: opts.dryRun ?? false, field_manager: opts.fieldManager ?? '' }, 'ObjectResponse');
    return this.decodeObj(info, res.object as Uint8Array);
  }

  async get(ref: Ref, name: string): Promise<Obj> {
    const { info, msg } = this.refMsg(ref);
    const res = await this.call('Get', 'GetRequest', { ref: msg, name }, 'ObjectResponse');
    return this.decodeObj(info, res.object as Uint8Array);
  }

  async list(ref: Ref, opts: ListOptions = {}): Promise<{ metadata: Obj; items: Obj[] }> {
    const { info, msg } = this.refMsg(ref);
    const res = await this.call('List', 'ListRequest', {
      ref: msg,
      label_selector: opts.labelSelector ?? '',
      field_selector: opts.fieldSelector ?? '',
      limit: opts.limit ?? 0,
      continue: opts.continue ?? '',
      resource_version: opts.resourceVersion ?? '',
      resource_version_match: opts.resourceVersionMatch ?? '',
    }, 'ListResponse');
    const list = bytesToJson(info.listProtoType!, res.list as Uint8Array, { apiVersion: info.apiVersion, kind: info.listKind });
    return { metadata: (list.metadata ?? {}) as Obj, items: ((list.items ?? []) as Obj[]).map((i) => ({ apiVersion: info.apiVersion, kind: info.kind, ...i })) };
  }

  async update(ref: Ref, obj: Obj, opts: { dryRun?: boolean; fieldManager?: string; status?: boolean } = {}): Promise<{ object: Obj; created: boolean }> {
    const { info, msg } = this.refMsg(ref);
    const res = await this.call(opts.status ? 'UpdateStatus' : 'Update', 'UpdateRequest', { ref: msg, object: this.encodeObj(info, obj), dry_run: opts.dryRun ?? false, field_manager: opts.fieldManager ?? '' }, 'ObjectResponse');
    return { object: this.decodeObj(info, res.object as Uint8Array), created: res.created === true };
  }

  async updateStatus(ref: Ref, obj: Obj): Promise<Obj> {
    return (await this.update(ref, obj, { status: true })).object;
  }

  async patch(ref: Ref, name: string, type: PatchKind, patch: unknown, opts: { subresource?: string; dryRun?: boolean; fieldManager?: string } = {}): Promise<Obj> {
    const { info, msg } = this.refMsg(ref);
    const res = await this.call('Patch', 'PatchRequest', {
      ref: msg,
      name,
      type,
      patch: Buffer.from(JSON.stringify(patch)),
      subresource: opts.subresource ?? '',
      dry_run: opts.dryRun ?? false,
      field_manager: opts.fieldManager ?? '',
    }, 'ObjectResponse');
    return this.decodeObj(info, res.object as Uint8Array);
  }

  async delete(ref: Ref, name: string, opts: DeleteOpts = {}): Promise<{ object: Obj; deleted: boolean }> {
    const { info, msg } = this.refMsg(ref);
    const req: Msg = {
      ref: msg,
      name,
      precondition_uid: opts.preconditionUid ?? '',
      precondition_resource_version: opts.preconditionResourceVersion ?? '',
      propagation_policy: opts.propagationPolicy ?? '',
      dry_run: opts.dryRun ?? false,
    };
    if (opts.gracePeriodSeconds !== undefined) req.grace_period_seconds = opts.gracePeriodSeconds;
    const res = await this.call('Delete', 'DeleteRequest', req, 'DeleteResponse');
    return { object: this.decodeObj(info, res.object as Uint8Array), deleted: res.deleted === true };
  }

  async getScale(ref: Ref, name: string): Promise<Obj> {
    const { msg } = this.refMsg(ref);
    const res = await this.call('GetScale', 'GetRequest', { ref: msg, name }, 'ObjectResponse');
    return bytesToJson('k8s.io.api.autoscaling.v1.Scale', res.object as Uint8Array, { apiVersion: 'autoscaling/v1', kind: 'Scale' });
  }

  async updateScale(ref: Ref, name: string, replicas: number, resourceVersion?: string): Promise<Obj> {
    const { msg } = this.refMsg(ref);
    const scale = jsonToBytes('k8s.io.api.autoscaling.v1.Scale', { metadata: { name, ...(resourceVersion ? { resourceVersion } : {}) }, spec: { replicas } }).bytes;
    const res = await this.call('UpdateScale', 'UpdateScaleRequest', { ref: msg, name, scale: Buffer.from(scale) }, 'ObjectResponse');
    return bytesToJson('k8s.io.api.autoscaling.v1.Scale', res.object as Uint8Array, { apiVersion: 'autoscaling/v1', kind: 'Scale' });
  }

  async bind(namespace: string, pod: string, node: string, uid?: string): Promise<Obj> {
    const binding = jsonToBytes('k8s.io.api.core.v1.Binding', { metadata: { name: pod, ...(uid ? { uid } : {}) }, target: { kind: 'Node', name: node } }).bytes;
    const res = await this.call('Bind', 'BindRequest', { ref: { group: '', version: 'v1', resource: 'pods', namespace }, name: pod, binding: Buffer.from(binding) }, 'BindResponse');
    return bytesToJson('k8s.io.apimachinery.pkg.apis.meta.v1.Status', res.status as Uint8Array, { apiVersion: 'v1', kind: 'Status' });
  }

  /**
   * Opens a watch; `onEvent` gets each event, `onEnd` the end of the stream
   * (with the error, whose `status` is the Kubernetes Status, if it failed).
   */
  watch(ref: Ref, opts: WatchOptions, onEvent: (ev: WatchEventJson) => void, onEnd: (err?: GrpcApiError) => void = () => undefined): grpc.ClientReadableStream<Buffer> {
    const info = resourceOf(ref);
    return this.watchRaw(ref, opts, (ev) => onEvent({ type: ev.type, object: this.decodeObj(info, ev.object) }), onEnd);
  }

  /** A watch whose events keep the object as protobuf bytes (no JSON conversion). */
  watchRaw(ref: Ref, opts: WatchOptions, onEvent: (ev: RawWatchEvent) => void, onEnd: (err?: GrpcApiError) => void = () => undefined): grpc.ClientReadableStream<Buffer> {
    const { msg } = this.refMsg(ref);
    const req = encodeGrpc(`${P}WatchRequest`, {
      ref: msg,
      label_selector: opts.labelSelector ?? '',
      field_selector: opts.fieldSelector ?? '',
      resource_version: opts.resourceVersion ?? '',
      allow_watch_bookmarks: opts.allowWatchBookmarks ?? false,
      timeout_seconds: opts.timeoutSeconds ?? 0,
      name: opts.name ?? '',
    });
    const stream = this.client.makeServerStreamRequest(`/${RESOURCES_SERVICE}/Watch`, id, id, req, new grpc.Metadata());
    let ended = false;
    const end = (err?: GrpcApiError) => {
      if (ended) return;
      ended = true;
      onEnd(err);
    };
    stream.on('data', (raw: Buffer) => {
      const ev = decodeGrpc(`${P}WatchEvent`, raw);
      onEvent({ type: String(ev.type), object: ev.object as Uint8Array, objectType: String(ev.object_type) });
    });
    stream.on('error', (err: grpc.ServiceError) => {
      const e = err as GrpcApiError;
      if (e.code === grpc.status.CANCELLED) return end();
      try {
        e.status = k8sStatusOf(e);
      } catch {
        // no usable trailer
      }
      end(e);
    });
    stream.on('end', () => end());
    return stream;
  }
}
