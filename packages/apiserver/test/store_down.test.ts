// The store goes away under a running API server (etcd 3.4 killed with SIGKILL):
// writes fail with 503 ServiceUnavailable and Retry-After over REST, UNAVAILABLE
// over gRPC; /readyz and /livez report "[-]etcd failed"; nothing half-written
// appears once etcd is back on the same data, and the API server serves again.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { startApiServer } from '../src/server.js';
import { ResourcesClient, type GrpcApiError } from '../src/grpc/client.js';
import { api, startEtcdCluster } from '@mkube/testing';

test('a store that is down: 503 with Retry-After, UNAVAILABLE over gRPC, /readyz fails, nothing half-written', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'mkube-apiserver-store-down-'));
  const etcd = await startEtcdCluster({ members: 1 });
  const server = await startApiServer({ dataDir: join(dir, 'data'), etcdServers: etcd.endpoints, securePort: 0, grpcPort: 0, compactionIntervalMs: 0, logger: pino({ level: 'silent' }) });
  const grpcClient = new ResourcesClient({ address: `127.0.0.1:${server.grpc!.port}`, caCert: server.pki.caCert, cert: server.pki.adminCert, key: server.pki.adminKey });
  t.teardown(async () => {
    grpcClient.close();
    await server.stop().catch(() => undefined);
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const cms = '/api/v1/namespaces/default/configmaps';

  const ready = await api(server, 'GET', '/readyz?verbose', undefined, { anonymous: true });
  t.is(ready.status, 200);
  t.regex(ready.text, /^\[\+\]ping ok\n\[\+\]log ok\n\[\+\]etcd ok\n\[\+\]informer-sync ok\n\[\+\]shutdown ok\nreadyz check passed\n$/);
  t.is((await api(server, 'GET', '/readyz', undefined, { anonymous: true })).text, 'ok');
  t.is((await api(server, 'GET', '/livez/etcd', undefined, { anonymous: true })).text, 'ok');
  t.is((await api(server, 'GET', '/readyz/no-such-check', undefined, { anonymous: true })).status, 404);
  t.is((await api(server, 'POST', cms, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'before' }, data: { a: '1' } })).status, 201);

  await etcd.members[0]!.kill(); // SIGKILL, waits for the exit

  const rest = await api(server, 'POST', cms, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'during' }, data: { a: '2' } });
  t.is(rest.status, 503, rest.text);
  t.is(rest.headers['retry-after'], '1');
  t.is(rest.body.kind, 'Status');
  t.is(rest.body.reason, 'ServiceUnavailable');
  t.is(rest.body.code, 503);
  const viaGrpc = await grpcClient.create({ resource: 'configmaps', namespace: 'default' }, { metadata: { name: 'during-grpc' } }).then(
    () => undefined,
    (err: GrpcApiError) => err,
  );
  t.is(viaGrpc?.code, grpc.status.UNAVAILABLE);
  t.is(viaGrpc?.status?.reason, 'ServiceUnavailable');

  const down = await api(server, 'GET', '/readyz', undefined, { anonymous: true });
  t.is(down.status, 500);
  t.regex(down.text, /\[-\]etcd failed: reason withheld\n/);
  t.regex(down.text, /readyz check failed\n$/);
  t.is((await api(server, 'GET', '/readyz?exclude=etcd', undefined, { anonymous: true })).status, 200);
  t.is((await api(server, 'GET', '/livez', undefined, { anonymous: true })).status, 500);

  // etcd back on the same data and ports: the API server serves again, and holds exactly what was acknowledged.
  await etcd.members[0]!.start();
  let back = 0;
  for (let i = 0; i < 100 && back !== 200; i++) {
    back = (await api(server, 'GET', '/readyz', undefined, { anonymous: true })).status;
    if (back !== 200) await new Promise((r) => setTimeout(r, 200));
  }
  t.is(back, 200);
  const list = await api(server, 'GET', cms);
  t.is(list.status, 200);
  t.deepEqual(list.body.items.map((o: { metadata: { name: string } }) => o.metadata.name), ['before']);
  t.is((await api(server, 'POST', cms, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'after' } })).status, 201);
});
