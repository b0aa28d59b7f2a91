// NetworkPolicy enforcement on real containers: two lab workers (network namespaces, one containerd
// each) run mkube-node-agent against one API server; busybox pods serve HTTP on 80 ("http") and 8080
// ("alt") and probe each other with wget, by pod IP and through a Service's cluster IP. Traffic across
// the two nodes and inside one node (the bridge) is judged: default-deny ingress blocks; an allow rule
// for another namespace's labelled pods on a named port admits only them and only on that port (and
// follows namespace and pod label updates); an egress deny lets replies of allowed connections pass
// (conntrack) while the pod cannot connect out; an egress rule on a named port; an egress ipBlock with an exception, judged after the service proxy's DNAT; the chains stay while
// the agent is stopped (still enforced) and are rebuilt when it comes back; a deleted policy lets
// traffic flow again within seconds; a deleted pod's chains go; policies poisoned behind the API
// server's back (straight into etcd) are refused at the sink. Lab mknp, subnets 201-203.
import test from 'ava';
import { rmSync } from 'node:fs';
import { encodeObject, resourceFor, type JsonObject } from '@mkube/api';
import { Resources, type KubeObject } from '@mkube/client';
import { kubectl, run, startAgent, startControlPlane, tmpRoot, waitFor, type AgentProcess, type ControlPlane } from './cluster_helper.js';
import { labDown, labUp, type LabNode, type LabSummary } from './lab_helper.js';

const LAB = 'mknp';
const SUBNET = 201; // nodes 10.213.201.11/.12, pods 10.213.202.0/24 (w1) and 10.213.203.0/24 (w2)
const NETPOLS = resourceFor('networkpolicies', 'networking.k8s.io');

let lab: LabSummary | undefined;
let cp: ControlPlane | undefined;
const agents: AgentProcess[] = [];
const roots: string[] = [];
const s: { w1?: LabNode; w2?: LabNode; ip: Record<string, string>; vip?: string } = { ip: {} };

test.after.always(async () => {
  for (const a of agents) await a.kill('SIGKILL');
  await cp?.stop();
  await labDown(LAB);
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** [pod, namespace]. */
type Ref = [string, string];
const SRV: Ref = ['srv', 'np-srv'];
const SAME: Ref = ['same', 'np-srv'];
const CLI_A: Ref = ['cli-a', 'np-a'];
const CLI_B: Ref = ['cli-b', 'np-b'];

/** One HTTP GET from a pod: its body, or the error (wget's message: REJECT gives "Connection refused" at once). */
async function probe([pod, ns]: Ref, url: string): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await kubectl(cp!, ['exec', '-n', ns, pod, '--', 'timeout', '5', 'wget', '-qO-', url], 15_000);
    return { ok: true, out: r.stdout.trim() };
  } catch (err) {
    return { ok: false, out: (err as Error).message };
  }
}
const reaches = (from: Ref, url: string, want: string) =>
  waitFor(`${from[0]} reaches ${url}`, 20_000, async () => {
    const r = await probe(from, url);
    if (r.ok && r.out === want) return r.out;
    throw new Error(r.out.slice(-500));
  });
/** Waits until the connection is refused, then checks a second attempt is refused too. */
async function blocked(from: Ref, url: string): Promise<string> {
  await waitFor(`${from[0]} blocked from ${url}`, 20_000, async () => {
    const r = await probe(from, url);
    if (!r.ok && /Connection refused/.test(r.out)) return true;
    throw new Error(`${r.ok ? 'reached' : 'failed otherwise'}: ${r.out.slice(-500)}`);
  });
  const again = await probe(from, url);
  if (again.ok) throw new Error(`${from[0]} reached ${url} after being blocked: ${again.out}`);
  return again.out;
}
const filterRules = async (w: LabNode) => (await run('ip', ['netns', 'exec', w.netns, 'iptables-save', '-t', 'filter'], 10_000)).stdout;

test.serial('before any policy every pod reaches the others, by pod IP and through the cluster IP; the agents keep MKUBE-NETPOL hooked into FORWARD', async (t) => {
  lab = await labUp(['--workers', '2', '--name', LAB, '--subnet', String(SUBNET)]);
  const [w1, w2] = [lab.workers[0]!, lab.workers[1]!];
  Object.assign(s, { w1, w2 });
  cp = await startControlPlane(LAB, { bindAddress: lab.gateway, advertiseAddress: lab.gateway });
  for (const w of [w1, w2]) {
    const root = tmpRoot(`${LAB}-${w.name}`);
    roots.push(root);
    agents.push(await startAgent(cp, w, root, ['--pod-cidr', w.podCIDR, '--node-lease-renew-interval', '2'], { netns: true }));
  }
  const nsApi = cp.client.resource(Resources.namespaces);
  for (const [name, labels] of [['np-srv', {}], ['np-a', { team: 'a' }], ['np-b', { team: 'b' }]] as const) {
    await nsApi.create(undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  }
  const pods = cp.client.resource(Resources.pods);
  const mk = ([name, ns]: Ref, node: LabNode, app: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: { app } },
    spec: {
      nodeName: node.name,
      terminationGracePeriodSeconds: 1,
      containers: [{
        name: 'main', image: 'busybox', imagePullPolicy: 'IfNotPresent',
        command: ['sh', '-c', `mkdir -p /www && echo ${name} > /www/index.html && httpd -p 8080 -h /www && exec httpd -f -p 80 -h /www`],
        ports: [{ name: 'http', containerPort: 80 }, { name: 'alt', containerPort: 8080 }],
      }],
    },
  });
  await pods.create(SRV[1], mk(SRV, w2, 'srv'));
  await pods.create(SAME[1], mk(SAME, w1, 'cli'));
  await pods.create(CLI_A[1], mk(CLI_A, w1, 'cli'));
  await pods.create(CLI_B[1], mk(CLI_B, w2, 'cli'));
  for (const [name, ns] of [SRV, SAME, CLI_A, CLI_B]) {
    const p = await waitFor(`${name} Running`, 60_000, async () => {
      const o = await pods.get(ns, name);
      return o.status?.phase === 'Running' && o.status?.podIP ? o : undefined;
    });
    s.ip[name] = p.status.podIP as string;
  }
  t.true(s.ip.srv!.startsWith('10.213.203.'), s.ip.srv);
  t.true(s.ip['cli-a']!.startsWith('10.213.202.'), s.ip['cli-a']);
  // A Service for srv (selector-less, its Endpoints by hand: no controller manager here).
  const svc = await cp.client.resource(Resources.services).create(SRV[1], { apiVersion: 'v1', kind: 'Service', metadata: { name: 'srv', namespace: SRV[1] }, spec: { ports: [{ name: 'http', port: 8000, targetPort: 80, protocol: 'TCP' }] } });
  await cp.client.resource(Resources.endpoints).create(SRV[1], { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'srv', namespace: SRV[1] }, subsets: [{ addresses: [{ ip: s.ip.srv, nodeName: w2.name }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }] });
  s.vip = svc.spec.clusterIP as string;

  for (const from of [SAME, CLI_A, CLI_B]) t.is(await reaches(from, `http://${s.ip.srv}/`, 'srv'), 'srv');
  t.is(await reaches(CLI_A, `http://${s.vip}:8000/`, 'srv'), 'srv');
  t.is(await reaches(SRV, `http://${s.ip['cli-b']}/`, 'cli-b'), 'cli-b');
  t.is(await reaches(CLI_A, `http://${s.ip['cli-b']}/`, 'cli-b'), 'cli-b');
  for (const w of [w1, w2]) {
    const rules = await waitFor(`MKUBE-NETPOL on ${w.name}`, 20_000, async () => {
      const r = await filterRules(w);
      return /^-A FORWARD -j MKUBE-NETPOL$/m.test(r) ? r : undefined;
    });
    t.notRegex(rules, /MKUBE-NP[IEX]-/, 'no pod is isolated yet');
  }
});

test.serial('default-deny ingress blocks every client (across nodes and on the same node); an allow rule admits another namespace\'s labelled pods on the named port only, also through the cluster IP', async (t) => {
  const { w1, w2, ip, vip } = s;
  if (!cp || !w1 || !w2) return t.fail('the cluster did not come up');
  const np = cp.client.resource(NETPOLS);
  const created = Date.now();
  const deny = await np.create(SRV[1], { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'default-deny', namespace: SRV[1] }, spec: { podSelector: {} } });
  t.deepEqual(deny.spec.policyTypes, ['Ingress'], 'defaulted at the API');
  await waitFor('srv\'s ingress chain on w2', 20_000, async () => (/np-srv\/srv ingress/.test(await filterRules(w2)) ? true : undefined), 20);
  t.log(`srv's ingress chain was in w2's filter table ${Date.now() - created} ms after the default-deny policy was created`);
  t.regex(await blocked(SAME, `http://${ip.srv}/`), /Connection refused/);
  for (const from of [CLI_A, CLI_B]) t.regex(await blocked(from, `http://${ip.srv}/`), /Connection refused/);
  await blocked(CLI_A, `http://${vip}:8000/`);
  // Ingress is judged on the destination's node: srv's chain on w2, none on w1 (same's is there: np-srv selects it too).
  t.regex(await filterRules(w2), /-A MKUBE-NETPOL -d 10\.213\.203\.\d+\/32 -m comment --comment "np-srv\/srv ingress" -j MKUBE-NPI-[0-9A-F]{16}/);
  t.notRegex(await filterRules(w1), /np-srv\/srv/);
  t.regex(await filterRules(w1), /np-srv\/same ingress/);

  await np.create(SRV[1], {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'allow-team-a', namespace: SRV[1] },
    spec: { podSelector: { matchLabels: { app: 'srv' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'a' } }, podSelector: { matchLabels: { app: 'cli' } } }], ports: [{ port: 'http' }] }] },
  });
  t.is(await reaches(CLI_A, `http://${ip.srv}/`, 'srv'), 'srv');
  t.is(await reaches(CLI_A, `http://${vip}:8000/`, 'srv'), 'srv', 'through the cluster IP: judged on the endpoint after DNAT');
  await blocked(CLI_A, `http://${ip.srv}:8080/`);
  await blocked(CLI_B, `http://${ip.srv}/`);
  await blocked(SAME, `http://${ip.srv}/`);
  // Updated namespace labels count at once (upstream's "should allow ingress access from updated namespace"),
  // and so do updated pod labels.
  const namespaces = cp.client.resource(Resources.namespaces);
  await namespaces.patch(undefined, CLI_B[1], { metadata: { labels: { team: 'a' } } }, 'merge');
  t.is(await reaches(CLI_B, `http://${ip.srv}/`, 'srv'), 'srv', 'np-b relabelled team=a');
  await cp.client.resource(Resources.pods).patch(CLI_B[1], CLI_B[0], { metadata: { labels: { app: 'other' } } }, 'merge');
  await blocked(CLI_B, `http://${ip.srv}/`);
  await cp.client.resource(Resources.pods).patch(CLI_B[1], CLI_B[0], { metadata: { labels: { app: 'cli' } } }, 'merge');
  await namespaces.patch(undefined, CLI_B[1], { metadata: { labels: { team: 'b' } } }, 'merge');
  await blocked(CLI_B, `http://${ip.srv}/`);
  // The named port resolved on srv's container: 80.
  t.regex(await filterRules(w2), new RegExp(`-s ${ip['cli-a']!.replace(/\./g, '\\.')}/32 -p tcp -m tcp --dport 80 -j MARK --set-xmark 0x10000/0x10000`));
});

test.serial('egress deny: replies of allowed connections pass, new connections out of the pod are refused', async (t) => {
  const { ip } = s;
  if (!cp) return t.fail('the cluster did not come up');
  await cp.client.resource(NETPOLS).create(SRV[1], { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'srv-no-egress', namespace: SRV[1] }, spec: { podSelector: { matchLabels: { app: 'srv' } }, policyTypes: ['Egress'] } });
  await blocked(SRV, `http://${ip['cli-b']}/`);
  await blocked(SRV, `http://${ip['cli-a']}/`);
  t.is(await reaches(CLI_A, `http://${ip.srv}/`, 'srv'), 'srv', 'the reply from the egress-isolated server passes (ESTABLISHED)');
});

test.serial('egress ipBlock with an exception, judged on the pod IP after the service proxy\'s DNAT', async (t) => {
  const { ip, vip } = s;
  if (!cp) return t.fail('the cluster did not come up');
  const np = cp.client.resource(NETPOLS);
  const pol = (except: string) => ({
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'cli-egress', namespace: CLI_A[1] },
    spec: { podSelector: { matchLabels: { app: 'cli' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.213.0.0/16', except: [except] } }] }] },
  });
  await np.create(CLI_A[1], pol(`${ip['cli-b']}/32`));
  await blocked(CLI_A, `http://${ip['cli-b']}/`);
  t.is(await reaches(CLI_A, `http://${ip.srv}/`, 'srv'), 'srv');
  t.is(await reaches(CLI_A, `http://${vip}:8000/`, 'srv'), 'srv');
  // The exception now names srv's pod IP: the cluster IP (outside the exception) is refused too, as it is DNATed to srv.
  const cur = await np.get(CLI_A[1], 'cli-egress');
  await np.update({ ...cur, spec: pol(`${ip.srv}/32`).spec });
  await blocked(CLI_A, `http://${vip}:8000/`);
  await blocked(CLI_A, `http://${ip.srv}/`);
  t.is(await reaches(CLI_A, `http://${ip['cli-b']}/`, 'cli-b'), 'cli-b');
});

test.serial('an egress rule on a named port allows each destination pod\'s own port of that name only', async (t) => {
  const { ip } = s;
  if (!cp) return t.fail('the cluster did not come up');
  const np = cp.client.resource(NETPOLS);
  const cur = await np.get(CLI_A[1], 'cli-egress');
  await np.update({ ...cur, spec: { podSelector: { matchLabels: { app: 'cli' } }, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'alt' }] }] } });
  await blocked(CLI_A, `http://${ip['cli-b']}/`);
  t.is(await reaches(CLI_A, `http://${ip['cli-b']}:8080/`, 'cli-b'), 'cli-b', '"alt" is 8080 on cli-b');
  // Back to the ipBlock rule for the tests after this one.
  await np.update({ ...(await np.get(CLI_A[1], 'cli-egress')), spec: cur.spec });
  t.is(await reaches(CLI_A, `http://${ip['cli-b']}/`, 'cli-b'), 'cli-b');
});

test.serial('a stopped agent leaves its chains (still enforced); restarted, it rebuilds the same chains', async (t) => {
  const { w2, ip } = s;
  if (!cp || !w2) return t.fail('the cluster did not come up');
  const before = (await filterRules(w2)).split('\n').filter((l) => /MKUBE-NP/.test(l)).sort();
  await agents[1]!.kill('SIGTERM');
  t.deepEqual((await filterRules(w2)).split('\n').filter((l) => /MKUBE-NP/.test(l)).sort(), before);
  // Still enforced on w2 while its agent is down (probed from w1: exec into w2's pods needs its agent).
  await blocked(SAME, `http://${ip.srv}/`);
  agents[1] = await startAgent(cp, w2, roots[1]!, ['--pod-cidr', w2.podCIDR, '--node-lease-renew-interval', '2'], { netns: true });
  const m = await waitFor('the restarted agent synced its policy rules', 30_000, async () => {
    const text = (await run('ip', ['netns', 'exec', w2.netns, 'busybox', 'wget', '-qO-', `http://127.0.0.1:${agents[1]!.metricsPort}/metrics`], 10_000)).stdout;
    return Number(/^mkube_node_agent_netpol_syncs_total (\d+)/m.exec(text)?.[1] ?? 0) > 0 ? text : undefined;
  });
  t.regex(m, /^mkube_node_agent_netpol_refused_total 0$/m);
  t.deepEqual((await filterRules(w2)).split('\n').filter((l) => /MKUBE-NP/.test(l)).sort(), before, 'the same chains (names from pod uids)');
  await blocked(CLI_B, `http://${ip.srv}/`);
  t.is(await reaches(CLI_B, `http://${ip['cli-a']}/`, 'cli-a'), 'cli-a');
});

/** Writes `obj` straight into etcd under its key (the API server's validation bypassed), as kube-apiserver stores it. */
async function putBehindApi(obj: KubeObject): Promise<void> {
  const meta = { ...obj.metadata } as Record<string, unknown>;
  delete meta.resourceVersion;
  const { bytes } = encodeObject({ ...obj, metadata: meta } as unknown as JsonObject);
  const endpoint = cp!.fixture.etcdEndpoint.startsWith('http') ? cp!.fixture.etcdEndpoint : `http://${cp!.fixture.etcdEndpoint}`;
  const key = `/registry/networkpolicies/${obj.metadata.namespace}/${obj.metadata.name}`;
  const r = await fetch(`${endpoint}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: Buffer.from(key).toString('base64'), value: Buffer.from(bytes).toString('base64') }) });
  if (!r.ok) throw new Error(`etcd put ${key}: ${r.status} ${await r.text()}`);
}
const refusedTotal = async (w: LabNode, a: AgentProcess) =>
  Number(/^mkube_node_agent_netpol_refused_total (\d+)/m.exec((await run('ip', ['netns', 'exec', w.netns, 'busybox', 'wget', '-qO-', `http://127.0.0.1:${a.metricsPort}/metrics`], 10_000)).stdout)?.[1]);

test.serial('poisoned policies written behind the API server are refused at the sink: logged, counted, never written; a new one still isolates (fail closed), a poisoned update keeps the last good rules', async (t) => {
  const { w1, w2, ip } = s;
  if (!cp || !w1 || !w2) return t.fail('the cluster did not come up');
  const np = cp.client.resource(NETPOLS);
  t.is(await reaches(SAME, `http://${ip['cli-b']}/`, 'cli-b'), 'cli-b');
  // A good policy through the API: cli-b admits w1's pod range.
  const good = await np.create(CLI_B[1], { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'from-w1', namespace: CLI_B[1] }, spec: { podSelector: { matchLabels: { app: 'cli' } }, ingress: [{ from: [{ ipBlock: { cidr: w1.podCIDR } }] }] } });
  t.is(await reaches(SAME, `http://${ip['cli-b']}/`, 'cli-b'), 'cli-b');
  // Its poisoned update: the last good rules stay.
  const poisonCidr = `${w1.podCIDR} -j ACCEPT`;
  await putBehindApi({ ...good, spec: { ...good.spec, ingress: [{ from: [{ ipBlock: { cidr: poisonCidr } }] }] } });
  await waitFor('the poisoned update reaches the API', 20_000, async () => ((await np.get(CLI_B[1], 'from-w1')).spec.ingress[0].from[0].ipBlock.cidr === poisonCidr ? true : undefined));
  // A new poisoned policy selecting cli-a's namespace peers: no last good version, so its pods are isolated with nothing allowed.
  await putBehindApi({ ...good, metadata: { ...good.metadata, name: 'poison', uid: '9b2f3c1e-0000-4000-8000-00000000abcd' }, spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8\n-A FORWARD -j ACCEPT'] } }], ports: [{ port: 80, endPort: 70000 }] }] } });
  for (const [w, a] of [[w1, agents[0]!], [w2, agents[1]!]] as const) {
    await waitFor(`both refusals logged by ${w.name}'s agent`, 20_000, () => {
      const l = a.logs();
      return l.includes('NetworkPolicy np-b/from-w1') && l.includes('NetworkPolicy np-b/poison') && l.includes('object refused by the network policy enforcer') ? true : undefined;
    });
    t.is(await refusedTotal(w, a), 2, `${w.name}: one refusal per poisoned policy`);
    const rules = await filterRules(w);
    t.notRegex(rules, /-j ACCEPT|70000|0\.0\.0\.0\/0/, `${w.name}: none of the poisoned values written`);
  }
  t.regex(agents[1]!.logs(), /spec\.ingress\[0\]\.from\[0\]\.ipBlock\.cidr/);
  t.is(await reaches(SAME, `http://${ip['cli-b']}/`, 'cli-b'), 'cli-b', 'the last good rule still admits w1\'s pods');
  // The poisoned policy alone (the good one deleted): cli-b stays isolated, nothing allowed.
  await np.delete(CLI_B[1], 'from-w1');
  await blocked(SAME, `http://${ip['cli-b']}/`);
  await np.delete(CLI_B[1], 'poison');
  t.is(await reaches(SAME, `http://${ip['cli-b']}/`, 'cli-b'), 'cli-b');
});

test.serial('deleted policies let traffic flow again within seconds; a deleted pod\'s chains are removed', async (t) => {
  const { w1, w2, ip } = s;
  if (!cp || !w1 || !w2) return t.fail('the cluster did not come up');
  const np = cp.client.resource(NETPOLS);
  await np.delete(SRV[1], 'default-deny');
  // allow-team-a still selects srv: srv stays isolated for ingress (the union of the selecting policies).
  await waitFor('same (isolated only by default-deny) no longer isolated on w1', 20_000, async () => (!/np-srv\/same ingress/.test(await filterRules(w1)) ? true : undefined));
  await blocked(CLI_B, `http://${ip.srv}/`);
  await np.delete(SRV[1], 'allow-team-a');
  const started = Date.now();
  await reaches(CLI_B, `http://${ip.srv}/`, 'srv');
  const ms = Date.now() - started;
  t.log(`cli-b reached srv ${ms} ms after the last ingress policy selecting srv was deleted`);
  t.true(ms < 10_000, `${ms} ms`);
  t.is(await reaches(SAME, `http://${ip.srv}:8080/`, 'srv'), 'srv');
  t.regex(await filterRules(w1), /np-a\/cli-a egress/);
  await cp.client.resource(Resources.pods).delete(CLI_A[1], CLI_A[0]);
  await waitFor('cli-a gone', 30_000, async () => ((await cp!.client.resource(Resources.pods).get(CLI_A[1], CLI_A[0]).catch((e: { code?: number }) => (e.code === 404 ? null : undefined))) === null ? true : undefined));
  await waitFor('cli-a\'s chain removed on w1', 20_000, async () => (!/np-a\/cli-a/.test(await filterRules(w1)) ? true : undefined));
  for (const [ns, name] of [[SRV[1], 'srv-no-egress'], [CLI_A[1], 'cli-egress']] as const) await np.delete(ns, name);
  for (const w of [w1, w2]) {
    const rules = await waitFor(`no pod chains on ${w.name}`, 20_000, async () => {
      const r = await filterRules(w);
      return /MKUBE-NP[IEX]-/.test(r) ? undefined : r;
    });
    t.deepEqual(rules.split('\n').filter((l) => l.startsWith('-A MKUBE-NETPOL')), ['-A MKUBE-NETPOL -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN']);
  }
  t.is(await reaches(SRV, `http://${ip['cli-b']}/`, 'cli-b'), 'cli-b');
});
