// The official Python client's streaming flows (Debian's python3-kubernetes through /usr/bin/python3,
// installed by scripts/ensure.mjs --test) against a real API server and node agent on containerd
// (host-node lab): exec via kubernetes.stream — preloaded output, an interactive session with
// write_stdin/read_stdout and the exit code — and kubernetes.stream.portforward, an HTTP GET through
// the forwarded socket to nginx. The client speaks v4.channel.k8s.io for both. The script
// (python/stream_flows.py) prints what it saw as JSON.
import test from 'ava';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Resources } from '@mkube/client';
import { startAgent, startControlPlane, tmpRoot, waitFor, type AgentProcess, type ControlPlane } from './cluster_helper.js';
import { labDown, labUp, type LabNode } from './lab_helper.js';

const LAB = 'mkpy';
const SUBNET = 120; // nodes 10.213.120.0/24, pods 10.213.121.0/24
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./python/stream_flows.py', import.meta.url));

let ctx: { cp: ControlPlane; node: LabNode; rootDir: string; agent?: AgentProcess } | undefined;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the script's JSON, asserted field by field
let result: Record<string, any> = {};
let stderr = '';

test.before(async () => {
  const summary = await labUp(['--host-node', '--name', LAB, '--subnet', String(SUBNET)]);
  const node = summary.workers[0]!;
  const cp = await startControlPlane(LAB);
  ctx = { cp, node, rootDir: tmpRoot(LAB) };
  ctx.agent = await startAgent(cp, node, ctx.rootDir, ['--pod-cidr', node.podCIDR]);
  const pods = cp.client.resource(Resources.pods);
  await pods.create('default', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'box', namespace: 'default' },
    spec: { nodeName: node.name, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
  });
  await pods.create('default', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default' },
    spec: { nodeName: node.name, terminationGracePeriodSeconds: 1, containers: [{ name: 'nginx', image: 'nginx', imagePullPolicy: 'IfNotPresent', ports: [{ containerPort: 80 }] }] },
  });
  for (const name of ['box', 'web']) {
    await waitFor(`pod ${name} Running`, 60_000, async () => ((await pods.get('default', name)).status?.phase === 'Running' ? true : undefined));
  }
  const started = Date.now();
  const { stdout, stderr: err } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    execFile(PYTHON, [SCRIPT, cp.kubeconfigPath, 'default', 'box', 'web'], { timeout: 150_000, maxBuffer: 16 << 20 }, (e, stdout, stderr) => {
      if (e) reject(new Error(`${PYTHON} ${SCRIPT} failed: ${e.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
  stderr = err;
  result = JSON.parse(stdout);
  result.totalSeconds = (Date.now() - started) / 1000;
});

test.after.always(async () => {
  await labDown(LAB).catch(() => undefined);
  if (!ctx) return;
  await ctx.agent?.kill('SIGKILL');
  await ctx.cp.stop();
  rmSync(ctx.rootDir, { recursive: true, force: true });
});

/** A step's result, failing the test with the Python error when it raised. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the script's JSON
function step(t: { fail(m: string): void; log(...m: unknown[]): void }, name: string): any {
  const r = result[name];
  if (r === undefined || (typeof r === 'object' && 'error' in r)) t.fail(`${name}: ${JSON.stringify(r, null, 1)}\n${stderr}`);
  t.log(`${name}: ${r?.seconds} s`);
  return r;
}

test("stream(connect_get_namespaced_pod_exec, stdout+stderr, stdin=False) returns the command's output", (t) => {
  const r = step(t, 'execPreloaded');
  // the client joins every stdout and stderr frame in the order they arrived
  t.deepEqual(r.output.split('\n').filter(Boolean).sort(), ['err', 'hi']);
});

test('stream(..., stderr=False) returns stdout only', (t) => {
  t.is(step(t, 'execStdoutOnly').output, 'out\n');
});

test('an interactive stream(..., _preload_content=False): write_stdin, read_stdout/read_stderr, then the exit code', (t) => {
  const r = step(t, 'execInteractive');
  t.true(r.first, `stdout so far: ${JSON.stringify(r.stdout)}`);
  t.true(r.second, `stdout ${JSON.stringify(r.stdout)} stderr ${JSON.stringify(r.stderr)}`);
  t.is(r.stdout, 'first\nsecond\n');
  t.is(r.stderr, 'oops\n');
  t.true(r.closed);
  t.is(r.returncode, 3);
});

test('a command that exits 0: the stream closes with returncode 0 (Success on the error channel)', (t) => {
  const r = step(t, 'execExitZero');
  t.true(r.closed);
  t.is(r.returncode, 0);
});

test("portforward(connect_get_namespaced_pod_portforward, ports='80'): an HTTP GET through the socket returns nginx's page", (t) => {
  const r = step(t, 'portforward');
  t.is(r.status, 'HTTP/1.1 200 OK');
  t.true(r.welcome);
  t.is(r.portError, null);
});

test("portforward with ports='80,81': port 80 answers, port 81 (nothing listening) reports upstream's error on its error channel", (t) => {
  const r = step(t, 'portforwardTwoPorts');
  t.is(r.status80, 'HTTP/1.1 404 Not Found');
  t.is(r.errors['80'], null);
  t.regex(String(r.errors['81']), /error forwarding port 81 to pod [0-9a-f]{64}, uid : .*connection refused/);
  t.log(`whole script: ${result.totalSeconds} s`);
});
