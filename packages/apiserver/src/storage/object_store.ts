/**
 * Objects in etcd: optimistic concurrency on mod_revision, consistent paged
 * lists and revision-guarded deletes. Errors are ApiErrors about `ref`.
 */
import type { JsonObject } from '@mkube/api';
import { Compare, EtcdClientError, EtcdCompactedError, Op, prefixEnd, type EtcdClient, type KeyValue } from '@mkube/store/client';
import { ApiError, errors, type ResourceRef } from '../errors.js';
import { decodeStored, encodeStored } from './codec.js';

export interface StoredObject {
  obj: JsonObject;
  modRevision: number;
}

export interface ListOptions {
  limit?: number;
  continueToken?: string;
  /** Read at exactly this revision (resourceVersionMatch=Exact). */
  revision?: number;
  filter?: (obj: JsonObject) => boolean;
}

export interface ListResult {
  items: JsonObject[];
  resourceVersion: string;
  continueToken?: string;
  remainingItemCount?: number;
}

export const CONTINUE_EXPIRED_MESSAGE =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.';

export function isCompacted(err: unknown): boolean {
  return err instanceof EtcdCompactedError || (err instanceof EtcdClientError && /required revision has been compacted/.test(err.message));
}

/** Kubernetes' continue token: base64 of {"v":"meta.k8s.io/v1","rv":N,"start":"<key after prefix>"}. */
export function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start })).toString('base64');
}

export function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const d = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { v?: string; rv?: number; start?: string };
    if (d.v !== 'meta.k8s.io/v1' || typeof d.rv !== 'number' || typeof d.start !== 'string' || d.start.includes('..') || d.start.startsWith('/')) {
      throw new Error('bad token');
    }
    return { rv: d.rv, start: d.start };
  } catch {
    throw errors.badRequest('continue key is not valid: invalid continue token');
  }
}

export class ObjectStore {
  constructor(readonly client: EtcdClient) {}

  decode(kv: KeyValue): JsonObject {
    return decodeStored(kv.value, kv.modRevision);
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const r = await this.client.get(key);
    const kv = r.kvs[0];
    return kv ? { obj: this.decode(kv), modRevision: kv.modRevision } : undefined;
  }

  async mustGet(ref: ResourceRef, key: string, name: string): Promise<StoredObject> {
    const got = await this.get(key);
    if (!got) throw errors.notFound(ref, name);
    return got;
  }

  /** Creates the object; 409 AlreadyExists when the key exists. */
  async create(ref: ResourceRef, key: string, name: string, obj: JsonObject): Promise<JsonObject> {
    const value = encodeStored(obj);
    const r = await this.client.txn().if(Compare.createRevision(key, '=', 0)).then(Op.put(key, value)).commit();
    if (!r.succeeded) throw errors.alreadyExists(ref, name);
    return decodeStored(value, r.header.revision);
  }

  /** Writes obj if the key is still at modRevision; undefined when it moved on. */
  async compareAndPut(key: string, modRevision: number, obj: JsonObject): Promise<JsonObject | undefined> {
    const value = encodeStored(obj);
    const r = await this.client.txn().if(Compare.modRevision(key, '=', modRevision)).then(Op.put(key, value)).commit();
    return r.succeeded ? decodeStored(value, r.header.revision) : undefined;
  }

  /** Deletes the key if it is still at modRevision; returns the delete revision or undefined. */
  async compareAndDelete(key: string, modRevision: number): Promise<number | undefined> {
    const r = await this.client.txn().if(Compare.modRevision(key, '=', modRevision)).then(Op.delete(key)).commit();
    return r.succeeded ? r.header.revision : undefined;
  }

  /**
   * Read-modify-write until it sticks. `update` returns the new object (or
   * null to leave it unchanged). With `preconditionRv`, a moved object is a
   * 409 Conflict instead of a retry.
   */
  async guaranteedUpdate(
    ref: ResourceRef,
    key: string,
    name: string,
    update: (cur: JsonObject, modRevision: number) => Promise<JsonObject | null> | JsonObject | null,
    preconditionRv?: number,
  ): Promise<JsonObject> {
    for (let attempt = 0; ; attempt++) {
      const cur = await this.mustGet(ref, key, name);
      if (preconditionRv !== undefined && preconditionRv !== cur.modRevision) throw errors.conflict(ref, name);
      const next = await update(cur.obj, cur.modRevision);
      if (next === null) return cur.obj;
      const written = await this.compareAndPut(key, cur.modRevision, next);
      if (written) return written;
      if (preconditionRv !== undefined) throw errors.conflict(ref, name);
      if (attempt > 50) throw errors.conflict(ref, name);
    }
  }

  /** A consistent, optionally paged and filtered list under `prefix`. */
  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const end = prefixEnd(prefix);
    let key = prefix;
    let revision = opts.revision ?? 0;
    if (opts.continueToken) {
      const c = decodeContinue(opts.continueToken);
      key = prefix + c.start;
      revision = c.rv;
    }
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    const items: JsonObject[] = [];
    let listRev = revision;
    for (;;) {
      let r;
      try {
        r = await this.client.get(key, { rangeEnd: end, revision: listRev, limit: limit ? Math.max(limit - items.length, 1) + 1 : 0 });
      } catch (err) {
        if (isCompacted(err)) {
          if (opts.continueToken) throw new ApiError(410, 'Expired', CONTINUE_EXPIRED_MESSAGE);
          throw errors.gone(`The resourceVersion for the provided list is too old.`);
        }
        throw err;
      }
      if (listRev === 0) listRev = r.header.revision;
      const kvs = r.kvs;
      for (let i = 0; i < kvs.length; i++) {
        const kv = kvs[i]!;
        const obj = this.decode(kv);
        if (!opts.filter || opts.filter(obj)) items.push(obj);
        if (limit && items.length >= limit) {
          const hasMore = i < kvs.length - 1 || r.more;
          if (!hasMore) return { items, resourceVersion: String(listRev) };
          const next = kv.key.toString('utf8').slice(prefix.length) + '\u0000';
          const out: ListResult = { items, resourceVersion: String(listRev), continueToken: encodeContinue(listRev, next) };
          if (!opts.filter) out.remainingItemCount = r.count - (i + 1);
          return out;
        }
      }
      if (!r.more || kvs.length === 0) return { items, resourceVersion: String(listRev) };
      key = kvs[kvs.length - 1]!.key.toString('utf8') + '\u0000';
    }
  }

  /** The store's current revision, by a linearizable read of one key (kube-apiserver's GetCurrentResourceVersion). */
  async currentRevision(key = '/registry'): Promise<number> {
    const r = await this.client.get(key, { limit: 1, keysOnly: true });
    return r.header.revision;
  }
}
