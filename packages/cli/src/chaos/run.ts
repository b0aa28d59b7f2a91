/**
 * `mkube chaos`: runs the fault schedule against a cluster while the API workload writes and
 * reads ConfigMaps, a probe requests a Deployment behind a NodePort Service from outside, and
 * pods are created to be scheduled during the faults; then checks that no acknowledged write is
 * lost, that the recorded history is linearizable (the checker must decide: an undecided check
 * fails the run), and that the Deployment is back at its replica count; prints the report.
 */
import { ApiError, KubeClient, Resources } from '@mkube/client';
import type { Deployment, Pod, Service } from '@mkube/api';
import { checkKvHistory, seededRandom, type CheckResult } from '@mkube/testing';
import { waitFor } from '../api_probe.js';
import { ApiWorkload, CHAOS_NAMESPACE, describeLostWrite, lostWrites, writesBetween } from './api_workload.js';
import type { ChaosCluster } from './cluster.js';
import { runFault, type FaultKind } from './faults.js';
import { HttpProbe } from './http_probe.js';
import { formatReport, passed, type ChaosSummary, type FaultOutcome } from './report.js';

export interface ChaosOptions {
  durationMs: number;
  faults: FaultKind[];
  seed: number;
  /** How long each fault is held (default 5 s: longer than every election and failover timeout). */
  holdMs?: number;
  /** Pause between faults (healthy cluster, workload running). */
  gapMs?: number;
  /** Image of the probed Deployment (a local image that serves HTTP on port 80). */
  image?: string;
  log: (line: string) => void;
}

const OPS_PER_WINDOW = 40;
const WEB = 'chaos-web';

async function deployWeb(client: KubeClient, image: string): Promise<number> {
  const labels = { app: WEB };
  const deployments = client.resource<Deployment>(Resources.deployments);
  const services = client.resource<Service>(Resources.services);
  const ignoreExists = (err: unknown) => {
    if (!ApiError.isAlreadyExists(err)) throw err;
  };
  await deployments.create(CHAOS_NAMESPACE, {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: WEB, namespace: CHAOS_NAMESPACE },
    spec: { replicas: 2, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'web', image, ports: [{ containerPort: 80 }] }] } } },
  }).catch(ignoreExists);
  await services.create(CHAOS_NAMESPACE, {
    apiVersion: 'v1', kind: 'Service', metadata: { name: WEB, namespace: CHAOS_NAMESPACE },
    spec: { type: 'NodePort', selector: labels, ports: [{ port: 80, targetPort: 80 }] },
  }).catch(ignoreExists);
  await replicasReady(client, 120_000);
  const svc = await services.get(CHAOS_NAMESPACE, WEB);
  return svc.spec!.ports![0]!.nodePort!;
}

async function replicasReady(client: KubeClient, timeoutMs: number): Promise<true> {
  const deployments = client.resource<Deployment>(Resources.deployments);
  return waitFor(`Deployment ${CHAOS_NAMESPACE}/${WEB} ready`, timeoutMs, async () => {
    const d = await deployments.get(CHAOS_NAMESPACE, WEB);
    const want = d.spec?.replicas ?? 1;
    return d.status?.readyReplicas === want && d.status?.updatedReplicas === want && (d.status?.replicas ?? 0) === want ? true : undefined;
  });
}

/** Creates a pod every few seconds (to be scheduled while faults run); returns their names. */
function podCreator(client: KubeClient, image: string, everyMs: number): { stop: () => Promise<string[]> } {
  const pods = client.resource<Pod>(Resources.pods);
  const created: string[] = [];
  let n = 0;
  let busy: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    busy = busy.then(async () => {
      const name = `chaos-pod-${++n}`;
      await pods.create(CHAOS_NAMESPACE, { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: CHAOS_NAMESPACE }, spec: { containers: [{ name: 'c', image, command: ['sleep', '3600'] }], terminationGracePeriodSeconds: 0 } })
        .then(() => void created.push(name), () => undefined);
    });
  }, everyMs);
  return {
    stop: async () => {
      clearInterval(timer);
      await busy;
      return created;
    },
  };
}

export async function runChaos(cluster: ChaosCluster, o: ChaosOptions): Promise<{ summary: ChaosSummary; report: string; ok: boolean }> {
  const start = performance.now();
  const now = () => performance.now();
  const random = seededRandom(o.seed);
  const admin = new KubeClient({ ...cluster.kubeconfig, userAgent: 'mkube-chaos/admin' });
  const workload = new ApiWorkload({ config: cluster.kubeconfig, clients: 4, keys: 6, opsPerWindow: OPS_PER_WINDOW, requestTimeoutMs: 4000, now, random });
  let probe: HttpProbe | undefined;
  const faults: FaultOutcome[] = [];
  try {
    await cluster.waitHealthy(60_000);
    await workload.prepare();
    const image = o.image ?? 'nginx';
    const nodePort = await deployWeb(admin, image);
    const urls = cluster.nodePortUrls(nodePort);
    if (urls.length > 0) {
      probe = new HttpProbe(urls, { intervalMs: 100, timeoutMs: 1000, now });
      probe.start();
    }
    const creator = podCreator(admin, 'busybox', 5000);
    workload.start();
    const holdMs = o.holdMs ?? 5000;
    const gapMs = o.gapMs ?? 2000;
    let i = 0;
    do {
      await new Promise((r) => setTimeout(r, gapMs));
      const kind = o.faults[i++ % o.faults.length]!;
      faults.push(await runFault({ cluster, workload, probe, now, holdMs, detectTimeoutMs: 30_000, healTimeoutMs: 60_000, log: o.log }, kind));
    } while (now() - start < o.durationMs || i < o.faults.length);
    await new Promise((r) => setTimeout(r, gapMs));
    await workload.stop();
    probe?.stop();
    const pods = await creator.stop();
    const finals = await workload.finalReads();
    const lost = lostWrites(workload.attempted, finals);
    for (const l of lost) o.log(`LOST: ${describeLostWrite(l)}`);
    for (const f of faults) {
      f.writes = writesBetween(workload.attempted, lost, f.at, f.at + f.healthyMs);
      // Where the recovery time went: every request ending between 1 s before the fault and its recovery.
      const until = f.at + (f.recoveryMs ?? f.heldMs) + 100;
      f.timeline = workload.trace.filter((e) => e.ret >= f.at - 1000 && e.call <= until)
        .map((e) => ({ client: e.client, op: e.op, callMs: Math.round(e.call - f.at), retMs: Math.round(e.ret - f.at), outcome: e.outcome, server: e.server, ...(e.error ? { error: e.error } : {}) }));
    }
    // A window holds OPS_PER_WINDOW read-then-write rounds and the final read.
    let check: CheckResult;
    try {
      check = checkKvHistory(workload.history.history(), { timeBudgetMs: 60_000, maxPartitionOperations: OPS_PER_WINDOW * 2 + 1 });
    } catch (err) {
      // A history the checker refuses (unbounded partition, bad timestamps) is not decided.
      check = { ok: 'unknown', reason: (err as Error).message, undecidedKeys: [] };
    }
    if (check.ok === false) o.log(`NOT LINEARIZABLE: ${check.description}`);
    if (check.ok === 'unknown') o.log(`UNDECIDED: ${check.reason}`);
    const replicasRestored = await replicasReady(admin, 120_000).then(() => true, () => false);
    const scheduled = await waitFor('the pods created during the run to be scheduled', 120_000, async () => {
      const list = await admin.resource<Pod>(Resources.pods).list(CHAOS_NAMESPACE);
      const mine = list.items.filter((p) => pods.includes(p.metadata.name));
      return mine.every((p) => p.spec?.nodeName) ? mine.length : undefined;
    }).catch(() => -1);
    o.log(`${pods.length} pods created during the run, ${scheduled < 0 ? 'NOT all' : 'all'} scheduled`);
    const summary: ChaosSummary = {
      durationMs: now() - start,
      faults,
      writesAcked: workload.counts.writesAcked,
      writesUnknown: workload.counts.writesUnknown,
      writesLost: lost.length,
      operationsChecked: check.ok === true ? check.operations : workload.history.size,
      linearizable: check.ok,
      requestsServed: probe ? probe.served(0, Infinity) : { ok: 0, total: 0 },
      requestsServedControlPlane: faults.filter((f) => f.controlPlane).reduce((a, f) => ({ ok: a.ok + f.served.ok, total: a.total + f.served.total }), { ok: 0, total: 0 }),
      replicasRestored: replicasRestored && scheduled >= 0,
      ...(cluster.clockOffsets ? { clockOffsets: cluster.clockOffsets } : {}),
    };
    return { summary, report: formatReport(summary), ok: passed(summary) };
  } finally {
    probe?.stop();
    await workload.stop().catch(() => undefined);
    workload.close();
    await cluster.cleanup();
    await admin.resource(Resources.namespaces).delete(undefined, CHAOS_NAMESPACE).catch(() => undefined);
    admin.close();
  }
}
