// Messages between a thread that embeds a store member in a worker
// (worker_store.ts) and the worker (store_worker.ts), on the worker's parentPort.
import type { MessagePort } from 'node:worker_threads';

export interface StoreWorkerData {
  /** mkube-store flags (etcd's names). */
  args: string[];
  logLevel: string;
  /** Extra fields of every log line (e.g. { component: 'mkube-store' }). */
  logBindings: Record<string, string>;
}

export type ToWorker =
  /** Serve a frame connection on `port`. */
  | { k: 'connect'; port: MessagePort }
  | { k: 'stop'; graceful: boolean };

export type FromWorker =
  /** The member runs and has a leader. */
  | { k: 'ready' }
  | { k: 'startFailed'; message: string; code?: string }
  /** The member stopped on an unrecoverable error. */
  | { k: 'fatal'; message: string }
  | { k: 'stopped' };
