// The pod network across subnets on real containers: two lab workers on two
// different lab subnets (lab.sh --segments 2: the host routes node IPs between
// them, nothing routes pod subnets) run mkube-node-agent with
// --pod-network-mode vxlan. Each agent creates mkube.1 and publishes its MAC;
// an nginx pod on each node reaches the other by pod IP (busybox wget) and
// through the service proxy's cluster IPs; pods get the underlay MTU minus 50.
// A node that comes and goes adds and then removes its FDB entry, neighbour and
// route; poisoned annotations (a MAC with whitespace, a VTEP address outside
// the node's pod CIDR) are refused at the sink and leave the others working.
import test from 'ava';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Resources, type KubeObject } from '@mkube/client';
import { kubectl, run, startAgent, startControlPlane, tmpRoot, waitFor, type AgentProcess, type ControlPlane } from './cluster_helper.js';
import { labDown, labUp, type LabNode, type LabSummary } from './lab_helper.js';
import { VXLAN_BACKEND_DATA_ANNOTATION, VXLAN_PUBLIC_IP_ANNOTATION } from '../src/proxy/sink_guard.js';

const LAB = 'mkvx';
// Nodes 10.213.164.0/25 (w1) and 10.213.164.128/25 (w2), pods 10.213.165.0/24 and 10.213.166.0/24,
// test nodes' pod CIDRs in 10.213.167.0/24 (never routed outside the workers' overlay).
const SUBNET = 164;
const DEV = 'mkube.1';

let lab: LabSummary | undefined;
let cp: ControlPlane | undefined;
const agents: AgentProcess[] = [];
const roots: string[] = [];

test.after.always(async () => {
  for (const a of agents) await a.kill('SIGKILL');
  await cp?.stop();
  await labDown(LAB);
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

const ipj = async <T>(netns: string, args: string[], cmd = 'ip'): Promise<T[]> => {
  const out = (await run(cmd, ['-n', netns, '-j', ...args], 10_000)).stdout.trim();
  return out ? (JSON.parse(out) as T[]) : [];
};
/** The overlay state of a worker, one line per entry. */
async function overlay(netns: string): Promise<{ fdb: string[]; neigh: string[]; routes: string[] }> {
  const [fdb, neigh, routes] = await Promise.all([
    ipj<{ mac: string; dst?: string }>(netns, ['fdb', 'show', 'dev', DEV], 'bridge'),
    ipj<{ dst: string; lladdr?: string }>(netns, ['-4', 'neigh', 'show', 'dev', DEV, 'nud', 'permanent']),
    ipj<{ dst: string; gateway?: string; flags?: string[] }>(netns, ['-4', 'route', 'show', 'dev', DEV]),
  ]);
  return {
    fdb: fdb.filter((f) => f.dst).map((f) => `${f.mac} dst ${f.dst}`).sort(),
    neigh: neigh.map((n) => `${n.dst} lladdr ${n.lladdr}`).sort(),
    routes: routes.filter((r) => r.gateway).map((r) => `${r.dst} via ${r.gateway}${r.flags?.includes('onlink') ? ' onlink' : ''}`).sort(),
  };
}
async function device(netns: string): Promise<{ address: string; mtu: number; linkinfo: { info_kind: string; info_data: { id: number; local: string; port: number; learning: boolean } } } | undefined> {
  const [l] = await ipj<{ address: string; mtu: number; linkinfo: { info_kind: string; info_data: { id: number; local: string; port: number; learning: boolean } } }>(netns, ['-d', 'link', 'show', DEV]).catch(() => []);
  return l;
}

const ghostData = (mac: string, vtepIP: string) => JSON.stringify({ VNI: 1, VtepMAC: mac, VtepIP: vtepIP });
/** Set by the first test for the next: the workers, their roots and the two pods' IPs. */
const shared: { w1?: LabNode; w2?: LabNode; root1?: string; ip1?: string; ip2?: string } = {};

test.serial('two workers on two lab subnets: pods reach each other by pod IP and through cluster IPs over the VXLAN overlay; entries follow nodes; poisoned annotations are refused', async (t) => {
  lab = await labUp(['--workers', '2', '--name', LAB, '--subnet', String(SUBNET), '--segments', '2'], 120_000);
  const [w1, w2] = [lab.workers[0]!, lab.workers[1]!] as [LabNode, LabNode];
  t.is(w1.nodeIP, '10.213.164.11');
  t.is(w2.nodeIP, '10.213.164.140');
  // Different subnets: the other worker is reached through the host (a gateway), and its pods not at all yet.
  t.regex((await run('ip', ['-n', w1.netns, 'route', 'get', w2.nodeIP], 10_000)).stdout, / via 10\.213\.164\.1 /);
  cp = await startControlPlane(LAB, { bindAddress: lab.gateway, advertiseAddress: lab.gateway });
  for (const w of [w1, w2]) {
    const root = tmpRoot(`${LAB}-${w.name}`);
    roots.push(root);
    agents.push(await startAgent(cp, w, root, ['--pod-cidr', w.podCIDR, '--node-lease-renew-interval', '2', '--pod-network-mode', 'vxlan', '--cni-conf-dir', join(w.stateDir, 'cni', 'net.d')], { netns: true }));
  }
  const [a1, a2] = agents as [AgentProcess, AgentProcess];
  Object.assign(shared, { w1, w2, root1: roots[0] });

  // The devices, as flannel's: VNI 1, port 8472, local = node IP, nolearning, MTU 1500 - 50; the MAC published.
  const nodes = cp.client.resource(Resources.nodes);
  const dev1 = await waitFor('mkube.1 on w1', 30_000, () => device(w1.netns));
  const dev2 = await waitFor('mkube.1 on w2', 30_000, () => device(w2.netns));
  t.like(dev1, { mtu: 1450, linkinfo: { info_kind: 'vxlan', info_data: { id: 1, local: w1.nodeIP, port: 8472, learning: false } } });
  t.like(dev2, { mtu: 1450, linkinfo: { info_kind: 'vxlan', info_data: { id: 1, local: w2.nodeIP, port: 8472, learning: false } } });
  const n2 = await waitFor('w2 publishes its backend data', 30_000, async () => {
    const n = await nodes.get(undefined, w2.name);
    return n.metadata.annotations?.[VXLAN_BACKEND_DATA_ANNOTATION] ? n : undefined;
  });
  t.deepEqual(JSON.parse(n2.metadata.annotations![VXLAN_BACKEND_DATA_ANNOTATION]!), { VNI: 1, VtepMAC: dev2!.address, VtepIP: '10.213.166.0' });
  t.is(n2.metadata.annotations![VXLAN_PUBLIC_IP_ANNOTATION], w2.nodeIP);

  // Each worker: FDB (peer MAC → peer node IP), neighbour (peer VTEP → MAC), route to the peer's pods onlink.
  const expect = (peer: LabNode, mac: string, vtep: string) => ({ fdb: [`${mac} dst ${peer.nodeIP}`], neigh: [`${vtep} lladdr ${mac}`], routes: [`${peer.podCIDR} via ${vtep} onlink`] });
  await waitFor('w1 overlay entries for w2', 30_000, async () => (JSON.stringify(await overlay(w1.netns)) === JSON.stringify(expect(w2, dev2!.address, '10.213.166.0')) ? true : undefined));
  await waitFor('w2 overlay entries for w1', 30_000, async () => (JSON.stringify(await overlay(w2.netns)) === JSON.stringify(expect(w1, dev1!.address, '10.213.165.0')) ? true : undefined));
  t.regex((await run('ip', ['-n', w1.netns, 'route', 'get', '10.213.166.5'], 10_000)).stdout, /via 10\.213\.166\.0 dev mkube\.1/);

  // nginx on each node (its image carries busybox's wget).
  const pods = cp.client.resource(Resources.pods);
  const mk = (name: string, node: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: name } },
    spec: { nodeName: node, terminationGracePeriodSeconds: 1, containers: [{ name: 'nginx', image: 'nginx', imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', `echo ${name} > /usr/share/nginx/html/index.html && exec nginx -g 'daemon off;'`] }] },
  });
  await pods.create('default', mk('web1', w1.name));
  await pods.create('default', mk('web2', w2.name));
  const running = (name: string) =>
    waitFor(`${name} Running`, 60_000, async () => {
      const p = await pods.get('default', name);
      return p.status?.phase === 'Running' && p.status?.podIP ? p : undefined;
    });
  const [p1, p2] = [await running('web1'), await running('web2')];
  t.true(p1.status.podIP.startsWith('10.213.165.'), p1.status.podIP);
  t.true(p2.status.podIP.startsWith('10.213.166.'), p2.status.podIP);
  Object.assign(shared, { ip1: p1.status.podIP, ip2: p2.status.podIP });
  const exec = (pod: string, args: string[]) => kubectl(cp!, ['exec', pod, '--', ...args]);
  // Pods' interfaces: the underlay's MTU minus 50 (the conflist's bridge plugin).
  t.is((await exec('web1', ['cat', '/sys/class/net/eth0/mtu'])).stdout.trim(), '1450');
  t.is((await exec('web2', ['cat', '/sys/class/net/eth0/mtu'])).stdout.trim(), '1450');
  const wget = (from: string, url: string, want: string) =>
    waitFor(`${from} → ${url}`, 20_000, async () => {
      const r = await exec(from, ['timeout', '5', 'wget', '-qO-', url]).catch(() => undefined);
      return r?.stdout.trim() === want ? want : undefined;
    });
  t.is(await wget('web1', `http://${p2.status.podIP}/`, 'web2'), 'web2');
  t.is(await wget('web2', `http://${p1.status.podIP}/`, 'web1'), 'web1');
  // A large response (many full-size segments) crosses without fragmentation trouble.
  await exec('web2', ['sh', '-c', 'head -c 300000 /dev/zero | tr "\\0" x > /usr/share/nginx/html/big']);
  const big = await exec('web1', ['sh', '-c', `timeout 10 wget -qO- http://${p2.status.podIP}/big | wc -c`]);
  t.is(big.stdout.trim(), '300000');
  // It went through the devices (encapsulated), not around them.
  for (const w of [w1, w2]) {
    const [s] = await ipj<{ stats64: { rx: { bytes: number }; tx: { bytes: number } } }>(w.netns, ['-s', 'link', 'show', DEV]);
    t.true(s!.stats64.rx.bytes > 300_000 || s!.stats64.tx.bytes > 300_000, `${w.name}: ${JSON.stringify(s!.stats64)}`);
  }

  // The service proxy: a cluster IP per pod (selector-less Services with their Endpoints), answered from both nodes.
  const services = cp.client.resource(Resources.services);
  const endpoints = cp.client.resource(Resources.endpoints);
  const ips: Record<string, string> = {};
  for (const [name, ip] of [['web1', p1.status.podIP], ['web2', p2.status.podIP]] as const) {
    const svc = await services.create('default', { apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${name}`, namespace: 'default' }, spec: { ports: [{ name: 'http', port: 8080, targetPort: 80, protocol: 'TCP' }] } });
    await endpoints.create('default', { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: `svc-${name}`, namespace: 'default' }, subsets: [{ addresses: [{ ip }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }] });
    ips[name] = svc.spec.clusterIP as string;
  }
  for (const from of ['web1', 'web2']) {
    for (const to of ['web1', 'web2']) t.is(await wget(from, `http://${ips[to]}:8080/`, to), to, `${from} → svc-${to}`);
  }

  // A node comes (entries on both workers) and goes (entries removed: the lists are back to the real peer).
  await nodes.create(undefined, {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: `${LAB}-ghost`, annotations: { [VXLAN_BACKEND_DATA_ANNOTATION]: ghostData('0a:00:00:00:01:99', '10.213.167.0'), [VXLAN_PUBLIC_IP_ANNOTATION]: '10.213.164.99' } },
    spec: { podCIDR: '10.213.167.0/24' },
  });
  const withGhost = (o: { fdb: string[]; neigh: string[]; routes: string[] }) =>
    o.fdb.includes('0a:00:00:00:01:99 dst 10.213.164.99') && o.neigh.includes('10.213.167.0 lladdr 0a:00:00:00:01:99') && o.routes.includes('10.213.167.0/24 via 10.213.167.0 onlink');
  await waitFor('ghost entries on w1', 45_000, async () => (withGhost(await overlay(w1.netns)) ? true : undefined));
  await waitFor('ghost entries on w2', 45_000, async () => (withGhost(await overlay(w2.netns)) ? true : undefined));

  // Poisoned annotations: refused at the sink, logged; a good node's poisoned update keeps its last good entries.
  await nodes.create(undefined, {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: `${LAB}-badmac`, annotations: { [VXLAN_BACKEND_DATA_ANNOTATION]: ghostData('0a:00:00:00:01:98 dev eth0', '10.213.167.128'), [VXLAN_PUBLIC_IP_ANNOTATION]: '10.213.164.98' } },
    spec: { podCIDR: '10.213.167.128/25' },
  });
  await nodes.create(undefined, {
    apiVersion: 'v1', kind: 'Node',
    // Its VTEP address is w1's pod range: written, it would claim w1's pods.
    metadata: { name: `${LAB}-badvtep`, annotations: { [VXLAN_BACKEND_DATA_ANNOTATION]: ghostData('0a:00:00:00:01:97', '10.213.165.7'), [VXLAN_PUBLIC_IP_ANNOTATION]: '10.213.164.97' } },
    spec: { podCIDR: '10.213.167.64/26' },
  });
  await nodes.patch(undefined, `${LAB}-ghost`, { metadata: { annotations: { [VXLAN_BACKEND_DATA_ANNOTATION]: ghostData(' 0a:00:00:00:01:96', '10.213.167.0') } } }, 'merge');
  for (const a of [a1, a2]) {
    await waitFor('refusals logged', 30_000, () => {
      const l = a.logs();
      return ['Node default/mkvx-badmac', 'Node default/mkvx-badvtep', 'Node default/mkvx-ghost'].every((k) => l.includes(k) && l.includes('node refused by the vxlan sync')) ? true : undefined;
    });
  }
  t.regex(a1.logs(), /VtepIP.*outside the node's podCIDR 10\.213\.167\.64\/26/);
  // Counted: the agent's refusal counter (its metrics endpoint listens on 127.0.0.1 in the worker's namespace).
  for (const [w, a] of [[w1, a1], [w2, a2]] as const) {
    const m = (await run('ip', ['netns', 'exec', w.netns, 'busybox', 'wget', '-qO-', `http://127.0.0.1:${a.metricsPort}/metrics`], 10_000)).stdout;
    t.is(/^mkube_node_agent_route_refused_total (\d+)/m.exec(m)?.[1], '3', `${w.name}: one refusal per poisoned node`);
  }
  for (const w of [w1, w2]) {
    const o = await overlay(w.netns);
    t.true(withGhost(o), `${w.name}: the ghost keeps its last good entries`);
    t.false(JSON.stringify(o).includes('01:98') || JSON.stringify(o).includes('01:97') || JSON.stringify(o).includes('01:96'), `${w.name}: nothing of the poisoned values`);
    t.is(o.routes.length, 2, JSON.stringify(o.routes));
  }
  t.is(await wget('web1', `http://${p2.status.podIP}/`, 'web2'), 'web2', 'the real peers still reach each other');
  t.is(await wget('web2', `http://${ips.web1}:8080/`, 'web1'), 'web1');

  for (const n of ['ghost', 'badmac', 'badvtep']) await nodes.delete(undefined, `${LAB}-${n}`);
  await waitFor('w1 back to its one peer', 45_000, async () => (JSON.stringify(await overlay(w1.netns)) === JSON.stringify(expect(w2, dev2!.address, '10.213.166.0')) ? true : undefined));
  await waitFor('w2 back to its one peer', 45_000, async () => (JSON.stringify(await overlay(w2.netns)) === JSON.stringify(expect(w1, dev1!.address, '10.213.165.0')) ? true : undefined));
  t.pass();
});

test.serial('auto: a node on the same lab subnet is routed host-gw, one on the other subnet through the overlay', async (t) => {
  const { w1, w2, root1, ip1, ip2 } = shared;
  if (!w1 || !w2 || !root1 || !cp) return t.fail('the first test did not get its cluster up');
  // w1's agent again, in auto mode (its pods keep running).
  await agents[0]!.kill('SIGTERM');
  agents[0] = await startAgent(cp, w1, root1, ['--pod-cidr', w1.podCIDR, '--node-lease-renew-interval', '2', '--pod-network-mode', 'auto', '--cni-conf-dir', join(w1.stateDir, 'cni', 'net.d')], { netns: true });
  const nodes = cp.client.resource(Resources.nodes);
  // A node on w1's subnet (on-link from w1, behind the host from w2).
  await nodes.create(undefined, {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: `${LAB}-near`, annotations: { [VXLAN_BACKEND_DATA_ANNOTATION]: ghostData('0a:00:00:00:01:95', '10.213.167.0'), [VXLAN_PUBLIC_IP_ANNOTATION]: '10.213.164.50' } },
    spec: { podCIDR: '10.213.167.0/24' },
  });
  await nodes.patch(undefined, `${LAB}-near`, { status: { addresses: [{ type: 'InternalIP', address: '10.213.164.50' }] } }, 'merge', 'status');
  const hostGw = async (netns: string) => (await run('ip', ['-n', netns, '-4', 'route', 'show', 'proto', '213'], 10_000)).stdout;
  // The node is created before its InternalIP is set: until then w1 puts it on the overlay; wait until it is
  // routed host-gw and its overlay entries are gone (the agent applies the two in separate steps).
  await waitFor('w1 routes the near node host-gw and not through the overlay', 45_000, async () =>
    ((await hostGw(w1.netns)).includes('10.213.167.0/24 via 10.213.164.50') && !JSON.stringify(await overlay(w1.netns)).includes('01:95') ? true : undefined));
  const o1 = await overlay(w1.netns);
  t.deepEqual(o1.routes, [`${w2.podCIDR} via 10.213.166.0 onlink`], 'w2 (other subnet) stays on the overlay, the near node is not on it');
  t.false(JSON.stringify(o1).includes('01:95'));
  t.false((await hostGw(w1.netns)).includes(w2.podCIDR));
  // w2 (vxlan mode) reaches the same node through the overlay.
  await waitFor('w2 reaches the near node through the overlay', 45_000, async () => ((await overlay(w2.netns)).routes.includes('10.213.167.0/24 via 10.213.167.0 onlink') ? true : undefined));
  const wget = (from: string, url: string, want: string) =>
    waitFor(`${from} → ${url}`, 20_000, async () => {
      const r = await kubectl(cp!, ['exec', from, '--', 'timeout', '5', 'wget', '-qO-', url]).catch(() => undefined);
      return r?.stdout.trim() === want ? want : undefined;
    });
  t.is(await wget('web1', `http://${ip2}/`, 'web2'), 'web2');
  t.is(await wget('web2', `http://${ip1}/`, 'web1'), 'web1');
  await nodes.delete(undefined, `${LAB}-near`);
  await waitFor('the near node\'s host-gw route removed', 45_000, async () => (!(await hostGw(w1.netns)).includes('10.213.167.0/24') ? true : undefined));
  await waitFor('and its overlay entries on w2', 45_000, async () => (!JSON.stringify(await overlay(w2.netns)).includes('01:95') ? true : undefined));
});

test.serial('lab down removes every namespace, link and route of the two-subnet lab', async (t) => {
  for (const a of agents.splice(0)) await a.kill('SIGKILL');
  await labDown(LAB);
  t.false((await run('ip', ['netns', 'list'], 10_000)).stdout.includes(`${LAB}-`));
  t.false((await run('ip', ['-o', 'link', 'show'], 10_000)).stdout.includes(`${LAB}-`));
  t.false((await run('ip', ['-4', 'route', 'show'], 10_000)).stdout.includes(`10.213.${SUBNET}.`));
});
