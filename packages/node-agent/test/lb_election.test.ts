// The announcer election: every node computes the same winner per address; a dead node's addresses
// move and the others' stay; Local traffic policy keeps the address on nodes with endpoints; not
// Ready, excluded or deleting nodes never announce; unsafe addresses are never announced.
import test from 'ava';
import { addressesToAnnounce, electAnnouncer, EXCLUDE_LB_LABEL, type ElectionNode } from '../src/lb_election.js';
import type { EndpointsLike, ServiceLike } from '../src/proxy/service_rules.js';

const node = (name: string, extra: Partial<ElectionNode['metadata']> = {}, ready = 'True'): ElectionNode => ({ metadata: { name, ...extra }, status: { conditions: [{ type: 'Ready', status: ready }] } });
const lb = (name: string, ips: string[], etp?: string): ServiceLike => ({
  metadata: { namespace: 'shop', name },
  spec: { type: 'LoadBalancer', clusterIP: '10.213.200.9', ports: [{ port: 80 }], externalTrafficPolicy: etp },
  status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } },
});
const nodes = ['w1', 'w2', 'w3'].map((n) => node(n));
const ips = Array.from({ length: 30 }, (_, i) => `10.213.250.${i + 1}`);
const all = () => true;

test('every node computes the same single announcer per address, spread over the nodes', (t) => {
  const svcs = [lb('a', ips)];
  const per = nodes.map((n) => addressesToAnnounce(n.metadata.name, svcs, [], nodes, all));
  for (const ip of ips) t.is(per.filter((m) => m.has(ip)).length, 1, ip);
  for (const m of per) t.true(m.size > 0, 'each node announces some');
});

test('a dead node\'s addresses move to the live ones; the others stay put', (t) => {
  const svcs = [lb('a', ips)];
  const before = new Map(ips.map((ip) => [ip, electAnnouncer(ip, ['w1', 'w2', 'w3'])]));
  const alive = (n: string) => n !== 'w2';
  const after = new Map<string, string>();
  for (const self of ['w1', 'w3']) for (const ip of addressesToAnnounce(self, svcs, [], nodes, alive).keys()) after.set(ip, self);
  for (const ip of ips) {
    t.true(after.has(ip), `${ip} still announced`);
    if (before.get(ip) !== 'w2') t.is(after.get(ip), before.get(ip), `${ip} did not move`);
  }
});

test('externalTrafficPolicy Local: only nodes with a ready endpoint; none → nobody announces', (t) => {
  const eps: EndpointsLike[] = [{ metadata: { namespace: 'shop', name: 'a' }, subsets: [{ addresses: [{ ip: '10.1.0.5', nodeName: 'w3' }], ports: [{ port: 80 }] }] }];
  const svcs = [lb('a', ips, 'Local')];
  t.is(addressesToAnnounce('w3', svcs, eps, nodes, all).size, ips.length);
  t.is(addressesToAnnounce('w1', svcs, eps, nodes, all).size, 0);
  t.is(addressesToAnnounce('w3', svcs, [], nodes, all).size, 0);
});

test('not Ready, excluded, deleting nodes are no candidates; unsafe or non-LB addresses are never announced', (t) => {
  const odd = [node('w1', {}, 'Unknown'), node('w2', { labels: { [EXCLUDE_LB_LABEL]: '' } }), node('w3', { deletionTimestamp: '2026-01-01T00:00:00Z' })];
  for (const n of ['w1', 'w2', 'w3']) t.is(addressesToAnnounce(n, [lb('a', ips)], [], odd, all).size, 0, n);
  const bad = [lb('b', ['10.213.250.1 dev lo', '224.0.0.1', '127.0.0.1', '']), { ...lb('c', ['10.213.250.2']), spec: { type: 'ClusterIP', clusterIP: '10.213.200.9' } }];
  for (const n of ['w1', 'w2', 'w3']) t.is(addressesToAnnounce(n, bad, [], nodes, all).size, 0, n);
});
