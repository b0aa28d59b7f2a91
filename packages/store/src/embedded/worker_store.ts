// A store member run in a worker thread of this process: Raft, LevelDB
// writes and the MVCC apply get a thread (and a core) of their own instead of
// sharing the embedding thread's event loop. The embedding thread talks to it
// through WorkerConnections: frame connections (see transport/call_frames.ts)
// over MessagePorts, with the same codecs and errors as gRPC. The member's own
// gRPC listeners (for etcdctl and other clients) run in the worker too.
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { ClientFrame, ServerFrame } from '../transport/call_frames.js';
import { FrameConnection } from '../client/frame_connection.js';
import { FramePort } from './frame_port.js';
import { Mailbox } from '../client/mailbox.js';
import type { FromWorker, StoreWorkerData, ToWorker } from './worker_protocol.js';

/** A frame connection to a member in a worker thread. */
export class WorkerConnection extends FrameConnection {
  constructor(port: MessagePort, address: string) {
    super(address, 'store worker');
    // Unary answers are taken at once; stream messages one per event-loop turn, as from a socket (and
    // as the in-process connection does): whoever awaits a watch's `created` attaches its listeners
    // before the next message of the stream lands.
    const streamFrames = new Mailbox();
    const frames = new FramePort<ClientFrame, ServerFrame>(port, (f) => {
      if (f.k === 'result' || f.k === 'error') this.receive(f);
      else streamFrames.post(() => this.receive(f));
    });
    this.attach({
      send: (f: ClientFrame) => {
        frames.send(f);
        if (f.k === 'close') frames.close();
      },
    });
  }

  /** The worker is gone: calls in flight and streams fail with UNAVAILABLE. */
  workerGone(reason: string): void {
    this.fail(reason, true);
  }
}

export class WorkerStoreError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export interface WorkerStore {
  /** The worker's thread id (for logs). */
  readonly threadId: number;
  /** A new connection to the member; `address` is what the client reports as the endpoint. */
  connect(address: string): WorkerConnection;
  /** Resolves when the member stopped on an unrecoverable error or its thread died. */
  readonly failed: Promise<Error>;
  stop(graceful?: boolean): Promise<void>;
}

function workerFile(): URL {
  // From the compiled package the worker is a .js file; run from sources (tsx), a .ts file.
  const here = import.meta.url;
  return new URL(here.endsWith('.ts') ? './store_worker.ts' : './store_worker.js', here);
}

/**
 * Starts a member with mkube-store `args` in a worker thread; resolves once it
 * serves and has a leader, rejects with the member's startup error.
 */
export function startStoreInWorker(args: string[], opts: { logLevel?: string; logBindings?: Record<string, string> } = {}): Promise<WorkerStore> {
  const data: StoreWorkerData = { args, logLevel: opts.logLevel ?? 'info', logBindings: opts.logBindings ?? {} };
  const file = workerFile();
  // Run from sources (tests, benchmarks under tsx), the thread registers tsx's loader itself before
  // importing the entry: a worker does not run the parent's --import preloads.
  const worker = file.pathname.endsWith('.ts')
    ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(file.href)}); })`, { eval: true, workerData: data })
    : new Worker(fileURLToPath(file), { workerData: data });
  const connections = new Set<WorkerConnection>();
  let resolveFailed!: (e: Error) => void;
  const failed = new Promise<Error>((r) => (resolveFailed = r));
  let stopping: Promise<void> | undefined;
  let exited = false;
  const exitedPromise = new Promise<void>((r) => worker.once('exit', () => r()));
  const gone = (reason: string) => {
    for (const c of connections) c.workerGone(reason);
    connections.clear();
  };
  return new Promise<WorkerStore>((resolve, reject) => {
    let started = false;
    worker.on('message', (m: FromWorker) => {
      if (m.k === 'ready') {
        started = true;
        resolve(handle);
      } else if (m.k === 'startFailed') {
        reject(new WorkerStoreError(m.message, m.code));
        void worker.terminate();
      } else if (m.k === 'fatal') {
        resolveFailed(new WorkerStoreError(`store member failed: ${m.message}`, 'FATAL'));
        gone(`store member failed: ${m.message}`);
      }
    });
    worker.on('error', (err) => {
      if (!started) reject(err);
      resolveFailed(err);
      gone(`store worker failed: ${err.message}`);
    });
    worker.on('exit', (code) => {
      exited = true;
      if (!started) reject(new WorkerStoreError(`store worker exited with code ${code} before the member started`, 'WORKER_EXIT'));
      if (!stopping) resolveFailed(new WorkerStoreError(`store worker exited with code ${code}`, 'WORKER_EXIT'));
      gone('store worker stopped');
    });
    const handle: WorkerStore = {
      threadId: worker.threadId,
      failed,
      connect(address: string): WorkerConnection {
        const { port1, port2 } = new MessageChannel();
        const c = new WorkerConnection(port1, address);
        if (exited || stopping) c.workerGone('store worker stopped');
        else {
          worker.postMessage({ k: 'connect', port: port2 } satisfies ToWorker, [port2]);
          connections.add(c);
        }
        return c;
      },
      stop(graceful = true): Promise<void> {
        return (stopping ??= (async () => {
          if (exited) return;
          const stopped = new Promise<void>((r) => worker.on('message', (m: FromWorker) => m.k === 'stopped' && r()));
          worker.postMessage({ k: 'stop', graceful } satisfies ToWorker);
          await Promise.race([stopped, exitedPromise]);
          gone('store worker stopped');
          await worker.terminate();
        })());
      },
    };
  });
}
