// NetworkPolicy semantics and the sink guard without containers: which of a node's pods are isolated
// and what they are allowed (union of selecting policies, pod/namespace/both selectors, ipBlock with
// except, named ports per destination pod, endPort, empty rule list = deny, `{}` rule = allow all), the
// iptables-restore text (accepted by the real iptables-restore --test), and poisoned policies and pods
// refused by the guard (as an older or compromised API server could send them).
import test from 'ava';
import { execFile } from 'node:child_process';
import { checkNetworkPolicy, checkPod, parseV4Cidr, formatV4Cidr } from '../src/netpol/netpol_guard.js';
import type { NetworkPolicy, Pod } from '@mkube/api';
import { netpolRestoreInput, podPolicies } from '../src/netpol/netpol_rules.js';
import { NetworkPolicyEnforcer } from '../src/netpol/netpol_enforcer.js';
import { SinkRefusal } from '../src/proxy/sink_guard.js';
import { silentLogger } from '../src/logger.js';

function iptablesTest(text: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = execFile('iptables-restore', ['--test', '--noflush'], (e, _out, stderr) => resolve(e ? stderr || e.message : undefined));
    child.stdin!.end(text);
  });
}

const pod = (ns: string, name: string, node: string, ip: string, labels: Record<string, string> = {}, ports: Array<{ name?: string; containerPort: number; protocol?: string }> = []): Pod => ({
  metadata: { namespace: ns, name, uid: `uid-${ns}-${name}`, labels },
  spec: { nodeName: node, containers: [{ name: 'c', ports }] },
  status: { phase: 'Running', podIP: ip },
});
const pol = (ns: string, name: string, spec: NetworkPolicy['spec']): NetworkPolicy => ({ metadata: { namespace: ns, name }, spec });
const nss = [{ metadata: { name: 'srv' } }, { metadata: { name: 'a', labels: { team: 'a' } } }, { metadata: { name: 'b', labels: { team: 'b' } } }];
const PODS = [
  pod('srv', 'web', 'n1', '10.213.202.10', { app: 'web' }, [{ name: 'http', containerPort: 8080 }, { name: 'dns', containerPort: 5353, protocol: 'UDP' }]),
  pod('srv', 'db', 'n1', '10.213.202.11', { app: 'db' }),
  pod('a', 'cli', 'n2', '10.213.203.10', { app: 'cli' }),
  pod('a', 'other', 'n2', '10.213.203.11', { app: 'other' }),
  pod('b', 'cli', 'n2', '10.213.203.12', { app: 'cli' }, [{ name: 'http', containerPort: 9090 }]),
];
const peers = (allows: Array<{ peer?: { base: number; bits: number } }> | undefined) => (allows ?? []).map((a) => (a.peer ? formatV4Cidr(a.peer) : 'any'));

test('isolation: only selected pods of the node, per policy type; an empty rule list denies; no policy = not isolated', (t) => {
  const plan = podPolicies('n1', [pol('srv', 'deny', { podSelector: { matchLabels: { app: 'web' } } })], PODS, nss);
  t.deepEqual(plan.map((p) => [p.key, p.ingress, p.egress]), [['srv/web', [], undefined]]);
  t.deepEqual(podPolicies('n2', [pol('srv', 'deny', { podSelector: {} })], PODS, nss), [], 'the policy of another namespace, pods of another node');
  const both = podPolicies('n1', [pol('srv', 'e', { podSelector: {}, policyTypes: ['Egress'] })], PODS, nss);
  t.deepEqual(both.map((p) => [p.key, p.ingress, p.egress]), [['srv/db', undefined, []], ['srv/web', undefined, []]]);
  const all = podPolicies('n1', [pol('srv', 'all', { podSelector: {}, ingress: [{}] })], PODS, nss);
  t.deepEqual(all.map((p) => p.ingress), [[{ peer: undefined, except: undefined }], [{ peer: undefined, except: undefined }]], 'a `{}` rule allows everything');
});

test('peers: podSelector in the policy namespace, namespaceSelector, both, ipBlock with except; union of policies', (t) => {
  const plan = podPolicies('n1', [
    pol('srv', 'p1', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'db' } } }] }] }),
    pol('srv', 'p2', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'a' } }, podSelector: { matchLabels: { app: 'cli' } } }, { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['b'] }] } }] }] }),
    pol('srv', 'p3', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ ipBlock: { cidr: '192.168.7.9/16', except: ['192.168.1.0/24'] } }] }] }),
  ], PODS, nss);
  t.is(plan.length, 1);
  t.deepEqual(peers(plan[0]!.ingress), ['10.213.202.11/32', '10.213.203.10/32', '10.213.203.12/32', '192.168.0.0/16']);
  t.deepEqual(plan[0]!.ingress![3]!.except!.map(formatV4Cidr), ['192.168.1.0/24']);
});

test('ports: numbers, ranges, protocols, named ports resolved on the destination pod (ingress: this pod; egress: each peer pod)', (t) => {
  const ing = podPolicies('n1', [pol('srv', 'p', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port: 'http' }, { port: 'dns', protocol: 'UDP' }, { port: 'nope' }, { port: 7000, endPort: 7100, protocol: 'SCTP' }, { protocol: 'UDP' }] }] })], PODS, nss);
  t.deepEqual(ing[0]!.ingress, [{ protocol: 'TCP', port: 8080 }, { protocol: 'UDP', port: 5353 }, { protocol: 'SCTP', port: 7000, endPort: 7100 }, { protocol: 'UDP' }].map((a) => ({ peer: undefined, except: undefined, ...a })));
  const eg = podPolicies('n2', [pol('a', 'p', { podSelector: { matchLabels: { app: 'cli' } }, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'http' }] }] })], PODS, nss);
  t.deepEqual(eg[0]!.egress!.map((a) => `${formatV4Cidr(a.peer!)}:${a.port}`), ['10.213.202.10/32:8080', '10.213.203.12/32:9090'], 'each pod with an "http" port, on its own number');
});

test('restore text: our chains only, stale ones deleted, accepted by iptables-restore', async (t) => {
  const plan = podPolicies('n1', [
    pol('srv', 'p', { podSelector: {}, policyTypes: ['Ingress', 'Egress'], ingress: [{ from: [{ ipBlock: { cidr: '10.213.0.0/16', except: ['10.213.203.0/24'] } }], ports: [{ port: 80, endPort: 90 }] }], egress: [{ to: [{ podSelector: {} }], ports: [{ port: 53, protocol: 'UDP' }] }] }),
  ], PODS, nss);
  const text = netpolRestoreInput(plan, ['MKUBE-NPI-0123456789ABCDEF', 'MKUBE-NETPOL']);
  t.true(text.startsWith('*filter\n:MKUBE-NETPOL - [0:0]\n'));
  t.regex(text, /^-A MKUBE-NETPOL -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN$/m);
  t.regex(text, /^-A MKUBE-NETPOL -d 10\.213\.202\.10\/32 -m comment --comment "srv\/web ingress" -j MKUBE-NPI-[0-9A-F]{16}$/m);
  t.regex(text, /^-A MKUBE-NPX-[0-9A-F]{16} -s 10\.213\.203\.0\/24 -j RETURN$/m);
  t.regex(text, /^-A MKUBE-NPX-[0-9A-F]{16} -p tcp -m tcp --dport 80:90 -j MARK --set-xmark 0x10000\/0x10000$/m);
  t.regex(text, /^-X MKUBE-NPI-0123456789ABCDEF$/m);
  t.notRegex(text, /FORWARD|^:INPUT|-F /m, 'nothing but our chains');
  t.is(await iptablesTest(text), undefined);
});

test('sink guard: poisoned policy and pod values are refused with their field', (t) => {
  const refusal = (fn: () => void) => t.throws(fn, { instanceOf: SinkRefusal }) as SinkRefusal;
  const base = (spec: object) => ({ metadata: { namespace: 'srv', name: 'p' }, spec });
  t.notThrows(() => checkNetworkPolicy(base({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }, { ipBlock: { cidr: '2001:db8::/32' } }], ports: [{ port: 'http' }, { port: 1, endPort: 65535, protocol: 'SCTP' }] }] })));
  t.is(refusal(() => checkNetworkPolicy(base({ egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0 -j ACCEPT' } }] }] }))).field, 'spec.egress[0].to[0].ipBlock.cidr');
  t.is(refusal(() => checkNetworkPolicy(base({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16\n-A FORWARD -j ACCEPT'] } }] }] }))).field, 'spec.egress[0].to[0].ipBlock.except[0]');
  t.is(refusal(() => checkNetworkPolicy(base({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.0.0/8'] } }] }] }))).field, 'spec.egress[0].to[0].ipBlock.except[0]');
  t.is(refusal(() => checkNetworkPolicy(base({ ingress: [{ ports: [{ port: 80, endPort: 79 }] }] }))).field, 'spec.ingress[0].ports[0].endPort');
  t.is(refusal(() => checkNetworkPolicy(base({ ingress: [{ ports: [{ port: '80 -j ACCEPT' }] }] }))).field, 'spec.ingress[0].ports[0].port');
  t.is(refusal(() => checkNetworkPolicy(base({ ingress: [{ ports: [{ port: 80, protocol: 'tcp --dport 1' }] }] }))).field, 'spec.ingress[0].ports[0].protocol');
  t.is(refusal(() => checkNetworkPolicy({ metadata: { namespace: 'srv', name: 'p" -j ACCEPT' }, spec: {} })).field, 'metadata.name');
  t.is(refusal(() => checkPod({ ...pod('a', 'x', 'n1', '10.0.0.1'), status: { podIP: '10.0.0.1 -j ACCEPT' } })).field, 'status.podIP');
  t.is(refusal(() => checkPod(pod('a', 'x', 'n1', '10.0.0.1', {}, [{ name: 'http', containerPort: 70000 }]))).field, 'spec.containers[0].ports[0].containerPort');
  t.deepEqual(parseV4Cidr('10.1.2.3/8'), { base: 10 * 2 ** 24, bits: 8 });
  t.is(parseV4Cidr('010.1.2.3/8'), undefined);
  t.is(parseV4Cidr('10.1.2.3/08'), undefined);
});

test('the enforcer: a refused policy keeps its last good version, or without one isolates and allows nothing; refused pods are left out', async (t) => {
  let policies: NetworkPolicy[] = [pol('srv', 'p', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.213.0.0/16' } }] }] })];
  let pods: Pod[] = PODS;
  const e = new NetworkPolicyEnforcer({ pods: () => pods, namespaces: () => nss, policies: () => policies }, 'n1', silentLogger);
  const plan = () => podPolicies('n1', (e as unknown as { policies(): NetworkPolicy[] }).policies(), (e as unknown as { pods(): Pod[] }).pods(), nss);
  t.deepEqual(peers(plan()[0]!.ingress), ['10.213.0.0/16']);
  policies = [pol('srv', 'p', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ ipBlock: { cidr: '0.0.0.0/0 -j ACCEPT' } }] }] })];
  t.deepEqual(peers(plan()[0]!.ingress), ['10.213.0.0/16'], 'the last good version');
  t.is(e.refused, 1);
  plan();
  t.is(e.refused, 1, 'reported once');
  policies = [pol('srv', 'q', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ ipBlock: { cidr: '1.2.3.4/32 -j ACCEPT' } }] }] })];
  t.deepEqual(plan().map((p) => [p.key, p.ingress]), [['srv/db', []]], 'no last good version: isolated, nothing allowed');
  pods = [...PODS, { ...pod('srv', 'evil', 'n1', '10.213.202.99', { app: 'db' }), status: { podIP: '10.213.202.99 -j ACCEPT' } }];
  t.deepEqual(plan().map((p) => p.key), ['srv/db'], 'the poisoned pod is left out');
  t.is(e.refused, 3);
});
