// kubectl 1.27 (SPDY/3.1 only) exec relayed by the API server and the node
// agent to containerd's SPDY streaming server, against a real API server,
// node agent and containerd (host-node lab): output, stderr, exit codes.
import test from 'ava';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Resources } from '@mkube/client';
import { CriClient } from '../src/cri/cri_client.js';
import { run, startAgent, startControlPlane, tmpRoot, waitFor, type AgentProcess, type ControlPlane } from './cluster_helper.js';
import { labDown, labUp, type LabNode } from './lab_helper.js';

const LAB = 'mkspdy';
const SUBNET = 130; // nodes 10.213.130.0/24, pods 10.213.131.0/24
const KUBECTL_127 = '/usr/lib/google-cloud-sdk/bin/kubectl.1.27';

let ctx: { cp: ControlPlane; node: LabNode; cri: CriClient; rootDir: string; agent?: AgentProcess } | undefined;

test.before(async () => {
  const summary = await labUp(['--host-node', '--name', LAB, '--subnet', String(SUBNET)]);
  const node = summary.workers[0]!;
  const cp = await startControlPlane(LAB);
  const cri = await CriClient.connect(node.criAddress);
  ctx = { cp, node, cri, rootDir: tmpRoot(LAB) };
  ctx.agent = await startAgent(cp, node, ctx.rootDir, ['--pod-cidr', node.podCIDR]);
  await ctx.cp.client.resource(Resources.pods).create('default', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'box', namespace: 'default' },
    spec: { nodeName: node.name, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
  });
  await waitFor('pod box Running', 60_000, async () => {
    const p = await ctx!.cp.client.resource(Resources.pods).get('default', 'box');
    return p.status?.phase === 'Running' ? true : undefined;
  });
});

test.after.always(async () => {
  await labDown(LAB).catch(() => undefined);
  if (!ctx) return;
  await ctx.agent?.kill('SIGKILL');
  ctx.cri.close();
  await ctx.cp.stop();
  rmSync(ctx.rootDir, { recursive: true, force: true });
});

const k127 = (args: string[]) => run(KUBECTL_127, ['--kubeconfig', ctx!.cp.kubeconfigPath, ...args], 30_000);

test.serial('kubectl 1.27 exec over SPDY prints the output of the command', async (t) => {
  const r = await k127(['exec', 'box', '--', 'echo', 'hi']);
  t.is(r.stdout, 'hi\n');
  t.is(r.stderr, '');
});

test.serial('kubectl 1.27 exec over SPDY separates stdout and stderr and carries larger output', async (t) => {
  const r = await k127(['exec', 'box', '-c', 'main', '--', 'sh', '-c', 'echo out; echo err >&2']);
  t.is(r.stdout, 'out\n');
  t.is(r.stderr, 'err\n');
  const big = await k127(['exec', 'box', '--', 'sh', '-c', 'seq 1 40000']);
  const lines = big.stdout.trim().split('\n');
  t.is(lines.length, 40000);
  t.is(lines[39999], '40000');
});

test.serial('kubectl 1.27 exec over SPDY exits with the exit code of the command', async (t) => {
  const err = await k127(['exec', 'box', '--', 'sh', '-c', 'exit 3']).then(() => undefined, (e: Error) => e);
  t.truthy(err);
  t.is((err?.cause as { code?: number } | undefined)?.code, 3);
  t.regex(String(err?.message), /exit code 3/);
});

test.serial('kubectl 1.27 exec -i over SPDY feeds stdin to the command', async (t) => {
  const r = await new Promise<{ out: string; code: number | null }>((resolve) => {
    {
      const p = spawn(KUBECTL_127, ['--kubeconfig', ctx!.cp.kubeconfigPath, 'exec', '-i', 'box', '--', 'head', '-n', '1'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
      p.on('close', (code) => {
        clearTimeout(timer);
        resolve({ out, code });
      });
      p.stdin.write('from-stdin\nmore\n');
    }
  });
  t.is(r.out, 'from-stdin\n');
  t.is(r.code, 0);
});

test.serial('kubectl 1.28 and 1.29 exec over SPDY as well', async (t) => {
  for (const v of ['1.28', '1.29']) {
    const r = await run(`/usr/lib/google-cloud-sdk/bin/kubectl.${v}`, ['--kubeconfig', ctx!.cp.kubeconfigPath, 'exec', 'box', '--', 'echo', v], 30_000);
    t.is(r.stdout, `${v}\n`);
  }
});

test.serial('a missing container is a 400 before any upgrade', async (t) => {
  const err = await k127(['exec', 'box', '-c', 'nope', '--', 'true']).then(() => undefined, (e: Error) => e);
  t.regex(String(err?.message), /container nope is not valid/);
});
