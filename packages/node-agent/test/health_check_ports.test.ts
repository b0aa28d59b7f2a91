// The health check node ports of externalTrafficPolicy Local LoadBalancer Services: upstream's JSON
// and headers over real HTTP, 200 with local endpoints and 503 without, ports opened and closed with
// the Services; only LoadBalancer + Local Services with a port get one.
import test from 'ava';
import { freePort } from '@mkube/testing';
import { HealthCheckPorts, healthCheckTargets } from '../src/proxy/health_check_ports.js';
import type { EndpointsLike, ServiceLike } from '../src/proxy/service_rules.js';
import { silentLogger } from '@mkube/component-base';

const svc = (name: string, hc: number, etp = 'Local', type = 'LoadBalancer'): ServiceLike => ({
  metadata: { namespace: 'shop', name },
  spec: { type, clusterIP: '10.213.200.50', ports: [{ name: 'http', port: 80, nodePort: 31000 }], externalTrafficPolicy: etp, healthCheckNodePort: hc },
});
const eps = (name: string, nodes: string[]): EndpointsLike => ({
  metadata: { namespace: 'shop', name },
  subsets: [{ addresses: nodes.map((n, i) => ({ ip: `10.213.1.${i + 2}`, nodeName: n })), ports: [{ name: 'http', port: 8080 }] }],
});

test('targets: LoadBalancer + Local with a port; local endpoints counted on this node', (t) => {
  const m = healthCheckTargets([svc('a', 32001), svc('b', 32002, 'Cluster'), svc('c', 32003, 'Local', 'NodePort'), svc('d', 0)], [eps('a', ['w1', 'w1', 'w2'])], 'w1');
  t.deepEqual([...m], [[32001, { namespace: 'shop', name: 'a', localEndpoints: 2 }]]);
  t.is(healthCheckTargets([svc('a', 32001)], [eps('a', ['w2'])], 'w1').get(32001)!.localEndpoints, 0);
});

test('served as kube-proxy: 200 with local endpoints, 503 without, upstream JSON and headers; closed when the Service goes', async (t) => {
  const port = await freePort();
  const hc = new HealthCheckPorts(silentLogger(), () => true, '127.0.0.1');
  t.teardown(() => hc.close());
  await hc.sync(healthCheckTargets([svc('a', port)], [eps('a', ['w1'])], 'w1'));
  let r = await fetch(`http://127.0.0.1:${port}/`);
  t.is(r.status, 200);
  t.is(r.headers.get('content-type'), 'application/json');
  t.is(r.headers.get('x-content-type-options'), 'nosniff');
  t.is(r.headers.get('x-load-balancing-endpoint-weight'), '1');
  const body = await r.text();
  t.is(body, '{\n\t"service": {\n\t\t"namespace": "shop",\n\t\t"name": "a"\n\t},\n\t"localEndpoints": 1,\n\t"serviceProxyHealthy": true\n}');
  t.deepEqual(JSON.parse(body), { service: { namespace: 'shop', name: 'a' }, localEndpoints: 1, serviceProxyHealthy: true });
  await hc.sync(healthCheckTargets([svc('a', port)], [eps('a', ['w2'])], 'w1'));
  r = await fetch(`http://127.0.0.1:${port}/any/path`);
  t.is(r.status, 503);
  t.is((JSON.parse(await r.text()) as { localEndpoints: number }).localEndpoints, 0);
  await hc.sync(new Map());
  t.deepEqual(hc.ports(), []);
  await t.throwsAsync(fetch(`http://127.0.0.1:${port}/`));
});
