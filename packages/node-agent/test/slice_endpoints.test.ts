import test from 'ava';
import { endpointsFromSlices } from '../src/proxy/slice_endpoints.js';
import { backendsByServicePort } from '../src/proxy/service_rules.js';

const slice = (name: string, svc: string, eps: Array<[string, { ready?: boolean; serving?: boolean; terminating?: boolean }]>, addressType = 'IPv4') => ({
  metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': svc } },
  addressType,
  endpoints: eps.map(([ip, conditions]) => ({ addresses: [ip], conditions })),
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
});
const svc = { metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '10.213.200.30', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } };

test('slices of a service are joined; ready endpoints serve, not-ready ones do not; IPv6 slices are left to ip6tables', (t) => {
  const eps = endpointsFromSlices([slice('web-a', 'web', [['10.1.0.1', { ready: true }], ['10.1.0.2', { ready: false }]]), slice('web-b', 'web', [['10.1.0.3', {}]]), slice('web-c', 'web', [['fd00::1', { ready: true }]], 'IPv6')], []);
  const [b] = backendsByServicePort([svc], eps);
  t.deepEqual(b!.backends, [{ ip: '10.1.0.1', port: 8080 }, { ip: '10.1.0.3', port: 8080 }]);
});

test('no ready endpoint: the serving terminating ones serve (ProxyTerminatingEndpoints)', (t) => {
  const eps = endpointsFromSlices([slice('web-a', 'web', [['10.1.0.1', { ready: false, serving: true, terminating: true }], ['10.1.0.2', { ready: false, serving: false, terminating: true }]])], []);
  t.deepEqual(backendsByServicePort([svc], eps)[0]!.backends, [{ ip: '10.1.0.1', port: 8080 }]);
});

test('a service without slices keeps its Endpoints; one with slices ignores them', (t) => {
  const endpoints = [{ metadata: { name: 'web', namespace: 'default' }, subsets: [{ addresses: [{ ip: '10.9.9.9' }], ports: [{ name: 'http', port: 8080 }] }] }];
  t.deepEqual(backendsByServicePort([svc], endpointsFromSlices([], endpoints))[0]!.backends, [{ ip: '10.9.9.9', port: 8080 }]);
  t.deepEqual(backendsByServicePort([svc], endpointsFromSlices([slice('web-a', 'web', [['10.1.0.1', { ready: true }]])], endpoints))[0]!.backends, [{ ip: '10.1.0.1', port: 8080 }]);
});

test('the sink guard still screens what slices carry', (t) => {
  const bad = slice('web-a', 'web', [['10.1.0.1 -j ACCEPT', { ready: true }]]);
  const refused: string[] = [];
  const out = backendsByServicePort([svc], endpointsFromSlices([bad], []), (r) => refused.push(r.field));
  t.deepEqual(out[0]!.backends, []);
  t.true(refused.length > 0);
});
