// The proxy's issue-14 rules: external and load-balancer IPs, session affinity (recent module),
// externalTrafficPolicy / internalTrafficPolicy Local, ready/serving/terminating topology, and
// the sink guard of the new fields; every text is checked by the real iptables-restore --test.
import test from 'ava';
import { execFile } from 'node:child_process';
import { backendsByServicePort, filterRestoreInput, natRestoreInput, type EndpointsLike, type ServiceLike } from '../src/proxy/service_rules.js';
import { endpointsFromSlices } from '../src/proxy/slice_endpoints.js';

const restoreTest = (text: string) =>
  new Promise<string | undefined>((resolve) => {
    const child = execFile('iptables-restore', ['--test', '--noflush'], (e, _out, stderr) => resolve(e ? stderr || e.message : undefined));
    child.stdin!.end(text);
  });

const lb = (spec: Partial<NonNullable<ServiceLike['spec']>>, ingress = ['10.213.250.7']): ServiceLike => ({
  metadata: { namespace: 'shop', name: 'pay' },
  spec: { type: 'LoadBalancer', clusterIP: '10.213.200.40', ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 31080 }], ...spec },
  status: { loadBalancer: { ingress: ingress.map((ip) => ({ ip })) } },
});
const eps: EndpointsLike[] = [
  {
    metadata: { namespace: 'shop', name: 'pay' },
    subsets: [{ addresses: [{ ip: '10.213.1.5', nodeName: 'w1' }, { ip: '10.213.2.7', nodeName: 'w2' }, { ip: '10.213.1.9', nodeName: 'w1' }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }],
  },
];
const lines = (text: string) => text.split('\n');
const chainOf = (l: string) => /-j (MKUBE-[A-Z]{3}-[0-9A-F]{16})$/.exec(l)?.[1];

test('LoadBalancer ingress IPs and external IPs are DNATed like node ports: masqueraded, then the service chain', async (t) => {
  const text = natRestoreInput([lb({ externalIPs: ['192.0.2.10'] })], eps, [], undefined, 'w1');
  const ls = lines(text);
  const svc = chainOf(ls.find((l) => l.includes('-d 10.213.200.40/32'))!)!;
  for (const ip of ['10.213.250.7', '192.0.2.10']) {
    t.deepEqual(ls.filter((l) => l.includes(`-d ${ip}/32`)), [
      `-A MKUBE-SERVICES -d ${ip}/32 -p tcp -m tcp --dport 80 -m comment --comment "shop/pay:80/TCP" -j MARK --set-xmark 0x4000/0x4000`,
      `-A MKUBE-SERVICES -d ${ip}/32 -p tcp -m tcp --dport 80 -m comment --comment "shop/pay:80/TCP" -j ${svc}`,
    ]);
  }
  // After the cluster IPs, before the node-port catch-all.
  const order = ls.filter((l) => l.startsWith('-A MKUBE-SERVICES')).map((l) => (l.includes('10.213.200.40') ? 'cluster' : l.includes('addrtype') ? 'nodeports' : 'external'));
  t.deepEqual(order, ['cluster', 'external', 'external', 'external', 'external', 'nodeports']);
  t.is(await restoreTest(text), undefined);
  // A ClusterIP Service's status is not an address to DNAT (only LoadBalancer's).
  const notLb = natRestoreInput([{ ...lb({ type: 'ClusterIP' }) }], eps);
  t.false(notLb.includes('10.213.250.7'));
});

test('sessionAffinity ClientIP: recent --rcheck per endpoint before the spread, recent --set at the DNAT, with timeoutSeconds', async (t) => {
  const text = natRestoreInput([lb({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } })], eps);
  const ls = lines(text);
  const svc = chainOf(ls.find((l) => l.includes('-d 10.213.200.40/32'))!)!;
  const chain = ls.filter((l) => l.startsWith(`-A ${svc} `));
  t.is(chain.length, 6);
  for (const l of chain.slice(0, 3)) t.regex(l, new RegExp(`^-A ${svc} -m recent --name (MKUBE-SEP-[0-9A-F]{16}) --mask 255.255.255.255 --rsource --rcheck --seconds 600 --reap -j \\1$`));
  t.regex(chain[3]!, /--probability 0.3333333333/);
  const sep = chainOf(chain[0]!)!;
  t.deepEqual(ls.filter((l) => l.startsWith(`-A ${sep} `)), [
    `-A ${sep} -s 10.213.1.5/32 -j MARK --set-xmark 0x4000/0x4000`,
    `-A ${sep} -p tcp -m recent --set --name ${sep} --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.213.1.5:8080`,
  ]);
  t.is(await restoreTest(text), undefined);
  // The default timeout is upstream's 10800 s.
  t.true(natRestoreInput([lb({ sessionAffinity: 'ClientIP' })], eps).includes('--seconds 10800 --reap'));
});

test('externalTrafficPolicy Local: node port and LB IP go to this node\'s endpoints without masquerade; local traffic still reaches all', async (t) => {
  const text = natRestoreInput([lb({ externalTrafficPolicy: 'Local' })], eps, [], undefined, 'w1');
  const ls = lines(text);
  const toLb = ls.filter((l) => l.includes('-d 10.213.250.7/32'));
  t.is(toLb.length, 1, 'no MARK for masquerade');
  const ext = chainOf(toLb[0]!)!;
  t.regex(ext, /^MKUBE-EXT-/);
  t.deepEqual(ls.filter((l) => l.startsWith('-A MKUBE-NODEPORTS ')), [`-A MKUBE-NODEPORTS -p tcp -m tcp --dport 31080 -m comment --comment "shop/pay:80/TCP" -j ${ext}`]);
  const extRules = ls.filter((l) => l.startsWith(`-A ${ext} `));
  const svc = chainOf(ls.find((l) => l.includes('-d 10.213.200.40/32'))!)!;
  t.is(extRules.length, 3);
  t.regex(extRules[0]!, /--src-type LOCAL -j MARK --set-xmark 0x4000\/0x4000$/);
  t.true(extRules[1]!.endsWith(`--src-type LOCAL -j ${svc}`));
  const svl = chainOf(extRules[2]!)!;
  t.regex(svl, /^MKUBE-SVL-/);
  // Only w1's two endpoints in the local chain; all three in the cluster chain.
  const dnat = (chain: string) =>
    ls.filter((l) => l.startsWith(`-A ${chain} `)).map((l) => chainOf(l)!).map((sep) => /--to-destination (\S+)/.exec(ls.find((l) => l.startsWith(`-A ${sep} -p`))!)![1]);
  t.deepEqual(dnat(svl), ['10.213.1.5:8080', '10.213.1.9:8080']);
  t.deepEqual(dnat(svc), ['10.213.1.5:8080', '10.213.1.9:8080', '10.213.2.7:8080']);
  t.is(await restoreTest(text), undefined);
  // With this node's pod CIDR: its pods reach every endpoint (kube-proxy's NodeCIDR detection), first in the chain.
  const withPods = lines(natRestoreInput([lb({ externalTrafficPolicy: 'Local' })], eps, [], undefined, 'w1', '10.213.61.0/24'));
  t.is(withPods.filter((l) => l.startsWith(`-A ${ext} `))[0], `-A ${ext} -s 10.213.61.0/24 -m comment --comment "pod traffic for shop/pay:80/TCP external destinations" -j ${svc}`);
  t.is(await restoreTest(withPods.join('\n')), undefined);
  t.false(natRestoreInput([lb({ externalTrafficPolicy: 'Local' })], eps, [], undefined, 'w1', '10.213.61.0/24 -j ACCEPT').includes('ACCEPT'), 'an unsafe CIDR is left out');
  // On a node without local endpoints: no jump to a local chain (nothing is DNATed from outside; the address refuses).
  const w3 = lines(natRestoreInput([lb({ externalTrafficPolicy: 'Local' })], eps, [], undefined, 'w3'));
  const ext3 = chainOf(w3.find((l) => l.includes('-d 10.213.250.7/32'))!)!;
  t.is(w3.filter((l) => l.startsWith(`-A ${ext3} `)).length, 2);
  t.false(w3.some((l) => l.startsWith('-A MKUBE-SVL-')));
});

test('internalTrafficPolicy Local: the cluster IP goes to this node\'s endpoints; none here → refused in the filter table', async (t) => {
  const svcs = [lb({ type: 'ClusterIP', internalTrafficPolicy: 'Local' }, [])];
  const w2 = lines(natRestoreInput(svcs, eps, [], undefined, 'w2'));
  const svl = chainOf(w2.find((l) => l.includes('-d 10.213.200.40/32'))!)!;
  t.regex(svl, /^MKUBE-SVL-/);
  t.deepEqual(w2.filter((l) => l.startsWith(`-A ${svl} `)).length, 1);
  t.is(await restoreTest(w2.join('\n')), undefined);
  const w3 = natRestoreInput(svcs, eps, [], undefined, 'w3');
  t.false(w3.includes('-d 10.213.200.40/32'));
  const filter = filterRestoreInput(svcs, eps, undefined, 'w3');
  t.true(filter.includes('-A MKUBE-SERVICES -d 10.213.200.40/32 -p tcp -m tcp --dport 80 -m comment --comment "shop/pay:80/TCP has no local endpoints" -j REJECT --reject-with icmp-port-unreachable'));
  t.is(filterRestoreInput(svcs, eps, undefined, 'w2').split('\n').length, 4, 'nothing refused where an endpoint is local');
  t.is(await restoreTest(filter), undefined);
});

test('a LoadBalancer without endpoints refuses on its LB IP too', async (t) => {
  const filter = filterRestoreInput([lb({})], []);
  t.true(filter.includes('-d 10.213.250.7/32 -p tcp -m tcp --dport 80 -m comment --comment "shop/pay:80/TCP has no endpoints" -j REJECT'));
  t.is(await restoreTest(filter), undefined);
});

test('topology: ready endpoints serve; without any ready, serving terminating ones — chosen apart for the cluster and the node', (t) => {
  const slice = (eps_: Array<[string, string, { ready?: boolean; serving?: boolean; terminating?: boolean }]>) => ({
    metadata: { name: 'pay-a', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'pay' } },
    addressType: 'IPv4',
    endpoints: eps_.map(([ip, nodeName, conditions]) => ({ addresses: [ip], nodeName, conditions })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  });
  const e = endpointsFromSlices(
    [
      slice([
        ['10.213.1.5', 'w1', { ready: false, serving: true, terminating: true }],
        ['10.213.1.6', 'w1', { ready: false, serving: false, terminating: true }],
        ['10.213.2.7', 'w2', { ready: true, serving: true }],
      ]),
    ],
    [],
  );
  const [sp] = backendsByServicePort([lb({ externalTrafficPolicy: 'Local' })], e, undefined, 'w1');
  t.deepEqual(sp!.backends, [{ ip: '10.213.2.7', port: 8080 }], 'cluster-wide: the ready one');
  t.deepEqual(sp!.localBackends, [{ ip: '10.213.1.5', port: 8080 }], 'on w1: none ready, so the serving terminating one');
});

test('sink guard: poisoned external IPs, LB IPs, affinity timeouts, policies and node names are refused; the rest still produced', async (t) => {
  const good = lb({});
  const bad: ServiceLike[] = [
    { ...lb({ externalIPs: ['1.2.3.4 -j ACCEPT'] }), metadata: { namespace: 'shop', name: 'a' } },
    { ...lb({}, ['10.0.0.1\nCOMMIT']), metadata: { namespace: 'shop', name: 'b' } },
    { ...lb({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: '5 -j ACCEPT' as unknown as number } } }), metadata: { namespace: 'shop', name: 'c' } },
    { ...lb({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 86401 } } }), metadata: { namespace: 'shop', name: 'd' } },
    { ...lb({ externalTrafficPolicy: 'Local; rm' }), metadata: { namespace: 'shop', name: 'e' } },
  ];
  const badEps: EndpointsLike[] = [...eps, { metadata: { namespace: 'shop', name: 'f' }, subsets: [{ addresses: [{ ip: '10.1.1.1', nodeName: 'w1 x' }], ports: [{ port: 80 }] }] }];
  const refused: string[] = [];
  const text = natRestoreInput([good, ...bad], badEps, [], (r) => refused.push(`${r.key} ${r.field}`), 'w1');
  t.deepEqual(refused.sort(), [
    'Endpoints shop/f subsets[0].addresses[0].nodeName',
    'Service shop/a spec.externalIPs[0]',
    'Service shop/b status.loadBalancer.ingress[0].ip',
    'Service shop/c spec.sessionAffinityConfig.clientIP.timeoutSeconds',
    'Service shop/d spec.sessionAffinityConfig.clientIP.timeoutSeconds',
    'Service shop/e spec.externalTrafficPolicy',
  ]);
  t.is(text, natRestoreInput([good], eps, [], undefined, 'w1'));
  t.is(await restoreTest(text), undefined);
});
