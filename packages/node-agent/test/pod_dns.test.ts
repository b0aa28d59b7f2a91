import test from 'ava';
import type { AgentPod } from '../src/api_types.js';
import { parseResolvConf, podDnsConfig } from '../src/runtime/pod_dns.js';

const pod = (spec: Partial<AgentPod['spec']> = {}): AgentPod => ({ metadata: { name: 'p', namespace: 'shop', uid: 'u1' }, spec: { containers: [{ name: 'c' }], ...spec } }) as AgentPod;
const host = parseResolvConf('# comment\nnameserver 10.255.255.53\nsearch corp.example. lab.example\noptions timeout:2 attempts:3\nnameserver 10.255.255.54\n');
const ctx = { clusterDNS: ['10.213.200.10'], clusterDomain: 'cluster.local', host };

test('the host resolv.conf: nameservers accumulate, search without trailing dots, options', (t) => {
  t.deepEqual(host, { servers: ['10.255.255.53', '10.255.255.54'], searches: ['corp.example', 'lab.example'], options: ['timeout:2', 'attempts:3'] });
});

test('ClusterFirst: the cluster DNS, the namespace search path then the host\'s, ndots:5; ClusterFirstWithHostNet the same on the host network', (t) => {
  const want = { servers: ['10.213.200.10'], searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'lab.example'], options: ['ndots:5'] };
  t.deepEqual(podDnsConfig(pod(), ctx), { config: want, warnings: [] });
  t.deepEqual(podDnsConfig(pod({ dnsPolicy: 'ClusterFirstWithHostNet', hostNetwork: true }), ctx).config, want);
});

test('Default, ClusterFirst on the host network: the host file; None: only dnsConfig; no cluster DNS: MissingClusterDNS and the host file', (t) => {
  t.deepEqual(podDnsConfig(pod({ dnsPolicy: 'Default' }), ctx).config, host);
  t.deepEqual(podDnsConfig(pod({ hostNetwork: true }), ctx).config, host);
  const none = podDnsConfig(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.2.3.4'], searches: ['a.example'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] } }), ctx);
  t.deepEqual(none.config, { servers: ['1.2.3.4'], searches: ['a.example'], options: ['ndots:2', 'edns0'] });
  const missing = podDnsConfig(pod(), { ...ctx, clusterDNS: [] });
  t.deepEqual(missing.config, host);
  t.deepEqual(missing.warnings.map((w) => [w.on, w.reason]), [['node', 'MissingClusterDNS'], ['pod', 'MissingClusterDNS']]);
  t.is(missing.warnings[0]!.message, 'kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.');
});

test('dnsConfig is merged: nameservers and searches appended without duplicates, options overridden by name', (t) => {
  const r = podDnsConfig(pod({ dnsConfig: { nameservers: ['10.213.200.10', '9.9.9.9'], searches: ['cluster.local', 'x.example'], options: [{ name: 'ndots', value: '1' }, { name: 'single-request' }] } }), ctx);
  t.deepEqual(r.config, {
    servers: ['10.213.200.10', '9.9.9.9'],
    searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'lab.example', 'x.example'],
    options: ['ndots:1', 'single-request'],
  });
});

test('limits: 3 nameservers, 32 search domains, 2048 characters, each cut a DNSConfigForming warning with upstream\'s message', (t) => {
  const ns = podDnsConfig(pod({ dnsConfig: { nameservers: ['1.1.1.1', '2.2.2.2', '3.3.3.3'] } }), ctx);
  t.deepEqual(ns.config.servers, ['10.213.200.10', '1.1.1.1', '2.2.2.2']);
  t.deepEqual(ns.warnings, [{ on: 'pod', reason: 'DNSConfigForming', message: 'Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 10.213.200.10 1.1.1.1 2.2.2.2' }]);
  const many = Array.from({ length: 40 }, (_, i) => `d${i}.example`);
  const s = podDnsConfig(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], searches: many } }), ctx);
  t.is(s.config.searches.length, 32);
  t.regex(s.warnings[0]!.message, /^Search Line limits were exceeded, some search paths have been omitted, the applied search line is: d0\.example d1\.example/);
  const long = Array.from({ length: 20 }, (_, i) => `${'x'.repeat(120)}.d${i}.example`);
  const l = podDnsConfig(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], searches: long } }), ctx);
  t.true(l.config.searches.join(' ').length <= 2048);
  t.is(l.config.searches.length, 15);
});
