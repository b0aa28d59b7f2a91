// The client workload of the chaos tests and its checks: concurrent puts and
// linearizable gets from several clients against a real mkube-store cluster,
// recorded as a history over key windows (check/key_windows.ts, so that the
// linearizability check always decides), every acknowledged write with its
// revision, and the wall-clock times of acknowledged writes (to measure how
// long writes stop after a fault).
import type { ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { HistoryRecorder, KeyWindows, checkKvHistory, type KvInput, type KvOutput } from '@mkube/testing';
import { loadEtcdProto } from '@mkube/store';
import type { StoreCluster } from '@mkube/testing';

/** Failover target: median and maximum time from a fault to the next acknowledged write. */
export const FAILOVER_MEDIAN_MS = 1000;
export const FAILOVER_MAX_MS = 1500;

const KEYS = ['k0', 'k1', 'k2', 'k3'];
const OPS_PER_KEY_WINDOW = 60;

/**
 * A channel to a member that was down retries its connection within a second of the member's
 * return (grpc-js's default back-off grows to 1.6^n s while the member is down, so a channel
 * could stay in TRANSIENT_FAILURE for seconds after the member is back).
 */
const CHANNEL_OPTIONS: grpc.ChannelOptions = { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 };

type KVClient = grpc.Client & {
  Put(req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: { header: { revision: number } }) => void): void;
  Range(req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: { kvs: Array<{ value: Buffer; modRevision: number }> }) => void): void;
  Range(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: { kvs: Array<{ value: Buffer; modRevision: number }> }) => void): void;
};

function call<T>(fn: (cb: (err: grpc.ServiceError | null, res: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Workload {
  readonly recorder = new HistoryRecorder<KvInput, KvOutput>();
  readonly acked: Array<{ key: string; value: string; revision: number }> = [];
  /** [sent, answered] wall-clock times of every acknowledged write. */
  readonly writeSuccesses: Array<[number, number]> = [];
  private readonly windows = new KeyWindows(OPS_PER_KEY_WINDOW);
  private readonly clients: KVClient[];
  private readonly probes: KVClient[];
  private running = true;
  private readonly loops: Array<Promise<void>>;
  private seq = 0;
  private readonly t0 = performance.now();

  constructor(
    private readonly cluster: StoreCluster,
    clients = 4,
  ) {
    const KV = loadEtcdProto().etcdserverpb.KV as unknown as new (addr: string, creds: grpc.ChannelCredentials, options: grpc.ChannelOptions) => KVClient;
    this.clients = cluster.endpoints.map((ep) => new KV(ep, grpc.credentials.createInsecure(), CHANNEL_OPTIONS));
    this.probes = cluster.endpoints.map((ep) => new KV(ep, grpc.credentials.createInsecure(), CHANNEL_OPTIONS));
    this.loops = Array.from({ length: clients }, (_, i) => this.clientLoop(i));
  }

  private now(): number {
    return performance.now() - this.t0;
  }

  private async clientLoop(id: number): Promise<void> {
    let ep = id % this.clients.length;
    while (this.running) {
      const key = this.windows.next(KEYS[Math.floor(Math.random() * KEYS.length)]!);
      const deadline = new Date(Date.now() + 2000);
      if (Math.random() < 0.6) {
        const value = `c${id}-${++this.seq}`;
        const op = this.recorder.call(id, { op: 'put', key, value }, this.now());
        const sentAt = Date.now();
        try {
          const res = await call<{ header: { revision: number } }>((cb) => this.clients[ep]!.Put({ key: Buffer.from(key), value: Buffer.from(value) }, { deadline }, cb));
          this.recorder.ok(op, { op: 'put' }, this.now());
          this.acked.push({ key, value, revision: res.header.revision });
          this.writeSuccesses.push([sentAt, Date.now()]);
        } catch {
          this.recorder.unknown(op); // it may or may not have been committed
          ep = (ep + 1) % this.clients.length;
          await sleep(10);
        }
      } else {
        const op = this.recorder.call(id, { op: 'get', key }, this.now());
        try {
          const res = await call<{ kvs: Array<{ value: Buffer }> }>((cb) => this.clients[ep]!.Range({ key: Buffer.from(key) }, { deadline }, cb));
          this.recorder.ok(op, { op: 'get', value: res.kvs[0]?.value.toString() }, this.now());
        } catch {
          this.recorder.fail(op); // a failed read has no effect
          ep = (ep + 1) % this.clients.length;
          await sleep(10);
        }
      }
    }
  }

  /**
   * Failover time: milliseconds from `faultAt` until the first acknowledgement of a probe write (its
   * own key, outside the checked history) sent after it. A new one is sent every `attemptMs` through
   * the members `via` in turn, and each stays open up to max(2 s, 4 × attemptMs): a write stuck at a
   * member that lost it (forwarded to a dead leader) does not hold the measurement up, and a write
   * that takes longer than `attemptMs` on a loaded machine is not cancelled and sent again — which
   * measured the time until one write committed within `attemptMs`, not when writes were acknowledged
   * again (under load that was seconds after the cluster had recovered).
   */
  probeWrite(faultAt: number, via: number[], attemptMs = 250, limitMs = 10_000): Promise<number | undefined> {
    this.probeAttempts = [];
    const openMs = Math.max(2000, 4 * attemptMs);
    return new Promise((resolve) => {
      let done = false;
      let next: NodeJS.Timeout | undefined;
      const finish = (v: number | undefined) => {
        if (done) return;
        done = true;
        clearTimeout(next);
        resolve(v);
      };
      let i = 0;
      const send = () => {
        if (done) return;
        if (Date.now() >= faultAt + limitMs) {
          finish(undefined);
          return;
        }
        const n = i++;
        const member = via[n % via.length]!;
        const start = Date.now() - faultAt;
        const deadline = new Date(Math.min(Date.now() + openMs, faultAt + limitMs));
        call((cb) => this.probes[member]!.Put({ key: Buffer.from('chaos-failover-probe'), value: Buffer.from(String(n)) }, { deadline }, cb)).then(
          () => {
            this.probeAttempts.push(`#${n} m${member + 1} ${start}..${Date.now() - faultAt} ok`);
            finish(Date.now() - faultAt);
          },
          (err: grpc.ServiceError) => {
            this.probeAttempts.push(`#${n} m${member + 1} ${start}..${Date.now() - faultAt} ${grpc.status[err.code] ?? err.code} ${(err.details ?? '').slice(0, 60)}`.trim());
          },
        );
        next = setTimeout(send, attemptMs);
      };
      send();
    });
  }

  /** The last probeWrite's attempts: member, start..end (ms after the fault), outcome. */
  probeAttempts: string[] = [];

  /** Milliseconds from `faultAt` to the answer of the first write sent after it that was acknowledged (waits up to `limitMs`). */
  async writesResumeAfter(faultAt: number, limitMs = 10_000): Promise<number | undefined> {
    const first = () => this.writeSuccesses.find(([sent]) => sent > faultAt);
    const limit = faultAt + limitMs;
    while (Date.now() < limit && !first()) await sleep(5);
    const f = first();
    return f === undefined ? undefined : f[1] - faultAt;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  close(): void {
    for (const c of [...this.clients, ...this.probes]) c.close();
  }

  /**
   * The checks after the faults: every acknowledged write is present at the revision it was
   * acknowledged with, on every member; the history is linearizable — decided, never "unknown".
   */
  async verify(t: ExecutionContext): Promise<void> {
    await this.cluster.waitHealthy();
    t.true(this.acked.length > 50, `the clients made progress (${this.acked.length} acknowledged writes)`);
    // Wait for ready: a channel to a member that was just restarted may still be in its reconnect
    // back-off (TRANSIENT_FAILURE), where grpc-js fails a call at once ("No connection established")
    // unless the call waits for ready. grpc-js takes that as a Metadata option: a `waitForReady`
    // field in the call options is silently ignored.
    const waitForReady = new grpc.Metadata();
    waitForReady.setOptions({ waitForReady: true });
    for (const [i, c] of this.clients.entries()) {
      for (const a of this.acked) {
        let res: { kvs: Array<{ value: Buffer; modRevision: number }> };
        try {
          res = await call((cb) => c.Range({ key: Buffer.from(a.key), revision: a.revision }, waitForReady, { deadline: new Date(Date.now() + 10_000) }, cb));
        } catch (err) {
          t.fail(`reading acknowledged write ${a.key}=${a.value} at revision ${a.revision} from member ${i} failed: ${(err as Error).message}\n${this.cluster.members[i]!.stderr.join('').slice(-2000)}`);
          return;
        }
        if (res.kvs[0]?.value.toString() !== a.value || res.kvs[0]?.modRevision !== a.revision) {
          t.fail(`acknowledged write ${a.key}=${a.value} at revision ${a.revision} is missing: found ${res.kvs[0]?.value.toString()} at ${res.kvs[0]?.modRevision}`);
          return;
        }
      }
    }
    t.pass(`all ${this.acked.length} acknowledged writes are present on every member`);
    const started = performance.now();
    const result = checkKvHistory(this.recorder.history(), { timeBudgetMs: 30_000, maxPartitionOperations: OPS_PER_KEY_WINDOW });
    const ms = Math.round(performance.now() - started);
    if (result.ok === false) t.fail(`history is not linearizable:\n${result.description}`);
    else if (result.ok === 'unknown') t.fail(`linearizability undecided (an undecided check fails): ${result.reason}`);
    else t.log(`linearizable: ${result.operations} operations checked in ${result.partitions} key windows (largest ${result.largestPartition}) in ${ms} ms`);
  }
}

/** Asserts the failover target over the measured times and logs them. */
export function assertFailover(t: ExecutionContext, label: string, times: number[]): void {
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const max = sorted[sorted.length - 1]!;
  t.log(`${label} → next acknowledged write (ms): ${times.join(', ')}; median ${median}, max ${max}`);
  t.true(median < FAILOVER_MEDIAN_MS, `${label}: median failover ${median} ms is not below ${FAILOVER_MEDIAN_MS} ms`);
  t.true(max < FAILOVER_MAX_MS, `${label}: max failover ${max} ms is not below ${FAILOVER_MAX_MS} ms`);
}
