// The chaos suite in its short form: a 3-control-plane + 2-worker lab cluster built by `mkube up
// --control-planes 3 --workers 2` (through the init/join flow; lab mkcht, nodes 10.213.232.0/24, pod
// subnets 233–237), then `mkube chaos --duration 60s` with every fault kind once (store leader's host
// SIGKILLed, one API server SIGKILLed, the controller-manager and scheduler lease holders SIGKILLed,
// the store leader's host partitioned, the store leader SIGSTOPped past the election timeout, a
// worker host cut off with its node agent killed), each held, healed and the cluster healthy again
// before the next, while clients write and read ConfigMaps, a probe requests a NodePort Service from
// the host and pods are created. Asserted: exit 0, no acknowledged write lost, the history decided
// linearizable, the Deployment back at its replicas, every fault kind measured (store faults and lease
// faults detected), the Service served during control-plane faults; the table is printed. Afterwards
// `mkube down` leaves no namespace, link, MKUBE-CHAOS chain or process of the lab behind.
// Between the two, a short second run against the same lab through `mkube chaos --hosts-file`
// (the way to reach VMs), each host's command being `nsenter --net=/run/netns/<its namespace>`, so
// every host operation goes through `mkube chaos-host` run inside that host's namespace. Its fault times are taken
// on the hosts (chaos-host prints when it signalled / committed the isolation) and moved by each host's clock offset,
// measured at the start by round trips: the lab's hosts share this machine's clock, so each offset must be 0 within
// its reported uncertainty and each fault's time agree with the host's own reading (what the lab run takes) within it.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ChaosReportFile } from '@mkube/cli';
import { pidsMentioning } from '@mkube/testing';

const LAB = 'mkcht';
const SUBNET = 232;
const MKUBE = join(process.cwd(), 'packages/cli/dist/src/bin/mkube.js');
const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
const FAULTS = ['store-leader', 'apiserver', 'controller-leader', 'scheduler-leader', 'partition', 'pause', 'worker'];
const isRoot = process.getuid?.() === 0;

interface Run { code: number; out: string; err: string }
function run(cmd: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, env, maxBuffer: 64 << 20, killSignal: 'SIGKILL' }, (e, out, err) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out, err }));
  });
}

/** DIR/chaos-report.json as mkube chaos writes it. */
type Report = ChaosReportFile;

let work = '';
let dataDir = '';
/** The lab run's report (its fault times taken in the driver, at the signal / the committed rules). */
let labReport: Report | undefined;

async function down(): Promise<Run> {
  return run(process.execPath, [MKUBE, 'down', '--data-dir', dataDir], 120_000);
}

test.before(async (t) => {
  if (!isRoot) return;
  work = mkdtempSync(join(tmpdir(), 'mkube-chaos-'));
  dataDir = join(work, 'd');
  const up = await run(process.execPath, [MKUBE, 'up', '--control-planes', '3', '--workers', '2', '--lab-name', LAB, '--lab-subnet', String(SUBNET), '--data-dir', dataDir], 300_000);
  t.log(`mkube up --control-planes 3 --workers 2: exit ${up.code}`);
  if (up.code !== 0) throw new Error(`mkube up failed (${up.code}):\n${up.out}\n${up.err}`);
});

test.after.always(async () => {
  if (!work) return;
  if (existsSync(join(dataDir, 'cluster.json'))) await down();
  rmSync(work, { recursive: true, force: true });
});

test.serial('mkube chaos: every fault kind against 3 control planes + 2 workers, nothing acknowledged lost, the history linearizable, the Deployment back', async (t) => {
  if (!isRoot) return t.pass('needs root (the lab)');
  t.timeout(240_000);
  const started = Date.now();
  const r = await run(process.execPath, [MKUBE, 'chaos', '--data-dir', dataDir, '--duration', '60s', '--faults', FAULTS.join(','), '--seed', '12'], 220_000);
  const took = (Date.now() - started) / 1000;
  t.log(r.err.split('\n').filter((l) => l.startsWith('chaos') || / on mkcht-/.test(l) || /LOST|NOT LINEARIZABLE|UNDECIDED|pods created/.test(l)).join('\n'));
  t.log(`\n${r.out}`);
  t.log(`mkube chaos took ${took.toFixed(0)} s`);
  t.is(r.code, 0, `mkube chaos exited ${r.code}:\n${r.err.slice(-4000)}`);
  const report = JSON.parse(readFileSync(join(dataDir, 'chaos-report.json'), 'utf8')) as Report;
  labReport = report;
  // In the lab the fault's time is taken in this process where the fault happens: no uncertainty.
  for (const f of report.faults) t.is(f.faultTime?.uncertaintyMs, 0, `${f.kind}: fault time taken here`);
  t.is(report.clockOffsets, undefined);
  t.is(report.writesLost, 0);
  t.is(report.linearizable, true);
  t.true(report.operationsChecked > 500, `${report.operationsChecked} operations checked`);
  t.true(report.writesAcked > 100, `${report.writesAcked} writes acknowledged`);
  t.true(report.replicasRestored);
  t.deepEqual(report.faults.map((f) => f.kind), FAULTS);
  for (const f of report.faults) {
    t.not(f.recoveryMs, undefined, `${f.kind}: an acknowledged write after the fault`);
    if (['store-leader', 'partition', 'pause', 'controller-leader', 'scheduler-leader', 'apiserver'].includes(f.kind)) t.not(f.detectionMs, undefined, `${f.kind}: detected`);
  }
  // Running pods keep serving while the control plane is down.
  const cp = report.requestsServedControlPlane;
  t.true(cp.total > 100 && cp.ok / cp.total >= 0.95, `served during control-plane faults: ${cp.ok}/${cp.total}`);
  // The table as the user sees it: one row per fault kind.
  for (const kind of FAULTS) t.regex(r.out, new RegExp(`^\\| ${kind} \\| 1 \\| `, 'm'));
  t.regex(r.out, /lost 0 · history linearizable \(\d+ operations checked\)/);
  const nodes = await run(KUBECTL, ['get', 'nodes', '--no-headers'], 30_000, { ...process.env, KUBECONFIG: join(dataDir, 'admin.kubeconfig'), HOME: work });
  t.is(nodes.code, 0, nodes.err);
  t.is(nodes.out.trim().split('\n').filter((l) => / Ready /.test(l)).length, 2, nodes.out);
});

test.serial('mkube chaos --hosts-file: store-leader and partition through mkube chaos-host in each host\'s namespace (nsenter commands), nothing lost, linearizable, no chain left', async (t) => {
  if (!isRoot) return t.pass('needs root (the lab)');
  // Every host operation starts Node.js on the host (5-15 s each at load 25-30 here): minutes, not seconds.
  t.timeout(480_000);
  const state = JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as { hosts: Array<{ name: string; role: string; address: string; dataDir: string; netns: string }> };
  const hostsFile = join(work, 'hosts');
  writeFileSync(hostsFile, ['# the lab as machines reached by a command', ...state.hosts.map((h) => `${h.name} ${h.role} ${h.address} ${h.dataDir} nsenter --net=/run/netns/${h.netns}`), ''].join('\n'));
  const reportFile = join(work, 'remote-report.json');
  const faults = ['store-leader', 'partition'];
  // The first run deleted its namespace: wait for it to be gone (a 404) so this run starts from no ConfigMaps.
  const gone = await run(KUBECTL, ['wait', '--for=delete', 'namespace/mkube-chaos', '--timeout=90s'], 100_000, { ...process.env, KUBECONFIG: join(dataDir, 'admin.kubeconfig'), HOME: work });
  t.is(gone.code, 0, gone.err);
  const started = Date.now();
  const r = await run(process.execPath, [MKUBE, 'chaos', '--hosts-file', hostsFile, '--kubeconfig', join(dataDir, 'admin.kubeconfig'), '--remote-mkube', `${process.execPath} ${MKUBE}`,
    '--report', reportFile, '--duration', '20s', '--faults', faults.join(','), '--seed', '7'], 450_000);
  t.log(r.err.split('\n').filter((l) => l.startsWith('chaos') || /LOST|NOT LINEARIZABLE|UNDECIDED/.test(l)).join('\n'));
  t.log(`\n${r.out}`);
  t.log(`mkube chaos --hosts-file took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  t.is(r.code, 0, `mkube chaos --hosts-file exited ${r.code}:\n${r.err.slice(-4000)}`);
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as Report;
  t.is(report.writesLost, 0);
  t.is(report.linearizable, true);
  t.true(report.writesAcked > 20, `${report.writesAcked} writes acknowledged`);
  t.true(report.replicasRestored);
  t.deepEqual(report.faults.map((f) => f.kind), faults);
  for (const f of report.faults) t.not(f.recoveryMs, undefined, `${f.kind}: an acknowledged write after the fault`);
  for (const f of report.faults) t.not(f.detectionMs, undefined, `${f.kind}: detected`);
  for (const kind of faults) t.regex(r.out, new RegExp(`^\\| ${kind} \\| 1 \\| `, 'm'));
  // Fault times: each host's clock offset measured at the start by round trips to chaos-host clock. The lab's hosts
  // share this machine's clock, so the true offset is 0, and each host's own reading at the fault (hostWallMs: the
  // clock the lab mode takes its fault time with, at the same point of the same code) must agree with the driver's
  // fault time within the reported uncertainty. The fault lies inside the injecting command, well after its start
  // (where the time used to be taken).
  t.deepEqual(report.clockOffsets?.map((o) => o.host), state.hosts.map((h) => h.name));
  for (const o of report.clockOffsets ?? []) t.true(Math.abs(o.offsetMs) <= o.uncertaintyMs, `${o.host}: offset ${o.offsetMs} ms within ± ${o.uncertaintyMs} ms of 0`);
  t.regex(r.out, /fault times taken on the hosts, moved by clock offsets measured at the start .*; detection and recovery times ± [\d.]+ ms/);
  for (const f of report.faults) {
    const ft = f.faultTime!;
    t.not(ft.hostWallMs, undefined, `${f.kind}: the host's reading`);
    t.true(Math.abs(ft.wallMs - ft.hostWallMs!) <= ft.uncertaintyMs + 0.01, `${f.kind}: driver ${ft.wallMs} vs host ${ft.hostWallMs} within ± ${ft.uncertaintyMs} ms`);
    t.true(ft.commandStartMs <= ft.uncertaintyMs && ft.commandEndMs >= -ft.uncertaintyMs, `${f.kind}: inside the command [${ft.commandStartMs}, ${ft.commandEndMs}] ms`);
    const lab = labReport?.faults.find((l) => l.kind === f.kind);
    t.log(`${f.kind}: fault ${Math.round(-ft.commandStartMs)} ms after the chaos-host command started (± ${ft.uncertaintyMs.toFixed(2)} ms); ` +
      `detection ${f.detectionMs?.toFixed(0)} ms, recovery ${f.recoveryMs?.toFixed(0)} ms (lab run: ${lab?.detectionMs?.toFixed(0)} ms, ${lab?.recoveryMs?.toFixed(0)} ms)`);
  }
  // Healed: no host namespace keeps the chain.
  for (const h of state.hosts) {
    const rules = await run('ip', ['netns', 'exec', h.netns, 'iptables-save'], 10_000);
    t.is(rules.code, 0, rules.err);
    t.false(rules.out.includes('MKUBE-CHAOS'), `${h.name}: MKUBE-CHAOS chain left`);
  }
  // The internal host command answers on its own: a control plane's store member, a worker's processes.
  const cp = state.hosts.find((h) => h.role === 'control-plane')!;
  const st = await run('nsenter', [`--net=/run/netns/${cp.netns}`, process.execPath, MKUBE, 'chaos-host', '--data-dir', cp.dataDir, 'store-status'], 20_000);
  t.is(st.code, 0, st.err);
  t.regex(st.out, /^\{"memberId":"\w+","leader":"\w+","term":\d+\}\n$/);
  const bad = await run(process.execPath, [MKUBE, 'chaos-host', '--data-dir', cp.dataDir, 'signal', 'store,bogus', 'SIGCONT'], 20_000);
  t.is(bad.code, 1);
  t.regex(bad.err, /unknown component kind "bogus"/);
});

test.serial('mkube down leaves no namespace, link, MKUBE-CHAOS chain or process of the lab', async (t) => {
  if (!isRoot) return t.pass('needs root (the lab)');
  const d = await down();
  t.is(d.code, 0, d.err);
  const netns = await run('ip', ['netns', 'list'], 10_000);
  t.deepEqual(netns.out.split('\n').filter((l) => l.startsWith(`${LAB}-`)), []);
  const links = await run('ip', ['-o', 'link', 'show'], 10_000);
  t.deepEqual(links.out.split('\n').filter((l) => l.includes(LAB)), []);
  const rules = await run('iptables-save', [], 10_000);
  t.is(rules.code, 0, rules.err);
  t.false(rules.out.includes('MKUBE-CHAOS'), 'no MKUBE-CHAOS chain in the host namespace (the hosts\' namespaces are gone)');
  t.deepEqual(pidsMentioning(dataDir), []);
});
