// Entry point of a worker thread that runs one mkube-store member (Raft,
// LevelDB, MVCC, its gRPC listeners) for the thread that started it, which
// talks to it through frame connections over MessagePorts. See worker_store.ts.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { pino } from 'pino';
import type { ClientFrame, ServerFrame } from '../transport/call_frames.js';
import { parseFlags } from '../server/config.js';
import { startStore, type RunningStore } from './store_server.js';
import { FramePort } from './frame_port.js';
import type { FromWorker, StoreWorkerData, ToWorker } from './worker_protocol.js';

const LEADER_WAIT_MS = 5000;

function post(m: FromWorker): void {
  parentPort!.postMessage(m);
}

function serve(store: RunningStore, port: MessagePort): void {
  const frames: FramePort<ServerFrame, ClientFrame> = new FramePort(port, (f) => {
    dispatcher.receive(f);
    if (f.k === 'close') frames.close();
  });
  const dispatcher = store.serveFrames((f) => frames.send(f));
  port.on('close', () => dispatcher.close());
}

async function main(): Promise<void> {
  const data = workerData as StoreWorkerData;
  const log = pino({ level: data.logLevel }).child(data.logBindings);
  const parsed = parseFlags(data.args);
  if (parsed.kind !== 'run') throw Object.assign(new Error('embedded store: flags do not describe a member to run'), { code: 'CONFIG_INVALID' });
  const store = await startStore(parsed.config, log);
  void store.failed.then((err) => post({ k: 'fatal', message: err.message }));
  // A single member elects itself within an election timeout.
  for (let waited = 0; waited < LEADER_WAIT_MS && store.member.unhealthyReason(); waited += 25) await new Promise((r) => setTimeout(r, 25));
  parentPort!.on('message', (m: ToWorker) => {
    if (m.k === 'connect') serve(store, m.port);
    else if (m.k === 'stop') {
      void store.stop(m.graceful).finally(() => {
        post({ k: 'stopped' });
        parentPort!.close();
      });
    }
  });
  post({ k: 'ready' });
}

main().catch((err: Error & { code?: string }) => {
  post({ k: 'startFailed', message: err.message, code: err.code });
  parentPort!.close();
});
