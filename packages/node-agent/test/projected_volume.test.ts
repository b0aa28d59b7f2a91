// Projected volumes and the Services' environment, without a cluster: the
// files and modes written, the token requested bound to the pod and refreshed
// only after 80% of its lifetime (or 24 h), kept while the API is down; the
// KUBERNETES_* variables and enableServiceLinks.
import { lstatSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { AgentConfigMap, AgentPod, AgentSecret } from '../src/api_types.js';
import { ProjectedVolumes, type TokenRequestSpec } from '../src/runtime/projected_volume.js';
import { serviceEnv, servicesForPod, type ServiceLike } from '../src/runtime/service_env.js';
import { resolveEnv } from '../src/runtime/env.js';

class FakeApi {
  now = 1_000_000_000_000;
  calls: Array<{ ns: string; sa: string; spec: TokenRequestSpec }> = [];
  down = false;
  services: ServiceLike[] = [];
  async getConfigMap(ns: string, name: string): Promise<AgentConfigMap | undefined> {
    return name === 'kube-root-ca.crt' ? ({ metadata: { name, namespace: ns }, data: { 'ca.crt': 'CA-PEM' } } as unknown as AgentConfigMap) : undefined;
  }
  async getSecret(): Promise<AgentSecret | undefined> {
    return undefined;
  }
  async requestServiceAccountToken(ns: string, sa: string, spec: TokenRequestSpec) {
    if (this.down) throw new Error('connection refused');
    this.calls.push({ ns, sa, spec });
    return { token: `token-${this.calls.length}`, expirationTimestamp: new Date(this.now + (spec.expirationSeconds ?? 3600) * 1000).toISOString() };
  }
  listServices(): ServiceLike[] {
    return this.services;
  }
}

const pod = (extra: Record<string, unknown> = {}): AgentPod =>
  ({
    metadata: { name: 'p', namespace: 'team', uid: 'uid-1', labels: { app: 'x' } },
    spec: { serviceAccountName: 'robot', nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }], ...extra },
    status: { podIP: '10.0.0.5' },
  }) as unknown as AgentPod;

const volume = {
  name: 'kube-api-access-abcde',
  projected: {
    defaultMode: 0o644,
    sources: [
      { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }, { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' }, mode: 0o600 }] } },
    ],
  },
};

test('the projected volume: token bound to the pod, ca.crt, namespace; refreshed at 80% of its lifetime', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mkube-projected-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const api = new FakeApi();
  const pv = new ProjectedVolumes(api, () => api.now);
  const ctx = { nodeName: 'n1', hostIP: '10.0.0.1', podIP: '10.0.0.5' };
  await pv.setUp(pod(), volume, dir, ctx);
  t.is(readFileSync(join(dir, 'token'), 'utf8'), 'token-1');
  t.is(readFileSync(join(dir, 'ca.crt'), 'utf8'), 'CA-PEM');
  t.is(readFileSync(join(dir, 'namespace'), 'utf8'), 'team');
  t.is(readFileSync(join(dir, 'labels'), 'utf8'), 'app="x"');
  t.is(statSync(join(dir, 'token')).mode & 0o777, 0o644);
  t.is(statSync(join(dir, 'labels')).mode & 0o777, 0o600);
  t.true(lstatSync(join(dir, 'token')).isSymbolicLink(), 'atomic writer layout: name -> ..data/name');
  t.deepEqual(api.calls, [{ ns: 'team', sa: 'robot', spec: { audiences: [], expirationSeconds: 3607, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'p', uid: 'uid-1' } } }]);

  api.now += 0.79 * 3607 * 1000;
  await pv.setUp(pod(), volume, dir, ctx);
  t.is(api.calls.length, 1, 'not refreshed before 80% of its lifetime');
  api.now += 0.02 * 3607 * 1000;
  await pv.setUp(pod(), volume, dir, ctx);
  t.is(api.calls.length, 2, 'refreshed after 80%');
  t.is(readFileSync(join(dir, 'token'), 'utf8'), 'token-2');

  // The API server unreachable: the still-valid token stays.
  api.now += 0.9 * 3607 * 1000;
  api.down = true;
  await pv.setUp(pod(), volume, dir, ctx);
  t.is(readFileSync(join(dir, 'token'), 'utf8'), 'token-2');
  api.now += 3607 * 1000;
  await t.throwsAsync(pv.setUp(pod(), volume, dir, ctx), { message: /failed to fetch token: connection refused/ });

  // A year-long (extended) token is still refreshed after a day.
  api.down = false;
  const longVol = { ...volume, projected: { sources: [{ serviceAccountToken: { expirationSeconds: 365 * 24 * 3600, path: 'token', audience: 'vault' } }] } };
  await pv.setUp(pod(), longVol, dir, ctx);
  const n = api.calls.length;
  t.deepEqual(api.calls[n - 1]!.spec.audiences, ['vault']);
  api.now += 23 * 3600_000;
  await pv.setUp(pod(), longVol, dir, ctx);
  t.is(api.calls.length, n);
  api.now += 2 * 3600_000;
  await pv.setUp(pod(), longVol, dir, ctx);
  t.is(api.calls.length, n + 1);
});

test('the Services environment: kubernetes always, the namespace\'s Services unless enableServiceLinks is false', async (t) => {
  const api = new FakeApi();
  api.services = [
    { metadata: { name: 'kubernetes', namespace: 'default' }, spec: { clusterIP: '10.213.200.1', ports: [{ name: 'https', port: 443, protocol: 'TCP' }] } },
    { metadata: { name: 'my-db', namespace: 'team' }, spec: { clusterIP: '10.213.200.9', ports: [{ name: 'sql', port: 5432, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }] } },
    { metadata: { name: 'headless', namespace: 'team' }, spec: { clusterIP: 'None', ports: [{ port: 80 }] } },
    { metadata: { name: 'elsewhere', namespace: 'other' }, spec: { clusterIP: '10.213.200.10', ports: [{ port: 80 }] } },
  ];
  t.deepEqual(serviceEnv(servicesForPod(api.services, 'team', false)), [
    { key: 'KUBERNETES_SERVICE_HOST', value: '10.213.200.1' },
    { key: 'KUBERNETES_SERVICE_PORT', value: '443' },
    { key: 'KUBERNETES_SERVICE_PORT_HTTPS', value: '443' },
    { key: 'KUBERNETES_PORT', value: 'tcp://10.213.200.1:443' },
    { key: 'KUBERNETES_PORT_443_TCP', value: 'tcp://10.213.200.1:443' },
    { key: 'KUBERNETES_PORT_443_TCP_PROTO', value: 'tcp' },
    { key: 'KUBERNETES_PORT_443_TCP_PORT', value: '443' },
    { key: 'KUBERNETES_PORT_443_TCP_ADDR', value: '10.213.200.1' },
  ]);
  const env = await resolveEnv(pod(), { name: 'c', image: 'busybox', env: [{ name: 'DB', value: 'postgres://$(MY_DB_SERVICE_HOST):$(MY_DB_SERVICE_PORT)' }, { name: 'KUBERNETES_SERVICE_HOST', value: 'mine' }] } as never, {
    config: api,
    nodeName: 'n1',
    hostIP: '10.0.0.1',
    podIP: '10.0.0.5',
    allocatable: { cpuMilli: 1000, memoryBytes: 1 << 30 },
  });
  const m = new Map(env.map((kv) => [kv.key, kv.value]));
  t.is(m.get('DB'), 'postgres://10.213.200.9:5432', 'service variables can be referenced');
  t.is(m.get('KUBERNETES_SERVICE_HOST'), 'mine', "the container's own variable wins");
  t.is(m.get('MY_DB_PORT_53_UDP'), 'udp://10.213.200.9:53');
  t.is(m.get('MY_DB_SERVICE_PORT_SQL'), '5432');
  t.false(m.has('HEADLESS_SERVICE_HOST'));
  t.false(m.has('ELSEWHERE_SERVICE_HOST'));
  t.is(env.filter((kv) => kv.key === 'KUBERNETES_SERVICE_HOST').length, 1);
  const noLinks = await resolveEnv(pod({ enableServiceLinks: false }), { name: 'c', image: 'busybox' } as never, { config: api, nodeName: 'n1', hostIP: '', podIP: '', allocatable: { cpuMilli: 1, memoryBytes: 1 } });
  t.deepEqual(noLinks.map((kv) => kv.key).filter((k) => k.startsWith('MY_DB')), []);
  t.true(noLinks.some((kv) => kv.key === 'KUBERNETES_SERVICE_HOST'));
});
