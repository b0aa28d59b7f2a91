// Two lab workers (network namespaces) each run mkube-node-agent inside
// their namespace against one API server: the lab's own host-gw routes are
// removed first, so a pod on node 1 reaching a pod on node 2 by pod IP proves
// the routes the agents programmed from Node objects; a Node that appears and
// goes away adds and then removes its route.
import test from 'ava';
import { rmSync } from 'node:fs';
import { Resources, type KubeObject } from '@mkube/client';
import { kubectl, run, startAgent, startControlPlane, tmpRoot, waitFor, type AgentProcess, type ControlPlane } from './cluster_helper.js';
import { labDown, labUp, type LabSummary } from './lab_helper.js';

const LAB = 'mkrt';
const SUBNET = 170; // nodes 10.213.170.11/.12, pods 10.213.171.0/24 and 10.213.172.0/24

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

async function agentRoutes(netns: string): Promise<string> {
  return (await run('ip', ['-n', netns, '-4', 'route', 'show', 'proto', '213'], 10_000)).stdout;
}

test('a pod on node 1 reaches a pod on node 2 by pod IP through the host-gw routes the agents programmed; stale routes are removed', async (t) => {
  lab = await labUp(['--workers', '2', '--name', LAB, '--subnet', String(SUBNET)]);
  const [w1, w2] = [lab.workers[0]!, lab.workers[1]!];
  // Remove the lab's routes: from here on only the agents program them.
  await run('ip', ['-n', w1.netns, 'route', 'del', w2.podCIDR], 10_000);
  await run('ip', ['-n', w2.netns, 'route', 'del', w1.podCIDR], 10_000);
  cp = await startControlPlane(LAB, { bindAddress: lab.gateway, advertiseAddress: lab.gateway });
  for (const w of [w1, w2]) {
    const root = tmpRoot(`${LAB}-${w.name}`);
    roots.push(root);
    agents.push(await startAgent(cp, w, root, ['--pod-cidr', w.podCIDR, '--node-lease-renew-interval', '2'], { netns: true }));
  }
  await waitFor('w1 routes w2 pods via w2', 20_000, async () => ((await agentRoutes(w1.netns)).includes(`${w2.podCIDR} via ${w2.nodeIP}`) ? true : undefined));
  await waitFor('w2 routes w1 pods via w1', 20_000, async () => ((await agentRoutes(w2.netns)).includes(`${w1.podCIDR} via ${w1.nodeIP}`) ? true : undefined));

  const pods = cp.client.resource(Resources.pods);
  const mk = (name: string, node: string, script: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { nodeName: node, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', script] }] },
  });
  await pods.create('default', mk('server', w2.name, 'mkdir -p /www && echo hello-from-w2 > /www/index.html && exec httpd -f -p 8080 -h /www'));
  await pods.create('default', mk('client', w1.name, 'exec sleep 3600'));
  const running = (name: string) =>
    waitFor(`${name} Running`, 30_000, async () => {
      const p = await pods.get('default', name);
      return p.status?.phase === 'Running' && p.status?.podIP ? p : undefined;
    });
  const server = await running('server');
  await running('client');
  t.true(server.status.podIP.startsWith('10.213.172.'), server.status.podIP);
  const got = await waitFor('HTTP from the client pod to the server pod', 20_000, async () => {
    const r = await kubectl(cp!, ['exec', 'client', '--', 'timeout', '5', 'wget', '-qO-', `http://${server.status.podIP}:8080/index.html`]).catch(() => undefined);
    return r?.stdout.includes('hello-from-w2') ? r.stdout : undefined;
  });
  t.is(got.trim(), 'hello-from-w2');

  // A node appears (route added on both workers) and goes away (route removed).
  const nodes = cp.client.resource(Resources.nodes);
  await nodes.create(undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: `${LAB}-ghost` }, spec: { podCIDR: '10.213.179.0/24' } });
  await nodes.patch(undefined, `${LAB}-ghost`, { status: { addresses: [{ type: 'InternalIP', address: '10.213.170.99' }] } }, 'merge', 'status');
  await waitFor('ghost route on w1', 45_000, async () => ((await agentRoutes(w1.netns)).includes('10.213.179.0/24 via 10.213.170.99') ? true : undefined));
  await nodes.delete(undefined, `${LAB}-ghost`);
  await waitFor('ghost route removed on w1', 45_000, async () => (!(await agentRoutes(w1.netns)).includes('10.213.179.0/24') ? true : undefined));
  t.true((await agentRoutes(w1.netns)).includes(`${w2.podCIDR} via ${w2.nodeIP}`));
});
