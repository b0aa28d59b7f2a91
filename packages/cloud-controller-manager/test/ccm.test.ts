// mkube-cloud-controller-manager's controllers against a real API server on a real etcd, with
// leader election on a real Lease: LoadBalancer Services get pool addresses (requested ones
// honoured, bad ones refused with upstream's event), other classes are left alone, a type change
// or a delete releases the address (the Service is gone — a 404 — once the finalizer is off), a
// restarted manager recovers the assignments, and the cloud node controllers fill addresses and
// delete a not-Ready Node whose machine is gone.
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Event, Node, Service } from '@mkube/api';
import { startApiServer, type ApiServer } from '@mkube/apiserver';
import { ApiError, KubeClient, loadKubeconfig, Resources, type KubeObject } from '@mkube/client';
import { startEtcdCluster, waitFor, type EtcdCluster } from '@mkube/testing';
import { CloudControllerManager, LB_CLEANUP_FINALIZER, PoolProvider } from '../src/index.js';

const silent = pino({ level: 'silent' });
let dir = '';
let etcd: EtcdCluster | undefined;
let server: ApiServer | undefined;
let client: KubeClient;
let machinesFile = '';
const managers: CloudControllerManager[] = [];

async function startManager(): Promise<CloudControllerManager> {
  const ccm = new CloudControllerManager({
    client,
    provider: new PoolProvider({ pool: '10.213.250.0/24', machinesFile }),
    log: silent,
    leaderElect: true,
    leaseDurationMs: 3000,
    renewDeadlineMs: 2000,
    retryPeriodMs: 500,
    metricsPort: 0,
    nodeMonitorPeriodMs: 200,
  });
  managers.push(ccm);
  await ccm.start();
  await waitFor('the manager to lead', 15_000, async () => ccm.isLeader());
  return ccm;
}

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mkube-ccm-test-'));
  machinesFile = join(dir, 'machines');
  await writeFile(machinesFile, 'm1 10.213.251.11\nm2 10.213.251.12\n');
  etcd = await startEtcdCluster({ members: 1 });
  server = await startApiServer({ dataDir: join(dir, 'data'), etcdServers: etcd.endpoints, securePort: 0, compactionIntervalMs: 0, logger: silent });
  client = new KubeClient(loadKubeconfig(server.kubeconfigPath));
  await startManager();
});

test.after.always(async () => {
  for (const m of managers) await m.stop().catch(() => undefined);
  client?.close();
  await server?.stop().catch(() => undefined);
  await etcd?.stop().catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const services = () => client.resource<Service>(Resources.services);
const lbService = (name: string, spec: Record<string, unknown> = {}) =>
  services().create('default', { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ port: 80 }], ...spec } } as Service);
const ingressIP = async (name: string) => (await services().get('default', name)).status?.loadBalancer?.ingress?.[0]?.ip;
const waitIP = (name: string, want?: string) =>
  waitFor(`${name} to get ${want ?? 'an address'}`, 10_000, async () => {
    const ip = await ingressIP(name);
    return want ? ip === want : ip !== undefined;
  });
const reasons = async (name: string) =>
  (await client.resource<Event>(Resources.events).list('default')).items.filter((e) => e.involvedObject?.name === name && e.involvedObject.kind === 'Service').map((e) => e.reason);

test.serial('a LoadBalancer Service gets the pool\'s first address, the finalizer and upstream\'s events', async (t) => {
  const t0 = Date.now();
  await lbService('pay');
  await waitIP('pay', '10.213.250.1');
  t.log(`Service created → status.loadBalancer.ingress in ${Date.now() - t0} ms`);
  const s = await services().get('default', 'pay');
  t.deepEqual(s.metadata?.finalizers, [LB_CLEANUP_FINALIZER]);
  t.deepEqual(s.status?.loadBalancer?.ingress, [{ ip: '10.213.250.1', ipMode: 'VIP' }]);
  await waitFor('events', 5000, async () => (await reasons('pay')).includes('EnsuredLoadBalancer'));
  t.deepEqual((await reasons('pay')).sort(), ['EnsuredLoadBalancer', 'EnsuringLoadBalancer']);
});

test.serial('spec.loadBalancerIP is honoured; one outside the pool or taken gives SyncLoadBalancerFailed and no address', async (t) => {
  await lbService('fixed', { loadBalancerIP: '10.213.250.77' });
  await waitIP('fixed', '10.213.250.77');
  await lbService('outside', { loadBalancerIP: '192.0.2.9' });
  await lbService('taken', { loadBalancerIP: '10.213.250.77' });
  const failed = async (name: string) =>
    (await client.resource<Event>(Resources.events).list('default')).items.find((e) => e.involvedObject?.name === name && e.reason === 'SyncLoadBalancerFailed');
  const e1 = await waitFor('outside to fail', 10_000, () => failed('outside'));
  t.is(e1.type, 'Warning');
  t.is(e1.message, 'Error syncing load balancer: failed to ensure load balancer: requested loadBalancerIP 192.0.2.9 is not in the address pool 10.213.250.0/24');
  const e2 = await waitFor('taken to fail', 10_000, () => failed('taken'));
  t.is(e2.message, 'Error syncing load balancer: failed to ensure load balancer: requested loadBalancerIP 10.213.250.77 is already in use by service default/fixed');
  t.is(await ingressIP('outside'), undefined);
  t.is(await ingressIP('taken'), undefined);
  for (const n of ['outside', 'taken']) await services().delete('default', n);
});

test.serial('only Services without a class or with ours: another class is left alone', async (t) => {
  await lbService('theirs', { loadBalancerClass: 'example.com/other' });
  await lbService('ours', { loadBalancerClass: 'mkube.io/address-pool' });
  await waitIP('ours');
  const theirs = await services().get('default', 'theirs');
  t.is(theirs.status?.loadBalancer?.ingress, undefined);
  t.is(theirs.metadata?.finalizers, undefined);
  await services().delete('default', 'theirs');
});

test.serial('a type change to ClusterIP releases the address (status cleared, finalizer off); the next Service gets it', async (t) => {
  const before = await ingressIP('ours');
  const cur = await services().get('default', 'ours');
  await services().update({ ...cur, spec: { ...cur.spec, type: 'ClusterIP', loadBalancerClass: undefined, ports: cur.spec!.ports!.map((p) => ({ ...p, nodePort: undefined })) } });
  await waitFor('ours to lose its address and finalizer', 10_000, async () => {
    const s = await services().get('default', 'ours');
    return s.status?.loadBalancer?.ingress === undefined && !(s.metadata?.finalizers ?? []).includes(LB_CLEANUP_FINALIZER);
  });
  await waitFor('events', 5000, async () => (await reasons('ours')).includes('DeletedLoadBalancer'));
  t.true((await reasons('ours')).includes('DeletingLoadBalancer'));
  t.true((await reasons('ours')).includes('Type'));
  await lbService('next');
  await waitIP('next', before);
  t.pass();
});

test.serial('deleting a LoadBalancer Service: gone (404) once the finalizer is off; its address is free again', async (t) => {
  const ip = await ingressIP('next');
  await services().delete('default', 'next');
  const err = await waitFor('next to be gone', 10_000, async () => services().get('default', 'next').then(() => undefined, (e: unknown) => e));
  t.true(ApiError.isNotFound(err));
  await lbService('after-delete');
  await waitIP('after-delete', ip);
});

test.serial('a restarted manager (new leader) recovers the assignments: no address is given twice', async (t) => {
  const first = managers[0]!;
  await first.stop();
  const second = await startManager();
  await lbService('post-restart');
  await waitIP('post-restart');
  const ips = await Promise.all(['pay', 'fixed', 'after-delete', 'post-restart'].map(ingressIP));
  t.is(new Set(ips).size, 4, `distinct: ${ips.join(', ')}`);
  t.is(await ingressIP('pay'), '10.213.250.1');
  t.true(second.isLeader());
});

test.serial('cloud node controller: addresses, providerID and zone filled; a not-Ready Node whose machine is gone is deleted (404)', async (t) => {
  const nodes = client.resource<Node>(Resources.nodes);
  for (const name of ['m1', 'm2']) await nodes.create(undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: { taints: [{ key: 'node.cloudprovider.kubernetes.io/uninitialized', value: 'true', effect: 'NoSchedule' }] } } as KubeObject as Node);
  const m1 = await waitFor('m1 to be initialised', 10_000, async () => {
    const n = await nodes.get(undefined, 'm1');
    return n.status?.addresses?.length && n.spec?.providerID && !(n.spec?.taints ?? []).length ? n : undefined;
  });
  t.deepEqual(m1.status?.addresses, [
    { type: 'InternalIP', address: '10.213.251.11' },
    { type: 'Hostname', address: 'm1' },
  ]);
  t.is(m1.spec?.providerID, 'mkube://m1');
  t.is(m1.metadata?.labels?.['topology.kubernetes.io/zone'], 'lab');
  await writeFile(machinesFile, 'm1 10.213.251.11\n');
  const t0 = Date.now();
  const err = await waitFor('m2 to be deleted', 10_000, async () => nodes.get(undefined, 'm2').then(() => undefined, (e: unknown) => e));
  t.log(`machine gone → Node deleted in ${Date.now() - t0} ms`);
  t.true(ApiError.isNotFound(err));
  t.truthy(await nodes.get(undefined, 'm1'), 'the machine that exists keeps its Node');
});
