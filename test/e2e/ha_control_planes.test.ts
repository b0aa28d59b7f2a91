// Three control planes and two workers built by `mkube up --control-planes 3 --workers 2` in the lab (deploy/lab/lab.sh
// --name mkha --subnet 218: hosts 10.213.218.11-15, pods 10.213.219-223.0/24), every host through mkube init / mkube join
// with its own data directory. Checked: 3 voting store members, every API server ready and in the kubernetes Endpoints,
// kubectl 1.27 and 1.33 through the admin kubeconfig, no CA key under a worker's directory, a wrong certificate key
// refused; SIGKILL of the store leader's host processes (store + API server) → kubectl (the admin kubeconfig's context of
// a live control plane) and a Deployment's pods keep working, writes recover (kill → next acknowledged write, measured);
// one more API server killed → the node agents fail over and keep renewing their leases, still Ready; `mkube leave` of a
// control plane refused while it would break quorum; the dead control plane replaced (mkube remove-member, mkube init
// phase upload-certs, mkube join --control-plane on the same host afresh); then a control plane leaves: 2 voters.
import { execFile } from 'node:child_process';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import { caCertHash } from '@mkube/api';
import { labDown } from '@mkube/testing';
import { readState, stopProcess } from '@mkube/cli';

const LAB = 'mkha';
const SUBNET = 218;
const MKUBE = join(process.cwd(), 'packages/cli/dist/src/bin/mkube.js');
const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
const KUBECTL_127 = '/usr/lib/google-cloud-sdk/bin/kubectl.1.27';

interface Run { code: number; out: string; err: string }
function run(cmd: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, env, maxBuffer: 32 << 20, killSignal: 'SIGKILL' }, (e, out, err) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out, err }));
  });
}

interface HostRecord { name: string; role: 'control-plane' | 'worker'; address: string; dataDir: string; netns?: string; apiServer?: string; storeClientURL?: string }
interface Status {
  healthy: boolean;
  store?: { leader?: string; members: { id: string; name: string; leader: boolean; learner: boolean; started?: boolean }[] };
  apiServers?: { name: string; server: string; healthy: boolean }[];
  leaders?: { lease: string; host?: string }[];
}

let work: string;
let dir: string;
let hosts: HostRecord[] = [];
const kubeconfig = () => join(dir, 'admin.kubeconfig');
const kubectl = (args: string[], bin = KUBECTL) => run(bin, args, 60_000, { ...process.env, KUBECONFIG: kubeconfig(), HOME: work });
const mkube = (args: string[], timeoutMs = 120_000) => run(process.execPath, [MKUBE, ...args], timeoutMs);
const planes = () => hosts.filter((h) => h.role === 'control-plane');
const workers = () => hosts.filter((h) => h.role === 'worker');
const killed = new Set<string>();

async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (${last})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function status(): Promise<Status> {
  const r = await mkube(['status', '--data-dir', dir, '-o', 'json'], 60_000);
  return JSON.parse(r.out) as Status;
}

/** The admin credentials of the admin kubeconfig, for direct HTTPS requests to any API server. */
function adminTls(): { ca: Buffer; cert: Buffer; key: Buffer } {
  const doc = parse(readFileSync(kubeconfig(), 'utf8')) as { clusters: { cluster: { 'certificate-authority-data': string } }[]; users: { user: Record<string, string> }[] };
  const u = doc.users[0]!.user;
  return { ca: Buffer.from(doc.clusters[0]!.cluster['certificate-authority-data'], 'base64'), cert: Buffer.from(u['client-certificate-data']!, 'base64'), key: Buffer.from(u['client-key-data']!, 'base64') };
}

function https(server: string, method: string, path: string, body?: unknown, timeoutMs = 1000): Promise<number> {
  const tls = adminTls();
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(new URL(path, server), { method, ...tls, timeout: timeoutMs, headers: { accept: 'application/json', ...(data ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(data);
  });
}

/** SIGKILLs the named processes of a host (from its cluster.json). */
function killOnHost(h: HostRecord, names: string[]): number[] {
  const pids: number[] = [];
  for (const c of readState(h.dataDir)?.components ?? []) {
    if (!names.includes(c.name)) continue;
    try {
      process.kill(c.pid, 'SIGKILL');
      pids.push(c.pid);
    } catch {
      // gone
    }
    killed.add(`${h.name}/${c.name}`);
  }
  return pids;
}

test.before(async (t) => {
  work = mkdtempSync(join(tmpdir(), 'mkube-ha-'));
  dir = join(work, 'cluster');
  await labDown(LAB).catch(() => undefined);
  const started = Date.now();
  const r = await mkube(['up', '--control-planes', '3', '--workers', '2', '--data-dir', dir, '--lab-name', LAB, '--lab-subnet', String(SUBNET)], 420_000);
  if (r.code !== 0) throw new Error(`mkube up failed (${r.code}):\n${r.out}\n${r.err}`);
  t.log(`mkube up --control-planes 3 --workers 2: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  hosts = readState(dir)!.hosts as HostRecord[];
});

test.after.always(async () => {
  if (dir) {
    await mkube(['down', '--data-dir', dir], 120_000);
    // Whatever a failed test left: every host's processes.
    for (const h of hosts) for (const c of readState(h.dataDir)?.components ?? []) await stopProcess(c.pid, 2000).catch(() => undefined);
  }
  await labDown(LAB).catch(() => undefined);
  if (work) rmSync(work, { recursive: true, force: true });
});

test.serial('3 voting store members, every API server ready and listed, kubectl 1.27/1.33 through the admin kubeconfig, no CA key on a worker', async (t) => {
  t.is(planes().length, 3);
  t.is(workers().length, 2);
  const s = await status();
  t.true(s.healthy, JSON.stringify(s));
  t.is(s.store!.members.length, 3);
  t.true(s.store!.members.every((m) => !m.learner && m.started), JSON.stringify(s.store));
  t.is(s.store!.members.filter((m) => m.leader).length, 1);
  t.deepEqual(s.apiServers!.map((a) => a.healthy), [true, true, true]);
  t.deepEqual(s.leaders!.map((l) => l.lease).sort(), ['cloud-controller-manager', 'kube-controller-manager', 'kube-scheduler']);
  for (const bin of [KUBECTL, KUBECTL_127]) {
    const nodes = await kubectl(['get', 'nodes', '--no-headers'], bin);
    t.is(nodes.code, 0, nodes.err);
    for (const w of workers()) t.regex(nodes.out, new RegExp(`^${w.name}\\s+Ready`, 'm'));
  }
  const contexts = await kubectl(['config', 'get-contexts', '-o', 'name']);
  t.deepEqual(contexts.out.trim().split('\n').sort(), ['mkube', ...planes().map((p) => `mkube-${p.name}`)].sort());
  // The kubernetes Service's endpoints: every API server (each keeps its lease).
  await waitUntil('the kubernetes Endpoints to list 3 API servers', 30_000, async () => {
    const ep = await kubectl(['get', 'endpoints', 'kubernetes', '-o', 'jsonpath={.subsets[*].addresses[*].ip}']);
    return ep.out.trim().split(/\s+/).sort().join(',') === planes().map((p) => p.address).sort().join(',') ? true : undefined;
  });
  // kubeadm-certs: owned by a bootstrap token (deleted with it), every shared file encrypted.
  const secret = JSON.parse((await kubectl(['get', 'secret', '-n', 'kube-system', 'kubeadm-certs', '-o', 'json'])).out) as { data: Record<string, string>; metadata: { ownerReferences: { kind: string; name: string; controller: boolean }[] } };
  t.deepEqual(Object.keys(secret.data).sort(), ['ca.crt', 'ca.key', 'etcd-ca.crt', 'etcd-ca.key', 'front-proxy-ca.crt', 'front-proxy-ca.key', 'sa.key', 'sa.pub']);
  t.false(Buffer.from(secret.data['ca.key']!, 'base64').toString('latin1').includes('PRIVATE KEY'));
  t.regex(secret.metadata.ownerReferences[0]!.name, /^bootstrap-token-[a-z0-9]{6}$/);
  t.true(secret.metadata.ownerReferences[0]!.controller);

  // No file under a worker's directory holds the CA key (every PEM private key parsed); a control plane's does.
  const caPub = new X509Certificate(readFileSync(join(planes()[0]!.dataDir, 'apiserver', 'pki', 'ca.crt'))).publicKey.export({ type: 'spki', format: 'der' });
  const caKeyFiles = (root: string): string[] => {
    const found: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile() && statSync(p).size < 4 << 20) {
          for (const m of readFileSync(p, 'latin1').replace(/\\n/g, '\n').matchAll(/-----BEGIN ([A-Z ]*PRIVATE KEY)-----[\s\S]*?-----END \1-----/g)) {
            try {
              if (createPublicKey(createPrivateKey(m[0])).export({ type: 'spki', format: 'der' }).equals(caPub)) found.push(p);
            } catch {
              found.push(`${p} (unreadable key)`);
            }
          }
        }
      }
    };
    walk(root);
    return found;
  };
  for (const w of workers()) t.deepEqual(caKeyFiles(w.dataDir), [], w.name);
  t.true(caKeyFiles(planes()[1]!.dataDir).length > 0, 'a joined control plane holds the CA key');
});

test.serial('a control-plane join with a wrong certificate key is refused (nothing started)', async (t) => {
  const w = workers()[0]!;
  const cp = planes()[0]!;
  const token = await mkube(['token', 'create', '--data-dir', cp.dataDir]);
  t.is(token.code, 0, token.err);
  const ca = readFileSync(join(cp.dataDir, 'apiserver', 'pki', 'ca.crt'), 'utf8');
  const r = await run('nsenter', [`--net=/run/netns/${w.netns!}`, process.execPath, MKUBE, 'join', cp.apiServer!, '--token', token.out.trim(), '--discovery-token-ca-cert-hash', caCertHash(ca),
    '--control-plane', '--certificate-key', 'ab'.repeat(32), '--advertise-address', w.address, '--data-dir', join(work, 'refused')], 60_000);
  t.is(r.code, 1);
  t.regex(r.err, /error decoding secret data with provided key: cipher: message authentication failed/);
  t.false(existsSync(join(work, 'refused', 'apiserver', 'pki', 'ca.key')), 'no partial PKI written');
});

test.serial('SIGKILL of the store leader\'s host (store + API server): kubectl and the Deployment keep working, writes recover', async (t) => {
  const ctx = (h: HostRecord) => `--context=mkube-${h.name}`;
  t.is((await kubectl(['create', 'deployment', 'web', '--image=nginx', '--replicas=2'])).code, 0);
  await waitUntil('2 web pods running', 120_000, async () => {
    const r = await kubectl(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[*].status.phase}']);
    return r.out.split(' ').filter((p) => p === 'Running').length === 2 ? true : undefined;
  });
  const podIPs = (await kubectl(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[*].status.podIP}'])).out.trim().split(' ');
  const served = async () => {
    for (const ip of podIPs) {
      const r = await run('nsenter', [`--net=/run/netns/${workers()[0]!.netns!}`, 'curl', '-s', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', `http://${ip}/`], 5000);
      if (r.out !== '200') return false;
    }
    return true;
  };
  t.true(await served());

  const before = await status();
  const leaderName = before.store!.members.find((m) => m.leader)!.name;
  const leader = planes().find((h) => h.name === leaderName)!;
  const others = planes().filter((h) => h !== leader);
  const killedAt = Date.now();
  t.is(killOnHost(leader, ['store', 'apiserver']).length, 2);
  // Kill → the next acknowledged write, through the surviving API servers (each tried with a short timeout).
  let n = 0;
  const ackAt = await waitUntil('a write to be acknowledged', 30_000, async () => {
    for (const h of others) {
      const code = await https(h.apiServer!, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `after-kill-${n++}` } }, 1000).catch(() => 0);
      if (code === 201) return Date.now();
    }
    return undefined;
  });
  t.log(`store leader ${leaderName} (store + API server) SIGKILLed: next acknowledged write after ${ackAt - killedAt} ms`);
  t.true(ackAt - killedAt < 10_000);
  const after = await waitUntil('a new store leader', 30_000, async () => {
    const s = await status();
    const l = s.store?.members.find((m) => m.leader);
    return l && l.name !== leaderName ? s : undefined;
  });
  t.is(after.store!.members.filter((m) => m.started).length, 2);
  // kubectl through the admin kubeconfig: the context of a live control plane.
  const pods = await kubectl([ctx(others[0]!), 'get', 'pods', '-l', 'app=web', '--no-headers']);
  t.is(pods.code, 0, pods.err);
  t.is(pods.out.trim().split('\n').length, 2);
  t.is((await kubectl([ctx(others[1]!), 'scale', 'deployment', 'web', '--replicas=3'])).code, 0);
  await waitUntil('3 web pods running', 120_000, async () => {
    const r = await kubectl([ctx(others[0]!), 'get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[*].status.phase}']);
    return r.out.split(' ').filter((p) => p === 'Running').length === 3 ? true : undefined;
  });
  t.true(await served(), 'the pods kept serving');
  // The killed API server's endpoint is dropped after its lease expires.
  await waitUntil('the kubernetes Endpoints to drop the dead API server', 60_000, async () => {
    const ep = await kubectl([ctx(others[0]!), 'get', 'endpoints', 'kubernetes', '-o', 'jsonpath={.subsets[*].addresses[*].ip}']);
    return ep.code === 0 && !ep.out.includes(leader.address) && ep.out.trim() !== '' ? true : undefined;
  });
});

test.serial('one more API server killed: the node agents fail over and stay Ready', async (t) => {
  const live = planes().filter((h) => !killed.has(`${h.name}/apiserver`));
  t.is(live.length, 2);
  const victim = live[0]!;
  const last = live[1]!;
  const readySince = async () => (await kubectl([`--context=mkube-${last.name}`, 'get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}@{.status.conditions[?(@.type=="Ready")].lastTransitionTime} {end}'])).out.trim();
  const before = await readySince();
  t.regex(before, /=True@/);
  const killedAt = Date.now();
  killOnHost(victim, ['apiserver']);
  for (const w of workers()) {
    const renewed = await waitUntil(`node ${w.name}'s lease renewed after the kill`, 30_000, async () => {
      const r = await kubectl([`--context=mkube-${last.name}`, 'get', 'lease', '-n', 'kube-node-lease', w.name, '-o', 'jsonpath={.spec.renewTime}']);
      const at = Date.parse(r.out);
      return at > killedAt ? at : undefined;
    });
    t.log(`node ${w.name}: lease renewed ${renewed - killedAt} ms after API server ${victim.name} was killed`);
  }
  // Ready all along: the condition did not change since before the kill.
  t.is(await readySince(), before);
  // Back: the victim's API server again (the next test needs quorum through it), as after a reboot: mkube start.
  const started = await run('nsenter', [`--net=/run/netns/${victim.netns!}`, process.execPath, MKUBE, 'start', '--data-dir', victim.dataDir], 30_000);
  t.is(started.code, 0, started.err);
  t.is(started.out.trim(), 'started again: apiserver');
  await waitUntil(`${victim.name}'s API server ready again`, 60_000, async () => ((await https(victim.apiServer!, 'GET', '/readyz').catch(() => 0)) === 200 ? true : undefined));
});

test.serial('a dead control plane replaced (remove-member, new certificate key, join again); mkube leave refused below quorum, then 2 voters', async (t) => {
  const dead = planes().find((h) => killed.has(`${h.name}/store`))!;
  const leaving = planes().find((h) => h !== dead)!;
  const rest = planes().find((h) => h !== dead && h !== leaving)!;
  const refused = await run('nsenter', [`--net=/run/netns/${leaving.netns!}`, process.execPath, MKUBE, 'leave', '--data-dir', leaving.dataDir], 60_000);
  t.is(refused.code, 1);
  t.regex(refused.err, /re-configuration failed due to not enough started members.*use --force/);
  t.true(readState(leaving.dataDir)!.components.every((c) => { try { process.kill(c.pid, 0); return true; } catch { return false; } }), 'nothing stopped');

  // The dead machine is lost for good: the rest of its processes and its disk.
  for (const c of readState(dead.dataDir)?.components ?? []) await stopProcess(c.pid, 5000);
  rmSync(dead.dataDir, { recursive: true, force: true });
  // Replacing it (docs/OPERATIONS.md): remove its member on a live control plane, then join a machine again.
  const removed = await mkube(['remove-member', dead.name, '--data-dir', rest.dataDir]);
  t.is(removed.code, 0, `${removed.out}\n${removed.err}`);
  const two = await status();
  t.deepEqual(two.store!.members.map((m) => m.name).sort(), [leaving.name, rest.name].sort());
  const upload = await mkube(['init', 'phase', 'upload-certs', '--upload-certs', '--data-dir', rest.dataDir]);
  t.is(upload.code, 0, upload.err);
  const key = upload.out.trim().split('\n').pop()!;
  t.regex(key, /^[0-9a-f]{64}$/);
  const token = (await mkube(['token', 'create', '--data-dir', rest.dataDir])).out.trim();
  const ca = readFileSync(join(rest.dataDir, 'apiserver', 'pki', 'ca.crt'), 'utf8');
  const rejoinedAt = Date.now();
  const rejoin = await run('nsenter', [`--net=/run/netns/${dead.netns!}`, process.execPath, MKUBE, 'join', rest.apiServer!, '--token', token, '--discovery-token-ca-cert-hash', caCertHash(ca),
    '--control-plane', '--certificate-key', key, '--advertise-address', dead.address, '--data-dir', dead.dataDir, '--node-name', dead.name], 180_000);
  t.is(rejoin.code, 0, `${rejoin.out}\n${rejoin.err}`);
  t.log(`${dead.name} joined again as a control plane in ${Date.now() - rejoinedAt} ms`);
  const three = await waitUntil('3 started voters', 60_000, async () => {
    const st = await status();
    return st.store?.members.length === 3 && st.store.members.every((m) => m.started && !m.learner) && st.apiServers?.every((a) => a.healthy) ? st : undefined;
  });
  t.true(three.healthy, JSON.stringify(three));

  // Now a control plane can leave: 2 voters.
  const left = await run('nsenter', [`--net=/run/netns/${leaving.netns!}`, process.execPath, MKUBE, 'leave', '--data-dir', leaving.dataDir], 120_000);
  t.is(left.code, 0, `${left.out}\n${left.err}`);
  t.regex(left.out, new RegExp(`Control plane ${leaving.name} left the cluster`));
  const s = await waitUntil('2 voters and the leaver gone', 30_000, async () => {
    const st = await status();
    return st.store?.members.length === 2 && st.apiServers?.length === 2 ? st : undefined;
  });
  t.true(s.store!.members.every((m) => !m.learner && m.started && m.name !== leaving.name), JSON.stringify(s.store));
  t.false(existsSync(join(leaving.dataDir, 'apiserver')), 'its PKI is gone');
  const cm = await kubectl([`--context=mkube-${rest.name}`, 'get', 'cm', '-n', 'kube-system', 'mkube-control-plane', '-o', 'jsonpath={.data}']);
  t.false(cm.out.includes(leaving.name));
  // Writes still work with 2 voters; the nodes are still Ready.
  t.is((await kubectl([`--context=mkube-${rest.name}`, 'create', 'configmap', 'after-leave'])).code, 0);
  const nodes = await kubectl([`--context=mkube-${rest.name}`, 'get', 'nodes', '--no-headers']);
  for (const w of workers()) t.regex(nodes.out, new RegExp(`^${w.name}\\s+Ready`, 'm'));
});

test.serial('mkube leave of a worker: drained (its pods move to the other worker), node agent stopped, Node deleted', async (t) => {
  const [stay, go] = workers() as [HostRecord, HostRecord];
  const left = await run('nsenter', [`--net=/run/netns/${go.netns!}`, process.execPath, MKUBE, 'leave', '--data-dir', go.dataDir, '--kubeconfig', kubeconfig()], 180_000);
  t.is(left.code, 0, `${left.out}\n${left.err}`);
  t.regex(left.out, new RegExp(`Node ${go.name} was drained`));
  const node = await kubectl(['get', 'node', go.name]);
  t.is(node.code, 1);
  t.regex(node.err, /NotFound/);
  t.is(readState(go.dataDir), undefined);
  await waitUntil(`the web pods running on ${stay.name} only`, 120_000, async () => {
    const r = await kubectl(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={range .items[*]}{.spec.nodeName}/{.status.phase} {end}']);
    const pods = r.out.trim().split(' ').filter(Boolean);
    return pods.length === 3 && pods.every((p) => p === `${stay.name}/Running`) ? true : undefined;
  });
  t.pass();
});
