// The service proxy's nat rules: one chain per service port spreading over its
// ready endpoints with equal probability, DNAT per endpoint, node ports, hairpin
// masquerade, stale chains deleted; the text is accepted by the real iptables-restore.
import test from 'ava';
import { execFile } from 'node:child_process';
import { filterRestoreInput, natRestoreInput, backendsByServicePort, type EndpointsLike, type ServiceLike } from '../src/proxy/service_rules.js';

const services: ServiceLike[] = [
  { metadata: { namespace: 'shop', name: 'web' }, spec: { type: 'NodePort', clusterIP: '10.213.200.10', ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }, { name: 'metrics', port: 9090, nodePort: 30090 }] } },
  { metadata: { namespace: 'shop', name: 'empty' }, spec: { clusterIP: '10.213.200.11', ports: [{ port: 80 }] } },
  { metadata: { namespace: 'shop', name: 'headless' }, spec: { clusterIP: 'None', ports: [{ port: 80 }] } },
];
const endpoints: EndpointsLike[] = [
  {
    metadata: { namespace: 'shop', name: 'web' },
    subsets: [
      { addresses: [{ ip: '10.213.1.5' }, { ip: '10.213.2.7' }, { ip: '10.213.1.9' }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'metrics', port: 9100 }] },
    ],
  },
  { metadata: { namespace: 'shop', name: 'empty' }, subsets: [] },
];

test('backends per service port: ready addresses with the named endpoint port; headless and empty services have none', (t) => {
  const b = backendsByServicePort(services, endpoints);
  t.deepEqual(
    b.map((x) => [x.key, x.clusterIP, x.backends.map((e) => `${e.ip}:${e.port}`)]),
    [
      ['shop/empty:80/TCP', '10.213.200.11', []],
      ['shop/web:80/TCP', '10.213.200.10', ['10.213.1.5:8080', '10.213.1.9:8080', '10.213.2.7:8080']],
      ['shop/web:9090/TCP', '10.213.200.10', ['10.213.1.5:9100', '10.213.1.9:9100', '10.213.2.7:9100']],
    ],
  );
});

test('nat rules: equal-probability spread, DNAT, hairpin mark, stale chains removed; iptables-restore accepts them', async (t) => {
  const text = natRestoreInput(services, endpoints, ['MKUBE-SVC-0000000000000000', 'MKUBE-SEP-1111111111111111', 'KUBE-SERVICES']);
  const lines = text.split('\n');
  t.is(lines[0], '*nat');
  t.is(lines.at(-2), 'COMMIT');
  const toWeb = lines.filter((l) => l.startsWith('-A MKUBE-SERVICES') && l.includes('-d 10.213.200.10/32'));
  t.is(toWeb.length, 2);
  t.regex(toWeb[0]!, /-p tcp -m tcp --dport 80 -m comment --comment "shop\/web:80\/TCP" -j MKUBE-SVC-[0-9A-F]{16}$/);
  t.false(lines.some((l) => l.includes('10.213.200.11')), 'no rules for a service without endpoints');
  const svc = /-j (MKUBE-SVC-[0-9A-F]{16})$/.exec(toWeb[0]!)![1]!;
  const spread = lines.filter((l) => l.startsWith(`-A ${svc} `));
  t.deepEqual(spread.map((l) => /--probability (\S+)/.exec(l)?.[1] ?? 'rest'), ['0.3333333333', '0.5000000000', 'rest']);
  const sep = /-j (MKUBE-SEP-[0-9A-F]{16})$/.exec(spread[0]!)![1]!;
  t.deepEqual(lines.filter((l) => l.startsWith(`-A ${sep} `)), [`-A ${sep} -s 10.213.1.5/32 -j MARK --set-xmark 0x4000/0x4000`, `-A ${sep} -p tcp -m tcp -j DNAT --to-destination 10.213.1.5:8080`]);
  t.true(lines.includes('-A MKUBE-POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE'));
  // Node ports: after the cluster IPs, for any local address; marked for masquerade, then the service chain.
  const services_ = lines.filter((l) => l.startsWith('-A MKUBE-SERVICES '));
  t.is(services_.at(-1), '-A MKUBE-SERVICES -m addrtype --dst-type LOCAL -j MKUBE-NODEPORTS');
  t.deepEqual(lines.filter((l) => l.startsWith('-A MKUBE-NODEPORTS ') && l.includes('--dport 30080')), [
    '-A MKUBE-NODEPORTS -p tcp -m tcp --dport 30080 -m comment --comment "shop/web:80/TCP" -j MARK --set-xmark 0x4000/0x4000',
    `-A MKUBE-NODEPORTS -p tcp -m tcp --dport 30080 -m comment --comment "shop/web:80/TCP" -j ${svc}`,
  ]);
  t.true(lines.includes('-X MKUBE-SVC-0000000000000000'));
  t.true(lines.includes('-X MKUBE-SEP-1111111111111111'));
  t.false(lines.some((l) => l.includes('KUBE-SERVICES') && !l.includes('MKUBE-SERVICES')), 'chains of others are left alone');
  // The real parser (a dry run: nothing is committed).
  const err = await new Promise<string | undefined>((resolve) => {
    const child = execFile('iptables-restore', ['--test', '--noflush'], (e, _out, stderr) => resolve(e ? stderr || e.message : undefined));
    child.stdin!.end(natRestoreInput(services, endpoints));
  });
  t.is(err, undefined);
});

test('filter rules: a service port without endpoints is refused at once; iptables-restore accepts them', async (t) => {
  const text = filterRestoreInput(services, endpoints);
  t.deepEqual(text.split('\n'), [
    '*filter',
    ':MKUBE-SERVICES - [0:0]',
    '-A MKUBE-SERVICES -d 10.213.200.11/32 -p tcp -m tcp --dport 80 -m comment --comment "shop/empty:80/TCP has no endpoints" -j REJECT --reject-with icmp-port-unreachable',
    'COMMIT',
    '',
  ]);
  const err = await new Promise<string | undefined>((resolve) => {
    const child = execFile('iptables-restore', ['--test', '--noflush'], (e, _out, stderr) => resolve(e ? stderr || e.message : undefined));
    child.stdin!.end(text);
  });
  t.is(err, undefined);
});

test('a poisoned Endpoints or Service given directly to the builders (bypassing the API) is left out; the other rules are produced and accepted by iptables-restore', async (t) => {
  const poisonedServices: ServiceLike[] = [...services, { metadata: { namespace: 'shop', name: 'evil' }, spec: { clusterIP: '10.213.200.12 -j ACCEPT', ports: [{ port: 80 }] } }];
  const poisonedEndpoints: EndpointsLike[] = [
    ...endpoints.filter((e) => e.metadata.name !== 'empty'),
    { metadata: { namespace: 'shop', name: 'empty' }, subsets: [{ addresses: [{ ip: '10.0.0.1\nCOMMIT\n*filter' }], ports: [{ port: 80 }] }] },
  ];
  const refused: string[] = [];
  const nat = natRestoreInput(poisonedServices, poisonedEndpoints, [], (r) => refused.push(`${r.key} ${r.field}`));
  t.deepEqual(refused.sort(), ['Endpoints shop/empty subsets[0].addresses[0].ip', 'Service shop/evil spec.clusterIP']);
  t.is(nat, natRestoreInput(services, endpoints), 'exactly the rules of the good objects');
  const err = await new Promise<string | undefined>((resolve) => {
    const child = execFile('iptables-restore', ['--test', '--noflush'], (e, _out, stderr) => resolve(e ? stderr || e.message : undefined));
    child.stdin!.end(nat);
  });
  t.is(err, undefined);
  t.is(filterRestoreInput(poisonedServices, poisonedEndpoints), filterRestoreInput(services, endpoints));
});
