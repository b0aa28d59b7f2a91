// mkube-node-agent's component-base endpoint and flags, with the real binary against a real API
// server (over real etcd) and a real containerd (host-node lab): /metrics in Prometheus text with
// every metric name the agent had (values follow the Lease renewals and status writes of a
// running pod), /healthz /livez /readyz with ?verbose, a 404 elsewhere; a bad flag is exit 2 with
// pflag's message and the usage, --help lists the common flags.
import test from 'ava';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Resources, type KubeObject } from '@mkube/client';
import { startAgent, startControlPlane, tmpRoot, waitFor, type AgentProcess, type ControlPlane } from './cluster_helper.js';
import { labDown, labUp, REPO_ROOT, type LabNode } from './lab_helper.js';

const LAB = 'mkmet';
const SUBNET = 176; // nodes 10.213.176.0/24, pods 10.213.177.0/24
const BIN = join(REPO_ROOT, 'packages', 'node-agent', 'src', 'bin', 'mkube-node-agent.ts');

let ctx: { cp: ControlPlane; node: LabNode; rootDir: string; agent?: AgentProcess } | undefined;

test.before(async () => {
  const summary = await labUp(['--host-node', '--name', LAB, '--subnet', String(SUBNET)]);
  const node = summary.workers[0]!;
  const cp = await startControlPlane(LAB);
  ctx = { cp, node, rootDir: tmpRoot(LAB) };
  ctx.agent = await startAgent(cp, node, ctx.rootDir, ['--pod-cidr', node.podCIDR, '--node-lease-renew-interval', '1s', '--v', '4']);
});

test.after.always(async () => {
  if (!ctx) return;
  await ctx.agent?.kill('SIGKILL');
  await ctx.cp.stop();
  await labDown(LAB);
  rmSync(ctx.rootDir, { recursive: true, force: true });
});

function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    }).on('error', reject).end();
  });
}

const value = (text: string, name: string): number | undefined => {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

test.serial('/metrics: every agent metric, typed, with values that follow the Lease and a running pod', async (t) => {
  const { agent, cp, node } = ctx!;
  const first = await get(agent!.metricsPort, '/metrics');
  t.is(first.status, 200);
  t.regex(first.type, /^text\/plain; version=0\.0\.4/);
  const types: Record<string, string> = {
    mkube_node_agent_running_pods: 'gauge',
    mkube_node_agent_pod_status_writes_total: 'counter',
    mkube_node_agent_pod_status_write_failures_total: 'counter',
    mkube_node_agent_lease_renewals_total: 'counter',
    mkube_node_agent_node_status_updates_total: 'counter',
    mkube_node_agent_route_syncs_total: 'counter',
    mkube_node_agent_route_refused_total: 'counter',
    mkube_node_agent_uptime_seconds: 'gauge',
  };
  for (const [name, type] of Object.entries(types)) {
    t.regex(first.body, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name);
    t.not(value(first.body, name), undefined, name);
  }
  // --proxy-mode none (the helper's default outside a lab namespace): no proxy metrics.
  t.notRegex(first.body, /mkube_node_agent_proxy_/);

  const renewals = value(first.body, 'mkube_node_agent_lease_renewals_total')!;
  await waitFor('lease renewals counted', 15_000, async () => (value((await get(agent!.metricsPort, '/metrics')).body, 'mkube_node_agent_lease_renewals_total')! > renewals ? true : undefined));

  const pods = cp.client.resource(Resources.pods);
  await pods.create('default', {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'metered', namespace: 'default' },
    spec: { nodeName: node.name, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
  } as KubeObject);
  t.teardown(() => pods.delete('default', 'metered').catch(() => undefined));
  const m = await waitFor('a running pod in the metrics', 60_000, async () => {
    const text = (await get(agent!.metricsPort, '/metrics')).body;
    return value(text, 'mkube_node_agent_running_pods')! >= 1 && value(text, 'mkube_node_agent_pod_status_writes_total')! >= 1 ? text : undefined;
  });
  t.is(value(m, 'mkube_node_agent_pod_status_write_failures_total'), 0);
});

test.serial('/healthz, /livez, /readyz with ?verbose and /readyz/ping; anything else is a 404', async (t) => {
  const port = ctx!.agent!.metricsPort;
  for (const endpoint of ['healthz', 'livez', 'readyz']) {
    t.deepEqual(await get(port, `/${endpoint}`), { status: 200, type: 'text/plain; charset=utf-8', body: 'ok' });
    t.is((await get(port, `/${endpoint}?verbose`)).body, `[+]ping ok\n${endpoint} check passed\n`);
  }
  t.is((await get(port, '/readyz/ping')).body, 'ok');
  t.is((await get(port, '/readyz/nosuch')).status, 404);
  t.is((await get(port, '/debug')).status, 404);
});

function runBin(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', BIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('flags: a bad flag is exit 2 with pflag\'s message and the usage; --help lists the common flags', async (t) => {
  const unknown = await runBin(['--no-such-flag']);
  t.is(unknown.code, 2);
  t.true(unknown.stderr.startsWith('mkube-node-agent: unknown flag: --no-such-flag\n'), unknown.stderr);
  t.regex(unknown.stderr, /Usage:\n {2}mkube-node-agent --kubeconfig FILE/);
  const badInt = await runBin(['--metrics-port', 'many']);
  t.is(badInt.code, 2);
  t.regex(badInt.stderr, /^mkube-node-agent: invalid argument "many" for "--metrics-port" flag: strconv\.ParseInt: parsing "many": invalid syntax\n/);
  const help = await runBin(['--help']);
  t.is(help.code, 0);
  for (const flag of ['--kubeconfig', '--bind-address', '--log-level', '-v, --v', '--metrics-port', '--container-runtime-endpoint']) t.true(help.stdout.includes(flag), flag);
  t.false(help.stdout.includes('--leader-elect'), 'the agent elects no leader');
});
