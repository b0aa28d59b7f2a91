// EtcdClient over an InProcessConnection to a real member (Raft + LevelDB in
// this process) answers exactly as the same client over the member's gRPC
// listener: results, etcd error codes and messages, watch semantics (created,
// events, compaction), lease keep-alive, and UNAVAILABLE once closed.
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { parseFlags } from '../../src/server/config.js';
import { startStore, type RunningStore } from '../../src/embedded/store_server.js';
import { EtcdClient } from '../../src/client/index.js';
import { assertSameAnswers, errorOf } from '../helpers/connection_scenario.js';
import { freePort } from '@mkube/testing';

async function member(t: ExecutionContext): Promise<{ store: RunningStore; endpoint: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'mkube-inproc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true })); // runs after the test's own teardowns (LIFO)
  const [client, peer] = [await freePort(), await freePort()];
  const parsed = parseFlags([
    '--name', 'm1', '--data-dir', dir,
    '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `m1=http://127.0.0.1:${peer}`,
  ]);
  if (parsed.kind !== 'run') throw new Error('flags');
  const store = await startStore(parsed.config, pino({ level: 'warn' }));
  for (let i = 0; i < 200 && store.member.unhealthyReason(); i++) await new Promise((r) => setTimeout(r, 25));
  return { store, endpoint: `127.0.0.1:${client}` };
}

test('in-process and gRPC clients of one member give the same answers and errors', async (t) => {
  const { store, endpoint } = await member(t);
  const inproc = new EtcdClient({ endpoints: [endpoint], connections: [store.connectInProcess()] });
  const remote = new EtcdClient({ endpoints: [endpoint] });
  t.teardown(async () => {
    inproc.close();
    remote.close();
    await store.stop(false);
  });

  await assertSameAnswers(t, inproc, remote);
});

test('a closed in-process connection fails requests with UNAVAILABLE; stopping the store closes it', async (t) => {
  const { store, endpoint } = await member(t);
  const conn = store.connectInProcess();
  const client = new EtcdClient({ endpoints: [endpoint], connections: [conn], maxAttempts: 1 });
  t.teardown(() => client.close());
  await client.put('/k', 'v');
  t.is((await client.get('/k')).kvs[0]?.value.toString(), 'v');
  await store.stop(false);
  const err = await errorOf(client.get('/k'));
  t.is(err.code, grpc.status.UNAVAILABLE);
  t.regex(err.message, /in-process connection closed/);
});
