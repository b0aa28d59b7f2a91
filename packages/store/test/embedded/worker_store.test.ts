// A member in a worker thread (the API server's embedded store): EtcdClient over
// a WorkerConnection answers exactly as over the member's gRPC listener (served
// from the same worker); startup errors come back with their code; calls
// fail with UNAVAILABLE once the worker stops (a watch keeps retrying, as against a dead endpoint).
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startStoreInWorker, WorkerStoreError, type WorkerStore } from '../../src/embedded/worker_store.js';
import { EtcdClient, type WatchBatch } from '../../src/client/index.js';
import { assertSameAnswers, errorOf } from '../helpers/connection_scenario.js';
import { freePort } from '@mkube/testing';

async function memberArgs(t: ExecutionContext, dir?: string): Promise<{ args: string[]; endpoint: string; dir: string }> {
  const dataDir = dir ?? mkdtempSync(join(tmpdir(), 'mkube-worker-store-'));
  if (!dir) t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const [client, peer] = [await freePort(), await freePort()];
  return {
    dir: dataDir,
    endpoint: `127.0.0.1:${client}`,
    args: [
      '--name', 'm1', '--data-dir', dataDir,
      '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `m1=http://127.0.0.1:${peer}`,
    ],
  };
}

/**
 * Starts a member in a worker on fresh ports; a port taken between freePort() and the listen (other
 * tests run in parallel) is retried with new ones.
 */
async function startMember(t: ExecutionContext, opts: { logLevel: string }, dir?: string): Promise<{ store: WorkerStore; endpoint: string; dir: string }> {
  for (let attempt = 1; ; attempt++) {
    const m = await memberArgs(t, dir);
    try {
      return { store: await startStoreInWorker(m.args, opts), endpoint: m.endpoint, dir: m.dir };
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE/.test((err as Error).message)) throw err;
      dir = m.dir;
    }
  }
}

test('a worker-thread member answers through a WorkerConnection as through its gRPC listener', async (t) => {
  const { store, endpoint } = await startMember(t, { logLevel: 'warn' });
  const viaWorker = new EtcdClient({ endpoints: [endpoint], connections: [store.connect(endpoint)] });
  const remote = new EtcdClient({ endpoints: [endpoint] });
  t.teardown(async () => {
    viaWorker.close();
    remote.close();
    await store.stop(false);
  });
  await assertSameAnswers(t, viaWorker, remote);

  // Many calls at once (frames are batched per postMessage): every one answered, in order of revisions.
  const puts = await Promise.all(Array.from({ length: 500 }, (_, i) => viaWorker.put(`/many/${i}`, String(i))));
  const revs = puts.map((p) => p.header.revision).sort((a, b) => a - b);
  t.is(new Set(revs).size, 500);
  t.is(revs[499]! - revs[0]!, 499);
  t.is((await remote.get('/many/', { prefix: true, countOnly: true })).count, 500);
});

test('a second worker on the same data directory fails to start with the member\'s error', async (t) => {
  const first = await startMember(t, { logLevel: 'silent' });
  const store = first.store;
  t.teardown(() => store.stop(false));
  const second = await memberArgs(t, first.dir);
  const err = await t.throwsAsync(startStoreInWorker(second.args, { logLevel: 'silent' }));
  t.true(err instanceof WorkerStoreError);
  t.is((err as WorkerStoreError).code, 'DATA_DIR_IN_USE');
});

test('stopping the worker fails calls with UNAVAILABLE; a new connection is refused', async (t) => {
  const { store, endpoint } = await startMember(t, { logLevel: 'warn' });
  const client = new EtcdClient({ endpoints: [endpoint], connections: [store.connect(endpoint)], maxAttempts: 1 });
  t.teardown(() => client.close());
  await client.put('/k', 'v');
  const w = await client.watch('/k', {});
  const events: string[] = [];
  w.on('data', (b: WatchBatch) => events.push(...b.events.map((e) => e.kv.value.toString())));
  await client.put('/k', 'v2');
  for (let i = 0; i < 100 && events.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(events, ['v2']);
  w.on('error', () => undefined);
  await store.stop(true);
  const err = await errorOf(client.get('/k'));
  t.is(err.code, grpc.status.UNAVAILABLE);
  const late = new EtcdClient({ endpoints: [endpoint], connections: [store.connect(endpoint)], maxAttempts: 1 });
  t.is((await errorOf(late.get('/k'))).code, grpc.status.UNAVAILABLE);
  late.close();
});
