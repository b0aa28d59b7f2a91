/**
 * The chaos suite's API workload: clients that create and compare-and-swap update ConfigMaps
 * and read them back through the API servers while faults are injected. Every operation is
 * recorded as a register operation (create = CAS from absent, an update with the
 * resourceVersion read before = CAS from the value read, since every written value is unique)
 * for the linearizability check, and every acknowledged write is kept for the lost-write check
 * and the recovery times (fault → next acknowledged write).
 */
import { ApiError, KubeClient, RequestError, Resources, type ClientConfig, type ResourceClient } from '@mkube/client';
import type { ConfigMap } from '@mkube/api';
import { HistoryRecorder, KeyWindows, type KvInput, type KvOutput } from '@mkube/testing';

export const CHAOS_NAMESPACE = 'mkube-chaos';

export interface ApiWorkloadOptions {
  config: ClientConfig;
  clients: number;
  keys: number;
  /** Operations per ConfigMap name before the next window's name is used (bounds the checker's search). */
  opsPerWindow: number;
  /** Per-request timeout: an unanswered write becomes an unknown outcome. */
  requestTimeoutMs: number;
  now: () => number;
  random: () => number;
}

/** One acknowledged write: when it was called and answered. */
export interface AckedWrite {
  name: string;
  value: string;
  call: number;
  ret: number;
}

/** One write as sent: its value, when it was called, and (acknowledged ones) when it returned. */
export interface WriteAttempt {
  value: string;
  call: number;
  acked: boolean;
  /** When it was acknowledged (undefined: refused or outcome unknown). */
  ret?: number;
  /** Known not to have taken effect (refused by a precondition, or never sent). */
  failed?: boolean;
}

/** One request of the workload, for the timeline around a fault (where recovery time goes). */
export interface TraceEntry {
  client: number;
  op: 'get' | 'write';
  call: number;
  ret: number;
  outcome: 'ok' | 'not-found' | 'refused' | 'not-sent' | 'unknown' | 'failed';
  /** The API server the client used when the request ended (origin). */
  server: string;
  error?: string;
}

export class ApiWorkload {
  /** Every request with its outcome and server (reported around each fault). */
  readonly trace: TraceEntry[] = [];
  readonly history = new HistoryRecorder<KvInput, KvOutput>();
  readonly acked: AckedWrite[] = [];
  /** Every value a write carried (acknowledged or not), by ConfigMap name, in call order. */
  readonly attempted = new Map<string, WriteAttempt[]>();
  counts = { reads: 0, readFailures: 0, writes: 0, writesAcked: 0, writesUnknown: 0, writesRefused: 0 };
  private readonly windows: KeyWindows;
  private readonly clients: KubeClient[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private seq = 0;

  constructor(private readonly o: ApiWorkloadOptions) {
    this.windows = new KeyWindows(o.opsPerWindow);
    for (let i = 0; i < o.clients; i++) this.clients.push(new KubeClient({ ...o.config, timeoutMs: o.requestTimeoutMs, userAgent: `mkube-chaos/${i}` }));
  }

  async prepare(): Promise<void> {
    const ns = this.clients[0]!.resource(Resources.namespaces);
    await ns.create(undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: CHAOS_NAMESPACE } }).catch((err: unknown) => {
      if (!ApiError.isAlreadyExists(err)) throw err;
    });
  }

  start(): void {
    this.running = true;
    this.loops = this.clients.map((c, i) => this.loop(i, c.resource<ConfigMap>(Resources.configmaps)));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** Reads the final value of every name the run wrote (recorded as reads), once the cluster is healthy again. */
  async finalReads(): Promise<Map<string, string | undefined>> {
    const cms = this.clients[0]!.resource<ConfigMap>(Resources.configmaps);
    const out = new Map<string, string | undefined>();
    for (const name of this.attempted.keys()) {
      const p = this.history.call(0, { op: 'get', key: name }, this.o.now());
      try {
        const cm = await cms.get(CHAOS_NAMESPACE, name);
        const value = cm.data?.v;
        this.history.ok(p, { op: 'get', value }, this.o.now());
        out.set(name, value);
      } catch (err) {
        if (!ApiError.isNotFound(err)) {
          this.history.fail(p);
          throw err;
        }
        this.history.ok(p, { op: 'get', value: undefined }, this.o.now());
        out.set(name, undefined);
      }
    }
    return out;
  }

  /** The API server most of the workload's clients use now (origin). */
  busiestServer(): string {
    const counts = new Map<string, number>();
    for (const c of this.clients) counts.set(c.currentServer, (counts.get(c.currentServer) ?? 0) + 1);
    return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
  }

  /** Switches of the workload's clients to another API server so far. */
  failovers(): number {
    return this.clients.reduce((n, c) => n + c.failovers, 0);
  }

  close(): void {
    for (const c of this.clients) c.close();
  }

  private async loop(clientId: number, cms: ResourceClient<ConfigMap>): Promise<void> {
    while (this.running) {
      const key = `k${Math.floor(this.o.random() * this.o.keys)}`;
      const name = `chaos-${this.windows.next(key).replace('@', '-w')}`;
      const current = await this.read(clientId, cms, name);
      if (!this.running) break;
      if (current === 'failed') continue;
      await this.write(clientId, cms, name, current);
    }
  }

  private traced(client: number, op: TraceEntry['op'], call: number, outcome: TraceEntry['outcome'], err?: unknown): void {
    this.trace.push({ client, op, call, ret: this.o.now(), outcome, server: this.clients[client]!.currentServer, ...(err ? { error: (err as Error).message.slice(0, 200) } : {}) });
  }

  private async read(clientId: number, cms: ResourceClient<ConfigMap>, name: string): Promise<{ value: string | undefined; rv?: string } | 'failed'> {
    this.counts.reads++;
    const call = this.o.now();
    const p = this.history.call(clientId, { op: 'get', key: name }, call);
    try {
      const cm = await cms.get(CHAOS_NAMESPACE, name);
      const value = cm.data?.v;
      this.history.ok(p, { op: 'get', value }, this.o.now());
      this.traced(clientId, 'get', call, 'ok');
      return { value, rv: cm.metadata.resourceVersion };
    } catch (err) {
      if (ApiError.isNotFound(err)) {
        this.history.ok(p, { op: 'get', value: undefined }, this.o.now());
        this.traced(clientId, 'get', call, 'not-found');
        return { value: undefined };
      }
      // A read changes nothing: a failed one is dropped from the history.
      this.history.fail(p);
      this.counts.readFailures++;
      this.traced(clientId, 'get', call, 'failed', err);
      return 'failed';
    }
  }

  private async write(clientId: number, cms: ResourceClient<ConfigMap>, name: string, current: { value: string | undefined; rv?: string }): Promise<void> {
    const value = `c${clientId}-${++this.seq}`;
    const call = this.o.now();
    const p = this.history.call(clientId, { op: 'cas', key: name, expected: current.value, value }, call);
    const tries = this.attempted.get(name) ?? [];
    const attempt: WriteAttempt = { value, call, acked: false };
    tries.push(attempt);
    this.attempted.set(name, tries);
    this.counts.writes++;
    const obj: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: CHAOS_NAMESPACE }, data: { v: value } };
    try {
      if (current.value === undefined) await cms.create(CHAOS_NAMESPACE, obj);
      else await cms.update({ ...obj, metadata: { ...obj.metadata, resourceVersion: current.rv } });
      const ret = this.o.now();
      this.history.ok(p, { op: 'cas', ok: true }, ret);
      attempt.acked = true;
      attempt.ret = ret;
      this.acked.push({ name, value, call, ret });
      this.counts.writesAcked++;
      this.traced(clientId, 'write', call, 'ok');
    } catch (err) {
      if (err instanceof ApiError && (err.code === 409 || err.code === 404)) {
        // Conflict / AlreadyExists / NotFound: the precondition did not hold — a definite "no".
        this.history.ok(p, { op: 'cas', ok: false }, this.o.now());
        attempt.failed = true;
        this.counts.writesRefused++;
        this.traced(clientId, 'write', call, 'refused', err);
      } else if (err instanceof RequestError && !err.connected) {
        // No connection to any server (refused, unreachable): nothing was sent, it cannot have taken effect.
        this.history.fail(p);
        attempt.failed = true;
        this.counts.writesRefused++;
        this.traced(clientId, 'write', call, 'not-sent', err);
      } else {
        // Timed out, connection broken after sending, 5xx: it may or may not have happened.
        this.history.unknown(p);
        this.counts.writesUnknown++;
        this.traced(clientId, 'write', call, 'unknown', err);
      }
    }
  }
}

/** An acknowledged write the final state contradicts. */
export interface LostWrite {
  name: string;
  value: string;
  /** When the write was called (places it in a fault's window). */
  call: number;
  /** The final value read (undefined: the ConfigMap is absent). */
  final: string | undefined;
}

export function describeLostWrite(l: LostWrite): string {
  return `${CHAOS_NAMESPACE}/${l.name}: acknowledged value ${l.value} is gone (final ${l.final === undefined ? 'absent' : l.final})`;
}

/**
 * Acknowledged writes that the final state contradicts: for each name, the final value must be
 * the last acknowledged write's, or that of a write that may have taken effect after it (one
 * not known to have returned before the last acknowledged write was called: acknowledged later
 * or of unknown outcome; never one known to have failed).
 */
export function lostWrites(attempted: ReadonlyMap<string, readonly WriteAttempt[]>, finals: ReadonlyMap<string, string | undefined>): LostWrite[] {
  const lost: LostWrite[] = [];
  for (const [name, tries] of attempted) {
    const acked = tries.filter((t) => t.acked);
    if (acked.length === 0) continue;
    const last = acked.reduce((a, b) => (b.call > a.call ? b : a));
    const final = finals.get(name);
    if (final === last.value) continue;
    const later = tries.find((t) => t.value === final && t !== last && !t.failed && (t.ret === undefined || t.ret > last.call));
    if (!later) lost.push({ name, value: last.value, call: last.call, final });
  }
  return lost;
}

/** Writes called in [from, to), by outcome; `lost` counts those of `lost` called in the window. */
export function writesBetween(attempted: ReadonlyMap<string, readonly WriteAttempt[]>, lost: readonly LostWrite[], from: number, to: number): { acked: number; unknown: number; lost: number } {
  let acked = 0;
  let unknown = 0;
  for (const tries of attempted.values()) {
    for (const t of tries) {
      if (t.call < from || t.call >= to) continue;
      if (t.acked) acked++;
      else if (!t.failed) unknown++;
    }
  }
  return { acked, unknown, lost: lost.filter((l) => l.call >= from && l.call < to).length };
}
